//! The warehouse sink: closed hours as Parquet under Hive-style partitions,
//! read back with the parquet reader and compared with the table; written
//! once; retention deletes only what was written.

use chrono::{Duration, NaiveDateTime, Timelike};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;
use sceneflow::analytics::{aggregator, sink};
use sceneflow::flow::EventKind;
use sceneflow::storage::{S3Settings, Storage};
use sceneflow::store::analytics::{EventRow, events_page};
use sceneflow::store::outcomes::NewOutcome;
use sceneflow::store::runs::{NewEvent, record_events};
use sceneflow::store::{Db, now};

use crate::on_both_backends;
use crate::support::{Backend, TestDb};

on_both_backends!(closed_hours_land_in_parquet_once_and_retention_trims_only_them);

fn event(n: usize, at: NaiveDateTime) -> NewEvent {
    NewEvent {
        kind: [
            EventKind::SceneShown,
            EventKind::Answered,
            EventKind::Exposure,
            EventKind::Completed,
        ][n % 4],
        occurred_at: at,
        user_id: format!("user-{}", n % 7),
        run_id: format!("run-{}", n % 7),
        version_id: "v1".into(),
        channel: sceneflow::store::channels::Channel::Production,
        step_key: (n % 4 != 3).then(|| format!("step_{}", n % 3)),
        scene_key: n.is_multiple_of(2).then(|| "scène ✓".to_owned()),
        experiment_id: (n % 4 == 2).then(|| "intro:pass_through".to_owned()),
        variation_id: (n % 4 == 2).then(|| "intro_b".to_owned()),
        offline: false,
    }
}

/// Every row of every part under `events/`, with its key.
fn read_back(root: &std::path::Path, keys: &[String]) -> Vec<EventRow> {
    let mut rows = Vec::new();
    for key in keys {
        let file = std::fs::File::open(root.join(key)).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let text = |i: usize| row.get_string(i).unwrap().clone();
            let maybe = |i: usize| row.get_string(i).ok().cloned();
            rows.push((
                row.get_long(0).unwrap(),
                EventKind::parse(&text(1)).unwrap(),
                chrono::DateTime::from_timestamp_micros(row.get_timestamp_micros(2).unwrap())
                    .unwrap()
                    .naive_utc(),
                text(3),
                text(4),
                text(5),
                text(6),
                maybe(7),
                maybe(8),
                maybe(9),
                maybe(10),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    rows
}

async fn closed_hours_land_in_parquet_once_and_retention_trims_only_them(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(&backend, dir.path());
    let db = Db::new(&test_db.url, 2).unwrap();
    db.migrate().unwrap();
    let root = dir.path().join("store");
    let storage = Storage::from_url(
        &format!("file://{}", root.display()),
        &S3Settings::default(),
    )
    .await
    .unwrap();
    let now = now();
    let hour = now.date().and_hms_opt(now.hour(), 0, 0).unwrap();
    // Three closed hours two days ago, and the open hour.
    let old = hour - Duration::days(2);
    let mut events: Vec<NewEvent> = (0..30)
        .map(|n| {
            event(
                n,
                old + Duration::minutes(25 * (n as i64 / 10) * 3 + n as i64),
            )
        })
        .collect();
    events.extend((30..34).map(|n| event(n, hour + Duration::seconds(n as i64))));
    let mut conn = db.conn().unwrap();
    record_events(&mut conn, &events).unwrap();
    let all = events_page(&mut conn, 0, None, None, 1000).unwrap();

    assert_eq!(sink::run_once(&db, &storage, now).await.unwrap(), 3);
    let keys = storage.list("events/").await.unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let first_key = sink::part_key(&all[..1]);
    // A plain number, so warehouse readers type the partition as one.
    let hour_part = first_key.split('/').nth(2).unwrap();
    assert_eq!(
        hour_part,
        format!("hour={}", all[0].2.format("%-H")),
        "{first_key}"
    );
    assert!(keys[0].starts_with(&first_key[..first_key.find("part-").unwrap()]));
    assert!(
        keys.iter().all(|k| k.starts_with("events/date=")
            && k.contains("/hour=")
            && k.contains("/part-")
            && k.ends_with(".parquet")),
        "{keys:?}"
    );
    // Closed hours only, every column as stored.
    assert_eq!(read_back(&root, &keys), all[..30].to_vec());

    // Once: nothing new, nothing rewritten.
    assert_eq!(sink::run_once(&db, &storage, now).await.unwrap(), 0);
    // A late event of a closed hour (an offline sync) gets a part of its own.
    record_events(&mut conn, &[event(40, old + Duration::minutes(1))]).unwrap();
    // The open hour's events wait for the hour to close.
    assert_eq!(sink::run_once(&db, &storage, now).await.unwrap(), 0);
    // `analytics status` says so: five behind, the next from the open hour.
    let status = sink::status(&mut conn).unwrap();
    let at_sink = status.iter().find(|p| p.consumer == "sink").unwrap();
    assert_eq!(at_sink.pending, 5, "{status:?}");
    assert_eq!(
        at_sink.next_event_at,
        Some(events[30].occurred_at),
        "{status:?}"
    );
    assert_eq!(at_sink.planned_until, None);
    let later = hour + Duration::hours(1);
    assert_eq!(sink::run_once(&db, &storage, later).await.unwrap(), 2);
    let keys = storage.list("events/").await.unwrap();
    let all = events_page(&mut conn, 0, None, None, 1000).unwrap();
    assert_eq!(read_back(&root, &keys), all);

    // Retention: only events written and folded, older than the limit.
    record_events(&mut conn, &[event(41, old)]).unwrap();
    aggregator::catch_up(&mut conn, 100).unwrap();
    let deleted = sink::trim(&mut conn, 1, now).unwrap();
    assert_eq!(deleted, 31);
    let left = events_page(&mut conn, 0, None, None, 1000).unwrap();
    assert_eq!(
        left.len(),
        5,
        "the open hour's four and the unwritten late one"
    );

    // Outcome events: parts of their own under outcomes/, by the hour they
    // happened in, once their hour of receipt has closed; never trimmed
    // (the metrics are rebuilt from them).
    let outcome = |n: usize, at: NaiveDateTime, received: NaiveDateTime| NewOutcome {
        user_id: format!("user-{n}"),
        event_id: format!("e{n}"),
        name: "purchase".into(),
        value: n as f64 + 0.99,
        occurred_at: at,
        received_at: received,
        source: "backend".into(),
    };
    let outcomes: Vec<NewOutcome> = (0..6)
        .map(|n| outcome(n, old + Duration::minutes(70 * n as i64), later))
        .chain([outcome(9, hour, hour + Duration::hours(2))])
        .collect();
    sceneflow::store::outcomes::insert(&mut conn, &outcomes).unwrap();
    let after_open = later + Duration::hours(1);
    assert!(sink::run_once(&db, &storage, after_open).await.unwrap() >= 1);
    let keys = storage.list("outcomes/").await.unwrap();
    assert!(
        keys.iter()
            .all(|k| k.starts_with("outcomes/date=") && k.contains("/hour=")),
        "{keys:?}"
    );
    let mut read: Vec<(i64, String, f64)> = Vec::new();
    for key in &keys {
        let file = std::fs::File::open(root.join(key)).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            read.push((
                row.get_long(0).unwrap(),
                row.get_string(1).unwrap().clone(),
                row.get_double(4).unwrap(),
            ));
        }
    }
    read.sort_by_key(|r| r.0);
    assert_eq!(
        read.len(),
        6,
        "the one received in the open hour waits: {read:?}"
    );
    assert!(
        read.iter()
            .all(|(_, user, value)| user.starts_with("user-") && value.fract() > 0.98)
    );
    sink::trim(&mut conn, 1, after_open).unwrap();
    assert_eq!(
        outcome_count(&mut conn),
        7,
        "the retention trims scene events only"
    );
}

fn outcome_count(conn: &mut sceneflow::store::AnyConnection) -> i64 {
    use diesel::prelude::*;
    sceneflow::store::outcomes::outcomes::table
        .count()
        .get_result(conn)
        .unwrap()
}
