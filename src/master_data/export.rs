//! A flow back as a workbook, in the layout operators upload.

use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::validate::{CHOICES, SCENES};
use crate::flow::{Bound, FlowDef};

pub fn to_xlsx(flow: &FlowDef) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let messages = flow
        .scenes
        .iter()
        .map(|s| s.messages.len())
        .max()
        .unwrap_or(1)
        .max(1);

    let scenes = book.add_worksheet().set_name(SCENES)?;
    let mut header: Vec<String> = ["step", "scene", "condition", "weight"]
        .map(String::from)
        .to_vec();
    header.extend((1..=messages).map(|n| format!("message_{n}")));
    header.extend(["input", "save_as", "min", "max", "placeholder", "next_step"].map(String::from));
    let back = flow.scenes.iter().any(|s| !s.back);
    if back {
        header.push("back".to_owned());
    }
    // Translated columns after the default ones, language by language.
    let locales = flow.locales();
    let translated_from = header.len() as u16;
    for locale in &locales {
        header.extend((1..=messages).map(|n| format!("message_{n}::{locale}")));
        header.push(format!("placeholder::{locale}"));
    }
    for (c, name) in header.iter().enumerate() {
        scenes.write_string_with_format(0, c as u16, name, &bold)?;
    }
    for (i, s) in flow.scenes.iter().enumerate() {
        let r = i as u32 + 1;
        scenes.write_string(r, 0, &s.step)?;
        scenes.write_string(r, 1, &s.key)?;
        scenes.write_string(r, 2, &s.condition)?;
        scenes.write_number(r, 3, s.weight)?;
        for (m, text) in s.messages.iter().enumerate() {
            scenes.write_string(r, 4 + m as u16, text)?;
        }
        let c = 4 + messages as u16;
        scenes.write_string(r, c, s.input.as_str())?;
        if let Some(v) = &s.save_as {
            scenes.write_string(r, c + 1, v)?;
        }
        for (offset, bound) in [(2, s.min), (3, s.max)] {
            match bound {
                Some(Bound::Number(n)) => {
                    scenes.write_number(r, c + offset, n)?;
                }
                Some(b @ Bound::Date(_)) => {
                    scenes.write_string(r, c + offset, b.to_text())?;
                }
                None => {}
            }
        }
        if let Some(v) = &s.placeholder {
            scenes.write_string(r, c + 4, v)?;
        }
        if let Some(t) = &s.next_step {
            scenes.write_string(r, c + 5, t.as_str())?;
        }
        if back && !s.back {
            scenes.write_string(r, c + 6, "no")?;
        }
        for (l, locale) in locales.iter().enumerate() {
            let Some(text) = s.translations.get(locale) else {
                continue;
            };
            let first = translated_from + (l * (messages + 1)) as u16;
            for (m, body) in text.messages.iter().enumerate() {
                if let Some(body) = body {
                    scenes.write_string(r, first + m as u16, body)?;
                }
            }
            if let Some(p) = &text.placeholder {
                scenes.write_string(r, first + messages as u16, p)?;
            }
        }
    }
    scenes.autofit();

    let choices = book.add_worksheet().set_name(CHOICES)?;
    let mut choice_header: Vec<String> = ["scene", "choice", "label", "value", "next_step"]
        .map(String::from)
        .to_vec();
    choice_header.extend(locales.iter().map(|l| format!("label::{l}")));
    for (c, name) in choice_header.iter().enumerate() {
        choices.write_string_with_format(0, c as u16, name, &bold)?;
    }
    for (i, ch) in flow.choices.iter().enumerate() {
        let r = i as u32 + 1;
        choices.write_string(r, 0, &ch.scene)?;
        choices.write_string(r, 1, &ch.key)?;
        choices.write_string(r, 2, &ch.label)?;
        choices.write_string(r, 3, &ch.value)?;
        if let Some(t) = &ch.next_step {
            choices.write_string(r, 4, t.as_str())?;
        }
        for (l, locale) in locales.iter().enumerate() {
            if let Some(label) = ch.translations.get(locale) {
                choices.write_string(r, 5 + l as u16, label)?;
            }
        }
    }
    choices.autofit();
    book.save_to_buffer()
}

/// The condition catalogue as a workbook an operator keeps beside theirs:
/// one sheet `conditions` with `condition` (the name a `scenes` row takes),
/// `description` and `attributes` (the user attributes it reads,
/// comma-separated).
pub fn conditions_xlsx() -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let sheet = book.add_worksheet().set_name("conditions")?;
    for (c, name) in ["condition", "description", "attributes"]
        .iter()
        .enumerate()
    {
        sheet.write_string_with_format(0, c as u16, *name, &bold)?;
    }
    for (i, condition) in crate::flow::catalogue().iter().enumerate() {
        let r = i as u32 + 1;
        sheet.write_string(r, 0, condition.name)?;
        sheet.write_string(r, 1, condition.description)?;
        sheet.write_string(r, 2, condition.attributes().join(", "))?;
    }
    sheet.set_column_width(0, 24)?;
    sheet.set_column_width(1, 60)?;
    sheet.set_column_width(2, 30)?;
    book.save_to_buffer()
}
