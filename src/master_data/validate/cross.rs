//! Checks across rows and sheets: duplicate keys, references to scenes,
//! steps and conditions, variables in templates, and the warnings about
//! the shape of the flow (skippable, unreachable, loops).

use super::super::keys::nearest;
use super::super::report::Code;
use super::header::Problems;
use super::rows::{ChoiceRow, NextRef, SceneRow};
use super::{CHOICES, HashMap, HashSet, SCENES, step_order};
use crate::flow::conditions::{KNOWN_START_ATTRIBUTES, PASS_THROUGH};
use crate::flow::model::END;
use crate::flow::template;

pub(super) fn cross_check(
    scene_rows: &[SceneRow<'_>],
    choice_rows: &[ChoiceRow<'_>],
    have_scenes: bool,
    p: &mut Problems,
) {
    // A key that could not be read (formula without a saved value, error
    // cell) was reported where it is; references that might name it are
    // not reported again.
    let unread = |sheet: &str, column: &str| {
        p.0.iter().any(|x| {
            matches!(x.code, Code::FormulaWithoutValue | Code::CellError)
                && x.sheet == sheet
                && x.column.as_deref() == Some(column)
        })
    };
    let (unread_scene, unread_step, unread_choice_scene, unread_save_as) = (
        unread(SCENES, "scene"),
        unread(SCENES, "step"),
        unread(CHOICES, "scene"),
        unread(SCENES, "save_as"),
    );
    let steps = step_order(scene_rows);
    let position: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();

    // Scene keys are unique in the workbook.
    let mut scene_by_key: HashMap<&str, &SceneRow<'_>> = HashMap::default();
    for row in scene_rows {
        let Some((at, key)) = &row.key else { continue };
        match scene_by_key.get(key.as_str()) {
            Some(first) => p.at(*at, Code::DuplicateScene, format!("the scene key '{key}' is already used on row {}. Scene keys must be unique in the workbook: rename one of them.", first.row), None),
            None => {
                scene_by_key.insert(key, row);
            }
        }
    }

    let check_next = |next: &Option<NextRef<'_>>, from_step: Option<&String>, p: &mut Problems| {
        let Some(NextRef { at, raw }) = next else {
            return;
        };
        if raw == END {
            return;
        }
        match position.get(raw.as_str()) {
            None if unread_step => {}
            None => p.at(
                *at,
                Code::UnknownStep,
                format!("there is no step named '{raw}' in the step column of the scenes sheet. Use an existing step key, or END to finish the flow."),
                nearest(raw, steps.iter().map(String::as_str)),
            ),
            Some(&to) => {
                if let Some(from) = from_step.and_then(|s| position.get(s.as_str()))
                    && to <= *from
                {
                    p.at(
                        *at,
                        Code::PossibleLoop,
                        format!("this jumps back from step '{}' to step '{raw}', which comes at or before it, so users can go round in a loop. Make sure the loop ends.", steps[*from]),
                        None,
                    );
                }
            }
        }
    };
    for row in scene_rows {
        check_next(&row.next, row.step.as_ref(), p);
    }

    // Choices: their scene exists, accepts choices, and keys are unique per scene.
    let mut seen_choices: HashMap<(&str, &str), u32> = HashMap::default();
    let mut choice_count: HashMap<&str, usize> = HashMap::default();
    for row in choice_rows {
        let Some((at, scene_key)) = &row.scene else {
            continue;
        };
        *choice_count.entry(scene_key).or_default() += 1;
        let scene = scene_by_key.get(scene_key.as_str());
        match scene {
            None if have_scenes && !unread_scene => p.at(
                *at,
                Code::UnknownScene,
                format!("there is no scene named '{scene_key}' in the scene column of the scenes sheet. Use the key of a scene whose input is choice or multi_choice."),
                nearest(scene_key, scene_by_key.keys().copied()),
            ),
            None => {}
            Some(scene) => {
                if let Some(input) = scene.input.filter(|i| !i.has_choices()) {
                    p.at(
                        *at,
                        Code::ChoicesWithoutChoiceInput,
                        format!("scene '{scene_key}' (scenes row {}) has input {}, which shows no buttons. Set its input to choice or multi_choice, or delete this choice.", scene.row, input.as_str()),
                        None,
                    );
                }
                check_next(&row.next, scene.step.as_ref(), p);
            }
        }
        if let Some((key_at, key)) = &row.key {
            match seen_choices.get(&(scene_key.as_str(), key.as_str())) {
                Some(first) => p.at(
                    *key_at,
                    Code::DuplicateChoice,
                    format!("the choice key '{key}' is already used for scene '{scene_key}' on row {first}. Choice keys must be unique within a scene: rename one of them."),
                    None,
                ),
                None => {
                    seen_choices.insert((scene_key, key), row.row);
                }
            }
        }
    }

    for row in scene_rows {
        let (Some(input), Some((_, key))) = (row.input, &row.key) else {
            continue;
        };
        if input.has_choices() && !choice_count.contains_key(key.as_str()) && !unread_choice_scene {
            let at = row
                .input_at
                .expect("input column exists when input is a choice kind");
            p.at(
                at,
                Code::MissingChoices,
                format!("scene '{key}' has input {} but no rows in the choices sheet. Add its buttons to the choices sheet (scene = {key}), or change the input.", input.as_str()),
                None,
            );
        }
    }

    // Templates name known attributes or answers of earlier steps: an answer
    // is usable from the step after the first step that saves it.
    let mut first_saved: HashMap<&str, usize> = HashMap::default();
    for row in scene_rows {
        if let (Some(save), Some(&pos)) = (
            row.save_as.as_deref(),
            row.step.as_ref().and_then(|s| position.get(s.as_str())),
        ) {
            let entry = first_saved.entry(save).or_insert(pos);
            *entry = (*entry).min(pos);
        }
    }
    for row in scene_rows {
        let Some(&pos) = row.step.as_ref().and_then(|s| position.get(s.as_str())) else {
            continue;
        };
        let allowed = |v: &str| {
            KNOWN_START_ATTRIBUTES.contains(&v)
                || first_saved.get(v).is_some_and(|&saved| saved < pos)
        };
        let translated = row
            .translations
            .iter()
            .filter(|t| t.base.starts_with("message_"))
            .map(|t| (&t.at, &t.text));
        for (at, text) in row.messages.iter().map(|(at, t)| (at, t)).chain(translated) {
            match template::variables(text) {
                Err(e) => p.at(
                    *at,
                    Code::InvalidTemplate,
                    format!("{e}. Write a variable as {{{{name}}}} or {{{{name|fallback}}}}."),
                    None,
                ),
                Ok(vars) => {
                    for var in vars.into_iter().filter(|v| !allowed(v) && !unread_save_as) {
                        let candidates = KNOWN_START_ATTRIBUTES.iter().copied().chain(
                            first_saved
                                .iter()
                                .filter(|(_, s)| **s < pos)
                                .map(|(k, _)| *k),
                        );
                        p.at(
                            *at,
                            Code::UnknownVariable,
                            format!("{{{{{var}}}}} is neither an attribute the app sends ({}) nor the save_as of an earlier step. Fix the name or save that answer in an earlier step.", KNOWN_START_ATTRIBUTES.join(", ")),
                            nearest(var, candidates),
                        );
                    }
                }
            }
        }
    }

    flow_warnings(scene_rows, choice_rows, &steps, &position, p);
}

fn flow_warnings(
    scene_rows: &[SceneRow<'_>],
    choice_rows: &[ChoiceRow<'_>],
    steps: &[String],
    position: &HashMap<&str, usize>,
    p: &mut Problems,
) {
    let mut skippable = vec![true; steps.len()];
    let mut edges: Vec<HashSet<usize>> = vec![HashSet::default(); steps.len()];
    let mut choices_by_scene: HashMap<&str, Vec<&ChoiceRow<'_>>> = HashMap::default();
    for c in choice_rows {
        if let Some((_, scene)) = &c.scene {
            choices_by_scene.entry(scene).or_default().push(c);
        }
    }
    let target = |raw: &str| {
        if raw == END {
            Some(usize::MAX)
        } else {
            position.get(raw).copied()
        }
    };
    for row in scene_rows {
        let Some(&from) = row.step.as_ref().and_then(|s| position.get(s.as_str())) else {
            continue;
        };
        if row.condition.as_deref() == Some(PASS_THROUGH) {
            skippable[from] = false;
        }
        let fallthrough = match &row.next {
            Some(n) => target(&n.raw),
            None => Some(from + 1),
        };
        let choices = row
            .key
            .as_ref()
            .and_then(|(_, k)| choices_by_scene.get(k.as_str()))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut falls = choices.is_empty();
        for c in choices {
            match &c.next {
                Some(n) => edges[from].extend(target(&n.raw)),
                None => falls = true,
            }
        }
        if falls {
            edges[from].extend(fallthrough);
        }
    }
    for (i, step) in steps.iter().enumerate() {
        if skippable[i] {
            edges[i].insert(i + 1);
            p.push(
                Code::StepSkippable,
                SCENES,
                0,
                None,
                format!("no scene of step '{step}' has the condition pass_through (a blank condition), so users who match none of its conditions skip this step. Add a pass_through scene if every user must see it."),
                None,
            );
        }
    }
    let mut reached = vec![false; steps.len()];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        if i >= steps.len() || reached[i] {
            continue;
        }
        reached[i] = true;
        stack.extend(edges[i].iter().copied());
    }
    for (_, step) in steps.iter().enumerate().filter(|(i, _)| !reached[*i]) {
        let first_row = scene_rows
            .iter()
            .find(|r| r.step.as_ref() == Some(step))
            .map(|r| r.row)
            .unwrap_or(0);
        p.push(
            Code::UnreachableStep,
            SCENES,
            0,
            None,
            format!("no path from the first step '{}' leads to step '{step}' (first used on row {first_row}): every scene or choice before it jumps past it. Point a next_step at it, or delete it.", steps[0]),
            None,
        );
    }
}
