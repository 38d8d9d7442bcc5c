//! .ods extras calamine does not give: the text each number, percentage,
//! currency, date and time cell shows (.ods stores it, in `<text:p>`),
//! merged ranges (`number-columns-spanned`/`number-rows-spanned`) and
//! formulas without a saved value (docs/src/workbook.md, "How cells
//! are read").

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};

use super::cells::{Limits, Unreadable};
use super::display::Merged;
use super::numfmt::{self, Ambiguity, Shown, ShownCells};

#[derive(Debug, Default)]
pub struct OdsExtras {
    pub shown: ShownCells,
    pub merged: Vec<Merged>,
    /// Formula cells with no value type, by 0-based position.
    pub formulas: Vec<((u32, u32), String)>,
}

fn damaged(e: impl std::fmt::Display) -> Unreadable {
    Unreadable(format!(
        "the file is damaged or incomplete ({e}); save it again and upload the new file"
    ))
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.0 == name)
        .and_then(|a| {
            quick_xml::escape::unescape(&a.value)
                .ok()
                .map(|v| v.into_owned())
        })
}

fn count(e: &BytesStart<'_>, name: &str) -> u32 {
    attr(e, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// A cell being read: where it is, how often it repeats, what it shows.
struct Pending {
    col: u32,
    repeat: u32,
    value: Option<String>,
    value_type: String,
    text: String,
    paragraphs: u32,
}

/// Read the extras of the sheets `wanted` picks, by sheet name.
pub fn read(
    bytes: &[u8],
    limits: &Limits,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<HashMap<String, OdsExtras>, Unreadable> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    let mut content = String::new();
    zip.by_name("content.xml")
        .map_err(damaged)?
        .take(limits.max_uncompressed)
        .read_to_string(&mut content)
        .map_err(damaged)?;
    let mut xml = quick_xml::Reader::from_str(&content);
    let mut out: HashMap<String, OdsExtras> = HashMap::new();
    let mut sheet: Option<String> = None;
    let (mut row, mut row_repeat, mut col) = (0u32, 1u32, 0u32);
    let mut pending: Option<Pending> = None;
    let mut recorded: usize = 0;
    // Comments (`office:annotation`) sit inside cells but are not shown in them.
    let mut in_annotation = 0u32;
    loop {
        let event = xml.read_event().map_err(damaged)?;
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(e) if e.name().0 == "office:annotation" => in_annotation += 1,
            Event::End(e) if e.name().0 == "office:annotation" => {
                in_annotation = in_annotation.saturating_sub(1)
            }
            _ if in_annotation > 0 => {}
            Event::Start(e) | Event::Empty(e) => match e.name().0 {
                "table:table" => {
                    sheet = attr(&e, "table:name").filter(|n| wanted(n));
                    row = 0;
                }
                "table:table-row" => {
                    row_repeat = count(&e, "table:number-rows-repeated");
                    col = 0;
                    if empty {
                        row = row.saturating_add(row_repeat);
                    }
                }
                "table:table-cell" | "table:covered-table-cell" => {
                    let repeat = count(&e, "table:number-columns-repeated");
                    if let Some(name) = &sheet
                        && row < limits.max_rows
                        && col < limits.max_columns
                    {
                        let spans = (
                            count(&e, "table:number-rows-spanned"),
                            count(&e, "table:number-columns-spanned"),
                        );
                        let extras = out.entry(name.clone()).or_default();
                        if spans != (1, 1) {
                            extras.merged.push(Merged {
                                first: (row, col),
                                last: (row + spans.0 - 1, col + spans.1 - 1),
                            });
                        }
                        let value_type = attr(&e, "office:value-type").unwrap_or_default();
                        let formula = attr(&e, "table:formula");
                        if value_type.is_empty() {
                            if let Some(f) = formula.filter(|f| !f.trim().is_empty()) {
                                // OpenFormula text: `of:=LEN([.E2])`.
                                let f = f.trim_start_matches("of:").trim_start_matches('=');
                                extras.formulas.push(((row, col), f.to_owned()));
                            }
                        } else if !empty && value_type != "string" && value_type != "boolean" {
                            pending = Some(Pending {
                                col,
                                repeat,
                                value: attr(&e, "office:value"),
                                value_type,
                                text: String::new(),
                                paragraphs: 0,
                            });
                        }
                    }
                    col = col.saturating_add(repeat);
                }
                "text:p" if pending.is_some() => {
                    let p = pending.as_mut().expect("checked");
                    if p.paragraphs > 0 {
                        p.text.push('\n');
                    }
                    p.paragraphs += 1;
                }
                "text:s" => {
                    if let Some(p) = pending.as_mut() {
                        let n = count(&e, "text:c").min(1000) as usize;
                        p.text.push_str(&" ".repeat(n));
                    }
                }
                "text:tab" => {
                    if let Some(p) = pending.as_mut() {
                        p.text.push('\t');
                    }
                }
                _ => {}
            },
            Event::Text(t) => {
                if let Some(p) = pending.as_mut() {
                    p.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(p) = pending.as_mut() {
                    if let Ok(Some(c)) = r.resolve_char_ref() {
                        p.text.push(c);
                    } else if let Some(s) = quick_xml::escape::resolve_predefined_entity(r.as_ref())
                    {
                        p.text.push_str(s);
                    }
                }
            }
            Event::End(e) => match e.name().0 {
                "table:table-cell" => {
                    if let (Some(p), Some(name)) = (pending.take(), &sheet) {
                        let extras = out.entry(name.clone()).or_default();
                        let ambiguity = match (p.value_type.as_str(), &p.value) {
                            ("float", Some(v))
                                if v.parse::<f64>().is_ok_and(numfmt::needs_rounding) =>
                            {
                                Some(Ambiguity::Rounded { stored: v.clone() })
                            }
                            _ => None,
                        };
                        let plain = p.value_type == "float"
                            && ambiguity.is_none()
                            && p.value.as_deref() == Some(p.text.as_str());
                        if !plain && !p.text.is_empty() {
                            for r in row..row.saturating_add(row_repeat).min(limits.max_rows) {
                                for c in
                                    p.col..p.col.saturating_add(p.repeat).min(limits.max_columns)
                                {
                                    recorded += 1;
                                    if recorded > limits.max_cells {
                                        return Err(Unreadable(format!(
                                            "a sheet uses more than {} cells, over the limit; delete unused rows and columns",
                                            limits.max_cells
                                        )));
                                    }
                                    extras.shown.insert(
                                        (r, c),
                                        Shown {
                                            text: p.text.clone(),
                                            ambiguity: ambiguity.clone(),
                                        },
                                    );
                                }
                            }
                        }
                    }
                }
                "table:table-row" => row = row.saturating_add(row_repeat),
                "table:table" => sheet = None,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn ods(body: &str) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let mut zip = zip::ZipWriter::new(&mut out);
        zip.start_file("content.xml", zip::write::SimpleFileOptions::default())
            .unwrap();
        write!(
            zip,
            r#"<office:document-content><office:body><office:spreadsheet>{body}</office:spreadsheet></office:body></office:document-content>"#
        )
        .unwrap();
        zip.finish().unwrap();
        out.into_inner()
    }

    #[test]
    fn shown_text_merges_and_formulas() {
        let bytes = ods(concat!(
            r#"<table:table table:name="choices"><table:table-row>"#,
            r#"<table:table-cell office:value-type="percentage" office:value="0.03"><office:annotation><text:p>note</text:p></office:annotation><text:p>3%</text:p></table:table-cell>"#,
            r#"<table:table-cell table:number-rows-spanned="2" office:value-type="string"><text:p>a</text:p></table:table-cell>"#,
            r#"<table:table-cell table:formula="of:=1+1"/>"#,
            r#"</table:table-row></table:table>"#,
            r#"<table:table table:name="other"><table:table-row><table:table-cell office:value-type="float" office:value="0.5"><text:p>50%</text:p></table:table-cell></table:table-row></table:table>"#,
        ));
        let extras = read(&bytes, &Limits::default(), &|n| n == "choices").unwrap();
        assert_eq!(extras.len(), 1);
        let sheet = &extras["choices"];
        assert_eq!(sheet.shown[&(0, 0)].text, "3%");
        assert_eq!(
            sheet.merged,
            [Merged {
                first: (0, 1),
                last: (1, 1)
            }]
        );
        assert_eq!(sheet.formulas, [((0, 2), "1+1".to_owned())]);
    }
}
