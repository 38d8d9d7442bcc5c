//! How big a legacy .xls workbook becomes once read, counted before calamine
//! reads it (docs/src/operations.md: upload limits).
//!
//! An .xls file is a compound file holding one `Workbook` (or `Book`)
//! stream of BIFF records. calamine reads every sheet when it opens the
//! file: it reserves what each sheet's `DIMENSIONS` record claims, then
//! builds a dense grid over the bounding box of the cells it found (one at
//! A1 and one at IV65536 make 16 million cells), and copies the shared
//! string a `LABELSST` cell points to into that cell. So the records are
//! walked once here, sheet by sheet from the positions the workbook globals
//! give (as calamine does), and a file passes only if what calamine builds
//! from it fits the limits and [`MAX_ESTIMATED_BYTES`](super::expansion).

use std::io::{Cursor, Read};

use super::cells::{Limits, Unreadable};
use super::expansion::{corrupt, too_big, within_budget};

/// Bytes per cell of the dense grid calamine builds for a sheet, and of
/// the cells read from it.
const XLS_CELL_BYTES: u64 = 64;
/// Bytes per cell calamine reserves from a sheet's `DIMENSIONS` record.
const RESERVED_CELL_BYTES: u64 = 40;
/// Bytes per cell of the dense grid of formula texts.
const FORMULA_CELL_BYTES: u64 = 24;
/// Bytes per shared string, besides its text.
const SHARED_STRING_BYTES: u64 = 32;

const BOF: u16 = 0x0809;
const EOF: u16 = 0x000A;
const CONTINUE: u16 = 0x003C;
const FILEPASS: u16 = 0x002F;
const BOUNDSHEET: u16 = 0x0085;
const SST: u16 = 0x00FC;
const DIMENSIONS: u16 = 0x0200;
const LABELSST: u16 = 0x00FD;
const LABEL: u16 = 0x0204;
const RSTRING: u16 = 0x00D6;
const NUMBER: u16 = 0x0203;
const RK: u16 = 0x027E;
const MULRK: u16 = 0x00BD;
const MULBLANK: u16 = 0x00BE;
const BLANK: u16 = 0x0201;
const BOOLERR: u16 = 0x0205;
const FORMULA: u16 = 0x0006;
const STRING: u16 = 0x0207;

/// Refuse an .xls workbook whose sheets would expand past the limits.
pub fn check(bytes: &[u8], limits: &Limits) -> Result<(), Unreadable> {
    // The compound-file reader faces hostile input too: a panic in it is a
    // damaged file, not a dead worker.
    std::panic::catch_unwind(|| read_and_count(bytes, limits))
        .unwrap_or_else(|_| Err(corrupt("the compound file cannot be read")))
}

fn read_and_count(bytes: &[u8], limits: &Limits) -> Result<(), Unreadable> {
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(corrupt)?;
    let mut stream = match file.open_stream("/Workbook") {
        Ok(s) => s,
        Err(_) => file.open_stream("/Book").map_err(corrupt)?,
    };
    // The stream's length is the compound file's claim: read no more than
    // the upload could hold.
    let mut data = Vec::new();
    (&mut stream)
        .take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut data)
        .map_err(corrupt)?;
    count(&data, limits)
}

/// One BIFF record: its type and data, without the `CONTINUE`s after it.
struct Record<'a> {
    typ: u16,
    data: &'a [u8],
}

/// The records from `pos` on; a record running past the end is an error.
fn records(stream: &[u8], pos: usize) -> impl Iterator<Item = Result<Record<'_>, Unreadable>> {
    let mut rest = stream.get(pos..);
    std::iter::from_fn(move || {
        let s = rest?;
        if s.is_empty() {
            return None;
        }
        if s.len() < 4 {
            rest = None;
            return Some(Err(corrupt("a record is cut short")));
        }
        let typ = u16_at(s, 0);
        let len = usize::from(u16_at(s, 2));
        let Some(data) = s.get(4..4 + len) else {
            rest = None;
            return Some(Err(corrupt("a record is cut short")));
        };
        rest = Some(&s[4 + len..]);
        Some(Ok(Record { typ, data }))
    })
}

fn u16_at(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

/// Count the workbook stream; sheets are read from where the globals say.
fn count(stream: &[u8], limits: &Limits) -> Result<(), Unreadable> {
    let mut sheets = Vec::new();
    let mut sst: Vec<&[u8]> = Vec::new();
    let mut in_sst = false;
    for record in records(stream, 0) {
        let r = record?;
        if in_sst && r.typ == CONTINUE {
            sst.push(r.data);
            continue;
        }
        in_sst = false;
        match r.typ {
            // The rest is encrypted: calamine says so, nothing to count.
            FILEPASS => return Ok(()),
            BOUNDSHEET if r.data.len() >= 4 => sheets.push(u32_at(r.data, 0) as usize),
            SST => {
                sst = vec![r.data];
                in_sst = true;
            }
            EOF => break,
            _ => {}
        }
    }
    if sheets.len() > limits.max_sheets {
        return Err(Unreadable(format!(
            "the workbook has {} sheets, more than the limit of {}",
            sheets.len(),
            limits.max_sheets
        )));
    }
    let shared = shared_string_lengths(&sst);
    let mut cost = shared
        .iter()
        .map(|l| l + SHARED_STRING_BYTES)
        .fold(0u64, u64::saturating_add);
    within_budget(cost)?;
    for pos in sheets {
        if pos >= stream.len() {
            return Err(corrupt("a sheet starts past the end of the file"));
        }
        cost = cost.saturating_add(count_sheet(stream, pos, &shared, limits)?);
        within_budget(cost)?;
    }
    Ok(())
}

/// A bounding box of cell positions, as `Range::from_sparse` spans them.
#[derive(Default)]
struct Span(Option<(u64, u64, u64, u64)>);

impl Span {
    fn add(&mut self, row: u64, first_col: u64, last_col: u64) {
        let (r0, r1, c0, c1) = self.0.unwrap_or((row, row, first_col, last_col));
        self.0 = Some((
            r0.min(row),
            r1.max(row),
            c0.min(first_col),
            c1.max(last_col),
        ));
    }

    fn cells(&self) -> u64 {
        self.0.map_or(0, |(r0, r1, c0, c1)| {
            (r1 - r0 + 1).saturating_mul(c1 - c0 + 1)
        })
    }
}

/// One sheet substream: what calamine reserves, its dense grids and the text
/// its cells copy, in estimated bytes.
fn count_sheet(
    stream: &[u8],
    pos: usize,
    shared: &[u64],
    limits: &Limits,
) -> Result<u64, Unreadable> {
    let mut cells = Span::default();
    let mut formulas = Span::default();
    let mut reserved: u64 = 0;
    let mut text: u64 = 0;
    let mut seen_bof = false;
    let mut depth: usize = 0;
    let short = || corrupt("a cell record is cut short");
    for record in records(stream, pos) {
        let r = record?;
        // Embedded charts and the like: calamine skips them.
        if depth > 0 {
            match r.typ {
                BOF => depth += 1,
                EOF => depth -= 1,
                _ => {}
            }
            continue;
        }
        let d = r.data;
        let cell = |min_len: usize| -> Result<(u64, u64), Unreadable> {
            if d.len() < min_len.max(4) {
                return Err(short());
            }
            Ok((u64::from(u16_at(d, 0)), u64::from(u16_at(d, 2))))
        };
        let (row, first, last) = match r.typ {
            BOF if seen_bof => {
                depth += 1;
                continue;
            }
            BOF => {
                seen_bof = true;
                continue;
            }
            EOF => break,
            DIMENSIONS => {
                reserved = reserved.saturating_add(dimensions(d)?);
                continue;
            }
            NUMBER | RK | BOOLERR | BLANK => {
                let (row, col) = cell(6)?;
                (row, col, col)
            }
            LABEL | RSTRING => {
                let (row, col) = cell(6)?;
                // UTF-16 or Latin-1 to UTF-8: at most twice the bytes, and
                // copied into the cells read from the sheet.
                text = text.saturating_add(d.len() as u64 * 4);
                (row, col, col)
            }
            STRING => {
                text = text.saturating_add(d.len() as u64 * 4);
                continue;
            }
            LABELSST => {
                let (row, col) = cell(10)?;
                let copied = shared.get(u32_at(d, 6) as usize).copied().unwrap_or(0);
                text = text.saturating_add(copied.saturating_mul(2));
                (row, col, col)
            }
            MULRK | MULBLANK => {
                let (row, col) = cell(6)?;
                (row, col, u64::from(u16_at(d, d.len() - 2)).max(col))
            }
            FORMULA => {
                let (row, col) = cell(20)?;
                formulas.add(row, col, col);
                (row, col, col)
            }
            _ => continue,
        };
        if row >= u64::from(limits.max_rows) || last >= u64::from(limits.max_columns) {
            return Err(too_big(limits));
        }
        cells.add(row, first, last);
        if cells.cells() > limits.max_cells as u64 || reserved > limits.max_cells as u64 {
            return Err(too_big(limits));
        }
    }
    if reserved > limits.max_cells as u64 {
        return Err(too_big(limits));
    }
    Ok(cells
        .cells()
        .saturating_mul(XLS_CELL_BYTES)
        .saturating_add(formulas.cells().saturating_mul(FORMULA_CELL_BYTES))
        .saturating_add(reserved.saturating_mul(RESERVED_CELL_BYTES))
        .saturating_add(text))
}

/// The cells calamine reserves for a `DIMENSIONS` record, read as it reads
/// them (rows and columns past the last, wrapping as its arithmetic would).
fn dimensions(d: &[u8]) -> Result<u64, Unreadable> {
    let (rf, rl, mut cf, cl) = match d.len() {
        10 => (
            u32::from(u16_at(d, 0)),
            u32::from(u16_at(d, 2)),
            u32::from(u16_at(d, 4)),
            u32::from(u16_at(d, 6)),
        ),
        14 | 16 => (
            u32_at(d, 0),
            u32_at(d, 4),
            u32::from(u16_at(d, 8)),
            u32::from(u16_at(d, 10)),
        ),
        _ => return Err(corrupt("a sheet's dimensions record has the wrong length")),
    };
    if cf > 0xFF || cl < cf {
        cf = 0;
    }
    let (end_row, end_col) = if rl >= 1 && cl >= 1 {
        (rl - 1, cl - 1)
    } else {
        (rf, cf)
    };
    // A start past the end makes calamine's count wrap to a huge one.
    let rows = u64::from(end_row.wrapping_sub(rf).wrapping_add(1));
    let cols = u64::from(end_col.wrapping_sub(cf).wrapping_add(1));
    Ok(rows.saturating_mul(cols))
}

/// The UTF-8 length (at most) of every shared string, in order. The table
/// runs on in `CONTINUE` records; a string's characters may break across
/// them, each piece with its own flags byte. What cannot be read is left
/// out (calamine then has no string for those cells either).
fn shared_string_lengths(parts: &[&[u8]]) -> Vec<u64> {
    let mut lengths = Vec::new();
    let Some(first) = parts.first() else {
        return lengths;
    };
    if first.len() < 8 {
        return lengths;
    }
    let unique = u32_at(first, 4) as usize;
    let mut reader = Pieces {
        parts,
        part: 0,
        pos: 8,
    };
    while lengths.len() < unique {
        let Some(len) = reader.string() else { break };
        lengths.push(len);
    }
    lengths
}

struct Pieces<'a> {
    parts: &'a [&'a [u8]],
    part: usize,
    pos: usize,
}

impl Pieces<'_> {
    fn left(&self) -> usize {
        self.parts
            .get(self.part)
            .map_or(0, |p| p.len().saturating_sub(self.pos))
    }

    /// Move to the next piece when this one is used up.
    fn settle(&mut self) -> Option<()> {
        while self.left() == 0 {
            self.part += 1;
            self.pos = 0;
            self.parts.get(self.part)?;
        }
        Some(())
    }

    fn byte(&mut self) -> Option<u8> {
        self.settle()?;
        let b = self.parts[self.part][self.pos];
        self.pos += 1;
        Some(b)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.byte()?, self.byte()?]))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.byte()?,
            self.byte()?,
            self.byte()?,
            self.byte()?,
        ]))
    }

    fn skip(&mut self, mut n: usize) -> Option<()> {
        while n > 0 {
            self.settle()?;
            let step = n.min(self.left());
            self.pos += step;
            n -= step;
        }
        Some(())
    }

    /// One XLUnicodeRichExtendedString: its UTF-8 length at most.
    fn string(&mut self) -> Option<u64> {
        let chars = usize::from(self.u16()?);
        let flags = self.byte()?;
        let runs = if flags & 0x08 != 0 { self.u16()? } else { 0 };
        let ext = if flags & 0x04 != 0 { self.u32()? } else { 0 };
        let mut wide = flags & 0x01 != 0;
        let mut left = chars;
        loop {
            let width = if wide { 2 } else { 1 };
            let here = left.min(self.left() / width);
            self.pos += here * width;
            left -= here;
            if left == 0 {
                break;
            }
            // The characters go on in the next piece, after a flags byte.
            self.part += 1;
            self.pos = 0;
            wide = self.byte()? & 0x01 != 0;
        }
        self.skip(usize::from(runs) * 4)?;
        self.skip(ext as usize)?;
        Some(chars as u64 * 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut r = typ.to_le_bytes().to_vec();
        r.extend((data.len() as u16).to_le_bytes());
        r.extend(data);
        r
    }

    #[test]
    fn shared_strings_are_measured_across_continue_records() {
        // Two strings: "abc" (Latin-1), then "dé" (UTF-16) broken after
        // one character into a CONTINUE that switches to Latin-1.
        let mut sst = vec![2, 0, 0, 0, 2, 0, 0, 0];
        sst.extend([3, 0, 0, b'a', b'b', b'c']);
        sst.extend([2, 0, 1, b'd', 0]);
        let cont = [0u8, 0xE9];
        assert_eq!(shared_string_lengths(&[&sst, &cont]), vec![9, 6]);
    }

    #[test]
    fn dimensions_are_read_as_calamine_reads_them() {
        let mut d = Vec::new();
        d.extend(0u32.to_le_bytes());
        d.extend(10u32.to_le_bytes());
        d.extend(0u16.to_le_bytes());
        d.extend(4u16.to_le_bytes());
        d.extend(0u16.to_le_bytes());
        assert_eq!(dimensions(&d).unwrap(), 40);
        // A first row past the last wraps calamine's count to billions.
        d[..4].copy_from_slice(&20u32.to_le_bytes());
        assert!(dimensions(&d).unwrap() > 1 << 31);
    }

    #[test]
    fn a_cut_short_stream_is_damaged_not_a_panic() {
        let limits = Limits::default();
        let mut stream = record(BOF, &[0; 16]);
        stream.extend(record(EOF, &[]));
        assert!(count(&stream, &limits).is_ok());
        assert!(count(&stream[..stream.len() - 1], &limits).is_err());
        let mut sheet = record(BOF, &[0; 16]);
        sheet.extend(record(NUMBER, &[0, 0]));
        sheet.extend(record(MULRK, &[0, 0, 1]));
        for cut in [&sheet[..], &sheet[..sheet.len() - 2]] {
            let mut globals = record(BOUNDSHEET, &[28, 0, 0, 0, 0, 0]);
            globals.extend(record(EOF, &[]));
            globals.extend(vec![0; 28 - globals.len()]);
            globals.extend(cut);
            assert!(count(&globals, &limits).is_err());
        }
    }
}
