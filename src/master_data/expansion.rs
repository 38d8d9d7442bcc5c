//! How big a zip-based workbook becomes once read, counted before calamine
//! reads it (docs/src/operations.md: upload limits); .xls files are counted
//! in `super::expansion_xls`.
//!
//! Spreadsheets compress: an .ods cell or row carries a repeat count, an
//! .xlsx cell names its own position (`<c r="XFD1048576">`) and refers to a
//! shared string that each reading copies. So every sheet part is streamed
//! once through quick-xml (the XML parser calamine uses) and its expansion
//! counted as it reads: elements and attributes are matched by local name,
//! whatever the namespace prefix; attribute values are unescaped, whatever
//! the quotes or entities. Where this count and calamine could differ, this
//! count is the larger: a file passes only if what calamine builds from it
//! fits the limits and [`MAX_ESTIMATED_BYTES`].

use std::io::{BufReader, Cursor, Read};

use quick_xml::events::{BytesStart, Event};

use super::cells::{Format, Limits, Unreadable};

/// Memory that reading one workbook may take, estimated from the counts
/// below; with the copies the reader makes, the peak stays well under
/// 256 MB above idle (docs/src/operations.md).
pub const MAX_ESTIMATED_BYTES: u64 = 96 * 1024 * 1024;
/// Bytes per cell calamine holds for an .ods sheet (value and formula).
const ODS_CELL_BYTES: u64 = 64;
/// Bytes per cell of an .xlsx sheet once read into rows of cells.
const XLSX_CELL_BYTES: u64 = 40;
/// Bytes per shared string, besides its text; each reader thread holds all.
const SHARED_STRING_BYTES: u64 = 32;
const XLSX_READERS: u64 = 2;

/// Refuse a zip-based workbook (.xlsx, .ods) whose sheets would expand
/// past the limits; an .xls is checked by `super::expansion_xls`.
pub fn check(bytes: &[u8], format: Format, limits: &Limits) -> Result<(), Unreadable> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    match format {
        Format::Xls => Ok(()),
        Format::Ods => {
            let part = zip.by_name("content.xml").map_err(corrupt)?;
            let cost = count_ods(part, limits)?;
            within_budget(cost)
        }
        Format::Xlsx => {
            let lengths = match zip.by_name("xl/sharedStrings.xml") {
                Ok(part) => shared_string_lengths(part, limits)?,
                Err(zip::result::ZipError::FileNotFound) => Vec::new(),
                Err(e) => return Err(corrupt(e)),
            };
            let mut cost = lengths
                .iter()
                .map(|l| u64::from(*l) + SHARED_STRING_BYTES)
                .sum::<u64>()
                .saturating_mul(XLSX_READERS);
            within_budget(cost)?;
            let sheets: Vec<String> = zip
                .file_names()
                .filter_map(|n| n.ok())
                .filter(|n| n.starts_with("xl/worksheets/") && n.ends_with(".xml"))
                .map(|n| n.into_owned())
                .collect();
            for name in sheets {
                let part = zip.by_name(&name).map_err(corrupt)?;
                cost = cost.saturating_add(count_xlsx_sheet(part, &lengths, limits)?);
                within_budget(cost)?;
            }
            Ok(())
        }
    }
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> Unreadable {
    Unreadable(format!(
        "the file is damaged or incomplete ({e}); save it again as .xlsx and upload the new file"
    ))
}

pub(super) fn too_big(limits: &Limits) -> Unreadable {
    Unreadable(format!(
        "a sheet uses more than {} cells (or rows past {} or columns past {}), over the limit; delete unused rows and columns",
        limits.max_cells, limits.max_rows, limits.max_columns
    ))
}

pub(super) fn within_budget(cost: u64) -> Result<(), Unreadable> {
    if cost > MAX_ESTIMATED_BYTES {
        return Err(Unreadable(format!(
            "the sheets would take more than {} MB of memory once unpacked (repeated or far-apart cells, or long texts repeated many times), over the limit; delete unused rows, columns and repeated text",
            MAX_ESTIMATED_BYTES / (1024 * 1024)
        )));
    }
    Ok(())
}

fn xml<R: Read>(part: R) -> quick_xml::Reader<BufReader<R>> {
    let mut reader = quick_xml::Reader::from_reader(BufReader::new(part));
    let config = reader.config_mut();
    config.check_end_names = false;
    config.trim_text(false);
    reader
}

/// The value of the attribute with this local name, unescaped.
fn attr(e: &BytesStart<'_>, local: &str) -> Result<Option<String>, Unreadable> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(corrupt)?;
        if a.key.local_name().into_inner() == local {
            return Ok(Some(
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .map_err(corrupt)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

/// A repeat count; absent is 1. A count no reader could take is refused.
fn repeat(e: &BytesStart<'_>, local: &str, limits: &Limits) -> Result<u64, Unreadable> {
    match attr(e, local)? {
        None => Ok(1),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| {
                Unreadable(format!(
                    "the file is damaged: a repeat count '{}' is not a whole number",
                    v.chars().take(20).collect::<String>()
                ))
            })
            .and_then(|n| if n == 0 { Err(too_big(limits)) } else { Ok(n) }),
    }
}

fn text_len(event: &Event<'_>) -> u64 {
    match event {
        Event::Text(t) => t.len() as u64,
        Event::CData(t) => t.len() as u64,
        Event::GeneralRef(_) => 1,
        _ => 0,
    }
}

/// One .ods table as calamine expands it: the rectangle from the first to
/// the last non-empty row and column, each cell copied once per repeat.
#[derive(Default)]
struct OdsTable {
    row: u64,
    first_row: Option<u64>,
    last_row: u64,
    min_col: u64,
    max_col: u64,
    text: u64,
}

impl OdsTable {
    fn cost(&self) -> u64 {
        let Some(first) = self.first_row else {
            return 0;
        };
        let rows = self.last_row - first + 1;
        let cols = self.max_col - self.min_col + 1;
        rows.saturating_mul(cols)
            .saturating_mul(ODS_CELL_BYTES)
            .saturating_add(self.text.saturating_mul(2))
    }

    fn dense(&self) -> u64 {
        self.first_row.map_or(0, |first| {
            (self.last_row - first + 1).saturating_mul(self.max_col - self.min_col + 1)
        })
    }
}

/// Count `content.xml`; the estimated bytes of all tables.
fn count_ods<R: Read>(part: R, limits: &Limits) -> Result<u64, Unreadable> {
    let mut reader = xml(part);
    let mut buf = Vec::new();
    let mut total: u64 = 0;
    let mut table = OdsTable::default();
    // Within a row: its repeat, the next column, the used span, the text.
    let mut row_repeat: u64 = 1;
    let mut col: u64 = 0;
    let mut row_span: Option<(u64, u64)> = None;
    let mut row_text: u64 = 0;
    // Within a cell: its repeat and text so far; `depth` of nested elements.
    let mut cell: Option<(u64, u64)> = None;
    let mut depth: u32 = 0;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(corrupt)?;
        if let Some((_, text)) = &mut cell {
            *text += text_len(&event);
        }
        match &event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().into_inner() {
                    _ if cell.is_some() && !empty => depth += 1,
                    _ if cell.is_some() => {}
                    "table" if !empty => table = OdsTable::default(),
                    "table-row" => {
                        row_repeat = repeat(e, "number-rows-repeated", limits)?;
                        (col, row_span, row_text) = (0, None, 0);
                        if empty {
                            table.row = table.row.saturating_add(row_repeat);
                        }
                    }
                    "table-cell" | "covered-table-cell" => {
                        let n = repeat(e, "number-columns-repeated", limits)?;
                        let formula = attr(e, "formula")?.map_or(0, |f| f.len() as u64);
                        let valued = formula > 0
                            || attr(e, "value-type")?.is_some()
                            || attr(e, "value")?.is_some();
                        // The formula text is copied once per repeat too.
                        row_text = row_text.saturating_add(formula.saturating_mul(n));
                        if valued || !empty {
                            let last = col.saturating_add(n - 1);
                            if last >= u64::from(limits.max_columns) {
                                return Err(too_big(limits));
                            }
                            let (lo, _) = row_span.unwrap_or((col, last));
                            row_span = Some((lo.min(col), last));
                        }
                        if empty {
                            col = col.saturating_add(n);
                        } else {
                            cell = Some((n, 0));
                            depth = 0;
                        }
                    }
                    _ => {}
                }
            }
            Event::End(e) => match e.local_name().into_inner() {
                _ if cell.is_some() && depth > 0 => depth -= 1,
                "table-cell" | "covered-table-cell" if cell.is_some() => {
                    let (n, text) = cell.take().unwrap_or((1, 0));
                    row_text = row_text.saturating_add(text.saturating_mul(n));
                    col = col.saturating_add(n);
                }
                "table-row" => {
                    if let Some((lo, hi)) = row_span {
                        let last = table.row.saturating_add(row_repeat - 1);
                        if last >= u64::from(limits.max_rows) {
                            return Err(too_big(limits));
                        }
                        if table.first_row.is_none() {
                            (table.min_col, table.max_col) = (lo, hi);
                        }
                        table.first_row.get_or_insert(table.row);
                        table.last_row = last;
                        table.min_col = table.min_col.min(lo);
                        table.max_col = table.max_col.max(hi);
                        table.text = table
                            .text
                            .saturating_add(row_text.saturating_mul(row_repeat));
                    }
                    table.row = table.row.saturating_add(row_repeat);
                    row_repeat = 1;
                }
                "table" => {
                    if table.dense() > limits.max_cells as u64 {
                        return Err(too_big(limits));
                    }
                    total = total.saturating_add(table.cost());
                    within_budget(total)?;
                    table = OdsTable::default();
                }
                _ => {}
            },
            _ => {}
        }
        if table.dense() > limits.max_cells as u64 {
            return Err(too_big(limits));
        }
        within_budget(total.saturating_add(table.cost()))?;
        buf.clear();
    }
    Ok(total)
}

/// The text length of every shared string, in order.
fn shared_string_lengths<R: Read>(part: R, limits: &Limits) -> Result<Vec<u32>, Unreadable> {
    let mut reader = xml(part);
    let mut buf = Vec::new();
    let mut lengths = Vec::new();
    let mut current: Option<u64> = None;
    let mut cost: u64 = 0;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(corrupt)?;
        if let Some(len) = &mut current {
            *len += text_len(&event);
        }
        match &event {
            Event::Eof => break,
            Event::Start(e) if e.local_name().into_inner() == "si" => current = Some(0),
            Event::Empty(e) if e.local_name().into_inner() == "si" => lengths.push(0),
            Event::End(e) if e.local_name().into_inner() == "si" => {
                let len = current.take().unwrap_or(0);
                cost = cost.saturating_add((len + SHARED_STRING_BYTES) * XLSX_READERS);
                lengths.push(len.min(u64::from(u32::MAX)) as u32);
            }
            _ => {}
        }
        if lengths.len() > limits.max_cells {
            return Err(too_big(limits));
        }
        within_budget(cost.saturating_add(lengths.len() as u64 * SHARED_STRING_BYTES))?;
        buf.clear();
    }
    Ok(lengths)
}

/// `B12` → (row 11, column 1), zero-based.
fn cell_ref(r: &str) -> Option<(u64, u64)> {
    let letters = r.bytes().take_while(u8::is_ascii_alphabetic).count();
    if letters == 0 || letters > 3 {
        return None;
    }
    let col = r[..letters].bytes().fold(0u64, |acc, b| {
        acc * 26 + u64::from(b.to_ascii_uppercase() - b'A' + 1)
    });
    let row: u64 = r[letters..].parse().ok()?;
    Some((row.checked_sub(1)?, col - 1))
}

/// One worksheet part: cells read into rows (each row up to its last used
/// column), plus the text each cell copies.
fn count_xlsx_sheet<R: Read>(part: R, shared: &[u32], limits: &Limits) -> Result<u64, Unreadable> {
    let mut reader = xml(part);
    let mut buf = Vec::new();
    let mut cells: u64 = 0;
    let mut text: u64 = 0;
    let mut row: u64 = 0;
    let mut next_row: u64 = 0;
    let mut col: u64 = 0;
    let mut row_width: u64 = 0;
    // Within a cell: its type; within its `<v>`, the value so far.
    let mut cell_type: Option<String> = None;
    let mut value: Option<String> = None;
    let mut cell_text: u64 = 0;
    let mut in_cell = false;
    let bad_ref = || corrupt("a cell or row reference is not valid");
    loop {
        let event = reader.read_event_into(&mut buf).map_err(corrupt)?;
        if in_cell {
            cell_text += text_len(&event);
            if let (Some(v), Event::Text(t)) = (&mut value, &event)
                && v.len() < 32
            {
                v.push_str(t.as_ref());
            }
        }
        match &event {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(event, Event::Empty(_));
                match e.local_name().into_inner() {
                    "row" => {
                        cells = cells.saturating_add(row_width);
                        row = match attr(e, "r")? {
                            Some(r) => r
                                .trim()
                                .parse::<u64>()
                                .ok()
                                .and_then(|r| r.checked_sub(1))
                                .ok_or_else(bad_ref)?,
                            None => next_row,
                        };
                        (next_row, col, row_width) = (row + 1, 0, 0);
                    }
                    "c" => {
                        let (r, c) = match attr(e, "r")? {
                            Some(r) => cell_ref(r.trim()).ok_or_else(bad_ref)?,
                            None => (row, col),
                        };
                        if r != row {
                            cells = cells.saturating_add(row_width);
                            (row, row_width) = (r, 0);
                            next_row = r + 1;
                        }
                        col = c + 1;
                        if !empty {
                            if r >= u64::from(limits.max_rows) || c >= u64::from(limits.max_columns)
                            {
                                return Err(too_big(limits));
                            }
                            row_width = row_width.max(c + 1);
                            cell_type = attr(e, "t")?;
                            (in_cell, cell_text, value) = (true, 0, None);
                        }
                    }
                    "v" if in_cell && !empty => value = Some(String::new()),
                    _ => {}
                }
            }
            Event::End(e) => match e.local_name().into_inner() {
                "c" if in_cell => {
                    let copied = match (cell_type.as_deref(), &value) {
                        (Some("s"), Some(v)) => v
                            .trim()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| shared.get(i))
                            .map_or(0, |l| u64::from(*l)),
                        _ => cell_text,
                    };
                    text = text.saturating_add(copied);
                    in_cell = false;
                }
                "sheetData" => cells = cells.saturating_add(std::mem::take(&mut row_width)),
                _ => {}
            },
            _ => {}
        }
        if cells.saturating_add(row_width) > limits.max_cells as u64 {
            return Err(too_big(limits));
        }
        within_budget(
            cells
                .saturating_add(row_width)
                .saturating_mul(XLSX_CELL_BYTES)
                .saturating_add(text),
        )?;
        buf.clear();
    }
    Ok(cells
        .saturating_add(row_width)
        .saturating_mul(XLSX_CELL_BYTES)
        .saturating_add(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references_are_read() {
        assert_eq!(cell_ref("A1"), Some((0, 0)));
        assert_eq!(cell_ref("b12"), Some((11, 1)));
        assert_eq!(cell_ref("XFD1048576"), Some((1_048_575, 16_383)));
        assert_eq!(cell_ref("A0"), None);
        assert_eq!(cell_ref("ABCD1"), None);
    }
}
