//! The event export: NDJSON or CSV, streamed a page at a time (keyset
//! pagination on the event id), so memory stays flat however many events
//! there are.

use actix_web::web::Bytes;
use chrono::NaiveDateTime;
use futures_util::Stream;
use serde_json::json;

use crate::store::analytics::{EventRow, events_page};
use crate::store::{Db, StoreError};

/// Events read per database round trip.
pub const PAGE: i64 = 5_000;

pub const COLUMNS: [&str; 11] = [
    "id",
    "kind",
    "occurred_at",
    "user_id",
    "run_id",
    "version_id",
    "channel",
    "step",
    "scene",
    "experiment_id",
    "variation_id",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }
}

fn timestamp(at: &NaiveDateTime) -> String {
    at.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A CSV cell: quoted when needed, and never read as a formula by a
/// spreadsheet (a leading `=`, `+`, `-`, `@`, tab or CR gets a `'`).
pub fn csv_cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

fn fields(row: &EventRow) -> [String; 11] {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        row.0.to_string(),
        row.1.to_string(),
        timestamp(&row.2),
        row.3.clone(),
        row.4.clone(),
        row.5.clone(),
        row.6.clone(),
        opt(&row.7),
        opt(&row.8),
        opt(&row.9),
        opt(&row.10),
    ]
}

fn render(rows: &[EventRow], format: Format, out: &mut Vec<u8>) {
    for row in rows {
        let f = fields(row);
        match format {
            Format::Csv => {
                let line: Vec<String> = f.iter().map(|v| csv_cell(v)).collect();
                out.extend_from_slice(line.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Format::Ndjson => {
                let null_if_empty = |v: &str| if v.is_empty() { json!(null) } else { json!(v) };
                let value = json!({
                    "id": row.0, "kind": f[1], "occurred_at": f[2], "user_id": f[3],
                    "run_id": f[4], "version_id": f[5], "channel": f[6],
                    "step": null_if_empty(&f[7]), "scene": null_if_empty(&f[8]),
                    "experiment_id": null_if_empty(&f[9]), "variation_id": null_if_empty(&f[10]),
                });
                serde_json::to_writer(&mut *out, &value).expect("JSON serialises");
                out.push(b'\n');
            }
        }
    }
}

struct Cursor {
    after: i64,
    header: bool,
    done: bool,
}

/// The export as a stream of chunks, one page each.
pub fn stream(
    db: Db,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    format: Format,
) -> impl Stream<Item = Result<Bytes, StoreError>> {
    let start = Cursor {
        after: 0,
        header: format == Format::Csv,
        done: false,
    };
    futures_util::stream::unfold(start, move |mut cursor| {
        let db = db.clone();
        async move {
            if cursor.done {
                return None;
            }
            let mut out = Vec::new();
            if cursor.header {
                out.extend_from_slice(COLUMNS.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
                cursor.header = false;
            }
            let after = cursor.after;
            let page = match db
                .run(move |c| events_page(c, after, since, until, PAGE))
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    cursor.done = true;
                    return Some((Err(e), cursor));
                }
            };
            cursor.done = (page.len() as i64) < PAGE;
            if let Some(last) = page.last() {
                cursor.after = last.0;
            }
            render(&page, format, &mut out);
            Some((Ok(Bytes::from(out)), cursor))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_cells_quoted() {
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("ゆき"), "ゆき");
    }
}
