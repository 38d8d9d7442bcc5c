//! Locale variants of text columns (docs/src/mobile-api.md "Languages"): every language a
//! column of the workbook provides should translate every text cell; a gap
//! is a warning at the cell, and the default text is served there.

use std::collections::{BTreeMap, BTreeSet};

use super::super::report::Code;
use super::header::{At, Columns, Problems};
use super::rows::{ChoiceRow, SceneRow, Translated};
use super::{CHOICES, SCENES};
use crate::flow::SceneText;

/// The workbook's languages: every tag of a translated column of either sheet.
fn locales<'c>(columns: impl Iterator<Item = &'c Columns>) -> BTreeSet<&'c str> {
    columns
        .flat_map(|c| c.translations.iter().map(|t| t.locale.as_str()))
        .collect()
}

/// A warning at the cell of `name` (`message_1::en`) on a row; when the
/// sheet has no such column, at the row with the column named.
#[allow(clippy::too_many_arguments)]
fn missing(
    p: &mut Problems,
    sheet: &str,
    row: u32,
    columns: &Columns,
    name: &str,
    what: &str,
    locale: &str,
    default: &str,
) {
    let column = columns.translations.iter().find(|t| t.name == name);
    let message = format!(
        "{what} has no {locale} translation, though the workbook has {locale} text elsewhere; users served {locale} see the default text '{default}' here. Write the {locale} text{}.",
        if column.is_some() {
            " in this cell".to_owned()
        } else {
            format!(" in a new column {name}")
        }
    );
    match column {
        Some(t) => p.at(
            At {
                sheet,
                row,
                column: &t.name,
                index: t.index,
            },
            Code::MissingTranslation,
            message,
            None,
        ),
        None => {
            let text = format!("{sheet} row {row} (column {name}): {message}");
            p.push(Code::MissingTranslation, sheet, row, None, text, None);
            p.0.last_mut().expect("just pushed").column = Some(name.to_owned());
        }
    }
}

/// Whether users served `locale` see a translation of `base` on this row:
/// its own, or one along the fallback chain `en-US` → `en` (docs/src/mobile-api.md "Languages").
fn has(translations: &[Translated<'_>], base: &str, locale: &str) -> bool {
    let mut tag = locale;
    loop {
        if translations
            .iter()
            .any(|t| t.base == base && t.locale.eq_ignore_ascii_case(tag))
        {
            return true;
        }
        match tag.rfind('-') {
            Some(cut) => tag = &tag[..cut],
            None => return false,
        }
    }
}

pub(super) fn check(
    scene_rows: &[SceneRow<'_>],
    choice_rows: &[ChoiceRow<'_>],
    scene_columns: Option<&Columns>,
    choice_columns: Option<&Columns>,
    p: &mut Problems,
) {
    let all = locales(scene_columns.into_iter().chain(choice_columns));
    if all.is_empty() {
        return;
    }
    if let Some(columns) = scene_columns {
        for row in scene_rows {
            let scene = row.key.as_ref().map(|(_, k)| k.as_str()).unwrap_or("?");
            let defaults: BTreeMap<&str, &str> = row
                .messages
                .iter()
                .map(|(at, text)| (at.column, text.as_str()))
                .chain(row.placeholder.as_deref().map(|t| ("placeholder", t)))
                .collect();
            for t in &row.translations {
                if !defaults.contains_key(t.base) {
                    p.at(
                        t.at,
                        Code::TranslationWithoutDefault,
                        format!("this translates {} of scene '{scene}', but that cell is empty in the default language, so it is ignored. Write the default text in column {} too, or clear this cell.", t.base, t.base),
                        None,
                    );
                }
            }
            for locale in &all {
                for (base, default) in &defaults {
                    if has(&row.translations, base, locale) {
                        continue;
                    }
                    missing(
                        p,
                        SCENES,
                        row.row,
                        columns,
                        &format!("{base}::{locale}"),
                        &format!("{base} of scene '{scene}'"),
                        locale,
                        default,
                    );
                }
            }
        }
    }
    if let Some(columns) = choice_columns {
        for row in choice_rows {
            let Some(label) = &row.label else { continue };
            let choice = row.key.as_ref().map(|(_, k)| k.as_str()).unwrap_or("?");
            for locale in &all {
                if has(&row.translations, "label", locale) {
                    continue;
                }
                missing(
                    p,
                    CHOICES,
                    row.row,
                    columns,
                    &format!("label::{locale}"),
                    &format!("the label of choice '{choice}'"),
                    locale,
                    label,
                );
            }
        }
    }
}

/// A scene's text per language, aligned with its default bubbles.
pub(super) fn scene_texts(row: &SceneRow<'_>) -> BTreeMap<String, SceneText> {
    let mut out: BTreeMap<String, SceneText> = BTreeMap::new();
    for t in &row.translations {
        let entry = out.entry(t.locale.to_owned()).or_insert_with(|| SceneText {
            messages: vec![None; row.messages.len()],
            placeholder: None,
        });
        if t.base == "placeholder" {
            if row.placeholder.is_some() {
                entry.placeholder = Some(t.text.clone());
            }
        } else if let Some(i) = row.messages.iter().position(|(at, _)| at.column == t.base) {
            entry.messages[i] = Some(t.text.clone());
        }
    }
    // A language whose only cells were ignored translates nothing here.
    out.retain(|_, t| t.placeholder.is_some() || t.messages.iter().any(Option::is_some));
    out
}
