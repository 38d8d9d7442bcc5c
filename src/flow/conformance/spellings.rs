//! What real clients send, for the cases: attribute values in their many
//! spellings, text answers, and preferred languages (the start attribute
//! `locale`, lists, `Accept-Language` values).

use serde_json::{Map, Value, json};

use super::Rng;

/// Attribute values in the spellings real clients send.
pub fn attributes(rng: &mut Rng) -> Map<String, Value> {
    let options: Vec<(&str, Vec<Value>)> = vec![
        (
            "install_source",
            vec![
                json!("diet_campaign"),
                json!("sleep_campaign"),
                json!("organic"),
                json!(" organic "),
                json!(""),
                json!(null),
                json!(true),
            ],
        ),
        (
            "gender",
            vec![
                json!("female"),
                json!("male"),
                json!("other"),
                json!(" female\u{3000}"),
            ],
        ),
        (
            "birth_year",
            vec![
                json!(1990),
                json!(1994.0),
                json!("1994"),
                json!(" 1987 "),
                json!("1987.0"),
                json!("abc"),
                json!(1996.5),
                json!(2010),
                json!("+1990"),
                json!("1e3"),
                json!(null),
                json!(1997),
                json!(1986),
                json!(".5e4"),
                json!("0x7C6"),
            ],
        ),
        (
            "platform",
            vec![json!("ios"), json!("android"), json!("web")],
        ),
        (
            "app_version",
            vec![
                json!("2"),
                json!("2.0.0"),
                json!("1.99"),
                json!("v2.1"),
                json!("2.10.1"),
                json!(2),
                json!(2.0),
                json!(1.5),
                json!("beta"),
                json!(" 3 "),
                json!("+2.0"),
                json!("2..0"),
                json!("18446744073709551616.1"),
                json!("V02.0"),
            ],
        ),
        (
            "locale",
            vec![json!("ja"), json!("ja-JP"), json!("ja_JP"), json!("en-US")],
        ),
        (
            "nickname",
            vec![
                json!("ゆき"),
                json!("  "),
                json!("Bob\u{85}"),
                json!("\u{feff}x"),
                json!(42),
                json!(["a", "b"]),
                json!(3.25),
                json!(false),
            ],
        ),
        (
            "subscription",
            vec![
                json!("premium"),
                json!(" premium "),
                json!("trial"),
                json!(null),
            ],
        ),
        ("goal", vec![json!("lose_weight"), json!("sleep_better")]),
        (
            "weight_kg",
            vec![
                json!(100),
                json!("99.9"),
                json!(1e-7),
                json!(0.1 + 0.2),
                json!(1.5e16),
                json!(123.456),
                json!("1e2"),
            ],
        ),
        (
            "sleep_hours",
            vec![json!(5.5), json!("6"), json!(6.0), json!(" 5.999 ")],
        ),
        (
            "tags",
            vec![
                json!(["x", 1.5, null, " y "]),
                json!([]),
                json!([2.0, 1e21]),
            ],
        ),
    ];
    let mut out = Map::new();
    for (name, values) in options {
        if rng.chance(60) {
            out.insert(name.to_owned(), rng.pick(&values).clone());
        }
    }
    out
}

pub const TEXTS: &[&str] = &[
    "ゆき",
    "Bob",
    " padded ",
    "😀😀",
    "\u{3000}全角\u{3000}",
    "a\u{85}",
    "\u{feff}bom",
    "toolongtext",
    "",
    "  ",
    // Characters as people count them (UAX #29): 3 flags, 1 family, 2 letters.
    "🇯🇵🇯🇵🇯🇵",
    "👨\u{200d}👩\u{200d}👧\u{200d}👦",
    "e\u{301}e\u{301}",
];

/// The start attribute `locale` as apps send it: the fallback chain
/// (`en-US` → `en` → default), case and `_`, extensions, blanks, non-text.
pub const LOCALES: &[&str] = &[
    "en-US",
    "en_us",
    " EN ",
    "en-GB",
    "ja-JP",
    "ja",
    "pt",
    "pt-BR-x-app",
    "zh-Hant-TW",
    "zh-TW",
    "fr",
    "",
    "  ",
    "de-CH-1996",
    // KELVIN SIGN: no `k` for an ASCII comparison (JavaScript's
    // toLowerCase() makes it one).
    "\u{212A}o",
    // Deprecated codes Android still reports (UTS #35 canonicalisation).
    "iw-IL",
    "in_ID",
    "ji",
    "mo",
];

/// Preferred languages as an app passes them: a list, best first.
pub const LISTS: &[&[&str]] = &[
    &["en-US", "ja"],
    &["fr", "en-GB"],
    &["ja-JP"],
    &[],
    &[" en ", "*", ""],
    &["pt-BR", "en"],
    &["zh-TW", "zh-Hant"],
    &["de-AT", "fr"],
    &["\u{212A}O", "de"],
    &["iw", "en"],
];

/// Preferred languages as an `Accept-Language` header value.
pub const HEADERS: &[&str] = &[
    "en-US,en;q=0.8",
    "fr;q=0.9, ja;q=0.95",
    "ja;q=0, en",
    "*, pt-br;q=0.5",
    "en;q=abc, ja",
    "zh-Hant-TW;q=1.0",
    "en-GB;q=0.001, ja;q=0.0005",
    "en;foo, ja",
    "in-ID, iw;q=0.5",
    "en;level=1;q=0.5, de;q=0.6",
    "  ",
    "EN-us;Q=0.7",
    "ja;q=1e-1, en;q=0.09",
    "de;q=nan, ja;q=inf, en;q=.5",
    "fr, en-US-x-twain;q=0.4",
    "en;q=0.5, ja",
    "ja;q=0.4, en-US;q=0.6",
    "de;q=0.6, fr;q=0.8",
    "fr;q=0.8, ko;q=0.9, de",
];
