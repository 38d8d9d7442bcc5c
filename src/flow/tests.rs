//! Engine tests: selection, transitions, answers and bucketing vectors
//! (the properties over random valid flows are in property_tests.rs).

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::answer::{AnswerError, accept};
use super::decision::{AssignmentChange, Assignments, EventKind, Stored};
use super::engine::{Assignment, CompiledFlow, Context, ExperimentId, Next, Reached};
use super::model::{Bound, ChoiceDef, FlowDef, InputKind, SceneDef, Target};
use super::{Attributes, bucket};

/// A scene with one message and no input, for tests across the crate.
pub(crate) fn scene(step: &str, key: &str, condition: &str) -> SceneDef {
    SceneDef {
        key: key.into(),
        step: step.into(),
        condition: condition.into(),
        weight: 1.0,
        messages: vec![format!("{key} says hi")],
        input: InputKind::None,
        save_as: None,
        min: None,
        max: None,
        placeholder: None,
        next_step: None,
        back: true,
        translations: Default::default(),
        row: 0,
    }
}

pub(super) fn choice(scene: &str, key: &str, next: Option<&str>) -> ChoiceDef {
    ChoiceDef {
        scene: scene.into(),
        key: key.into(),
        label: key.to_uppercase(),
        value: format!("v_{key}"),
        next_step: next.map(Target::parse),
        translations: Default::default(),
        row: 0,
    }
}

pub(super) fn flow(scenes: Vec<SceneDef>, choices: Vec<ChoiceDef>) -> CompiledFlow {
    let mut steps: Vec<String> = Vec::new();
    for s in &scenes {
        if !steps.contains(&s.step) {
            steps.push(s.step.clone());
        }
    }
    CompiledFlow::compile(
        "v1",
        FlowDef {
            steps,
            scenes,
            choices,
        },
    )
}

/// welcome (none) → goal (choice: lose_weight → weight, sleep_better →
/// sleep) → weight | sleep (number) → plan (choice, back = no) → done (text).
pub(crate) fn branching() -> CompiledFlow {
    let input = |mut s: crate::flow::SceneDef, kind, save_as: &str| {
        s.input = kind;
        s.save_as = (!save_as.is_empty()).then(|| save_as.to_owned());
        s
    };
    let mut weight = input(
        scene("weight", "weight_ask", "pass_through"),
        InputKind::Number,
        "weight",
    );
    weight.next_step = Some(crate::flow::Target::parse("plan"));
    let mut plan = input(
        scene("plan", "plan_pick", "pass_through"),
        InputKind::Choice,
        "plan",
    );
    plan.back = false;
    flow(
        vec![
            scene("welcome", "welcome", "pass_through"),
            input(
                scene("goal", "goal_question", "pass_through"),
                InputKind::Choice,
                "goal",
            ),
            weight,
            input(
                scene("sleep", "sleep_ask", "pass_through"),
                InputKind::Number,
                "sleep_hours",
            ),
            plan,
            input(
                scene("done", "done_note", "pass_through"),
                InputKind::Text,
                "note",
            ),
        ],
        vec![
            choice("goal_question", "lose_weight", Some("weight")),
            choice("goal_question", "sleep_better", Some("sleep")),
            choice("plan_pick", "basic", None),
        ],
    )
}

pub(super) fn attrs(v: Value) -> Attributes {
    serde_json::from_value(v).unwrap()
}

pub(super) fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

pub(super) fn reach(f: &CompiledFlow, from: Next, user: &str, a: &Attributes) -> Reached {
    let ctx = Context {
        user_id: user,
        attributes: a,
        today: today(),
    };
    f.reach(from, &ctx, &Assignments::default()).reached
}

fn stored(experiment: &str, scene: &str, exposed: bool) -> Assignments {
    [(
        ExperimentId::parse(experiment).unwrap(),
        Stored {
            scene: scene.into(),
            exposed,
        },
    )]
    .into_iter()
    .collect()
}

fn scene_key(f: &CompiledFlow, r: &Reached) -> String {
    match r {
        Reached::Scene(s) => f.scene(s.scene).key.clone(),
        Reached::End { .. } => "END".into(),
    }
}

#[test]
fn the_first_matching_row_fixes_the_group_and_unmatched_steps_are_skipped() {
    let f = flow(
        vec![
            scene("welcome", "w_diet", "from_diet_campaign"),
            scene("welcome", "w_default", "pass_through"),
            scene("premium", "p_only", "premium_member"),
            scene("done", "d", "pass_through"),
        ],
        vec![],
    );
    let diet = attrs(json!({"install_source": "diet_campaign"}));
    assert_eq!(
        scene_key(&f, &reach(&f, Next::Step(0), "u", &diet)),
        "w_diet"
    );
    assert_eq!(
        scene_key(&f, &reach(&f, Next::Step(0), "u", &attrs(json!({})))),
        "w_default"
    );
    let Reached::Scene(s) = reach(&f, Next::Step(1), "u", &attrs(json!({}))) else {
        panic!("done is reached")
    };
    assert_eq!(f.scene(s.scene).key, "d");
    assert_eq!(s.skipped, vec!["premium"]);
    assert_eq!(s.assignment, Assignment::Only);
}

#[test]
fn a_group_of_several_scenes_is_bucketed_and_a_stored_assignment_wins() {
    let mut b = scene("intro", "intro_b", "pass_through");
    b.weight = 3.0;
    let f = flow(vec![scene("intro", "intro_a", "pass_through"), b], vec![]);
    let a = attrs(json!({}));
    let ctx = Context {
        user_id: "user-1",
        attributes: &a,
        today: today(),
    };
    let decision = f.reach(Next::Step(0), &ctx, &Assignments::default());
    let Reached::Scene(s) = decision.reached else {
        panic!()
    };
    let expected = bucket::pick(
        bucket::bucket("user-1", "intro", "pass_through"),
        &[1.0, 3.0],
    );
    assert_eq!(s.scene, expected);
    assert!(matches!(s.assignment, Assignment::Bucketed { .. }));
    let group = s.group.unwrap();
    assert_eq!(group.experiment_id, "intro:pass_through");
    assert_eq!(group.variants.len(), 2);
    // Bucketed now: stored exposed, with an exposure before the scene is shown.
    let id = ExperimentId::new("intro", "pass_through");
    assert_eq!(
        decision.assignment,
        Some(AssignmentChange::Bucketed {
            experiment: id.clone(),
            scene: f.scene(expected).key.clone(),
        })
    );
    let kinds: Vec<EventKind> = decision.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Exposure, EventKind::SceneShown]);
    assert_eq!(decision.events[1].experiment, Some(id.clone()));

    let other = if expected == 0 { "intro_b" } else { "intro_a" };
    let decision = f.reach(
        Next::Step(0),
        &ctx,
        &stored("intro:pass_through", other, false),
    );
    let Reached::Scene(s) = &decision.reached else {
        panic!()
    };
    assert_eq!(f.scene(s.scene).key, other);
    assert_eq!(s.assignment, Assignment::Stored);
    // A stored assignment shown for the first time is exposed once.
    assert_eq!(
        decision.assignment,
        Some(AssignmentChange::Exposed {
            experiment: id.clone()
        })
    );
    let decision = f.reach(
        Next::Step(0),
        &ctx,
        &stored("intro:pass_through", other, true),
    );
    assert_eq!(decision.assignment, None);
    assert_eq!(decision.events.len(), 1);

    // A stored scene that left the group is bucketed again.
    let decision = f.reach(
        Next::Step(0),
        &ctx,
        &stored("intro:pass_through", "gone", true),
    );
    let Reached::Scene(s) = decision.reached else {
        panic!()
    };
    assert_eq!(s.scene, expected);
    assert!(matches!(
        decision.assignment,
        Some(AssignmentChange::Bucketed { .. })
    ));
}

#[test]
fn groups_are_compiled_once_per_step_and_condition() {
    let f = flow(
        vec![
            scene("welcome", "w_diet", "from_diet_campaign"),
            scene("welcome", "w_a", "pass_through"),
            scene("welcome", "w_b", "pass_through"),
            scene("done", "d_a", "pass_through"),
            scene("done", "d_b", "pass_through"),
        ],
        vec![],
    );
    assert_eq!(f.group_of(0), None);
    let g = f.group_of(1).unwrap();
    assert_eq!(g.experiment_id.to_string(), "welcome:pass_through");
    assert_eq!(f.group_of(2), Some(g));
    assert_eq!(
        f.group_of(4).map(|g| g.experiment_id.to_string()),
        Some("done:pass_through".into())
    );
    assert_eq!(f.groups().count(), 2);
    assert_eq!(
        f.group(&ExperimentId::new("done", "pass_through")),
        f.group_of(3)
    );
    assert_eq!(
        f.group(&ExperimentId::new("welcome", "from_diet_campaign")),
        None
    );
    let end = f.reach(
        Next::End,
        &Context {
            user_id: "u",
            attributes: &attrs(json!({})),
            today: today(),
        },
        &Assignments::default(),
    );
    assert_eq!(end.events.len(), 1);
    assert_eq!(end.events[0].kind, EventKind::Completed);
}

#[test]
fn choice_next_step_beats_scene_next_step_beats_order() {
    let mut q = scene("q", "q", "pass_through");
    q.input = InputKind::Choice;
    q.next_step = Some(Target::parse("c"));
    let f = flow(
        vec![
            q,
            scene("b", "b", "pass_through"),
            scene("c", "c", "pass_through"),
            scene("d", "d", "pass_through"),
        ],
        vec![
            choice("q", "to_d", Some("d")),
            choice("q", "plain", None),
            choice("q", "to_end", Some("END")),
        ],
    );
    assert_eq!(f.next_after(0, &["to_d"]), Next::Step(3));
    assert_eq!(f.next_after(0, &["plain"]), Next::Step(2));
    assert_eq!(f.next_after(0, &["to_end"]), Next::End);
    // multi_choice: the first picked choice in sheet order that has one.
    assert_eq!(f.next_after(0, &["to_end", "plain", "to_d"]), Next::Step(3));
    assert_eq!(f.next_after(1, &[]), Next::Step(2));
    assert_eq!(f.next_after(3, &[]), Next::End);
}

#[test]
fn remaining_estimate_follows_the_shortest_path() {
    let mut q = scene("q", "q", "pass_through");
    q.input = InputKind::Choice;
    let f = flow(
        vec![
            q,
            scene("b", "b", "pass_through"),
            scene("c", "c", "pass_through"),
        ],
        vec![choice("q", "skip", Some("c")), choice("q", "all", None)],
    );
    assert_eq!(f.remaining_from(0), 2);
    assert_eq!(f.remaining_from(1), 2);
    assert_eq!(f.remaining_from(2), 1);
}

fn with_input(kind: InputKind, min: Option<Bound>, max: Option<Bound>) -> CompiledFlow {
    let mut s = scene("q", "q", "pass_through");
    s.input = kind;
    s.min = min;
    s.max = max;
    s.save_as = Some("x".into());
    let choices = if kind.has_choices() {
        vec![
            choice("q", "a", None),
            choice("q", "b", None),
            choice("q", "c", None),
        ]
    } else {
        vec![]
    };
    flow(vec![s], choices)
}

#[test]
fn answers_are_checked_against_the_input() {
    let none = with_input(InputKind::None, None, None);
    assert!(accept(&none, 0, &Value::Null).is_ok());
    assert_eq!(
        accept(&none, 0, &json!("x")),
        Err(AnswerError::WrongType { expected: "null" })
    );

    let one = with_input(InputKind::Choice, None, None);
    assert_eq!(accept(&one, 0, &json!("b")).unwrap().value, json!("v_b"));
    assert_eq!(
        accept(&one, 0, &json!("z")),
        Err(AnswerError::UnknownChoice("z".into()))
    );

    let many = with_input(
        InputKind::MultiChoice,
        Some(Bound::Number(1.0)),
        Some(Bound::Number(2.0)),
    );
    assert_eq!(
        accept(&many, 0, &json!(["c", "a"])).unwrap().value,
        json!(["v_c", "v_a"])
    );
    assert!(matches!(
        accept(&many, 0, &json!(["a", "b", "c"])),
        Err(AnswerError::ChoiceCount { got: 3, .. })
    ));
    assert!(matches!(
        accept(&many, 0, &json!([])),
        Err(AnswerError::ChoiceCount { got: 0, .. })
    ));
    assert_eq!(
        accept(&many, 0, &json!(["a", "a"])),
        Err(AnswerError::RepeatedChoice("a".into()))
    );

    let text = with_input(InputKind::Text, None, Some(Bound::Number(3.0)));
    assert_eq!(
        accept(&text, 0, &json!(" ゆき ")).unwrap().value,
        json!("ゆき")
    );
    assert!(matches!(
        accept(&text, 0, &json!("ゆきさん")),
        Err(AnswerError::TextLength { got: 4, .. })
    ));
    assert!(accept(&text, 0, &json!("  ")).is_err());

    let number = with_input(
        InputKind::Number,
        Some(Bound::Number(30.0)),
        Some(Bound::Number(200.0)),
    );
    assert!(accept(&number, 0, &json!(62.5)).is_ok());
    assert!(accept(&number, 0, &json!(200)).is_ok());
    let refused = accept(&number, 0, &json!(29.9)).unwrap_err();
    assert!(matches!(refused, AnswerError::OutOfRange { .. }));
    // Bounds are JSON numbers, like those of `count` and `length`, in the
    // form the sheet gave them (`30`, not `30.0`).
    assert_eq!(
        refused.details(),
        json!({"rule": "range", "min": 30, "max": 200, "got": 29.9})
    );
    assert_eq!(
        refused.details().to_string(),
        r#"{"got":29.9,"max":200,"min":30,"rule":"range"}"#
    );
    assert!(refused.details()["min"].is_number());
    assert_eq!(refused.to_string(), "the number must be between 30 and 200");
    assert!(accept(&number, 0, &json!("62")).is_err());

    let date = with_input(
        InputKind::Date,
        Some(Bound::Date(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap())),
        None,
    );
    assert!(accept(&date, 0, &json!("2027-03-01")).is_ok());
    assert_eq!(
        accept(&date, 0, &json!("2025-12-31"))
            .unwrap_err()
            .details(),
        json!({"rule": "date_range", "min": "2026-01-01", "max": null, "got": "2025-12-31"})
    );
    assert_eq!(
        accept(&date, 0, &json!("2027-3-1")),
        Err(AnswerError::NotADate("2027-3-1".into()))
    );
    // Ten bytes that chrono's `%Y-%m-%d` alone accepts: not `YYYY-MM-DD`.
    for lenient in [
        " 2027-3-01",
        "+2027-3-01",
        "2027-3- 01",
        "2027-\t3-01",
        "2027-02-30",
    ] {
        assert_eq!(
            accept(&date, 0, &json!(lenient)),
            Err(AnswerError::NotADate(lenient.into())),
            "{lenient:?}"
        );
    }
}

#[test]
fn bucketing_matches_the_committed_vectors() {
    let doc: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/bucketing_vectors.json")).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() >= 40);
    for case in cases {
        let (user, step, condition) = (
            case["user_id"].as_str().unwrap(),
            case["step"].as_str().unwrap(),
            case["condition"].as_str().unwrap(),
        );
        let b = bucket::bucket(user, step, condition);
        assert_eq!(b, case["bucket"].as_u64().unwrap(), "bucket of {user:?}");
        let variants = case["variants"].as_array().unwrap();
        let weights: Vec<f64> = variants
            .iter()
            .map(|v| v["weight"].as_f64().unwrap())
            .collect();
        let picked = &variants[bucket::pick(b, &weights)]["scene"];
        assert_eq!(picked, &case["scene"], "scene of {user:?} at {step}");
    }
}
