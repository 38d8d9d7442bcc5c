//! The offline bundle: one version as a self-contained document an app can
//! play without the server (docs/src/offline.md). Everything the
//! engine decides with is in it as data: steps, scenes, choices, the
//! conditions the flow uses as expressions, the bucketing parameters and the
//! user's stored assignments, and every text in every workbook language
//! (docs/src/offline.md, "Languages offline").

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::bucket::BUCKETS;
use super::conditions;
use super::decision::Assignments;
use super::engine::CompiledFlow;
use super::model::{Bound, SceneDef, Target};
use super::{Attributes, view};

/// Bumped when a client would have to change to read the document.
pub const FORMAT: u32 = 1;

/// Who the bundle is for.
pub struct Recipient<'a> {
    pub user_id: &'a str,
    pub channel: &'a str,
    pub assignments: &'a Assignments,
    /// QA overrides of a tester (empty for everybody else).
    pub overrides: &'a Attributes,
}

fn target(t: &Option<Target>) -> Value {
    t.as_ref()
        .map_or(Value::Null, |t| Value::String(t.as_str().to_owned()))
}

fn bound(b: Option<Bound>) -> Value {
    view::bound_value(b).unwrap_or(Value::Null)
}

/// A scene's text by language: `{"TAG": {"messages": [text or null per
/// default bubble], "placeholder": text or null}}`; null where the workbook
/// has no translation (the next language of the chain, else the default, is
/// served there).
fn scene_translations(s: &SceneDef) -> Value {
    let by_tag: serde_json::Map<String, Value> = s
        .translations
        .iter()
        .map(|(tag, t)| {
            let messages: Vec<Option<&String>> = (0..s.messages.len())
                .map(|i| t.messages.get(i).and_then(Option::as_ref))
                .collect();
            (
                tag.clone(),
                json!({"messages": messages, "placeholder": t.placeholder}),
            )
        })
        .collect();
    Value::Object(by_tag)
}

/// The bundle document (unsigned).
pub fn document(flow: &CompiledFlow, to: &Recipient) -> Value {
    let steps: Vec<Value> = flow
        .def
        .steps
        .iter()
        .enumerate()
        .map(|(i, key)| json!({"key": key, "remaining_estimate": flow.remaining_from(i)}))
        .collect();
    let scenes: Vec<Value> = flow
        .def
        .scenes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let choices: Vec<Value> = flow
                .choices(i)
                .map(|c| {
                    json!({"key": c.key, "label": c.label, "value": c.value,
                           "next_step": target(&c.next_step), "translations": c.translations})
                })
                .collect();
            json!({
                "key": s.key, "step": s.step, "condition": s.condition, "weight": s.weight,
                "messages": s.messages, "input": s.input, "save_as": s.save_as,
                "min": bound(s.min), "max": bound(s.max), "placeholder": s.placeholder,
                "next_step": target(&s.next_step), "choices": choices,
                "translations": scene_translations(s),
            })
        })
        .collect();
    let mut used = BTreeMap::new();
    for s in &flow.def.scenes {
        if let Some(c) = conditions::find(&s.condition) {
            used.insert(
                c.name,
                json!({"description": c.description, "expr": c.expr.to_json()}),
            );
        }
    }
    let assignments: Vec<Value> = to
        .assignments
        .sorted()
        .into_iter()
        .map(|(x, a)| json!({"step": x.step, "condition": x.condition, "scene": a.scene}))
        .collect();
    json!({
        "format": FORMAT,
        "version": flow.version,
        "channel": to.channel,
        "user_id": to.user_id,
        "locales": flow.locales(),
        "steps": steps,
        "scenes": scenes,
        "conditions": used,
        "bucketing": {
            "hash": "sha256",
            "input": "{user_id}:{step}:{condition}",
            "prefix_bytes": 8,
            "buckets": BUCKETS,
        },
        "assignments": assignments,
        "overrides": to.overrides,
    })
}
