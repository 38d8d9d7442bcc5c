//! Engine properties over random valid flows: forward-only flows end, a
//! walk that does not end needs a backward jump, next_step precedence.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::Attributes;
use super::answer::accept;
use super::engine::{CompiledFlow, Next, Reached};
use super::model::{ChoiceDef, InputKind, Target};
use super::tests::{attrs, choice, flow, reach, scene};

/// A random valid flow: steps with one to three scenes, some choice inputs,
/// and next_step jumps that go forward only unless `loops` allows any target.
fn arb_flow(loops: bool) -> impl Strategy<Value = (CompiledFlow, bool)> {
    let conditions = prop::sample::select(vec![
        "pass_through",
        "pass_through",
        "female",
        "premium_member",
        "free_member",
    ]);
    let scene_spec = (
        conditions,
        prop::bool::ANY,
        prop::option::of(0usize..10),
        prop::collection::vec(prop::option::of(0usize..10), 1..4),
    );
    prop::collection::vec(prop::collection::vec(scene_spec, 1..4), 1..8).prop_map(move |steps| {
        let n = steps.len();
        // Map a raw index onto a target: forward only, or anywhere (END at n).
        let target = |from: usize, raw: usize| -> Option<Target> {
            let to = if loops {
                raw % (n + 1)
            } else {
                from + 1 + raw % (n - from)
            };
            Some(if to >= n {
                Target::End
            } else {
                Target::Step(format!("s{to}"))
            })
        };
        let mut scenes = Vec::new();
        let mut choices = Vec::new();
        let mut has_backward = false;
        for (i, specs) in steps.iter().enumerate() {
            for (j, (condition, is_choice, next, choice_nexts)) in specs.iter().enumerate() {
                let key = format!("s{i}_{j}");
                let mut s = scene(&format!("s{i}"), &key, condition);
                s.next_step = next.and_then(|raw| target(i, raw));
                if *is_choice {
                    s.input = InputKind::Choice;
                    for (k, raw) in choice_nexts.iter().enumerate() {
                        let t = raw.and_then(|raw| target(i, raw));
                        choices.push(ChoiceDef {
                            next_step: t,
                            ..choice(&key, &format!("c{k}"), None)
                        });
                    }
                }
                scenes.push(s);
            }
        }
        let position = |t: Option<&Target>| match t {
            Some(Target::Step(k)) => k[1..].parse::<usize>().ok(),
            _ => None,
        };
        for s in &scenes {
            let from: usize = s.step[1..].parse().unwrap();
            let jumps = std::iter::once(s.next_step.as_ref()).chain(
                choices
                    .iter()
                    .filter(|c| c.scene == s.key)
                    .map(|c| c.next_step.as_ref()),
            );
            has_backward |= jumps.filter_map(position).any(|to| to <= from);
        }
        (flow(scenes, choices), has_backward)
    })
}

/// Walk a flow answering with the `pick`-th choice; the number of answers
/// until the end, or `None` past `limit`.
fn walk(f: &CompiledFlow, a: &Attributes, picks: &[usize], limit: usize) -> Option<usize> {
    let mut at = Next::Step(0);
    for n in 0..limit {
        match reach(f, at, "walker", a) {
            Reached::End { .. } => return Some(n),
            Reached::Scene(s) => {
                let keys: Vec<String> = f.choices(s.scene).map(|c| c.key.clone()).collect();
                let answer = if keys.is_empty() {
                    Value::Null
                } else {
                    json!(keys[picks[n % picks.len()] % keys.len()])
                };
                at = accept(f, s.scene, &answer).expect("a valid answer").next;
            }
        }
    }
    None
}

proptest! {
    #[test]
    fn forward_only_flows_always_terminate(
        (f, _) in arb_flow(false),
        premium in prop::bool::ANY,
        picks in prop::collection::vec(0usize..5, 1..10),
    ) {
        let a = attrs(json!({"subscription": if premium { "premium" } else { "free" }}));
        let steps = f.def.steps.len();
        let answers = walk(&f, &a, &picks, steps + 1);
        prop_assert!(answers.is_some_and(|n| n <= steps), "no end within {} answers", steps);
    }

    #[test]
    fn a_walk_that_does_not_end_needs_a_backward_jump(
        (f, has_backward) in arb_flow(true),
        picks in prop::collection::vec(0usize..5, 1..10),
    ) {
        let a = attrs(json!({}));
        if walk(&f, &a, &picks, 200).is_none() {
            prop_assert!(has_backward);
        }
    }

    #[test]
    fn next_step_precedence_holds(
        (f, _) in arb_flow(true),
    ) {
        for (i, s) in f.def.scenes.iter().enumerate() {
            let step = f.step_position(&s.step).unwrap();
            let by_order = if step + 1 < f.def.steps.len() { Next::Step(step + 1) } else { Next::End };
            let resolve = |t: &Target| match t {
                Target::End => Next::End,
                Target::Step(k) => Next::Step(f.step_position(k).unwrap()),
            };
            let fallback = s.next_step.as_ref().map_or(by_order, resolve);
            for c in f.choices(i) {
                let expected = c.next_step.as_ref().map_or(fallback, resolve);
                prop_assert_eq!(f.next_after(i, &[c.key.as_str()]), expected);
            }
            if f.choices(i).next().is_none() {
                prop_assert_eq!(f.next_after(i, &[]), fallback);
            }
        }
    }
}
