//! The aggregates equal a full recomputation from the event log, however
//! the log is cut into batches: random logs with resets (new runs), jumps,
//! loops and revisits, abandoned runs, several versions and channels,
//! exposures to both variants (a weight change), and times out of order.

use chrono::{Duration, NaiveDateTime};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sceneflow::analytics::{self, aggregator, oracle, rebuild};
use sceneflow::store::FlowCache;
use sceneflow::store::runs::{NewEvent, record_events};
use sceneflow::store::{AnyConnection, Db, aggregates};

use crate::support::{Backend, TestDb};

const VERSIONS: [&str; 2] = ["v1", "v2"];
const CHANNELS: [&str; 2] = ["staging", "production"];
const KINDS: [&str; 4] = ["scene_shown", "answered", "exposure", "completed"];

fn steps() -> Vec<String> {
    ["welcome", "goal", "intro", "plan"]
        .map(String::from)
        .to_vec()
}

/// One raw event: kind, user, run of the user (a reset starts the next),
/// step (or none), variant, and a time offset in milliseconds.
type Raw = (usize, usize, usize, Option<usize>, usize, i64);

fn event(raw: &Raw) -> NewEvent {
    let &(kind, user, run, step, variant, offset) = raw;
    let base = NaiveDateTime::parse_from_str("2026-11-01 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
    let exposure = KINDS[kind] == "exposure";
    NewEvent {
        kind: KINDS[kind],
        occurred_at: base + Duration::milliseconds(offset),
        user_id: format!("user-{user}"),
        run_id: format!("user-{user}-run-{run}"),
        // A run stays on one version and channel; a user's runs vary.
        version_id: VERSIONS[run % 2].into(),
        channel: CHANNELS[(run / 2) % 2].into(),
        step_key: step.map(|s| steps()[s].clone()),
        scene_key: None,
        experiment_id: exposure.then(|| "intro:pass_through".to_owned()),
        variation_id: exposure.then(|| ["intro_a", "intro_b"][variant].to_owned()),
    }
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        0..4usize,
        0..6usize,
        0..4usize,
        prop::option::weighted(0.9, 0..4usize),
        0..2usize,
        0..600_000i64,
    )
}

/// The log, cut into chunks written one after another; each chunk is then
/// folded in batches of the given size.
fn log() -> impl Strategy<Value = Vec<(Vec<Raw>, i64)>> {
    prop::collection::vec((prop::collection::vec(raw(), 0..40), 1..9i64), 1..6)
}

fn assert_equal(conn: &mut AnyConnection) {
    let flows = FlowCache::default();
    for version in VERSIONS {
        for channel in CHANNELS {
            assert_eq!(
                analytics::funnel_of(conn, &steps(), version, channel).unwrap(),
                oracle::funnel(conn, &steps(), version, channel).unwrap(),
                "funnel of {version} on {channel}"
            );
        }
        assert_eq!(
            analytics::impact(conn, version).unwrap(),
            oracle::impact(conn, version).unwrap(),
            "impact of {version}"
        );
        assert_eq!(
            analytics::experiments(conn, &flows, Some(version)).unwrap(),
            oracle::experiments(conn, &flows, Some(version)).unwrap(),
            "experiments of {version}"
        );
    }
    assert_eq!(
        analytics::experiments(conn, &flows, None).unwrap(),
        oracle::experiments(conn, &flows, None).unwrap(),
    );
}

fn reset(conn: &mut AnyConnection) {
    use diesel::connection::SimpleConnection;
    conn.batch_execute("DELETE FROM events").unwrap();
    aggregates::clear(conn, None).unwrap();
    aggregates::set_cursor(conn, aggregates::AGGREGATES, 0, None).unwrap();
}

fn incremental_aggregates_equal_a_full_recomputation(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(&backend, dir.path());
    let db = Db::new(&test_db.url, 2).unwrap();
    db.migrate().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(&log(), |chunks| {
            let mut conn = db.conn().unwrap();
            reset(&mut conn);
            for (chunk, batch) in &chunks {
                let events: Vec<NewEvent> = chunk.iter().map(event).collect();
                record_events(&mut conn, &events).unwrap();
                aggregator::catch_up(&mut conn, *batch).unwrap();
                assert_equal(&mut conn);
            }
            // A rebuild of one version, then of everything, lands on the same figures.
            rebuild::rebuild(&mut conn, Some("v1"), |_| {}).unwrap();
            assert_equal(&mut conn);
            rebuild::rebuild(&mut conn, None, |_| {}).unwrap();
            assert_equal(&mut conn);
            Ok(())
        })
        .unwrap();
}

mod incremental_aggregates_equal_a_full_recomputation {
    #[test]
    fn sqlite() {
        super::incremental_aggregates_equal_a_full_recomputation(crate::support::Backend::Sqlite)
    }
    #[test]
    fn postgres() {
        if let Some(backend) = crate::support::Backend::postgres() {
            super::incremental_aggregates_equal_a_full_recomputation(backend)
        }
    }
}
