//! Conformance vectors: cases (bundle, attributes, answer script → expected
//! states) written by this engine, for offline players to check themselves
//! against (README, "Offline onboarding"). `cargo run --example conformance`
//! writes `conformance/`; a test replays the committed cases here, and
//! `node --test clients/js` replays them through the JavaScript player.
//!
//! Generation is deterministic: a seeded splitmix64, no clock.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime};
use serde_json::{Map, Value, json};

use super::Attributes;
use super::bundle::{self, Recipient};
use super::conditions::CATALOGUE;
use super::engine::CompiledFlow;
use super::model::{Bound, ChoiceDef, FlowDef, InputKind, SceneDef, Target};
use super::replay::{Replay, ReplayError, StoredAssignment};

/// Answers after which a script stops even if the flow loops.
const MAX_ANSWERS: usize = 30;

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

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
                translations: Default::default(),
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
            translations: Default::default(),
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

fn outcome(result: Result<super::view::State, ReplayError>) -> Value {
    match result {
        Ok(state) => json!({"state": state}),
        Err(ReplayError::AlreadyCompleted) => json!({"error": {"code": "already_completed"}}),
        Err(ReplayError::Invalid(e)) => {
            json!({"error": {"code": "invalid_answer", "details": e.details()}})
        }
    }
}

fn assignments_of(case: &Value) -> Vec<StoredAssignment> {
    case["assignments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| StoredAssignment {
            step: a["step"].as_str().unwrap_or_default().to_owned(),
            condition: a["condition"].as_str().unwrap_or_default().to_owned(),
            scene: a["scene"].as_str().unwrap_or_default().to_owned(),
            exposed: false,
        })
        .collect()
}

fn object(v: &Value) -> Attributes {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// What the engine makes of a case: `{"start", "steps", "answers"}`.
pub fn expected(flow: &CompiledFlow, case: &Value) -> Result<Value, String> {
    let started = parse_time(case["started_at"].as_str().unwrap_or_default())
        .ok_or("started_at is not an RFC 3339 time")?;
    let mut run = Replay::start(
        flow,
        case["user_id"].as_str().unwrap_or_default(),
        case["run_id"].as_str().unwrap_or_default(),
        &object(&case["attributes"]),
        &object(&case["overrides"]),
        assignments_of(case),
        started,
    );
    let start = run.state();
    let mut steps = Vec::new();
    for step in case["script"].as_array().ok_or("no script")? {
        let at = parse_time(step["at"].as_str().unwrap_or_default()).ok_or("bad at")?;
        steps.push(outcome(run.answer(&step["answer"], at)));
    }
    Ok(json!({"start": start, "steps": steps, "answers": run.answers}))
}

/// Attribute values in the spellings real clients send.
fn attributes(rng: &mut Rng) -> Map<String, Value> {
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

const MESSAGES: &[&str] = &[
    "はじめまして、{{nickname|ゲスト}}さん!",
    "{{ nickname }} / {{birth_year}} / {{app_version}}",
    "goal: {{goal|none}}, weight {{weight_kg}}, sleep {{sleep_hours|?}}",
    "tags: [{{tags}}] missing: [{{missing}}]",
    "broken {{oops",
    "bad {{Bad Name}} stays",
    "{{\u{85}nickname|x}} {{subscription|}}",
    "plain text }} {{",
    "{{install_source|organic}} on {{platform}} ({{locale|en}})",
];

const GOALS: &[&str] = &["lose_weight", "sleep_better", "eat_healthier"];

/// A random valid flow: every input kind, conditions of the catalogue, A/B
/// groups, templates, choice and scene jumps (back jumps included).
pub fn random_flow(rng: &mut Rng) -> FlowDef {
    let n = 3 + rng.below(6);
    let steps: Vec<String> = (0..n).map(|i| format!("step_{i}")).collect();
    let jump = |rng: &mut Rng| -> Option<Target> {
        match rng.below(10) {
            0 => Some(Target::End),
            1 | 2 => Some(Target::Step(rng.pick(&steps).clone())),
            _ => None,
        }
    };
    let (mut scenes, mut choices) = (Vec::new(), Vec::new());
    for step in &steps {
        let rows = 1 + rng.below(4);
        for r in 0..rows {
            let previous = scenes.last().filter(|p: &&SceneDef| p.step == *step);
            let condition = match previous {
                _ if r + 1 == rows && rng.chance(70) => "pass_through".to_owned(),
                // Same condition as the previous row: an A/B group.
                Some(p) if rng.chance(40) => p.condition.clone(),
                _ => rng.pick(CATALOGUE).name.to_owned(),
            };
            let key = format!("{step}_r{r}");
            let input = *rng.pick(&InputKind::ALL);
            let (save_as, min, max) = match input {
                InputKind::None => (None, None, None),
                InputKind::Choice => (
                    Some(if rng.chance(50) { "goal" } else { "plan" }),
                    None,
                    None,
                ),
                InputKind::MultiChoice => {
                    let lo = rng.below(3) as f64;
                    (
                        Some("tags"),
                        rng.chance(50).then_some(Bound::Number(lo)),
                        rng.chance(50).then_some(Bound::Number(lo + 1.0)),
                    )
                }
                InputKind::Text => (
                    Some("nickname"),
                    rng.chance(50).then_some(Bound::Number(2.0)),
                    rng.chance(50).then_some(Bound::Number(6.0)),
                ),
                InputKind::Number => {
                    let name = *rng.pick(&["weight_kg", "sleep_hours", "age_guess"]);
                    (
                        Some(name),
                        rng.chance(60)
                            .then_some(Bound::Number(*rng.pick(&[0.5, 3.0, 30.0, -10.0]))),
                        rng.chance(60)
                            .then_some(Bound::Number(*rng.pick(&[12.0, 200.0, 250.5]))),
                    )
                }
                InputKind::Date => {
                    let d =
                        |y, m, d| Bound::Date(NaiveDate::from_ymd_opt(y, m, d).expect("a date"));
                    (
                        Some("target_date"),
                        rng.chance(50).then(|| d(2026, 1, 1)),
                        rng.chance(50).then(|| d(2027, 12, 31)),
                    )
                }
            };
            if input.has_choices() {
                let count = 2 + rng.below(3);
                for c in 0..count {
                    let ckey = if save_as == Some("goal") {
                        GOALS[c % 3].to_owned()
                    } else {
                        format!("c{c}")
                    };
                    if choices
                        .iter()
                        .any(|x: &ChoiceDef| x.scene == key && x.key == ckey)
                    {
                        continue;
                    }
                    choices.push(ChoiceDef {
                        scene: key.clone(),
                        key: ckey.clone(),
                        label: format!("{ckey} ラベル"),
                        value: if rng.chance(30) {
                            format!(" v_{ckey} ")
                        } else {
                            ckey
                        },
                        next_step: jump(rng),
                        row: 0,
                        translations: Default::default(),
                    });
                }
            }
            let messages = (0..1 + rng.below(2))
                .map(|_| rng.pick(MESSAGES).to_string())
                .collect();
            scenes.push(SceneDef {
                key,
                step: step.clone(),
                condition,
                weight: *rng.pick(&[1.0, 1.0, 2.0, 0.5, 0.3, 3.7]),
                messages,
                input,
                save_as: save_as.map(str::to_owned),
                min,
                max,
                placeholder: rng.chance(30).then(|| "例: 62.5".to_owned()),
                next_step: jump(rng),
                row: 0,
                back: true,
                translations: Default::default(),
            });
        }
    }
    FlowDef {
        steps,
        scenes,
        choices,
    }
}

const TEXTS: &[&str] = &[
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
];

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
    let mut run = Replay::start(
        flow,
        &user_id,
        id,
        &object(&case["attributes"]),
        &object(&case["overrides"]),
        assignments_of(&case),
        started_at,
    );
    let mut script = Vec::new();
    while script.len() < MAX_ANSWERS {
        at += Duration::seconds(1 + rng.below(90) as i64);
        let answer = match run.scene {
            Some(scene) => answer_for(rng, flow, scene),
            None if rng.chance(30) => json!(null),
            None => break,
        };
        let done = run.scene.is_none();
        let _ = run.answer(&answer, at);
        script.push(json!({"answer": answer, "at": time_text(at)}));
        if done {
            break;
        }
    }
    case["script"] = Value::Array(script);
    case
}

/// Every bundle and case: `(bundles by name, cases)`. `sample` is the built-in
/// sample flow, played by a quarter of the cases.
pub fn generate(sample: CompiledFlow, cases: usize) -> (BTreeMap<String, Value>, Vec<Value>) {
    let mut rng = Rng::new(0x5CE7_E5F1_0000_0015);
    let mut flows = vec![("sample".to_owned(), sample)];
    for i in 0..11 {
        flows.push((
            format!("random_{i:02}"),
            CompiledFlow::compile(format!("random{i:02}"), random_flow(&mut rng)),
        ));
    }
    let none = Attributes::new();
    let bundles = flows
        .iter()
        .map(|(name, flow)| {
            let to = Recipient {
                user_id: "",
                channel: "production",
                assignments: &[],
                overrides: &none,
            };
            (name.clone(), bundle::document(flow, &to))
        })
        .collect();
    let mut out = Vec::with_capacity(cases);
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
    (bundles, out)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashMap};

    use super::*;

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
                let text =
                    std::fs::read_to_string(dir.join("bundles").join(format!("{name}.json")))
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
}
