//! Simulating an answer script that goes back (docs/src/qa.md).

use serde_json::{Value, json};

use super::{Outcome, Script, simulate};
use crate::flow::decision::Assignments;
use crate::flow::tests::{attrs, branching, today};

fn run(script: Value) -> super::Simulation {
    let script = Script::from_json(script).unwrap();
    simulate(
        &branching(),
        "u1",
        &attrs(json!({"nickname": "Yuki"})),
        &script,
        today(),
        &Assignments::default(),
    )
}

fn scenes(sim: &super::Simulation) -> Vec<(&str, bool)> {
    sim.path
        .iter()
        .map(|s| (s.scene.as_str(), s.went_back))
        .collect()
}

#[test]
fn back_then_a_different_answer_takes_another_branch() {
    let sim = run(json!([
        {"step": "goal", "answer": "lose_weight"},
        {"step": "weight", "answer": 70},
        {"back": true},
        {"back": true},
        {"step": "goal", "answer": "sleep_better"},
        {"step": "sleep", "answer": 7},
        {"step": "plan", "answer": "basic"},
        {"step": "done", "answer": "ok"},
    ]));
    assert_eq!(sim.outcome, Outcome::Completed, "{sim:?}");
    assert_eq!(
        scenes(&sim),
        [
            ("welcome", false),
            ("goal_question", false),
            ("weight_ask", false),
            // Back from the plan (not answered yet) to the weight, then to the goal.
            ("plan_pick", true),
            ("weight_ask", true),
            ("goal_question", false),
            ("sleep_ask", false),
            ("plan_pick", false),
            ("done_note", false),
        ]
    );
    assert!(sim.path[4].why.starts_with("shown again after going back"));
    assert!(sim.path[5].why.starts_with("shown again after going back"));
    // The withdrawn weight is gone; the new branch's answers are there.
    assert_eq!(
        Value::Object(sim.attributes.clone().into_iter().collect()),
        json!({"nickname": "Yuki", "goal": "v_sleep_better", "sleep_hours": 7,
               "plan": "v_basic", "note": "ok"})
    );
}

#[test]
fn back_past_a_scene_that_forbids_it_stops_the_path() {
    let sim = run(json!([
        {"step": "goal", "answer": "lose_weight"},
        {"step": "weight", "answer": 70},
        {"step": "plan", "answer": "basic"},
        {"back": true},
    ]));
    assert_eq!(sim.outcome, Outcome::BackNotAllowed, "{sim:?}");
    assert_eq!(scenes(&sim).last(), Some(&("done_note", true)));
    assert!(sim.problem.as_deref().unwrap().contains("plan_pick"));
    assert_eq!(sim.attributes["plan"], "v_basic", "nothing withdrawn");
}

#[test]
fn back_before_any_answer_and_a_script_out_of_step_are_reported() {
    // A back goes back from the scene on screen, one without input too.
    let sim = run(json!([{"back": true}]));
    assert_eq!(sim.outcome, Outcome::NothingToGoBackTo, "{sim:?}");
    assert_eq!(scenes(&sim), [("welcome", true)]);
    let sim = run(json!([{"step": "welcome"}, {"back": true}]));
    assert_eq!(sim.outcome, Outcome::NothingToGoBackTo, "{sim:?}");
    assert_eq!(scenes(&sim), [("welcome", false), ("goal_question", true)]);

    let sim = run(json!([{"step": "weight", "answer": 70}]));
    assert_eq!(sim.outcome, Outcome::InvalidAnswer);
    assert_eq!(
        sim.problem.as_deref(),
        Some("the script answers step 'weight' next, but the path is at step 'goal'")
    );

    // A script that ends early waits where an answer is needed.
    let sim = run(json!([{"step": "goal", "answer": "sleep_better"}]));
    assert_eq!(sim.outcome, Outcome::WaitingForAnswer);
    assert_eq!(sim.path.last().unwrap().scene, "sleep_ask");
}

#[test]
fn the_answers_by_step_still_work() {
    let sim = run(json!({"goal": "sleep_better", "sleep": 6, "plan": "basic", "done": "x"}));
    assert_eq!(sim.outcome, Outcome::Completed);
    assert!(sim.path.iter().all(|s| !s.went_back));
    assert_eq!(sim.path.len(), 5);
}

#[test]
fn a_script_reads_steps_and_backs_and_names_a_bad_item() {
    assert_eq!(
        Script::from_json(Value::Null),
        Ok(Script::ByStep(Default::default()))
    );
    assert_eq!(
        Script::from_json(json!([{"back": true}, {"step": "welcome"}])),
        Ok(Script::InOrder(vec![
            super::Action::Back,
            super::Action::Answer {
                step: "welcome".into(),
                answer: Value::Null
            }
        ]))
    );
    for bad in [
        json!([{"step": "goal", "answer": 1}, {"back": false}]),
        json!([{"step": "goal", "answer": 1}, {"back": true, "step": "goal"}]),
        json!([{"step": "goal", "answer": 1}, {"step": "goal", "value": 1}]),
        json!([{"step": "goal", "answer": 1}, "back"]),
    ] {
        let error = Script::from_json(bad.clone()).unwrap_err();
        assert!(error.starts_with("answers[1] is neither"), "{bad}: {error}");
    }
    assert!(Script::from_json(json!("goal")).is_err());
}
