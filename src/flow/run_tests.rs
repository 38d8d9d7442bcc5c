//! The answer and back rules of a run, without a store.

use chrono::{NaiveDateTime, TimeDelta};
use serde_json::{Value, json};

use super::{Begin, Refusal, Run};
use crate::flow::back::Given;
use crate::flow::decision::{AssignmentChange, Assignments, EventKind};
use crate::flow::engine::CompiledFlow;
use crate::flow::locale::Wanted;
use crate::flow::tests::{attrs, branching, choice, flow, scene, today};
use crate::flow::view::Status;

fn at(seconds: i64) -> NaiveDateTime {
    today().and_hms_opt(9, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

fn started(f: &CompiledFlow) -> Run<'_> {
    let start = attrs(json!({"nickname": "Yuki", "birth_year": 1994.0}));
    let begin = Begin {
        user_id: "u1",
        run_id: "r1",
        start: &start,
        at: at(0),
    };
    Run::start(f, begin, &attrs(json!({})), Assignments::default()).0
}

fn kinds(events: &[crate::flow::Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

fn on(run: &Run) -> Option<String> {
    run.data().scene.clone()
}

#[test]
fn a_start_shows_the_first_scene_with_normalised_attributes() {
    let f = branching();
    let start = attrs(json!({"birth_year": 1994.0}));
    let begin = Begin {
        user_id: "u1",
        run_id: "r1",
        start: &start,
        at: at(0),
    };
    let (run, moved) = Run::start(&f, begin, &attrs(json!({})), Assignments::default());
    assert_eq!(on(&run).as_deref(), Some("welcome"));
    assert_eq!(run.scene_id().as_deref(), Some("r1-1"));
    assert_eq!(kinds(&moved.events), [EventKind::SceneShown]);
    // One form of a number, whatever the client spelled.
    assert_eq!(run.data().start["birth_year"], json!(1994));
    assert_eq!(run.state(&Wanted::default()).status, Status::InProgress);
}

#[test]
fn answers_are_judged_completed_then_scene_then_value() {
    let f = branching();
    let mut run = started(&f);
    let wrong = run.answer_scene("r1-9", &Value::Null, at(1));
    assert_eq!(
        wrong,
        Err(Refusal::SceneMismatch {
            current: Some("r1-1".into())
        })
    );
    run.answer_scene("r1-1", &Value::Null, at(1)).unwrap();
    let before = run.data().clone();
    let invalid = run.answer_scene("r1-2", &json!("run_faster"), at(2));
    assert!(matches!(invalid, Err(Refusal::Invalid(_))));
    assert_eq!(run.data(), &before, "a refused answer changes nothing");

    let moved = run
        .answer_scene("r1-2", &json!("sleep_better"), at(2))
        .unwrap();
    assert_eq!(
        kinds(&moved.events),
        [EventKind::Answered, EventKind::SceneShown]
    );
    let record = moved.answer.unwrap();
    assert_eq!(
        (record.scene_id.as_str(), record.step.as_str()),
        ("r1-2", "goal")
    );
    assert_eq!(on(&run).as_deref(), Some("sleep_ask"));
    assert_eq!(run.data().answers["goal"], json!("v_sleep_better"));
    assert_eq!(run.data().updated_at, at(2));
}

#[test]
fn a_completed_run_refuses_before_it_looks_at_the_scene() {
    let f = flow(vec![scene("only", "only", "pass_through")], vec![]);
    let mut run = started(&f);
    let moved = run.answer(&Value::Null, at(1)).unwrap();
    assert_eq!(
        kinds(&moved.events),
        [EventKind::Answered, EventKind::Completed]
    );
    assert!(run.is_completed());
    assert_eq!(run.data().completed_at, Some(at(1)));
    assert_eq!(
        run.answer_scene("r1-1", &Value::Null, at(2)),
        Err(Refusal::AlreadyCompleted)
    );
}

#[test]
fn going_back_withdraws_the_answers_from_the_scene_gone_back_to() {
    let f = branching();
    let mut run = started(&f);
    let mut given = Vec::new();
    let mut answer = |run: &mut Run, a: Value, t| {
        let scene = run.scene().unwrap();
        run.answer(&a, at(t)).unwrap();
        given.push(Given { scene, answer: a });
    };
    answer(&mut run, Value::Null, 1);
    answer(&mut run, json!("lose_weight"), 2);
    answer(&mut run, json!(62.5), 3);
    assert_eq!(on(&run).as_deref(), Some("plan_pick"));
    let moved = run.back_from("r1-4", &given, at(4)).unwrap();
    assert_eq!(
        kinds(&moved.events),
        [EventKind::WentBack, EventKind::SceneShown]
    );
    let back = moved.back.unwrap();
    assert_eq!(
        (back.from_step.as_str(), back.to_scene.as_str()),
        ("plan", "weight_ask")
    );
    assert_eq!(back.withdrawn_from, 2);
    assert_eq!(run.data().answered, 2);
    assert!(!run.data().answers.contains_key("weight"));
    let state = run.state(&Wanted::default());
    let shown = state.scene.unwrap();
    assert_eq!(
        (shown.id.as_str(), shown.input.previous),
        ("r1-5", Some(json!(62.5)))
    );

    // Answering again clears the offered answer.
    run.answer(&json!(60), at(5)).unwrap();
    assert_eq!(run.data().previous, None);
    assert_eq!(run.data().answers["weight"], json!(60));
}

#[test]
fn back_refusals_are_typed_and_change_nothing() {
    let f = branching();
    let mut run = started(&f);
    assert_eq!(run.back(&[], at(1)), Err(Refusal::NothingToGoBackTo));
    let welcome = run.scene().unwrap();
    run.answer(&Value::Null, at(1)).unwrap();
    let given = [Given {
        scene: welcome,
        answer: Value::Null,
    }];
    // Only a scene without input was answered: nothing to go back to.
    assert_eq!(run.back(&given, at(2)), Err(Refusal::NothingToGoBackTo));
    let f2 = branching();
    let mut fixed = started(&f2);
    let mut given = Vec::new();
    for a in [Value::Null, json!("lose_weight"), json!(70), json!("basic")] {
        let scene = fixed.scene().unwrap();
        fixed.answer(&a, at(1)).unwrap();
        given.push(Given { scene, answer: a });
    }
    let before = fixed.data().clone();
    assert_eq!(
        fixed.back(&given, at(2)),
        Err(Refusal::BackNotAllowed("plan_pick".into()))
    );
    assert_eq!(fixed.data(), &before);
}

#[test]
fn a_group_is_bucketed_once_and_exposed_once() {
    let f = flow(
        vec![
            scene("intro", "intro_a", "pass_through"),
            scene("intro", "intro_b", "pass_through"),
            scene("end", "end", "pass_through"),
        ],
        vec![choice("end", "x", None)],
    );
    let (run, moved) = Run::start(
        &f,
        Begin {
            user_id: "u1",
            run_id: "r1",
            start: &attrs(json!({})),
            at: at(0),
        },
        &attrs(json!({})),
        Assignments::default(),
    );
    assert!(matches!(
        moved.assignment,
        Some(AssignmentChange::Bucketed { .. })
    ));
    assert_eq!(
        kinds(&moved.events),
        [EventKind::Exposure, EventKind::SceneShown]
    );
    // The run's own copy of the assignments now holds it, exposed.
    let jumped_flow = &f;
    let mut again = Run::resume(
        jumped_flow,
        run.data().clone(),
        &attrs(json!({})),
        run.assignments().clone(),
    )
    .unwrap();
    let moved = again.jump("intro", at(1)).unwrap();
    assert_eq!(moved.assignment, None);
    assert_eq!(kinds(&moved.events), [EventKind::SceneShown]);
    assert_eq!(
        again.data().scene,
        run.data().scene,
        "the variant is sticky"
    );
    assert!(matches!(
        again.jump("nowhere", at(2)),
        Err(Refusal::UnknownStep { .. })
    ));
}

#[test]
fn a_stored_run_on_an_unknown_scene_is_corrupt() {
    let f = branching();
    let mut data = started(&f).into_data();
    data.scene = Some("gone".into());
    assert!(matches!(
        Run::resume(&f, data, &attrs(json!({})), Assignments::default()),
        Err(Refusal::Corrupt { .. })
    ));
}
