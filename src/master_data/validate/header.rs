//! The header row of a sheet (column positions, `COLUMN::TAG` language
//! variants) and the problem list every check writes to.

use super::super::cells::display_text;
use super::super::keys::{column_letter, nearest};
use super::super::read::Sheet;
use super::super::report::{Code, Level, Problem};
use super::ColumnSpec;

#[derive(Default)]
pub(super) struct Problems(pub(super) Vec<Problem>);

/// A cell: sheet, spreadsheet row, column name and index.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    pub(super) sheet: &'a str,
    pub(super) row: u32,
    pub(super) column: &'a str,
    pub(super) index: u32,
}

impl At<'_> {
    pub(super) fn cell(&self) -> String {
        format!("{}!{}{}", self.sheet, column_letter(self.index), self.row)
    }
}

impl Problems {
    pub(super) fn push(
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

    pub(super) fn at(
        &mut self,
        at: At<'_>,
        code: Code,
        message: String,
        suggestion: Option<String>,
    ) {
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

    pub(super) fn has_errors(&self) -> bool {
        self.0.iter().any(|p| p.code.level() == Level::Error)
    }
}

/// Column positions found in a header row.
pub(super) struct Columns {
    /// A dozen names at most: a linear search beats hashing.
    pub(super) by_name: Vec<(String, u32)>,
    /// `(N, column index, name)` of each `message_N`, by N.
    pub(super) messages: Vec<(u32, u32, String)>,
    /// `COLUMN::TAG` columns, in sheet order.
    pub(super) translations: Vec<TranslationColumn>,
}

/// A locale variant of a text column: `message_1::en`, `label::en-US`.
pub(super) struct TranslationColumn {
    /// The column it translates: `message_1`, `placeholder`, `label`.
    pub(super) base: String,
    /// The BCP 47 tag in canonical case.
    pub(super) locale: String,
    pub(super) index: u32,
    /// `base::locale`, as reports name the column.
    pub(super) name: String,
}

/// The text columns that may have locale variants.
fn translatable(name: &str, specs: &[ColumnSpec], with_messages: bool) -> bool {
    (with_messages && message_number(name).is_some())
        || (matches!(name, "placeholder" | "label") && specs.iter().any(|s| s.name == name))
}

/// Read a `COLUMN::TAG` header; `None` (reported) when the tag is refused.
fn translation_column(
    raw: &str,
    index: u32,
    label: &str,
    specs: &[ColumnSpec],
    with_messages: bool,
    p: &mut Problems,
) -> Option<Result<TranslationColumn, ()>> {
    let (base, tag) = raw.trim().split_once("::")?;
    let base = base.trim().to_lowercase();
    if !translatable(&base, specs, with_messages) {
        return Some(Err(()));
    }
    let cell_ref = format!("{label}!{}1", column_letter(index));
    match crate::flow::locale::parse_tag(tag) {
        Ok(locale) => Some(Ok(TranslationColumn {
            name: format!("{base}::{locale}"),
            base,
            locale,
            index,
        })),
        Err(e) => {
            let suggestion = crate::flow::locale::suggest_tag(tag).map(|t| format!("{base}::{t}"));
            p.push(
                Code::InvalidLanguageTag,
                label,
                1,
                Some((raw, index)),
                format!(
                    "{cell_ref}: {e}. Name a translated column COLUMN::TAG with a BCP 47 language tag, such as {base}::en or {base}::pt-BR{}.",
                    suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default()
                ),
                suggestion,
            );
            None
        }
    }
}

impl Columns {
    pub(super) fn get(&self, name: &str) -> Option<u32> {
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, i)| *i)
    }
}

pub(super) fn message_number(name: &str) -> Option<u32> {
    name.strip_prefix("message_")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 1)
}

pub(super) fn read_header(
    sheet: &Sheet,
    label: &str,
    specs: &[ColumnSpec],
    with_messages: bool,
    p: &mut Problems,
) -> Columns {
    let mut by_name: Vec<(String, u32)> = Vec::new();
    let mut messages = Vec::new();
    let mut translations: Vec<TranslationColumn> = Vec::new();
    let known: Vec<&str> = specs.iter().map(|s| s.name).collect();
    let header = sheet.rows.first().map(Vec::as_slice).unwrap_or(&[]);
    for (i, cell) in header.iter().enumerate() {
        let i = i as u32;
        let Some(raw) = display_text(cell) else {
            continue;
        };
        match translation_column(&raw, i, label, specs, with_messages, p) {
            Some(Ok(column)) => {
                if let Some(first) = translations.iter().find(|t| t.name == column.name) {
                    p.push(
                        Code::DuplicateColumn,
                        label,
                        1,
                        Some((&column.name, i)),
                        format!(
                            "{label}!{}1: the column '{}' appears twice (first in column {}). Delete or rename one of them.",
                            column_letter(i),
                            column.name,
                            column_letter(first.index)
                        ),
                        None,
                    );
                } else {
                    translations.push(column);
                }
                continue;
            }
            // A refused tag is reported; the column is ignored.
            None if raw.contains("::") => continue,
            // `input::en` and the like fall through to unknown_column.
            _ => {}
        }
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
    Columns {
        by_name,
        messages,
        translations,
    }
}
