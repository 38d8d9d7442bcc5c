//! Reading rows: typed fields of each row and the problems of single
//! cells. The header is read in `header.rs`, bounds and dates in
//! `bounds.rs`; cross-sheet checks are in the parent module.

use std::borrow::Cow;

use super::super::cells::display_text;
use super::super::keys::{self, is_valid_key, nearest, suggested_key};
use super::super::numfmt::Ambiguity;
use super::super::read::{CellValue, Sheet};
use super::super::report::Code;
use super::bounds::{bound_le, read_bound};
use super::header::{At, Columns, Problems};
use crate::flow::conditions::{self, PASS_THROUGH};
use crate::flow::model::END;
use crate::flow::{Bound, InputKind};

/// Reads typed fields of one row, reporting what is wrong.
pub(super) struct RowReader<'a> {
    pub(super) sheet: &'a Sheet,
    pub(super) label: &'a str,
    pub(super) index: usize,
    pub(super) columns: &'a Columns,
}

impl<'a> RowReader<'a> {
    pub(super) fn row(&self) -> u32 {
        self.index as u32 + 1
    }

    pub(super) fn at(&self, column: &'a str, index: u32) -> At<'a> {
        At {
            sheet: self.label,
            row: self.row(),
            column,
            index,
        }
    }

    /// The cell of a column, `None` when the column is absent.
    pub(super) fn cell(&self, column: &'a str) -> Option<(At<'a>, &'a CellValue)> {
        let index = self.columns.get(column)?;
        Some((self.at(column, index), self.sheet.cell(self.index, index)))
    }

    /// Text of a cell, reporting blanks in required columns and error cells.
    pub(super) fn text(
        &self,
        column: &'a str,
        required: bool,
        p: &mut Problems,
    ) -> Option<(At<'a>, Cow<'a, str>)> {
        let (at, cell) = self.cell(column)?;
        if self.unusable(at, cell, p) {
            return None;
        }
        match self.shown(at, cell, p) {
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
    pub(super) fn key(
        &self,
        column: &'a str,
        required: bool,
        p: &mut Problems,
    ) -> Option<(At<'a>, String)> {
        let (at, raw) = self.text(column, required, p)?;
        if let Some((_, CellValue::Date(_))) = self.cell(column) {
            p.at(
                at,
                Code::AmbiguousDisplay,
                format!("the key cell holds a date, read as '{raw}'; how a date shows depends on the cell format and the computer. Format the cell as text (@) and type the key."),
                None,
            );
        }
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

    /// A row counts only through the format's own columns: content in
    /// ignored columns (a `=LEN(E2)` helper, notes) does not make a scene.
    pub(super) fn is_blank(&self) -> bool {
        self.columns
            .by_name
            .iter()
            .all(|(_, i)| self.sheet.cell(self.index, *i).is_blank())
    }

    /// Error cells and formulas without a saved value are reported here, once;
    /// the caller then treats the cell as unknown (no follow-on errors).
    pub(super) fn unusable(&self, at: At<'_>, cell: &CellValue, p: &mut Problems) -> bool {
        match cell {
            CellValue::Error(e) => {
                p.at(
                    at,
                    Code::CellError,
                    format!(
                        "the cell shows the error {e}. Replace the formula with a plain value."
                    ),
                    None,
                );
                true
            }
            CellValue::Formula(f) => {
                p.at(
                    at,
                    Code::FormulaWithoutValue,
                    format!(
                        "the cell holds the formula ={} but no saved result (the file was written by a program that does not calculate). Open the file in Excel or LibreOffice and save it again, or type the value instead of the formula.",
                        f.trim_start_matches('=')
                    ),
                    None,
                );
                true
            }
            _ => false,
        }
    }

    /// The text the operator sees in a cell (its number format applied), with
    /// a warning when that text may not be what they meant.
    pub(super) fn shown(
        &self,
        at: At<'a>,
        cell: &'a CellValue,
        p: &mut Problems,
    ) -> Option<Cow<'a, str>> {
        let Some(shown) = self.sheet.shown.get(&(self.index as u32, at.index)) else {
            return display_text(cell);
        };
        match &shown.ambiguity {
            Some(Ambiguity::LocaleDate) => p.at(
                at,
                Code::AmbiguousDisplay,
                format!("the cell holds a date or time in a built-in format, which each computer shows in its own language's order; it is read as '{}'. To be sure what users see, format the cell as text (@) and type it as it should read, or give it a custom format such as yyyy/m/d.", shown.text),
                None,
            ),
            Some(Ambiguity::Rounded { stored }) => p.at(
                at,
                Code::AmbiguousDisplay,
                format!("the cell holds {stored} (a calculation result) and shows it rounded as '{}', which is what users get. If that is not what you meant, type the value instead of a formula, or format the cell as text (@).", shown.text),
                None,
            ),
            None => {}
        }
        (!shown.text.trim().is_empty()).then_some(Cow::Borrowed(shown.text.as_str()))
    }
}

/// A `next_step` reference waiting for the list of steps.
pub(super) struct NextRef<'a> {
    pub(super) at: At<'a>,
    pub(super) raw: String,
}

pub(super) struct SceneRow<'a> {
    pub(super) row: u32,
    pub(super) step: Option<String>,
    pub(super) key: Option<(At<'a>, String)>,
    pub(super) condition: Option<String>,
    pub(super) weight: f64,
    pub(super) messages: Vec<(At<'a>, String)>,
    pub(super) input: Option<InputKind>,
    pub(super) input_at: Option<At<'a>>,
    pub(super) save_as: Option<String>,
    pub(super) min: Option<Bound>,
    pub(super) max: Option<Bound>,
    pub(super) placeholder: Option<String>,
    pub(super) next: Option<NextRef<'a>>,
    pub(super) back: bool,
    pub(super) translations: Vec<Translated<'a>>,
}

/// A non-blank cell of a `COLUMN::TAG` column.
pub(super) struct Translated<'a> {
    pub(super) at: At<'a>,
    pub(super) base: &'a str,
    pub(super) locale: &'a str,
    pub(super) text: String,
}

pub(super) fn read_translations<'a>(r: &RowReader<'a>, p: &mut Problems) -> Vec<Translated<'a>> {
    let mut out = Vec::new();
    for t in &r.columns.translations {
        let at = r.at(&t.name, t.index);
        let cell = r.sheet.cell(r.index, t.index);
        if r.unusable(at, cell, p) {
            continue;
        }
        if let Some(text) = r.shown(at, cell, p) {
            out.push(Translated {
                at,
                base: &t.base,
                locale: &t.locale,
                text: text.trim().to_owned(),
            });
        }
    }
    out
}

fn read_back(r: &RowReader<'_>, p: &mut Problems) -> bool {
    let Some((at, raw)) = r.text("back", false, p) else {
        return true;
    };
    match raw.trim().to_lowercase().as_str() {
        "yes" => true,
        "no" => false,
        other => {
            let suggestion = match other {
                "true" | "y" | "1" | "ok" => Some("yes"),
                "false" | "n" | "0" => Some("no"),
                _ => None,
            };
            p.at(
                at,
                Code::InvalidBack,
                format!("'{raw}' is not yes or no. Write no where users must not go back past this scene (after a purchase or a consent), yes or leave it blank otherwise."),
                suggestion.map(str::to_owned),
            );
            true
        }
    }
}

pub(super) struct ChoiceRow<'a> {
    pub(super) row: u32,
    pub(super) scene: Option<(At<'a>, String)>,
    pub(super) key: Option<(At<'a>, String)>,
    pub(super) label: Option<String>,
    pub(super) value: Option<String>,
    pub(super) next: Option<NextRef<'a>>,
    pub(super) translations: Vec<Translated<'a>>,
}

pub(super) fn read_next<'a>(r: &RowReader<'a>, p: &mut Problems) -> Option<NextRef<'a>> {
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

pub(super) fn read_scene_row<'a>(r: &RowReader<'a>, p: &mut Problems) -> SceneRow<'a> {
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
        Some((at, cell)) if r.unusable(at, cell, p) => 1.0,
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
        if r.unusable(at, cell, p) {
            continue;
        }
        match r.shown(at, cell, p) {
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
        back: read_back(r, p),
        translations: read_translations(r, p),
    }
}

pub(super) fn read_choice_row<'a>(r: &RowReader<'a>, p: &mut Problems) -> ChoiceRow<'a> {
    ChoiceRow {
        row: r.row(),
        scene: r.key("scene", true, p),
        key: r.key("choice", true, p),
        label: r.text("label", true, p).map(|(_, t)| t.trim().to_owned()),
        value: r.text("value", false, p).map(|(_, t)| t.trim().to_owned()),
        next: read_next(r, p),
        translations: read_translations(r, p),
    }
}
