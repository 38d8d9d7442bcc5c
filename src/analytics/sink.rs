//! The warehouse sink (`SCENEFLOW_EVENTS_SINK=store`): closed hours of the
//! event log written to the object store as Parquet under Hive-style
//! partitions, exactly once, and the database trimmed of what was written
//! after `SCENEFLOW_EVENTS_RETENTION_DAYS` (docs/src/analytics.md "The warehouse sink").
//!
//! A part is planned before it is written: the cursor `sink` records the id
//! range of the next part (`until_id`) in one transaction, the files are put
//! (each put is atomic: a temporary file renamed, or one S3 PUT), then a
//! second transaction moves the cursor. A crash in between replans nothing:
//! the same range gives the same bytes under the same keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{NaiveDateTime, Timelike};
use diesel::Connection;
use diesel::prelude::*;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;

use super::aggregator::{self, LOCK_KEY};
use crate::storage::{Storage, StorageError};
use crate::store::aggregates::{self as agg, AGGREGATES};
use crate::store::analytics::EventRow;
use crate::store::outcomes::OutcomeRow;
use crate::store::schema::events;
use crate::store::{AnyConnection, Db, StoreError};

/// The sink's cursor.
pub const SINK: &str = "sink";
const SINK_LOCK: i64 = LOCK_KEY + 1;
/// Events per part at most (memory bound of one pass).
const MAX_EVENTS: i64 = 100_000;

/// The Parquet schema of the files (docs/src/analytics.md "The warehouse sink").
pub const SCHEMA: &str = "message event {
  required int64 id;
  required binary kind (STRING);
  required int64 occurred_at (TIMESTAMP(MICROS,true));
  required binary user_id (STRING);
  required binary run_id (STRING);
  required binary version_id (STRING);
  required binary channel (STRING);
  optional binary step (STRING);
  optional binary scene (STRING);
  optional binary experiment_id (STRING);
  optional binary variation_id (STRING);
}";

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot write Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// The key of the part holding `events` (all of one hour). The hour is
/// written as a plain number (`hour=9`): Hive-partition readers type a
/// partition by its text, and DuckDB reads a zero-padded `09` as VARCHAR
/// but `9` as BIGINT (checked with DuckDB 1.x's `read_parquet(…,
/// hive_partitioning = true)`).
pub fn part_key(events: &[EventRow]) -> String {
    let (first, last) = (&events[0], &events[events.len() - 1]);
    format!(
        "events/date={}/hour={}/part-{}-{}.parquet",
        first.2.format("%Y-%m-%d"),
        first.2.hour(),
        first.0,
        last.0
    )
}

fn hour_of(at: NaiveDateTime) -> NaiveDateTime {
    at.date()
        .and_hms_opt(at.hour(), 0, 0)
        .expect("an hour exists")
}

/// Plan the next part: events after the cursor, in id order, up to the
/// first one of an hour not yet closed. `(after, until)`, or `None`.
fn plan(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Option<(i64, i64)>, StoreError> {
    let horizon = aggregator::horizon(conn)?;
    conn.transaction(|c| {
        if !agg::try_lock(c, SINK_LOCK)? {
            return Ok(None);
        }
        let (last, until) = match agg::cursor(c, SINK)? {
            Some((last, until, _)) => (last, until),
            None => {
                agg::set_cursor(c, SINK, 0, None)?;
                (0, None)
            }
        };
        if let Some(until) = until {
            return Ok(Some((last, until)));
        }
        let open = hour_of(now);
        let ids: Vec<(i64, NaiveDateTime)> = events::table
            .filter(events::id.gt(last))
            .filter(events::id.le(horizon))
            .order(events::id)
            .limit(MAX_EVENTS)
            .select((events::id, events::occurred_at))
            .load(c)?;
        let closed = ids.iter().take_while(|(_, at)| *at < open).last();
        match closed {
            Some(&(until, _)) => {
                agg::set_cursor(c, SINK, last, Some(until))?;
                Ok(Some((last, until)))
            }
            None => Ok(None),
        }
    })
}

/// The parts of a planned range, one per hour: key and Parquet bytes.
fn parts(
    conn: &mut AnyConnection,
    after: i64,
    until: i64,
) -> Result<Vec<(String, Vec<u8>)>, SinkError> {
    let rows = agg::events_after(conn, after, Some(until), None, MAX_EVENTS)?;
    let mut hours: BTreeMap<NaiveDateTime, Vec<EventRow>> = BTreeMap::new();
    for row in rows {
        hours.entry(hour_of(row.2)).or_default().push(row);
    }
    hours
        .into_values()
        .map(|rows| Ok((part_key(&rows), to_parquet(&rows)?)))
        .collect()
}

/// Events as one Parquet file: typed columns, Snappy, one row group.
pub fn to_parquet(rows: &[EventRow]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let schema = Arc::new(parquet::schema::parser::parse_message_type(SCHEMA)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("sceneflow".into())
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, props)?;
    let mut group = writer.next_row_group()?;
    let longs: [Vec<i64>; 2] = [
        rows.iter().map(|r| r.0).collect(),
        rows.iter()
            .map(|r| r.2.and_utc().timestamp_micros())
            .collect(),
    ];
    let text = |f: fn(&EventRow) -> &str| -> Vec<ByteArray> {
        rows.iter().map(|r| ByteArray::from(f(r))).collect()
    };
    let required: [Vec<ByteArray>; 5] = [
        text(|r| r.1.as_str()),
        text(|r| &r.3),
        text(|r| &r.4),
        text(|r| &r.5),
        text(|r| &r.6),
    ];
    let optional = |f: fn(&EventRow) -> Option<&str>| -> (Vec<ByteArray>, Vec<i16>) {
        let values = rows.iter().filter_map(f).map(ByteArray::from).collect();
        let levels = rows.iter().map(|r| i16::from(f(r).is_some())).collect();
        (values, levels)
    };
    let optionals = [
        optional(|r| r.7.as_deref()),
        optional(|r| r.8.as_deref()),
        optional(|r| r.9.as_deref()),
        optional(|r| r.10.as_deref()),
    ];
    // Columns in schema order: id, kind, occurred_at, five texts, four optionals.
    let mut column = 0;
    while let Some(mut writer) = group.next_column()? {
        match column {
            0 => {
                writer
                    .typed::<Int64Type>()
                    .write_batch(&longs[0], None, None)?;
            }
            2 => {
                writer
                    .typed::<Int64Type>()
                    .write_batch(&longs[1], None, None)?;
            }
            1 => {
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&required[0], None, None)?;
            }
            3..=6 => {
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&required[column - 2], None, None)?;
            }
            _ => {
                let (values, levels) = &optionals[column - 7];
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(values, Some(levels), None)?;
            }
        }
        writer.close()?;
        column += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(out)
}

fn commit(
    conn: &mut AnyConnection,
    cursor: &'static str,
    after: i64,
    until: i64,
) -> Result<(), StoreError> {
    conn.transaction(|c| {
        agg::touch_cursor(c, cursor)?;
        // Another instance may have committed the same part meanwhile.
        if matches!(agg::cursor(c, cursor)?, Some((l, Some(u), _)) if l == after && u == until) {
            agg::set_cursor(c, cursor, until, None)?;
        }
        Ok(())
    })
}

/// Where a consumer of the event log stands (docs/src/analytics.md "The warehouse sink",
/// `sceneflow analytics status`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    /// `aggregator` or `sink` (over the scene events), `aggregator_outcomes`
    /// or `sink_outcomes` (over the outcome events).
    pub consumer: &'static str,
    /// The last event id taken.
    pub last_id: i64,
    /// Events recorded after it: the lag in events.
    pub pending: i64,
    /// When the consumer last moved or checked (UTC).
    pub checked_at: NaiveDateTime,
    /// The time of the next event to take (UTC; for outcome events, when
    /// it was received), if any: the lag in time is now minus this. For the sink it is normally in the open hour,
    /// which is written once the hour closes.
    pub next_event_at: Option<NaiveDateTime>,
    /// The sink's part planned but not yet committed: ids up to this one.
    pub planned_until: Option<i64>,
}

/// Where the aggregator and the sink stand, for each that has started.
pub fn status(conn: &mut AnyConnection) -> Result<Vec<Progress>, StoreError> {
    use crate::store::outcomes::outcomes as o;
    let newest_event: Option<i64> = events::table
        .select(diesel::dsl::max(events::id))
        .first(conn)?;
    let newest_outcome: Option<i64> = o::table.select(diesel::dsl::max(o::id)).first(conn)?;
    let next_event = |c: &mut AnyConnection, after: i64| {
        events::table
            .filter(events::id.gt(after))
            .order(events::id)
            .select(events::occurred_at)
            .first(c)
            .optional()
    };
    let next_outcome = |c: &mut AnyConnection, after: i64| {
        o::table
            .filter(o::id.gt(after))
            .order(o::id)
            .select(o::received_at)
            .first(c)
            .optional()
    };
    type Next = dyn Fn(&mut AnyConnection, i64) -> diesel::QueryResult<Option<NaiveDateTime>>;
    let consumers: [(&str, &'static str, Option<i64>, &Next); 4] = [
        (AGGREGATES, "aggregator", newest_event, &next_event),
        (SINK, "sink", newest_event, &next_event),
        (
            super::outcomes::OUTCOMES,
            "aggregator_outcomes",
            newest_outcome,
            &next_outcome,
        ),
        (
            SINK_OUTCOMES,
            "sink_outcomes",
            newest_outcome,
            &next_outcome,
        ),
    ];
    let mut out = Vec::new();
    for (name, consumer, newest, next) in consumers {
        let Some((last_id, planned_until, checked_at)) = agg::cursor(conn, name)? else {
            continue;
        };
        out.push(Progress {
            consumer,
            last_id,
            pending: (newest.unwrap_or(0) - last_id).max(0),
            checked_at,
            next_event_at: next(conn, last_id)?,
            planned_until,
        });
    }
    Ok(out)
}

/// Events the aggregator and the sink have yet to take: `(consumer, events)`
/// for each that has started (docs/src/operations.md: `sceneflow_events_pending`).
pub fn pending(conn: &mut AnyConnection) -> Result<Vec<(&'static str, i64)>, StoreError> {
    Ok(status(conn)?
        .into_iter()
        .map(|p| (p.consumer, p.pending))
        .collect())
}

/// Delete the events the sink has written (and the aggregator folded) that
/// are older than the retention; the number deleted.
pub fn trim(conn: &mut AnyConnection, days: u64, now: NaiveDateTime) -> Result<usize, StoreError> {
    let written = agg::cursor(conn, SINK)?.map_or(0, |c| c.0);
    let folded = agg::cursor(conn, AGGREGATES)?.map_or(0, |c| c.0);
    let before = now - chrono::Duration::days(days as i64);
    Ok(diesel::delete(
        events::table
            .filter(events::id.le(written.min(folded)))
            .filter(events::occurred_at.lt(before)),
    )
    .execute(conn)?)
}

/// How a log is planned and cut into parts.
type Planner = fn(&mut AnyConnection, NaiveDateTime) -> Result<Option<(i64, i64)>, StoreError>;
type Cutter = fn(&mut AnyConnection, i64, i64) -> Result<Vec<(String, Vec<u8>)>, SinkError>;

/// Write every closed hour not written yet, of the scene events and then
/// of the outcome events; the number of parts written.
pub async fn run_once(db: &Db, storage: &Storage, now: NaiveDateTime) -> Result<usize, SinkError> {
    let logs: [(&'static str, &str, Planner, Cutter); 2] = [
        (SINK, "events", plan, parts),
        (SINK_OUTCOMES, "outcomes", plan_outcomes, outcome_parts),
    ];
    let mut written = 0;
    for (cursor, log, plan, parts) in logs {
        loop {
            let Some((after, until)) = db.clone().run(move |c| plan(c, now)).await? else {
                break;
            };
            let files = db.clone().run_with(move |c| parts(c, after, until)).await?;
            for (key, bytes) in files {
                let size = bytes.len();
                storage
                    .put(&key, bytes, "application/vnd.apache.parquet")
                    .await?;
                tracing::info!(%key, bytes = size, after, until, log, "events sink: part written");
                written += 1;
            }
            db.run(move |c| commit(c, cursor, after, until)).await?;
        }
    }
    Ok(written)
}

/// Run the sink (and the retention) every minute until the process stops.
pub async fn run(db: Db, storage: Storage, retention_days: Option<u64>) {
    let mut failing = false;
    loop {
        let now = crate::store::now();
        let mut result = run_once(&db, &storage, now).await.map(|_| ());
        if let (Ok(()), Some(days)) = (&result, retention_days) {
            result = db
                .run(move |c| trim(c, days, now))
                .await
                .map(|_| ())
                .map_err(SinkError::from);
        }
        match result {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::error!(error = %e, "the events sink failed; retrying");
            }
            Err(_) => {}
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// The sink's cursor over the outcome events.
pub const SINK_OUTCOMES: &str = "sink_outcomes";

/// The Parquet schema of the outcome parts (docs/src/analytics.md "The warehouse sink").
pub const OUTCOME_SCHEMA: &str = "message outcome {
  required int64 id;
  required binary user_id (STRING);
  required binary event_id (STRING);
  required binary name (STRING);
  required double value;
  required int64 occurred_at (TIMESTAMP(MICROS,true));
  required int64 received_at (TIMESTAMP(MICROS,true));
  required binary source (STRING);
}";

/// The key of the part holding `rows` (all of one hour of `occurred_at`).
pub fn outcome_part_key(rows: &[OutcomeRow]) -> String {
    let (first, last) = (&rows[0], &rows[rows.len() - 1]);
    format!(
        "outcomes/date={}/hour={}/part-{}-{}.parquet",
        first.occurred_at.format("%Y-%m-%d"),
        first.occurred_at.hour(),
        first.id,
        last.id
    )
}

/// Plan the next part of outcome events, as [`plan`] does for the scene
/// events: after the cursor in id order, up to the first one received in
/// the hour still open (an event's part is by the hour it happened in; a
/// late one gets a part of its own).
fn plan_outcomes(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<Option<(i64, i64)>, StoreError> {
    let horizon = crate::store::outcomes::horizon(conn)?;
    conn.transaction(|c| {
        if !agg::try_lock(c, SINK_LOCK)? {
            return Ok(None);
        }
        let (last, until) = match agg::cursor(c, SINK_OUTCOMES)? {
            Some((last, until, _)) => (last, until),
            None => {
                agg::set_cursor(c, SINK_OUTCOMES, 0, None)?;
                (0, None)
            }
        };
        if let Some(until) = until {
            return Ok(Some((last, until)));
        }
        let open = hour_of(now);
        let rows = crate::store::outcomes::after(c, last, horizon, MAX_EVENTS)?;
        let closed = rows.iter().take_while(|r| r.received_at < open).last();
        match closed {
            Some(r) => {
                agg::set_cursor(c, SINK_OUTCOMES, last, Some(r.id))?;
                Ok(Some((last, r.id)))
            }
            None => Ok(None),
        }
    })
}

fn outcome_parts(
    conn: &mut AnyConnection,
    after: i64,
    until: i64,
) -> Result<Vec<(String, Vec<u8>)>, SinkError> {
    let rows = crate::store::outcomes::after(conn, after, until, MAX_EVENTS)?;
    let mut hours: BTreeMap<NaiveDateTime, Vec<OutcomeRow>> = BTreeMap::new();
    for row in rows {
        hours.entry(hour_of(row.occurred_at)).or_default().push(row);
    }
    hours
        .into_values()
        .map(|rows| Ok((outcome_part_key(&rows), outcomes_to_parquet(&rows)?)))
        .collect()
}

/// Outcome events as one Parquet file: typed columns, Snappy, one row group.
pub fn outcomes_to_parquet(rows: &[OutcomeRow]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    use parquet::data_type::DoubleType;
    let schema = Arc::new(parquet::schema::parser::parse_message_type(OUTCOME_SCHEMA)?);
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("sceneflow".into())
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, props)?;
    let mut group = writer.next_row_group()?;
    let micros = |t: &NaiveDateTime| t.and_utc().timestamp_micros();
    let text = |f: fn(&OutcomeRow) -> &str| -> Vec<ByteArray> {
        rows.iter().map(|r| ByteArray::from(f(r))).collect()
    };
    let mut column = 0;
    while let Some(mut writer) = group.next_column()? {
        match column {
            0 => {
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                writer.typed::<Int64Type>().write_batch(&ids, None, None)?;
            }
            1 => {
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&text(|r| &r.user_id), None, None)?;
            }
            2 => {
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&text(|r| &r.event_id), None, None)?;
            }
            3 => {
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&text(|r| &r.name), None, None)?;
            }
            4 => {
                let values: Vec<f64> = rows.iter().map(|r| r.value).collect();
                writer
                    .typed::<DoubleType>()
                    .write_batch(&values, None, None)?;
            }
            5 => {
                let at: Vec<i64> = rows.iter().map(|r| micros(&r.occurred_at)).collect();
                writer.typed::<Int64Type>().write_batch(&at, None, None)?;
            }
            6 => {
                let at: Vec<i64> = rows.iter().map(|r| micros(&r.received_at)).collect();
                writer.typed::<Int64Type>().write_batch(&at, None, None)?;
            }
            _ => {
                writer
                    .typed::<ByteArrayType>()
                    .write_batch(&text(|r| &r.source), None, None)?;
            }
        }
        writer.close()?;
        column += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hour_of_a_part_is_a_plain_number() {
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
            .unwrap()
            .and_hms_opt(9, 5, 0)
            .unwrap();
        let row: EventRow = (
            7,
            crate::flow::EventKind::SceneShown,
            at,
            "u".into(),
            "r".into(),
            "v".into(),
            "production".into(),
            None,
            None,
            None,
            None,
        );
        assert_eq!(
            part_key(&[row]),
            "events/date=2026-12-07/hour=9/part-7-7.parquet"
        );
    }
}
