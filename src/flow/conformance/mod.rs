//! Conformance vectors: cases (bundle, attributes, answer script → expected
//! states) written by this engine, for offline players to check themselves
//! against (docs/src/offline.md). `cargo run --example conformance`
//! writes `conformance/`; a test replays the committed cases here, and
//! `node --test clients/js` replays them through the JavaScript player.
//!
//! Generation is deterministic: a seeded splitmix64, no clock. `flows`
//! makes random flows, `cases` the cases played on them (`spellings`: what
//! real clients send); this module reads a bundle back into a flow and
//! computes what a case expects.

// The generator: dev tools only (Cargo feature `dev-tools`).
#[cfg(feature = "dev-tools")]
mod cases;
#[cfg(feature = "dev-tools")]
mod flows;
#[cfg(feature = "dev-tools")]
mod spellings;
#[cfg(test)]
mod tests;

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Value, json};

#[cfg(feature = "dev-tools")]
pub use cases::{generate, random_case};
#[cfg(feature = "dev-tools")]
pub use flows::random_flow;

use super::Attributes;
use super::decision::{Assignments, Stored};
use super::engine::CompiledFlow;
use super::engine::ExperimentId;
use super::locale::Wanted;
use super::model::{Bound, ChoiceDef, FlowDef, SceneDef, Target};
use super::run::{Begin, Refusal, Run};

/// A small deterministic generator (splitmix64).
#[cfg(feature = "dev-tools")]
pub struct Rng(u64);

#[cfg(feature = "dev-tools")]
impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[cfg(feature = "dev-tools")]
fn time_text(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parse an RFC 3339 time to UTC.
pub fn parse_time(raw: &str) -> Option<NaiveDateTime> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.naive_utc())
}

/// The flow of a bundle document: the engine runs on exactly what the app gets.
pub fn flow_of(doc: &Value) -> Result<CompiledFlow, String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let target = |v: &Value| v.as_str().map(Target::parse);
    let bound = |v: &Value| match v {
        Value::Number(n) => n.as_f64().map(Bound::Number),
        Value::String(s) => Bound::from_text(s),
        _ => None,
    };
    let version = text(&doc["version"]).ok_or("no version")?;
    let steps = doc["steps"]
        .as_array()
        .ok_or("no steps")?
        .iter()
        .map(|s| text(&s["key"]).ok_or("a step without key"))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut scenes, mut choices) = (Vec::new(), Vec::new());
    for s in doc["scenes"].as_array().ok_or("no scenes")? {
        let key = text(&s["key"]).ok_or("a scene without key")?;
        for c in s["choices"].as_array().ok_or("a scene without choices")? {
            choices.push(ChoiceDef {
                scene: key.clone(),
                key: text(&c["key"]).ok_or("a choice without key")?,
                label: text(&c["label"]).unwrap_or_default(),
                value: text(&c["value"]).unwrap_or_default(),
                next_step: target(&c["next_step"]),
                row: 0,
                translations: translations(&c["translations"])?,
            });
        }
        scenes.push(SceneDef {
            key,
            step: text(&s["step"]).ok_or("a scene without step")?,
            condition: text(&s["condition"]).ok_or("a scene without condition")?,
            weight: s["weight"].as_f64().ok_or("a scene without weight")?,
            messages: serde_json::from_value(s["messages"].clone()).map_err(|e| e.to_string())?,
            input: serde_json::from_value(s["input"].clone()).map_err(|e| e.to_string())?,
            save_as: text(&s["save_as"]),
            min: bound(&s["min"]),
            max: bound(&s["max"]),
            placeholder: text(&s["placeholder"]),
            next_step: target(&s["next_step"]),
            row: 0,
            back: true,
            translations: translations(&s["translations"])?,
        });
    }
    Ok(CompiledFlow::compile(
        version,
        FlowDef {
            steps,
            scenes,
            choices,
        },
    ))
}

/// A `translations` object of the bundle (absent in bundles written before
/// languages: none).
fn translations<T: serde::de::DeserializeOwned + Default>(v: &Value) -> Result<T, String> {
    match v {
        Value::Null => Ok(T::default()),
        v => serde_json::from_value(v.clone()).map_err(|e| format!("translations: {e}")),
    }
}

/// The languages a case's app asks for: `languages` as a list (best first)
/// or as an `Accept-Language` header value; none when absent.
pub fn languages_of(case: &Value) -> Wanted {
    match &case["languages"] {
        Value::String(header) => Wanted::from_accept_language(header),
        Value::Array(list) => {
            Wanted::from_list(&list.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        }
        _ => Wanted::default(),
    }
}

fn outcome(run: &Run, result: Result<super::run::Moved, Refusal>, wanted: &Wanted) -> Value {
    match result {
        Ok(_) => json!({"state": run.state(wanted)}),
        Err(Refusal::Invalid(e)) => {
            json!({"error": {"code": "invalid_answer", "details": e.details()}})
        }
        // A script answers the scene on screen, so only these two happen.
        Err(_) => json!({"error": {"code": "already_completed"}}),
    }
}

fn assignments_of(case: &Value) -> Assignments {
    case["assignments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
            (
                ExperimentId::new(text("step"), text("condition")),
                Stored {
                    scene: text("scene"),
                    exposed: false,
                },
            )
        })
        .collect()
}

fn object(v: &Value) -> Attributes {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// The run a case plays: its user, run id, attributes, overrides and stored
/// assignments, started at `started`.
pub fn run_of<'f>(flow: &'f CompiledFlow, case: &Value, started: NaiveDateTime) -> Run<'f> {
    let begin = Begin {
        user_id: case["user_id"].as_str().unwrap_or_default(),
        run_id: case["run_id"].as_str().unwrap_or_default(),
        start: &object(&case["attributes"]),
        at: started,
    };
    Run::start(
        flow,
        begin,
        &object(&case["overrides"]),
        assignments_of(case),
    )
    .0
}

/// What the engine makes of a case: `{"start", "steps", "answers"}`.
pub fn expected(flow: &CompiledFlow, case: &Value) -> Result<Value, String> {
    let started = parse_time(case["started_at"].as_str().unwrap_or_default())
        .ok_or("started_at is not an RFC 3339 time")?;
    let wanted = languages_of(case);
    let mut run = run_of(flow, case, started);
    let start = run.state(&wanted);
    let mut steps = Vec::new();
    for step in case["script"].as_array().ok_or("no script")? {
        let at = parse_time(step["at"].as_str().unwrap_or_default()).ok_or("bad at")?;
        let result = run.answer(&step["answer"], at);
        steps.push(outcome(&run, result, &wanted));
    }
    Ok(json!({"start": start, "steps": steps, "answers": run.data().answers}))
}
