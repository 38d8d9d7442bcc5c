//! The boundary's NUL scan against parsing, and its fixed cases.

use proptest::prelude::*;

use super::*;

/// The verdict before the scan: parse the body, look in every string.
fn parsed_has_nul(text: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(text).is_ok_and(|v| json_has_nul(&v))
}

/// Whether any string or key holds NUL, every key counted: a `Value`
/// keeps only the last of an object's duplicate keys, so the old verdict
/// missed a NUL under a key given again later (the scan refuses it).
struct NulSeen(bool);

impl<'de> serde::Deserialize<'de> for NulSeen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NulVisitor)
    }
}

struct NulVisitor;

impl<'de> serde::de::Visitor<'de> for NulVisitor {
    type Value = NulSeen;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_str<E>(self, s: &str) -> Result<NulSeen, E> {
        Ok(NulSeen(s.contains('\0')))
    }
    fn visit_bool<E>(self, _: bool) -> Result<NulSeen, E> {
        Ok(NulSeen(false))
    }
    fn visit_i64<E>(self, _: i64) -> Result<NulSeen, E> {
        Ok(NulSeen(false))
    }
    fn visit_u64<E>(self, _: u64) -> Result<NulSeen, E> {
        Ok(NulSeen(false))
    }
    fn visit_f64<E>(self, _: f64) -> Result<NulSeen, E> {
        Ok(NulSeen(false))
    }
    fn visit_unit<E>(self) -> Result<NulSeen, E> {
        Ok(NulSeen(false))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<NulSeen, A::Error> {
        let mut nul = false;
        while let Some(NulSeen(n)) = a.next_element()? {
            nul |= n;
        }
        Ok(NulSeen(nul))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<NulSeen, A::Error> {
        let mut nul = false;
        while let Some((NulSeen(k), NulSeen(v))) = a.next_entry()? {
            nul |= k || v;
        }
        Ok(NulSeen(nul))
    }
}

#[test]
fn a_nul_under_a_key_given_again_is_refused_though_a_value_would_drop_it() {
    let text = r#"{"a": "\u0000", "\u0061": "x"}"#;
    assert!(!parsed_has_nul(text.as_bytes()));
    assert!(serde_json::from_str::<NulSeen>(text).unwrap().0);
    assert!(json_body_has_nul(text.as_bytes()));
}

#[test]
fn nul_is_found_wherever_it_hides() {
    assert!(has_encoded_nul("/debug/testers/a%00b"));
    assert!(!has_encoded_nul("/debug/testers/a%100"));
    for (text, nul) in [
        (r#"{"a": [{"b\u0000": 1}]}"#, true),
        (r#"{"a": "\\u0000"}"#, false),
        (r#"{"a": "\\\u0000"}"#, true),
        (r#"{"a": "\\\\u0000"}"#, false),
        (r#"{"a": "\u005cu0000"}"#, false),
        (r#"{"a": "u0000"}"#, false),
        (r#"{"a": "\u00000"}"#, true),
        (r#"["\u0000"]"#, true),
        (r#" "\u0000""#, true),
        ("{\"a\": \"x\u{0}y\"}", true),
        ("PK\u{3}\u{4}\u{0}\\u0000", false),
        ("--boundary\r\n\u{0}", false),
        ("name=\\u0000", false),
        ("", false),
    ] {
        assert_eq!(json_body_has_nul(text.as_bytes()), nul, "{text}");
    }
}

#[test]
fn only_bodies_opening_another_json_value_are_marked() {
    for text in [
        "[]", "[\"u1\"]", "\"x\"", "1", "-1", " true", "false", "\nnull",
    ] {
        assert!(opens_json_non_object(text.as_bytes()), "{text}");
    }
    for text in ["", " ", "{}", " {\"a\": 1}", "PK\u{3}\u{4}", "<x/>", "a=b"] {
        assert!(!opens_json_non_object(text.as_bytes()), "{text}");
    }
}

/// A piece of a JSON string's text: what it means, and how it is written.
fn piece() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "u",
        "0",
        "u0000",
        "é",
        "ゆ",
        "\\\\",
        "\\\"",
        "\\/",
        "\\n",
        "\\u0000",
        "\\u0041",
        "\\u00e9",
        "\\u00E9",
        "\\u005c",
        "\\u005C",
        "\\u0001",
        "\\ud83d\\ude00",
    ])
    .prop_map(str::to_owned)
}

fn string() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..8).prop_map(|p| format!("\"{}\"", p.concat()))
}

fn space() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "\n", "\t ", "\r\n"])
}

/// A valid JSON text written by hand, escapes and all.
fn text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        string(),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("-1.5e3".to_owned()),
        Just("0".to_owned()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        let inner = (space(), inner, space())
            .prop_map(|(a, v, b)| format!("{a}{v}{b}"))
            .boxed();
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec((string(), space(), inner), 0..4).prop_map(|fields| {
                let fields: Vec<_> = fields
                    .into_iter()
                    .map(|(k, s, v)| format!("{k}{s}:{v}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// A JSON value as serde_json writes it, its strings made of the
/// characters that matter here.
fn value() -> impl Strategy<Value = serde_json::Value> {
    let parts = prop::sample::select(vec!["\0", "\\", "u0000", "u", "0", "\"", "a", "\u{1}", "/"]);
    let s = prop::collection::vec(parts, 0..8).prop_map(|p| p.concat());
    let leaf = prop_oneof![
        s.clone().prop_map(serde_json::Value::String),
        Just(serde_json::Value::Null),
        (0i64..100).prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::vec((s.clone(), inner), 0..4)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn the_scan_agrees_with_the_parse_on_written_json(
        (before, text, after) in (space(), text(), space())
    ) {
        let body = format!("{before}{text}{after}");
        let every_key = serde_json::from_str::<NulSeen>(&body);
        prop_assert!(every_key.is_ok(), "{body}");
        let scan = json_body_has_nul(body.as_bytes());
        prop_assert_eq!(scan, every_key.unwrap().0, "{}", body);
        // The old verdict, but for a NUL under a key given again.
        prop_assert!(scan || !parsed_has_nul(body.as_bytes()), "{body}");
    }

    #[test]
    fn the_scan_agrees_with_the_parse_on_serialised_json(value in value()) {
        let body = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(json_body_has_nul(body.as_bytes()), json_has_nul(&value), "{}", body);
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        prop_assert_eq!(json_body_has_nul(pretty.as_bytes()), json_has_nul(&value), "{}", pretty);
    }
}

/// The old verdict, kept as the oracle of [`json_body_has_nul`]'s tests.
fn json_has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}
