//! Validation of a workbook: every problem at once, pointing at the cell to fix.
//!
//! The layout is data ([`SCENE_COLUMNS`], [`CHOICE_COLUMNS`]); each row is read
//! into typed fields, problems are collected, and cross-sheet checks run on
//! what could be read, so one typo does not hide the next. When a key is
//! malformed its normalised form stands in for cross-references, so a single
//! `"Welcome "` does not also produce an `unknown_scene` on every choice.

// foldhash: the validator hashes every key of a workbook several times, and
// SipHash showed as the largest cost in profiles. Keys are not secret here.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

mod bounds;
mod cross;
mod header;
mod rows;
mod translations;

use super::cells::display_text;
use super::read::{RawWorkbook, Sheet};
use super::report::{Code, Report};
use crate::flow::{ChoiceDef, FlowDef, SceneDef, Target};
use header::{Columns, Problems, read_header};
use rows::{ChoiceRow, RowReader, SceneRow, read_choice_row, read_scene_row};

pub const SCENES: &str = "scenes";
pub const CHOICES: &str = "choices";

pub struct ColumnSpec {
    pub name: &'static str,
    pub required: bool,
}

const fn col(name: &'static str, required: bool) -> ColumnSpec {
    ColumnSpec { name, required }
}

/// `message_1` … `message_N` are matched by pattern; `message_1` is required.
pub const SCENE_COLUMNS: &[ColumnSpec] = &[
    col("step", true),
    col("scene", true),
    col("condition", false),
    col("weight", false),
    col("message_1", true),
    col("input", false),
    col("save_as", false),
    col("min", false),
    col("max", false),
    col("placeholder", false),
    col("next_step", false),
    col("back", false),
];

pub const CHOICE_COLUMNS: &[ColumnSpec] = &[
    col("scene", true),
    col("choice", true),
    col("label", true),
    col("value", false),
    col("next_step", false),
];

/// The outcome: always a report, and the flow when there are no errors.
#[derive(Debug, Clone)]
pub struct Validated {
    pub report: Report,
    pub flow: Option<FlowDef>,
}

/// Whether a sheet name is one of the two that matter.
pub fn is_wanted_sheet(name: &str) -> bool {
    let n = name.trim().to_lowercase();
    n == SCENES || n == CHOICES
}

fn find_sheet<'w>(raw: &'w RawWorkbook, name: &str, p: &mut Problems) -> Option<&'w Sheet> {
    let mut found = raw
        .sheets
        .iter()
        .filter(|s| s.name.trim().to_lowercase() == name);
    let first = found.next();
    for extra in found {
        p.push(
            Code::DuplicateSheet,
            name,
            0,
            None,
            format!("the workbook has two sheets named {name} ('{}' and '{}'). Delete or rename one of them.", first.map(|s| s.name.as_str()).unwrap_or(""), extra.name),
            None,
        );
    }
    if first.is_none() {
        p.push(Code::MissingSheet, name, 0, None, format!("the workbook has no sheet named {name}. Add a sheet called {name} (see the workbook format in the README)."), None);
    }
    first
}

/// Validate a workbook that could be read.
pub fn validate_workbook(raw: &RawWorkbook) -> Validated {
    let mut p = Problems::default();
    for name in raw.sheet_names.iter().filter(|n| !is_wanted_sheet(n)) {
        p.push(
            Code::IgnoredSheet,
            name,
            0,
            None,
            format!("the sheet '{name}' is not scenes or choices and is ignored."),
            None,
        );
    }
    let scenes_sheet = find_sheet(raw, SCENES, &mut p);
    let choices_sheet = find_sheet(raw, CHOICES, &mut p);

    let scene_columns = scenes_sheet.map(|s| read_header(s, SCENES, SCENE_COLUMNS, true, &mut p));
    let choice_columns =
        choices_sheet.map(|s| read_header(s, CHOICES, CHOICE_COLUMNS, false, &mut p));
    let mut scene_rows = Vec::new();
    if let (Some(sheet), Some(columns)) = (scenes_sheet, &scene_columns) {
        for index in 1..sheet.rows.len() {
            let r = RowReader {
                sheet,
                label: SCENES,
                index,
                columns,
            };
            if !r.is_blank() {
                scene_rows.push(read_scene_row(&r, &mut p));
            }
        }
        if scene_rows.is_empty() {
            p.push(
                Code::EmptyFlow,
                SCENES,
                0,
                None,
                "the scenes sheet has no scenes below its header row. Add at least one scene."
                    .to_owned(),
                None,
            );
        }
    }
    let mut choice_rows = Vec::new();
    if let (Some(sheet), Some(columns)) = (choices_sheet, &choice_columns) {
        for index in 1..sheet.rows.len() {
            let r = RowReader {
                sheet,
                label: CHOICES,
                index,
                columns,
            };
            if !r.is_blank() {
                choice_rows.push(read_choice_row(&r, &mut p));
            }
        }
    }

    for (sheet, label, columns) in [
        (scenes_sheet, SCENES, scene_columns.as_ref()),
        (choices_sheet, CHOICES, choice_columns.as_ref()),
    ] {
        if let (Some(sheet), Some(columns)) = (sheet, columns) {
            note_merged(sheet, label, columns, &mut p);
        }
    }
    cross::cross_check(&scene_rows, &choice_rows, scenes_sheet.is_some(), &mut p);
    translations::check(
        &scene_rows,
        &choice_rows,
        scene_columns.as_ref(),
        choice_columns.as_ref(),
        &mut p,
    );
    let flow = (!p.has_errors()).then(|| build_flow(scene_rows, choice_rows));
    Validated {
        report: Report::from_problems(p.0),
        flow,
    }
}

/// One note per merged range: its value counts for every cell of the range.
fn note_merged(sheet: &Sheet, label: &str, columns: &Columns, p: &mut Problems) {
    use super::keys::column_letter;
    for m in &sheet.merged {
        let (r0, c0) = m.first;
        let (r1, c1) = m.last;
        let range = format!(
            "{label}!{}{}:{}{}",
            column_letter(c0),
            r0 + 1,
            column_letter(c1),
            r1 + 1
        );
        let value = display_text(sheet.cell(r0 as usize, c0))
            .map(|v| v.into_owned())
            .unwrap_or_default();
        let name = columns
            .by_name
            .iter()
            .find(|(_, i)| *i == c0)
            .map(|(n, _)| n.as_str());
        p.push(
            Code::MergedCells,
            label,
            r0 + 1,
            name.map(|n| (n, c0)),
            format!("{range} is merged: its value '{value}' is read in every cell of the range, as the sheet shows it. Nothing to fix; unmerge and fill the cells if a row should differ."),
            None,
        );
        if name.is_none() {
            p.0.last_mut().expect("just pushed").column_letter = Some(column_letter(c0));
        }
    }
}

fn step_order(scene_rows: &[SceneRow<'_>]) -> Vec<String> {
    let mut seen = HashSet::default();
    scene_rows
        .iter()
        .filter_map(|r| r.step.as_ref())
        .filter(|s| seen.insert(s.as_str()))
        .cloned()
        .collect()
}

fn build_flow(scene_rows: Vec<SceneRow<'_>>, choice_rows: Vec<ChoiceRow<'_>>) -> FlowDef {
    const CHECKED: &str = "validated before the flow is built";
    let steps = step_order(&scene_rows);
    FlowDef {
        steps,
        scenes: scene_rows
            .into_iter()
            .map(|r| SceneDef {
                translations: translations::scene_texts(&r),
                key: r.key.expect(CHECKED).1,
                step: r.step.expect(CHECKED),
                condition: r.condition.expect(CHECKED),
                weight: r.weight,
                messages: r.messages.into_iter().map(|(_, m)| m).collect(),
                input: r.input.expect(CHECKED),
                save_as: r.save_as,
                min: r.min,
                max: r.max,
                placeholder: r.placeholder,
                next_step: r.next.map(|n| Target::parse(&n.raw)),
                back: r.back,
                row: r.row,
            })
            .collect(),
        choices: choice_rows
            .into_iter()
            .map(|r| {
                let key = r.key.expect(CHECKED).1;
                ChoiceDef {
                    scene: r.scene.expect(CHECKED).1,
                    value: r.value.unwrap_or_else(|| key.clone()),
                    key,
                    label: r.label.expect(CHECKED),
                    next_step: r.next.map(|n| Target::parse(&n.raw)),
                    translations: r
                        .translations
                        .iter()
                        .filter(|t| t.base == "label")
                        .map(|t| (t.locale.to_owned(), t.text.clone()))
                        .collect(),
                    row: r.row,
                }
            })
            .collect(),
    }
}
