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

/// Which log an export reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Log {
    /// The scene events (`events`).
    Events,
    /// The outcome events (`outcomes`, docs/src/analytics.md "Outcomes and experiment results").
    Outcomes,
}

/// The columns of the outcome export, in CSV header order.
pub const OUTCOME_COLUMNS: [&str; 8] = [
    "id",
    "user_id",
    "event_id",
    "name",
    "value",
    "occurred_at",
    "received_at",
    "source",
];

fn render_outcomes(rows: &[crate::store::outcomes::OutcomeRow], format: Format, out: &mut Vec<u8>) {
    for r in rows {
        match format {
            Format::Csv => {
                let line = [
                    r.id.to_string(),
                    csv_cell(&r.user_id),
                    csv_cell(&r.event_id),
                    csv_cell(&r.name),
                    r.value.to_string(),
                    timestamp(&r.occurred_at),
                    timestamp(&r.received_at),
                    r.source.clone(),
                ];
                out.extend_from_slice(line.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Format::Ndjson => {
                let value = json!({
                    "id": r.id, "user_id": r.user_id, "event_id": r.event_id, "name": r.name,
                    "value": r.value, "occurred_at": timestamp(&r.occurred_at),
                    "received_at": timestamp(&r.received_at), "source": r.source,
                });
                serde_json::to_writer(&mut *out, &value).expect("JSON serialises");
                out.push(b'\n');
            }
        }
    }
}

/// One page of a log after `after`, rendered: the bytes, the last id, and
/// whether the page was full.
fn page(
    conn: &mut crate::store::AnyConnection,
    log: Log,
    after: i64,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    format: Format,
) -> Result<(Vec<u8>, Option<i64>, bool), StoreError> {
    let mut out = Vec::new();
    match log {
        Log::Events => {
            let rows = events_page(conn, after, since, until, PAGE)?;
            render(&rows, format, &mut out);
            Ok((out, rows.last().map(|r| r.0), rows.len() as i64 == PAGE))
        }
        Log::Outcomes => {
            let rows = crate::store::outcomes::page(conn, after, since, until, PAGE)?;
            render_outcomes(&rows, format, &mut out);
            Ok((out, rows.last().map(|r| r.id), rows.len() as i64 == PAGE))
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
    log: Log,
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
                let columns: &[&str] = match log {
                    Log::Events => &COLUMNS,
                    Log::Outcomes => &OUTCOME_COLUMNS,
                };
                out.extend_from_slice(columns.join(",").as_bytes());
                out.extend_from_slice(b"\r\n");
                cursor.header = false;
            }
            let after = cursor.after;
            let (bytes, last, full) = match db
                .run(move |c| page(c, log, after, since, until, format))
                .await
            {
                Ok(page) => page,
                Err(e) => {
                    cursor.done = true;
                    return Some((Err(e), cursor));
                }
            };
            cursor.done = !full;
            if let Some(last) = last {
                cursor.after = last;
            }
            out.extend_from_slice(&bytes);
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
