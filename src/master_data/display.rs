//! What the operator sees beyond cell values: the text number formats give,
//! and the value a merged range shows in each of its cells (docs/src/workbook.md,
//! "How cells are read").

use std::io::{Read, Seek};

use calamine::{Dimensions, Xlsx};

use super::cells::{CellValue, Limits, Unreadable};
use super::numfmt::{self, ShownCells};

/// A merged range, 0-based and inclusive, as far as it holds sheet content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merged {
    pub first: (u32, u32),
    pub last: (u32, u32),
}

impl From<&Dimensions> for Merged {
    fn from(d: &Dimensions) -> Self {
        Merged {
            first: d.start,
            last: d.end,
        }
    }
}

/// Shown texts of an xlsx sheet's number and date cells, from the number
/// format of each cell's style (a second, value-less pass over the sheet; it
/// is skipped when the workbook's styles hold no number format but General).
pub fn xlsx_shown<RS: Read + Seek>(
    book: &mut Xlsx<RS>,
    name: &str,
    rows: &[Vec<CellValue>],
) -> Result<ShownCells, calamine::XlsxError> {
    let mut shown = ShownCells::new();
    let is_1904 = book.has_1904_epoch();
    let mut reader = book.worksheet_cells_reader(name)?;
    let formats: Vec<Option<(String, Option<u32>)>> = reader
        .styles()
        .iter()
        .map(|s| {
            s.number_format
                .as_ref()
                .map(|f| (f.format_code.clone(), f.format_id))
        })
        .collect();
    let has_formats = formats
        .iter()
        .flatten()
        .any(|(code, _)| !numfmt::is_general(code));
    let value_at = |row: u32, col: u32| -> Option<f64> {
        match rows.get(row as usize)?.get(col as usize)? {
            CellValue::Number(n) => Some(*n),
            _ => None,
        }
    };
    if has_formats {
        while let Some((row, col, style)) = reader.next_style_id()? {
            let Some(Some((code, id))) = formats.get(style) else {
                continue;
            };
            let Some(value) = value_at(row, col).or_else(|| serial_at(rows, row, col, is_1904))
            else {
                continue;
            };
            if let Some(s) = numfmt::show(value, code, *id, is_1904) {
                shown.insert((row, col), s);
            }
        }
    }
    drop(reader);
    add_rounded(rows, &mut shown);
    Ok(shown)
}

/// Numbers that need more digits than a sheet shows (0.1 + 0.2) show
/// rounded, whatever their format.
pub fn add_rounded(rows: &[Vec<CellValue>], shown: &mut ShownCells) {
    for (r, cells) in rows.iter().enumerate() {
        for (c, cell) in cells.iter().enumerate() {
            if let CellValue::Number(n) = cell
                && numfmt::needs_rounding(*n)
                && let Some(s) = numfmt::show(*n, "General", Some(0), false)
            {
                shown.entry((r as u32, c as u32)).or_insert(s);
            }
        }
    }
}

/// The serial number of a date cell, for applying its format.
fn serial_at(rows: &[Vec<CellValue>], row: u32, col: u32, is_1904: bool) -> Option<f64> {
    let CellValue::Date(d) = rows.get(row as usize)?.get(col as usize)? else {
        return None;
    };
    let epoch = if is_1904 {
        chrono::NaiveDate::from_ymd_opt(1904, 1, 1)?
    } else {
        chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?
    }
    .and_hms_opt(0, 0, 0)?;
    let seconds = (*d - epoch).num_milliseconds() as f64 / 1000.0;
    Some(seconds / 86_400.0)
}

/// Give every cell of each merged range the value (and shown text) of its
/// top-left cell, as the operator sees it. Ranges are clipped to the rows and
/// columns that hold content, and the filled cells count against the cell
/// limit, so a merge over a whole sheet costs nothing. Returns the ranges
/// that filled at least one cell, clipped, for the report's notes.
pub fn fill_merged(
    rows: &mut [Vec<CellValue>],
    shown: &mut ShownCells,
    ranges: &[Merged],
    limits: &Limits,
) -> Result<Vec<Merged>, Unreadable> {
    let last_row = rows
        .iter()
        .rposition(|r| r.iter().any(|c| !c.is_blank()))
        .unwrap_or(0) as u32;
    let width = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let mut cells: usize = rows.iter().map(Vec::len).sum();
    let mut filled = Vec::new();
    for range in ranges {
        let (r0, c0) = range.first;
        let value = match rows.get(r0 as usize).and_then(|r| r.get(c0 as usize)) {
            Some(v) if !v.is_blank() => v.clone(),
            _ => continue,
        };
        let top_shown = shown.get(&(r0, c0)).cloned();
        let last = (
            range.last.0.min(last_row),
            range.last.1.min(width.saturating_sub(1)),
        );
        let mut any = false;
        for r in r0..=last.0 {
            let row = &mut rows[r as usize];
            for c in c0..=last.1 {
                if (r, c) == (r0, c0) {
                    continue;
                }
                let c_us = c as usize;
                if row.len() <= c_us {
                    cells += c_us + 1 - row.len();
                    if cells > limits.max_cells {
                        return Err(Unreadable(format!(
                            "merged ranges cover more than {} cells, over the limit; unmerge them",
                            limits.max_cells
                        )));
                    }
                    row.resize(c_us + 1, CellValue::Empty);
                }
                if row[c_us].is_blank() {
                    row[c_us] = value.clone();
                    if let Some(s) = &top_shown {
                        shown.insert((r, c), s.clone());
                    }
                    any = true;
                }
            }
        }
        if any {
            filled.push(Merged {
                first: range.first,
                last,
            });
        }
    }
    Ok(filled)
}
