//! The committed vectors: the engine gives them, and they cover what a
//! player must get right.

use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::flow::conditions::CATALOGUE;

fn committed() -> (HashMap<String, CompiledFlow>, Vec<Value>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    let cases: Vec<Value> = std::fs::read_to_string(dir.join("cases.jsonl"))
        .expect("conformance/cases.jsonl: run `cargo run --example conformance`")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a case is JSON"))
        .collect();
    let names: BTreeSet<&str> = cases.iter().filter_map(|c| c["bundle"].as_str()).collect();
    let flows = names
        .into_iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join("bundles").join(format!("{name}.json")))
                .expect("the bundle of a case");
            let doc: Value = serde_json::from_str(&text).expect("a bundle is JSON");
            (
                name.to_owned(),
                flow_of(&doc).expect("a bundle holds a flow"),
            )
        })
        .collect();
    (flows, cases)
}

/// The engine, run on what each bundle holds, gives the committed states.
#[test]
fn the_engine_gives_the_committed_conformance_states() {
    let (flows, cases) = committed();
    assert!(cases.len() >= 1000, "{} cases", cases.len());
    for case in &cases {
        let flow = &flows[case["bundle"].as_str().unwrap()];
        let got = expected(flow, case).unwrap();
        assert_eq!(got, case["expected"], "case {}", case["id"]);
    }
}

/// The vectors cover what a player must get right.
#[test]
fn the_conformance_cases_cover_every_condition_input_and_rule() {
    let (flows, cases) = committed();
    let used: BTreeSet<&str> = flows
        .values()
        .flat_map(|f| f.def.scenes.iter().map(|s| s.condition.as_str()))
        .collect();
    for c in CATALOGUE {
        assert!(used.contains(c.name), "no bundle uses {}", c.name);
    }
    let mut kinds = BTreeSet::new();
    let mut rules = BTreeSet::new();
    let mut ab_scenes = BTreeSet::new();
    let mut completed = 0;
    for case in &cases {
        let flow = &flows[case["bundle"].as_str().unwrap()];
        let e = &case["expected"];
        let states = std::iter::once(&e["start"])
            .chain(e["steps"].as_array().unwrap().iter().map(|s| &s["state"]));
        for state in states.filter(|s| !s.is_null()) {
            if let Some(key) = state["scene"]["key"].as_str() {
                kinds.insert(state["scene"]["input"]["kind"].as_str().unwrap().to_owned());
                let s = flow.def.scene(key).unwrap();
                if flow
                    .def
                    .scenes
                    .iter()
                    .filter(|o| o.step == s.step && o.condition == s.condition)
                    .count()
                    > 1
                {
                    ab_scenes.insert(key.to_owned());
                }
            } else {
                completed += 1;
            }
        }
        for step in e["steps"].as_array().unwrap() {
            if let Some(rule) = step["error"]["details"]["rule"].as_str() {
                rules.insert(rule.to_owned());
            }
            if step["error"]["code"] == "already_completed" {
                rules.insert("already_completed".to_owned());
            }
        }
    }
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    for rule in [
        "type",
        "unknown_choice",
        "repeated_choice",
        "count",
        "length",
        "range",
        "date_range",
        "date_format",
        "already_completed",
    ] {
        assert!(
            rules.contains(rule),
            "no case refuses with {rule}: {rules:?}"
        );
    }
    assert!(ab_scenes.len() >= 10, "A/B scenes shown: {ab_scenes:?}");
    assert!(completed >= 100, "{completed} completed states");
}

/// The language cases show what a player must get right: negotiation that
/// falls back (`en-GB` → `en`, nothing → default), texts that fall back along
/// the chain (`en-US` → `en`) and to the default (a missing translation),
/// templates in a translation, and an answer that changes the language.
#[test]
fn the_conformance_cases_cover_languages() {
    let (flows, cases) = committed();
    let mut seen = BTreeSet::new();
    for case in cases
        .iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("lang"))
    {
        let flow = &flows[case["bundle"].as_str().unwrap()];
        let e = &case["expected"];
        let start_locale = e["start"]["locale"].as_str();
        let mut wanted = languages_of(case);
        let mut attrs = object(&case["attributes"]);
        attrs.extend(object(&case["overrides"]));
        if let Some(l) = attrs.get("locale").and_then(Value::as_str) {
            wanted = Wanted::one(l);
        }
        match start_locale {
            Some(l) if !wanted.0.iter().any(|w| w.eq_ignore_ascii_case(l)) => {
                seen.insert(format!("negotiated {l} by falling back"));
            }
            None if !wanted.is_empty() => {
                seen.insert("nothing wanted is available: default".to_owned());
            }
            _ => {}
        }
        let states = std::iter::once(&e["start"])
            .chain(e["steps"].as_array().unwrap().iter().map(|s| &s["state"]));
        for state in states.filter(|s| !s.is_null()) {
            if state["locale"].as_str() != start_locale {
                seen.insert("an answer changed the language".to_owned());
            }
            let (Some(key), Some(served)) =
                (state["scene"]["key"].as_str(), state["locale"].as_str())
            else {
                continue;
            };
            let s = flow.def.scene(key).unwrap();
            let chain = crate::flow::locale::chain(flow.locales(), Some(served));
            for i in 0..s.messages.len() {
                let from = chain.iter().find(|l| {
                    s.translations
                        .get(**l)
                        .is_some_and(|t| t.messages.get(i).is_some_and(Option::is_some))
                });
                match from {
                    Some(l) if *l != served => {
                        seen.insert(format!("{served} text from {l}"));
                    }
                    Some(l)
                        if s.translations[*l].messages[i]
                            .as_ref()
                            .unwrap()
                            .contains("{{") =>
                    {
                        seen.insert("a template in a translation".to_owned());
                    }
                    None => {
                        seen.insert("a missing translation: default text".to_owned());
                    }
                    _ => {}
                }
            }
        }
    }
    for want in [
        "negotiated en by falling back",
        "nothing wanted is available: default",
        "an answer changed the language",
        "en-US text from en",
        "a template in a translation",
        "a missing translation: default text",
    ] {
        assert!(seen.contains(want), "no case with {want}: {seen:?}");
    }
}
