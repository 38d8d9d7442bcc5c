//! Cases for the conformance vectors: attributes in the spellings real
//! clients send, the languages an app asks for, stored assignments, and an
//! answer script made by playing the engine.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

use super::flows::{self, random_flow};
use super::spellings::{HEADERS, LISTS, LOCALES, TEXTS, attributes};
use super::{Rng, expected, run_of, time_text};
use crate::flow::Attributes;
use crate::flow::bundle::{self, Recipient};
use crate::flow::engine::CompiledFlow;
use crate::flow::model::InputKind;

/// Answers after which a script stops even if the flow loops.
const MAX_ANSWERS: usize = 30;

/// An answer to the current scene: mostly valid, sometimes not.
fn answer_for(rng: &mut Rng, flow: &CompiledFlow, scene: usize) -> Value {
    let s = flow.scene(scene);
    let keys: Vec<String> = flow.choices(scene).map(|c| c.key.clone()).collect();
    if rng.chance(15) {
        return rng
            .pick(&[
                json!(null),
                json!(5),
                json!("x"),
                json!(true),
                json!({"a": 1}),
                json!(["c0", "c0"]),
                json!(["nope"]),
                json!("nope"),
                json!("62"),
                json!([]),
                json!([1]),
            ])
            .clone();
    }
    match s.input {
        InputKind::None => json!(null),
        InputKind::Choice => json!(rng.pick(&keys)),
        InputKind::MultiChoice => {
            let want = 1 + rng.below(keys.len());
            let mut picked: Vec<&String> = Vec::new();
            while picked.len() < want {
                let k = rng.pick(&keys);
                if !picked.contains(&k) {
                    picked.push(k);
                }
            }
            json!(picked)
        }
        InputKind::Text => json!(rng.pick(TEXTS)),
        InputKind::Number => rng
            .pick(&[
                json!(62.5),
                json!(5),
                json!(100),
                json!(0.5),
                json!(-10),
                json!(12.0),
                json!(250.5),
                json!(250.51),
                json!(1e-7),
                json!(5.999),
                json!(7),
            ])
            .clone(),
        InputKind::Date => rng
            .pick(&[
                json!("2026-06-01"),
                json!("2025-12-31"),
                json!("2028-01-01"),
                json!("2027-12-31"),
                json!("2026-02-29"),
                json!("2028-02-29"),
                json!("2027-3-1"),
                json!(" 2027-03-01"),
                json!("2027-03-01 "),
            ])
            .clone(),
    }
}

/// A case for one flow: attributes, stored assignments, times, and a script
/// made by playing the engine; `expected` is filled in by [`expected`].
pub fn random_case(rng: &mut Rng, id: &str, bundle: &str, flow: &CompiledFlow) -> Value {
    random_case_in(rng, id, bundle, flow, false)
}

/// [`random_case`]; `languages`: the flow has translations, so the case also
/// draws a `locale` attribute and the app's preferred languages.
fn random_case_in(
    rng: &mut Rng,
    id: &str,
    bundle: &str,
    flow: &CompiledFlow,
    languages: bool,
) -> Value {
    let users = ["user-1", "ゆき", "a:b:c", "", "u-42", "x@example.com"];
    let user_id = if rng.chance(50) {
        id.to_owned()
    } else {
        rng.pick(&users).to_string()
    };
    let base = NaiveDate::from_ymd_opt(2026, 11, 30)
        .and_then(|d| d.and_hms_opt(10, 0, 0))
        .expect("a time");
    let mut at = if rng.chance(20) {
        NaiveDate::from_ymd_opt(2026, 12, 31)
            .and_then(|d| d.and_hms_opt(23, 59, 50))
            .expect("a time")
    } else {
        base + Duration::days(rng.below(400) as i64)
    };
    let started_at = at;
    let mut assignments = Vec::new();
    if rng.chance(25) {
        let s = rng.pick(&flow.def.scenes);
        let scene = if rng.chance(80) {
            s.key.clone()
        } else {
            "gone_scene".to_owned()
        };
        assignments.push(json!({"step": s.step, "condition": s.condition, "scene": scene}));
    }
    let overrides = if rng.chance(10) {
        json!({"subscription": "premium", "nickname": "QA"})
    } else {
        json!({})
    };
    let mut case = json!({
        "id": id, "bundle": bundle, "user_id": user_id, "run_id": id,
        "started_at": time_text(started_at), "attributes": attributes(rng),
        "overrides": overrides, "assignments": assignments, "script": [],
    });
    if languages {
        match rng.below(5) {
            0 | 1 => case["attributes"]["locale"] = json!(rng.pick(LOCALES)),
            2 => {
                case["attributes"]["locale"] =
                    rng.pick(&[json!(true), json!(5), json!(null)]).clone()
            }
            _ => {
                case["attributes"]
                    .as_object_mut()
                    .map(|a| a.remove("locale"));
            }
        }
        match rng.below(3) {
            0 => case["languages"] = json!(rng.pick(LISTS)),
            1 => case["languages"] = json!(rng.pick(HEADERS)),
            _ => {}
        }
        if rng.chance(10) {
            case["overrides"]["locale"] = json!("en-US");
        }
    }
    let mut run = run_of(flow, &case, started_at);
    let mut script = Vec::new();
    while script.len() < MAX_ANSWERS {
        at += Duration::seconds(1 + rng.below(90) as i64);
        let answer = match run.scene() {
            Some(scene) => answer_for(rng, flow, scene),
            None if rng.chance(30) => json!(null),
            None => break,
        };
        let done = run.is_completed();
        let _ = run.answer(&answer, at);
        script.push(json!({"answer": answer, "at": time_text(at)}));
        if done {
            break;
        }
    }
    case["script"] = Value::Array(script);
    case
}

/// The languages of the translated flows: `en-US` with and without `en`,
/// scripts and regions, and one flow where `en` has no region.
const LANGUAGE_SETS: &[&[&str]] = &[
    &["en", "en-US", "ja"],
    &["en", "pt-BR", "zh-Hant-TW"],
    &["en-US", "ja"],
    &["de", "en", "fr", "he", "id", "ko"],
];

fn documents(flows: &[(String, CompiledFlow)]) -> BTreeMap<String, Value> {
    let none = Attributes::new();
    flows
        .iter()
        .map(|(name, flow)| {
            let to = Recipient {
                user_id: "",
                channel: "production",
                assignments: &Default::default(),
                overrides: &none,
            };
            (name.clone(), bundle::document(flow, &to))
        })
        .collect()
}

/// Every bundle and case: `(bundles by name, cases)`. `sample` is the built-in
/// sample flow, played by a quarter of the `cases`; `translated` more cases
/// play flows with texts in several languages (their own generator, so the
/// first cases stay as they were).
pub fn generate(
    sample: CompiledFlow,
    cases: usize,
    translated: usize,
) -> (BTreeMap<String, Value>, Vec<Value>) {
    let mut rng = Rng::new(0x5CE7_E5F1_0000_0015);
    let mut flows = vec![("sample".to_owned(), sample)];
    for i in 0..11 {
        flows.push((
            format!("random_{i:02}"),
            CompiledFlow::compile(format!("random{i:02}"), random_flow(&mut rng)),
        ));
    }
    let mut out = Vec::with_capacity(cases + translated);
    for n in 0..cases {
        let (name, flow) = if n % 4 == 0 {
            &flows[0]
        } else {
            &flows[1 + n % (flows.len() - 1)]
        };
        let id = format!("case{n:04}");
        let mut case = random_case(&mut rng, &id, name, flow);
        case["expected"] = expected(flow, &case).expect("generated cases are well formed");
        out.push(case);
    }
    let mut rng = Rng::new(0x5CE7_E5F1_0000_0014);
    let languages: Vec<(String, CompiledFlow)> = LANGUAGE_SETS
        .iter()
        .enumerate()
        .map(|(i, locales)| {
            let mut def = random_flow(&mut rng);
            flows::translate(&mut rng, &mut def, locales);
            (
                format!("translated_{i:02}"),
                CompiledFlow::compile(format!("translated{i:02}"), def),
            )
        })
        .collect();
    for n in 0..translated {
        let (name, flow) = &languages[n % languages.len()];
        let id = format!("lang{n:04}");
        let mut case = random_case_in(&mut rng, &id, name, flow, true);
        case["expected"] = expected(flow, &case).expect("generated cases are well formed");
        out.push(case);
    }
    flows.extend(languages);
    (documents(&flows), out)
}
