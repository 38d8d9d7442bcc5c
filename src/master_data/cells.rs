//! What a workbook is read into and the limits it is read within: the
//! vocabulary the reader (`super::read`), the cell display rules and the
//! expansion checks share, so none of them imports another for it.

use std::borrow::Cow;

use chrono::{NaiveDate, NaiveDateTime};

use crate::flow::model::format_number;

/// Hard limits on an uploaded workbook.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_bytes: usize,
    pub max_uncompressed: u64,
    pub max_zip_entries: usize,
    pub max_sheets: usize,
    pub max_rows: u32,
    pub max_columns: u32,
    /// Cells counted as a dense grid (each row up to its last used column).
    pub max_cells: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 20 * 1024 * 1024,
            max_uncompressed: 200 * 1024 * 1024,
            max_zip_entries: 10_000,
            max_sheets: 64,
            max_rows: 100_000,
            max_columns: 256,
            max_cells: 3_000_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Xlsx,
    Xls,
    Ods,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Ods => "ods",
        }
    }

    pub fn parse(raw: &str) -> Option<Format> {
        match raw {
            "xlsx" => Some(Format::Xlsx),
            "xls" => Some(Format::Xls),
            "ods" => Some(Format::Ods),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Xls => "application/vnd.ms-excel",
            Format::Ods => "application/vnd.oasis.opendocument.spreadsheet",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum CellValue {
    Empty,
    Text(String),
    Number(f64),
    Bool(bool),
    Date(NaiveDateTime),
    /// A cell showing an error such as `#REF!`.
    Error(String),
    /// A formula with no saved result (files written by scripts and some
    /// exporters); holds the formula text.
    Formula(String),
}

impl CellValue {
    pub fn is_blank(&self) -> bool {
        match self {
            CellValue::Empty => true,
            CellValue::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// Why a file could not be read; the text is for the operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// A cell as text, the way the spreadsheet shows it; `None` when blank.
pub fn display_text(cell: &CellValue) -> Option<Cow<'_, str>> {
    let text: Cow<'_, str> = match cell {
        CellValue::Empty => return None,
        CellValue::Text(s) => Cow::Borrowed(s),
        CellValue::Number(n) => format_number(*n).into(),
        CellValue::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        // A time alone is stored as a date on the spreadsheet epoch (.xls).
        CellValue::Date(d) if d.date() <= NaiveDate::from_ymd_opt(1899, 12, 31).expect("date") => {
            let f = if d.format("%S").to_string() == "00" {
                "%-H:%M"
            } else {
                "%-H:%M:%S"
            };
            d.format(f).to_string().into()
        }
        CellValue::Date(d) if d.time() == chrono::NaiveTime::MIN => {
            d.date().format("%Y-%m-%d").to_string().into()
        }
        CellValue::Date(d) => d.format("%Y-%m-%d %H:%M:%S").to_string().into(),
        CellValue::Error(e) => Cow::Borrowed(e),
        CellValue::Formula(f) => Cow::Owned(format!("={}", f.trim_start_matches('='))),
    };
    (!text.trim().is_empty()).then_some(text)
}
