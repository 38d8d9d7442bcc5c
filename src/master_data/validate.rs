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

use std::borrow::Cow;

use chrono::NaiveDate;

use super::keys::{self, column_letter, is_valid_key, nearest, suggested_key};
use super::read::{CellValue, RawWorkbook, Sheet};
use super::report::{Code, Problem, Report};
use crate::flow::conditions::{self, KNOWN_START_ATTRIBUTES, PASS_THROUGH};
use crate::flow::model::{END, format_number};
use crate::flow::{Bound, BoundKind, ChoiceDef, FlowDef, InputKind, SceneDef, Target, template};

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

#[derive(Default)]
struct Problems(Vec<Problem>);

/// A cell: sheet, spreadsheet row, column name and index.
#[derive(Clone, Copy)]
struct At<'a> {
    sheet: &'a str,
    row: u32,
    column: &'a str,
    index: u32,
}

impl At<'_> {
    fn cell(&self) -> String {
        format!("{}!{}{}", self.sheet, column_letter(self.index), self.row)
    }
}

impl Problems {
    fn push(
        &mut self,
        code: Code,
        sheet: &str,
        row: u32,
        column: Option<(&str, u32)>,
        message: String,
        suggestion: Option<String>,
    ) {
        self.0.push(Problem {
            sheet: sheet.to_owned(),
            row,
            column: column.map(|(c, _)| c.to_owned()),
            column_letter: column.map(|(_, i)| column_letter(i)),
            code,
            message,
            suggestion,
        });
    }

    fn at(&mut self, at: At<'_>, code: Code, message: String, suggestion: Option<String>) {
        let message = format!("{} (column {}): {}", at.cell(), at.column, message);
        self.push(
            code,
            at.sheet,
            at.row,
            Some((at.column, at.index)),
            message,
            suggestion,
        );
    }

    fn has_errors(&self) -> bool {
        self.0
            .iter()
            .any(|p| p.code.level() == super::report::Level::Error)
    }
}

/// Column positions found in a header row.
struct Columns {
    /// A dozen names at most: a linear search beats hashing.
    by_name: Vec<(String, u32)>,
    /// `(N, column index, name)` of each `message_N`, by N.
    messages: Vec<(u32, u32, String)>,
}

impl Columns {
    fn get(&self, name: &str) -> Option<u32> {
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
    }
}

fn message_number(name: &str) -> Option<u32> {
    name.strip_prefix("message_")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 1)
}

fn read_header(
    sheet: &Sheet,
    label: &str,
    specs: &[ColumnSpec],
    with_messages: bool,
    p: &mut Problems,
) -> Columns {
    let mut by_name: Vec<(String, u32)> = Vec::new();
    let mut messages = Vec::new();
    let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
    let header = sheet.rows.first().map(Vec::as_slice).unwrap_or(&[]);
    for (i, cell) in header.iter().enumerate() {
        let i = i as u32;
        let Some(raw) = display_text(cell) else {
            continue;
        };
        let name = raw.trim().to_lowercase();
        let is_message = with_messages && message_number(&name).is_some();
        if !is_message && !known.contains(&name.as_str()) {
            let cell_ref = format!("{label}!{}1", column_letter(i));
            p.push(
                Code::UnknownColumn,
                label,
                1,
                Some((&raw, i)),
                format!(
                    "{cell_ref}: the column '{raw}' is not part of the {label} sheet and will be ignored. Known columns: {}{}.",
                    known.join(", "),
                    if with_messages { ", message_2, message_3, …" } else { "" }
                ),
                nearest(&name, known.iter().copied()),
            );
            continue;
        }
        if let Some((_, first)) = by_name.iter().find(|(n, _)| *n == name) {
            p.push(
                Code::DuplicateColumn,
                label,
                1,
                Some((&name, i)),
                format!(
                    "{label}!{}1: the column '{name}' appears twice (first in column {}). Delete or rename one of them.",
                    column_letter(i),
                    column_letter(*first)
                ),
                None,
            );
            continue;
        }
        by_name.push((name.clone(), i));
        if let Some(n) = message_number(&name).filter(|_| with_messages) {
            messages.push((n, i, name.clone()));
        }
    }
    messages.sort();
    for spec in specs
        .iter()
        .filter(|s| s.required && !by_name.iter().any(|(n, _)| n == s.name))
    {
        p.push(
            Code::MissingColumn,
            label,
            1,
            Some((spec.name, 0)),
            format!("{label} row 1: the required column '{}' is missing. Add a header cell '{}' in row 1.", spec.name, spec.name),
            None,
        );
        // A missing column has no letter.
        p.0.last_mut().expect("just pushed").column_letter = None;
    }
    Columns { by_name, messages }
}

/// A cell as text, the way the spreadsheet shows it; `None` when blank.
fn display_text(cell: &CellValue) -> Option<Cow<'_, str>> {
    let text: Cow<'_, str> = match cell {
        CellValue::Empty => return None,
        CellValue::Text(s) => Cow::Borrowed(s),
        CellValue::Number(n) => format_number(*n).into(),
        CellValue::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        CellValue::Date(d) if d.time() == chrono::NaiveTime::MIN => {
            d.date().format("%Y-%m-%d").to_string().into()
        }
        CellValue::Date(d) => d.format("%Y-%m-%d %H:%M:%S").to_string().into(),
        CellValue::Error(e) => Cow::Borrowed(e),
    };
    (!text.trim().is_empty()).then_some(text)
}

/// Reads typed fields of one row, reporting what is wrong.
struct RowReader<'a> {
    sheet: &'a Sheet,
    label: &'a str,
    index: usize,
    columns: &'a Columns,
}

impl<'a> RowReader<'a> {
    fn row(&self) -> u32 {
        self.index as u32 + 1
    }

    fn at(&self, column: &'a str, index: u32) -> At<'a> {
        At {
            sheet: self.label,
            row: self.row(),
            column,
            index,
        }
    }

    /// The cell of a column, `None` when the column is absent.
    fn cell(&self, column: &'a str) -> Option<(At<'a>, &'a CellValue)> {
        let index = self.columns.get(column)?;
        Some((self.at(column, index), self.sheet.cell(self.index, index)))
    }

    /// Text of a cell, reporting blanks in required columns and error cells.
    fn text(
        &self,
        column: &'a str,
        required: bool,
        p: &mut Problems,
    ) -> Option<(At<'a>, Cow<'a, str>)> {
        let (at, cell) = self.cell(column)?;
        if let CellValue::Error(e) = cell {
            p.at(
                at,
                Code::CellError,
                format!("the cell shows the error {e}. Replace the formula with a plain value."),
                None,
            );
            return None;
        }
        match display_text(cell) {
            Some(text) => Some((at, text)),
            None => {
                if required {
                    p.at(
                        at,
                        Code::EmptyRequired,
                        format!("this cell is empty, but every row needs a {column}. Fill it in."),
                        None,
                    );
                }
                None
            }
        }
    }

    /// A key; on a malformed key the normalised form stands in (the error is reported).
    fn key(&self, column: &'a str, required: bool, p: &mut Problems) -> Option<(At<'a>, String)> {
        let (at, raw) = self.text(column, required, p)?;
        if is_valid_key(&raw) {
            return Some((at, raw.into_owned()));
        }
        let suggestion = suggested_key(&raw);
        let fix = match &suggestion {
            Some(s) => format!("Write '{s}' instead."),
            None => "Write it with a-z, 0-9 and _ only.".to_owned(),
        };
        p.at(
            at,
            Code::InvalidKey,
            format!(
                "'{raw}' is not a valid key. Keys use only lower-case letters a-z, digits 0-9 and _, at most {} characters, with no spaces (full-width spaces included). {fix}",
                keys::MAX_KEY_LEN
            ),
            suggestion.clone(),
        );
        suggestion.map(|s| (at, s))
    }

    fn is_blank(&self) -> bool {
        self.sheet
            .rows
            .get(self.index)
            .is_none_or(|cells| cells.iter().all(CellValue::is_blank))
    }
}

/// A `next_step` reference waiting for the list of steps.
struct NextRef<'a> {
    at: At<'a>,
    raw: String,
}

struct SceneRow<'a> {
    row: u32,
    step: Option<String>,
    key: Option<(At<'a>, String)>,
    condition: Option<String>,
    weight: f64,
    messages: Vec<(At<'a>, String)>,
    input: Option<InputKind>,
    input_at: Option<At<'a>>,
    save_as: Option<String>,
    min: Option<Bound>,
    max: Option<Bound>,
    placeholder: Option<String>,
    next: Option<NextRef<'a>>,
}

struct ChoiceRow<'a> {
    row: u32,
    scene: Option<(At<'a>, String)>,
    key: Option<(At<'a>, String)>,
    label: Option<String>,
    value: Option<String>,
    next: Option<NextRef<'a>>,
}

fn read_next<'a>(r: &RowReader<'a>, p: &mut Problems) -> Option<NextRef<'a>> {
    let (at, raw) = r.text("next_step", false, p)?;
    if raw == END || is_valid_key(&raw) {
        return Some(NextRef {
            at,
            raw: raw.into_owned(),
        });
    }
    if raw.trim().eq_ignore_ascii_case(END) {
        p.at(
            at,
            Code::InvalidKey,
            format!("'{raw}' is not a valid next step. To end the flow write END in capitals, with nothing around it."),
            Some(END.to_owned()),
        );
        return None;
    }
    let suggestion = suggested_key(&raw);
    p.at(
        at,
        Code::InvalidKey,
        format!("'{raw}' is not a valid step key. Keys use only lower-case letters a-z, digits 0-9 and _, with no spaces; END ends the flow."),
        suggestion.clone(),
    );
    suggestion.map(|raw| NextRef { at, raw })
}

fn read_bound(
    at: At<'_>,
    raw: &str,
    cell: &CellValue,
    kind: BoundKind,
    input: InputKind,
    p: &mut Problems,
) -> Option<Bound> {
    let number = match cell {
        CellValue::Number(n) => Some(*n),
        CellValue::Text(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
        _ => None,
    };
    let kind_name = input.as_str();
    match kind {
        BoundKind::Number => match number {
            Some(n) => Some(Bound::Number(n)),
            None => {
                p.at(
                    at,
                    Code::InvalidBound,
                    format!("'{raw}' is not a number, but input {kind_name} needs a number here."),
                    None,
                );
                None
            }
        },
        BoundKind::Count => match number.filter(|n| *n >= 0.0 && n.fract() == 0.0) {
            Some(n) => Some(Bound::Number(n)),
            None => {
                let what = if input == InputKind::Text {
                    "characters"
                } else {
                    "picked choices"
                };
                p.at(at, Code::InvalidBound, format!("'{raw}' is not a whole number, but input {kind_name} needs a count of {what} here (for example 1)."), None);
                None
            }
        },
        BoundKind::Date => {
            let date = match cell {
                CellValue::Date(d) => Some(d.date()),
                CellValue::Text(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok(),
                _ => None,
            };
            match date {
                Some(d) => Some(Bound::Date(d)),
                None => {
                    p.at(at, Code::InvalidBound, format!("'{raw}' is not a date, but input date needs a date here, written YYYY-MM-DD (for example 1990-01-31)."), None);
                    None
                }
            }
        }
    }
}

fn bound_le(a: &Bound, b: &Bound) -> bool {
    match (a, b) {
        (Bound::Number(x), Bound::Number(y)) => x <= y,
        (Bound::Date(x), Bound::Date(y)) => x <= y,
        _ => true,
    }
}

fn read_scene_row<'a>(r: &RowReader<'a>, p: &mut Problems) -> SceneRow<'a> {
    let step = r.key("step", true, p).map(|(_, k)| k);
    let key = r.key("scene", true, p);
    let condition = match r.text("condition", false, p) {
        None => Some(PASS_THROUGH.to_owned()),
        Some((_, raw)) if conditions::find(&raw).is_some() => Some(raw.into_owned()),
        Some((at, raw)) => {
            let names = conditions::catalogue().iter().map(|c| c.name);
            let suggestion = nearest(&raw, names);
            p.at(
                at,
                Code::UnknownCondition,
                format!(
                    "there is no condition named '{raw}'. Conditions are defined in code; leave the cell blank for pass_through, or use a name from the condition catalogue{}.",
                    suggestion.as_ref().map(|s| format!(" such as '{s}'")).unwrap_or_default()
                ),
                suggestion,
            );
            None
        }
    };
    let weight = match r.cell("weight") {
        Some((at, cell)) if !cell.is_blank() => {
            let n = match cell {
                CellValue::Number(n) => Some(*n),
                CellValue::Text(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n.filter(|n| n.is_finite() && *n > 0.0) {
                Some(n) => n,
                None => {
                    let raw = display_text(cell).unwrap_or_default();
                    p.at(at, Code::InvalidWeight, format!("'{raw}' is not a positive number. Write a number above 0 (for example 1 or 2.5), or leave it blank for 1."), None);
                    1.0
                }
            }
        }
        _ => 1.0,
    };
    let mut messages = Vec::new();
    for (n, index, column) in &r.columns.messages {
        let (n, index) = (*n, *index);
        let at = r.at(column, index);
        let cell = r.sheet.cell(r.index, index);
        if let CellValue::Error(e) = cell {
            p.at(
                at,
                Code::CellError,
                format!("the cell shows the error {e}. Replace the formula with plain text."),
                None,
            );
            continue;
        }
        match display_text(cell) {
            Some(text) => messages.push((at, text.trim().to_owned())),
            None if n == 1 => p.at(at, Code::EmptyRequired, "this cell is empty, but every scene needs at least its first bubble in message_1. Write the text the user sees.".to_owned(), None),
            None => {}
        }
    }
    let (input, input_at) = match r.text("input", false, p) {
        None => (Some(InputKind::None), r.cell("input").map(|(at, _)| at)),
        Some((at, raw)) => match InputKind::parse(&raw) {
            Some(kind) => (Some(kind), Some(at)),
            None => {
                let kinds = InputKind::ALL.map(InputKind::as_str);
                let suggestion = nearest(&raw, kinds);
                p.at(
                    at,
                    Code::InvalidInput,
                    format!(
                        "'{raw}' is not an input kind. Use one of: {}.",
                        kinds.join(", ")
                    ),
                    suggestion,
                );
                (None, Some(at))
            }
        },
    };
    let save_as = r.key("save_as", false, p).map(|(_, k)| k);
    let mut bounds = [None, None];
    for (slot, column) in bounds.iter_mut().zip(["min", "max"]) {
        let Some((at, raw)) = r.text(column, false, p) else {
            continue;
        };
        let Some(input) = input else { continue };
        let cell = r.sheet.cell(r.index, at.index);
        match input.bound_kind() {
            Some(kind) => *slot = read_bound(at, &raw, cell, kind, input, p).map(|b| (at, b)),
            None => p.at(
                at,
                Code::InvalidBound,
                format!(
                    "input {} takes no {column}. Clear this cell.",
                    input.as_str()
                ),
                None,
            ),
        }
    }
    let [min, max] = bounds;
    if let (Some((at, lo)), Some((_, hi))) = (&min, &max)
        && !bound_le(lo, hi)
    {
        p.at(
            *at,
            Code::InvalidBound,
            format!(
                "min {} is greater than max {}. Swap them or correct one.",
                lo.to_text(),
                hi.to_text()
            ),
            None,
        );
    }
    SceneRow {
        row: r.row(),
        step,
        key,
        condition,
        weight,
        messages,
        input,
        input_at,
        save_as,
        min: min.map(|(_, b)| b),
        max: max.map(|(_, b)| b),
        placeholder: r
            .text("placeholder", false, p)
            .map(|(_, t)| t.trim().to_owned()),
        next: read_next(r, p),
    }
}

fn read_choice_row<'a>(r: &RowReader<'a>, p: &mut Problems) -> ChoiceRow<'a> {
    ChoiceRow {
        row: r.row(),
        scene: r.key("scene", true, p),
        key: r.key("choice", true, p),
        label: r.text("label", true, p).map(|(_, t)| t.trim().to_owned()),
        value: r.text("value", false, p).map(|(_, t)| t.trim().to_owned()),
        next: read_next(r, p),
    }
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

    cross_check(&scene_rows, &choice_rows, scenes_sheet.is_some(), &mut p);
    let flow = (!p.has_errors()).then(|| build_flow(scene_rows, choice_rows));
    Validated {
        report: Report::from_problems(p.0),
        flow,
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

fn cross_check(
    scene_rows: &[SceneRow<'_>],
    choice_rows: &[ChoiceRow<'_>],
    have_scenes: bool,
    p: &mut Problems,
) {
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
            None if have_scenes => p.at(
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
        if input.has_choices() && !choice_count.contains_key(key.as_str()) {
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
        for (at, text) in &row.messages {
            match template::variables(text) {
                Err(e) => p.at(
                    *at,
                    Code::InvalidTemplate,
                    format!("{e}. Write a variable as {{{{name}}}} or {{{{name|fallback}}}}."),
                    None,
                ),
                Ok(vars) => {
                    for var in vars.into_iter().filter(|v| !allowed(v)) {
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

fn build_flow(scene_rows: Vec<SceneRow<'_>>, choice_rows: Vec<ChoiceRow<'_>>) -> FlowDef {
    const CHECKED: &str = "validated before the flow is built";
    let steps = step_order(&scene_rows);
    FlowDef {
        steps,
        scenes: scene_rows
            .into_iter()
            .map(|r| SceneDef {
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
                    row: r.row,
                }
            })
            .collect(),
    }
}
