//! Reading a workbook into cells with positions, within hard limits.
//!
//! Uploaded files are untrusted: before calamine sees a zip-based file, every
//! entry is decompressed once into a counting sink with a hard cap, so a zip
//! bomb is refused after reading at most `max_uncompressed` bytes. xlsx sheets
//! are streamed cell by cell (a sheet with one cell at A1 and one at XFD1048576
//! would otherwise allocate billions of cells), and what each sheet expands
//! to is counted before calamine reads it (`super::expansion`).

use std::io::{self, Cursor, Read};

use calamine::{Data, DataRef, Reader, Sheets, Xlsx};
use chrono::NaiveDateTime;

pub use super::cells::{CellValue, Format, Limits, Unreadable};
use super::display::{self, Merged};
use super::numfmt::ShownCells;
use super::ods_display;

/// One sheet as rows of cells; `rows[0]` is spreadsheet row 1 and each row
/// holds cells from column A up to its last used column.
#[derive(Debug, Clone, Default)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Vec<CellValue>>,
    /// The text number formats give, where it differs from the plain value.
    pub shown: ShownCells,
    /// Merged ranges whose value was given to every cell, for the report.
    pub merged: Vec<Merged>,
}

impl Sheet {
    pub fn cell(&self, row: usize, col: u32) -> &CellValue {
        self.rows
            .get(row)
            .and_then(|r| r.get(col as usize))
            .unwrap_or(&CellValue::Empty)
    }
}

#[derive(Debug, Clone)]
pub struct RawWorkbook {
    pub format: Format,
    /// Every sheet name, in workbook order.
    pub sheet_names: Vec<String>,
    /// The sheets the caller asked for.
    pub sheets: Vec<Sheet>,
}

fn unreadable(msg: impl Into<String>) -> Unreadable {
    Unreadable(msg.into())
}

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Recognise the format from the bytes, never from a file name.
pub fn detect_format(bytes: &[u8]) -> Result<Format, Unreadable> {
    if bytes.is_empty() {
        return Err(unreadable("the file is empty"));
    }
    if bytes.starts_with(OLE_MAGIC) {
        if contains_utf16(bytes, "EncryptionInfo") || contains_utf16(bytes, "EncryptedPackage") {
            return Err(unreadable(
                "the workbook is protected with a password; remove the password (File > Info > Protect Workbook) and save it again",
            ));
        }
        return Ok(Format::Xls);
    }
    if bytes.starts_with(ZIP_MAGIC) {
        let mimetype = b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet";
        if bytes.get(30..30 + mimetype.len()) == Some(&mimetype[..]) {
            return Ok(Format::Ods);
        }
        return Ok(Format::Xlsx);
    }
    let head = &bytes[..bytes.len().min(512)];
    let guess = if head.starts_with(b"%PDF") {
        "a PDF document"
    } else if head.starts_with(b"\x89PNG") || head.starts_with(b"\xFF\xD8\xFF") {
        "an image"
    } else if std::str::from_utf8(head).is_ok() && (head.contains(&b',') || head.contains(&b'\t')) {
        "a CSV or text file, which holds only one sheet"
    } else {
        "not a spreadsheet"
    };
    Err(unreadable(format!(
        "the file is {guess}; sceneflow needs a workbook with the sheets scenes and choices, saved as .xlsx, .xls or .ods"
    )))
}

fn contains_utf16(bytes: &[u8], needle: &str) -> bool {
    let pattern: Vec<u8> = needle
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    bytes
        .windows(pattern.len())
        .any(|w| w == pattern.as_slice())
}

/// Read the workbook's sheet names and the cells of the sheets `wanted` picks.
pub fn read_workbook(
    bytes: &[u8],
    limits: &Limits,
    wanted: impl Fn(&str) -> bool + Sync,
) -> Result<RawWorkbook, Unreadable> {
    if bytes.len() > limits.max_bytes {
        return Err(unreadable(format!(
            "the file is {} MB, more than the limit of {} MB",
            bytes.len() / 1_000_000,
            limits.max_bytes / 1_000_000
        )));
    }
    let format = detect_format(bytes)?;
    if format != Format::Xls {
        check_zip(bytes, limits)?;
    }
    match format {
        Format::Xls => super::expansion_xls::check(bytes, limits)?,
        Format::Xlsx | Format::Ods => super::expansion::check(bytes, format, limits)?,
    }
    // calamine is third-party code facing hostile input: a panic in it must
    // become a report, not a dead worker.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match format {
        Format::Xlsx => read_xlsx(bytes, limits, &wanted),
        Format::Ods | Format::Xls => read_generic(bytes, format, limits, &wanted),
    }))
    .unwrap_or_else(|_| {
        Err(unreadable(
            "the file is damaged (the reader gave up on it); save it again as .xlsx",
        ))
    })
}

fn corrupt(e: impl std::fmt::Display) -> Unreadable {
    unreadable(format!(
        "the file is damaged or incomplete ({e}); save it again as .xlsx and upload the new file"
    ))
}

/// Decompress every entry once, counting real bytes, never trusting headers.
fn check_zip(bytes: &[u8], limits: &Limits) -> Result<(), Unreadable> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    if zip.len() > limits.max_zip_entries {
        return Err(unreadable(format!(
            "the file holds {} parts, more than the limit of {}",
            zip.len(),
            limits.max_zip_entries
        )));
    }
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(m) if m.contains("assword") || m.contains("ncrypt") => {
                unreadable("the workbook is protected with a password; remove the password and save it again")
            }
            other => corrupt(other),
        })?;
        let budget = limits.max_uncompressed - total;
        let n = io::copy(&mut (&mut entry).take(budget + 1), &mut io::sink()).map_err(corrupt)?;
        total += n;
        if n > budget {
            return Err(unreadable(format!(
                "the file expands to more than {} MB when unpacked, over the limit; it may be a zip bomb",
                limits.max_uncompressed / 1_000_000
            )));
        }
    }
    Ok(())
}

fn too_many_cells(limits: &Limits) -> Unreadable {
    unreadable(format!(
        "a sheet uses more than {} cells (or rows past {} or columns past {}), over the limit; delete unused rows and columns",
        limits.max_cells, limits.max_rows, limits.max_columns
    ))
}

struct Grid<'l> {
    limits: &'l Limits,
    cells: usize,
    rows: Vec<Vec<CellValue>>,
}

impl<'l> Grid<'l> {
    fn new(limits: &'l Limits) -> Self {
        Grid {
            limits,
            cells: 0,
            rows: Vec::new(),
        }
    }

    fn put(&mut self, row: u32, col: u32, value: CellValue) -> Result<(), Unreadable> {
        if value == CellValue::Empty {
            return Ok(());
        }
        if row >= self.limits.max_rows || col >= self.limits.max_columns {
            return Err(too_many_cells(self.limits));
        }
        let (row, col) = (row as usize, col as usize);
        if self.rows.len() <= row {
            self.rows.resize_with(row + 1, Vec::new);
        }
        let cells = &mut self.rows[row];
        if cells.len() <= col {
            self.cells += col + 1 - cells.len();
            if self.cells > self.limits.max_cells {
                return Err(too_many_cells(self.limits));
            }
            cells.resize(col + 1, CellValue::Empty);
        }
        cells[col] = value;
        Ok(())
    }
}

fn check_sheet_count(names: &[String], limits: &Limits) -> Result<(), Unreadable> {
    if names.len() > limits.max_sheets {
        return Err(unreadable(format!(
            "the workbook has {} sheets, more than the limit of {}",
            names.len(),
            limits.max_sheets
        )));
    }
    Ok(())
}

/// Whether the workbook's saved formula results can be shown: not when its
/// writer asked the application to recalculate everything on load
/// (`<calcPr fullCalcOnLoad="1">`), which is what libraries without a
/// calculation engine write (XlsxWriter, rust_xlsxwriter) beside a
/// placeholder result (0 for every formula). Excel, LibreOffice and Google
/// Sheets save computed results and never set it (docs/src/workbook.md "How cells are
/// read").
fn saves_formula_results(bytes: &[u8]) -> Result<bool, Unreadable> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    let mut workbook = String::new();
    match zip.by_name("xl/workbook.xml") {
        Ok(part) => {
            // Its size was counted by check_zip; a workbook part is small.
            part.take(16 << 20)
                .read_to_string(&mut workbook)
                .map_err(corrupt)?;
        }
        Err(_) => return Ok(true),
    }
    let mut reader = quick_xml::Reader::from_str(&workbook);
    loop {
        match reader.read_event().map_err(corrupt)? {
            quick_xml::events::Event::Empty(e) | quick_xml::events::Event::Start(e)
                if e.local_name().into_inner() == "calcPr" =>
            {
                let recalculated = e.attributes().flatten().any(|a| {
                    a.key.local_name().into_inner() == "fullCalcOnLoad"
                        && matches!(&*a.value, "1" | "true")
                });
                return Ok(!recalculated);
            }
            quick_xml::events::Event::Eof => return Ok(true),
            _ => {}
        }
    }
}

/// xlsx sheets are read two at a time: each thread opens its own reader over
/// the same bytes, which halves the wall time of the usual two-sheet file.
fn read_xlsx(
    bytes: &[u8],
    limits: &Limits,
    wanted: &(dyn Fn(&str) -> bool + Sync),
) -> Result<RawWorkbook, Unreadable> {
    let results_saved = saves_formula_results(bytes)?;
    let read_every_other = |start: usize| -> Result<(Vec<String>, Vec<Sheet>), Unreadable> {
        let mut book = Xlsx::new(Cursor::new(bytes)).map_err(corrupt)?;
        let sheet_names = book.sheet_names();
        check_sheet_count(&sheet_names, limits)?;
        let mut sheets = Vec::new();
        for name in sheet_names
            .iter()
            .filter(|n| wanted(n))
            .skip(start)
            .step_by(2)
        {
            let mut grid = Grid::new(limits);
            let mut reader = book.worksheet_cells_reader(name).map_err(corrupt)?;
            while let Some(cell) = reader.next_cell_with_formula().map_err(corrupt)? {
                let (row, col) = cell.pos;
                let value = match (&cell.value, cell.formula) {
                    (DataRef::Empty, Some(f)) if !f.trim().is_empty() => CellValue::Formula(f),
                    // A placeholder, not a result: as if none were saved.
                    (_, Some(f)) if !results_saved && !f.trim().is_empty() => CellValue::Formula(f),
                    (value, _) => from_data_ref(value),
                };
                grid.put(row, col, value)?;
            }
            drop(reader);
            let mut rows = grid.rows;
            let mut shown = display::xlsx_shown(&mut book, name, &rows).map_err(corrupt)?;
            let ranges: Vec<Merged> = book
                .merge_cells_by_sheet_name(name)
                .map_err(corrupt)?
                .iter()
                .map(Merged::from)
                .collect();
            let merged = display::fill_merged(&mut rows, &mut shown, &ranges, limits)?;
            sheets.push(Sheet {
                name: name.clone(),
                rows,
                shown,
                merged,
            });
        }
        Ok((sheet_names, sheets))
    };
    let (first, second) = std::thread::scope(|scope| {
        let second = scope.spawn(|| read_every_other(1));
        let first = read_every_other(0);
        (first, second.join())
    });
    let (sheet_names, evens) = first?;
    let (_, odds) = second.map_err(|_| {
        unreadable("the file is damaged (the reader gave up on it); save it again as .xlsx")
    })??;
    // Back to workbook order: evens and odds interleave.
    let mut sheets = Vec::with_capacity(evens.len() + odds.len());
    let (mut evens, mut odds) = (evens.into_iter(), odds.into_iter());
    loop {
        match (evens.next(), odds.next()) {
            (None, None) => break,
            (a, b) => sheets.extend(a.into_iter().chain(b)),
        }
    }
    Ok(RawWorkbook {
        format: Format::Xlsx,
        sheet_names,
        sheets,
    })
}

fn read_generic(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<RawWorkbook, Unreadable> {
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(|e| {
        let text = e.to_string();
        if text.contains("assword") || text.contains("ncrypt") {
            unreadable(
                "the workbook is protected with a password; remove the password and save it again",
            )
        } else {
            corrupt(text)
        }
    })?;
    let sheet_names = book.sheet_names();
    check_sheet_count(&sheet_names, limits)?;
    let mut ods_extras = match format {
        Format::Ods => ods_display::read(bytes, limits, wanted)?,
        _ => Default::default(),
    };
    let mut sheets = Vec::new();
    for name in sheet_names.iter().filter(|n| wanted(n)) {
        let range = book.worksheet_range(name).map_err(corrupt)?;
        let mut grid = Grid::new(limits);
        if let Some((r0, c0)) = range.start() {
            for (r, c, data) in range.used_cells() {
                grid.put(r0 + r as u32, c0 + c as u32, from_data(data))?;
            }
        }
        let extras = ods_extras.remove(name).unwrap_or_default();
        for ((row, col), formula) in extras.formulas {
            grid.put(row, col, CellValue::Formula(formula))?;
        }
        let mut rows = grid.rows;
        let mut shown = extras.shown;
        display::add_rounded(&rows, &mut shown);
        let ranges = match &book {
            Sheets::Xls(xls) => xls
                .merge_cells_by_sheet_name(name)
                .map_err(corrupt)?
                .iter()
                .map(Merged::from)
                .collect(),
            _ => extras.merged,
        };
        let merged = display::fill_merged(&mut rows, &mut shown, &ranges, limits)?;
        sheets.push(Sheet {
            name: name.clone(),
            rows,
            shown,
            merged,
        });
    }
    Ok(RawWorkbook {
        format,
        sheet_names,
        sheets,
    })
}

fn from_iso(s: &str) -> CellValue {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
        })
        .map(CellValue::Date)
        .unwrap_or_else(|_| CellValue::Text(s.to_owned()))
}

fn from_data_ref(d: &DataRef<'_>) -> CellValue {
    match d {
        DataRef::Int(i) => CellValue::Number(*i as f64),
        DataRef::Float(f) => CellValue::Number(*f),
        DataRef::String(s) => CellValue::Text(s.clone()),
        DataRef::SharedString(s) => CellValue::Text((*s).to_owned()),
        DataRef::Bool(b) => CellValue::Bool(*b),
        DataRef::DateTime(dt) => dt
            .as_datetime()
            .map(CellValue::Date)
            .unwrap_or(CellValue::Number(dt.as_f64())),
        DataRef::DateTimeIso(s) => from_iso(s),
        DataRef::DurationIso(s) => CellValue::Text(s.clone()),
        DataRef::Error(e) => CellValue::Error(e.to_string()),
        DataRef::Empty => CellValue::Empty,
    }
}

fn from_data(d: &Data) -> CellValue {
    match d {
        Data::Int(i) => CellValue::Number(*i as f64),
        Data::Float(f) => CellValue::Number(*f),
        Data::String(s) => CellValue::Text(s.clone()),
        Data::Bool(b) => CellValue::Bool(*b),
        Data::DateTime(dt) => dt
            .as_datetime()
            .map(CellValue::Date)
            .unwrap_or(CellValue::Number(dt.as_f64())),
        Data::DateTimeIso(s) => from_iso(s),
        Data::DurationIso(s) => CellValue::Text(s.clone()),
        Data::Error(e) => CellValue::Error(e.to_string()),
        Data::Empty => CellValue::Empty,
    }
}
