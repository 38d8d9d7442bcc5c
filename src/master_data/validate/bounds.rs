//! Typed cell values: `min`/`max` bounds of an input and the dates they
//! may be written as.

use chrono::NaiveDate;

use super::super::read::CellValue;
use super::super::report::Code;
use super::header::{At, Problems};
use crate::flow::{Bound, BoundKind, InputKind};

pub(super) fn read_bound(
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
            // A date cell is that date whatever its format; otherwise the
            // text the cell shows, in the orders operators type.
            let date = match cell {
                CellValue::Date(d) => Some(d.date()),
                _ => parse_date(raw),
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

pub(super) fn bound_le(a: &Bound, b: &Bound) -> bool {
    match (a, b) {
        (Bound::Number(x), Bound::Number(y)) => x <= y,
        (Bound::Date(x), Bound::Date(y)) => x <= y,
        _ => true,
    }
}

/// A date as operators type or format it: `2000-01-31`, `2000/1/31`,
/// `2000.1.31`, `2000年1月31日`.
pub(super) fn parse_date(raw: &str) -> Option<NaiveDate> {
    let raw = raw.trim();
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(raw, f).ok())
}
