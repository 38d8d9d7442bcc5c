//! The aggregates equal a full recomputation from the event log, however
//! the log is cut into batches: random logs with QA resets (a `run_reset`
//! event, then a new run), jumps, loops and revisits, going back (`went_back`,
//! the funnel's "came back"), abandoned runs,
//! several versions and channels, exposures to both variants (a weight
//! change), and times out of order. The `runs` table is kept as the service
//! keeps it, so the funnel's "left" (from the aggregates) is checked against
//! the runs in progress.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sceneflow::analytics::{self, aggregator, oracle, rebuild};
use sceneflow::flow::{EventKind, RunStatus};
use sceneflow::store::FlowCache;
use sceneflow::store::column::Json;
use sceneflow::store::runs::{self, NewEvent, RunRow, record_events};
use sceneflow::store::{AnyConnection, Db, aggregates, testers};

use crate::support::{Backend, TestDb};

/// Version ids (12 hex digits: runs reference real versions).
const VERSIONS: [&str; 2] = ["00000000000a", "00000000000b"];
const CHANNELS: [&str; 2] = ["staging", "production"];
/// `went_back` is counted at its step, the one gone back to ("came back").
const KINDS: [EventKind; 6] = [
    EventKind::SceneShown,
    EventKind::Answered,
    EventKind::Exposure,
    EventKind::Completed,
    EventKind::RunReset,
    EventKind::WentBack,
];

fn steps() -> Vec<String> {
    ["welcome", "goal", "intro", "plan"]
        .map(String::from)
        .to_vec()
}

/// One raw event: kind, user, run of the user (a run on a channel where the
/// user has another one is a QA reset of that one first), step (or none),
/// variant, and a time offset in milliseconds.
type Raw = (usize, usize, usize, Option<usize>, usize, i64);

fn at(offset: i64) -> NaiveDateTime {
    let base = NaiveDateTime::parse_from_str("2026-11-01 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
    base + Duration::milliseconds(offset)
}

fn event(kind: EventKind, run: &RunRow, raw: &Raw) -> NewEvent {
    let &(_, _, _, step, variant, offset) = raw;
    let exposure = kind == EventKind::Exposure;
    NewEvent {
        kind,
        occurred_at: at(offset),
        user_id: run.user_id.clone(),
        run_id: run.id.clone(),
        version_id: run.version_id.clone(),
        channel: run.channel,
        step_key: step.map(|s| steps()[s].clone()),
        scene_key: None,
        experiment_id: exposure.then(|| "intro:pass_through".to_owned()),
        variation_id: exposure.then(|| ["intro_a", "intro_b"][variant].to_owned()),
        offline: false,
    }
}

/// The `runs` table as the service keeps it while writing these events: one
/// run per user and channel, moved by `scene_shown` (with a step), ended by
/// `completed`, deleted by a QA reset.
#[derive(Default)]
struct Runs {
    current: HashMap<(usize, &'static str), (usize, RunRow)>,
    started: usize,
}

impl Runs {
    /// The events one raw event stands for, with the runs table changed to match.
    fn play(&mut self, conn: &mut AnyConnection, raw: &Raw, out: &mut Vec<NewEvent>) {
        let &(kind, user, run, step, _, offset) = raw;
        // A run stays on one version and channel; a user's runs vary.
        let channel = CHANNELS[(run / 2) % 2];
        let key = (user, channel);
        let reset = KINDS[kind] == EventKind::RunReset;
        if let Some((r, row)) = self.current.get(&key)
            && (reset || *r != run)
        {
            out.push(NewEvent {
                step_key: row.step_key.clone(),
                ..event(EventKind::RunReset, row, raw)
            });
            testers::delete_run(conn, &row.id).unwrap();
            self.current.remove(&key);
        }
        if reset {
            return;
        }
        let started = &mut self.started;
        let (_, row) = self.current.entry(key).or_insert_with(|| {
            *started += 1;
            let row = RunRow {
                id: format!("user-{user}-run-{started}"),
                user_id: format!("user-{user}"),
                channel: sceneflow::store::channels::Channel::parse(channel).unwrap(),
                version_id: VERSIONS[run % 2].to_owned(),
                status: RunStatus::InProgress,
                step_key: None,
                scene_key: None,
                scene_id: Some("s".into()),
                shown: 0,
                answered: 0,
                attributes: Json::default(),
                answers: Json::default(),
                revision: 0,
                started_at: at(offset),
                updated_at: at(offset),
                completed_at: None,
                previous_answer: None,
            };
            runs::insert(conn, &row).unwrap();
            (run, row)
        });
        out.push(event(KINDS[kind], row, raw));
        let moved = match (KINDS[kind], step) {
            (EventKind::SceneShown, Some(step)) => {
                row.status = RunStatus::InProgress;
                row.step_key = Some(steps()[step].clone());
                row.scene_id = Some("s".into());
                row.completed_at = None;
                true
            }
            (EventKind::Completed, _) => {
                row.status = RunStatus::Completed;
                row.step_key = None;
                row.scene_id = None;
                row.completed_at = Some(at(offset));
                true
            }
            _ => false,
        };
        if moved {
            testers::delete_run(conn, &row.id).unwrap();
            runs::insert(conn, row).unwrap();
        }
    }
}

fn raw() -> impl Strategy<Value = Raw> {
    (
        0..KINDS.len(),
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
    conn.batch_execute("DELETE FROM events; DELETE FROM runs")
        .unwrap();
    aggregates::clear(conn, None).unwrap();
    aggregates::set_cursor(conn, aggregates::AGGREGATES, 0, None).unwrap();
}

fn incremental_aggregates_equal_a_full_recomputation(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(&backend, dir.path());
    let db = Db::new(&test_db.url, 2).unwrap();
    db.migrate().unwrap();
    {
        use diesel::connection::SimpleConnection;
        let mut conn = db.conn().unwrap();
        for v in VERSIONS {
            conn.batch_execute(&format!(
                "INSERT INTO versions (id, sha256, format, store_key, size_bytes, uploaded_by, \
                 created_at, report, step_count, scene_count, choice_count, warning_count) \
                 VALUES ('{v}', '{v}{}', 'xlsx', 'k', 1, 'test', CURRENT_TIMESTAMP, '{{}}', 1, 1, 0, 0)",
                "0".repeat(52)
            ))
            .unwrap();
        }
    }
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(&log(), |chunks| {
            let mut conn = db.conn().unwrap();
            reset(&mut conn);
            let mut runs = Runs::default();
            for (chunk, batch) in &chunks {
                let mut events = Vec::new();
                for raw in chunk {
                    runs.play(&mut conn, raw, &mut events);
                }
                record_events(&mut conn, &events).unwrap();
                aggregator::catch_up(&mut conn, *batch).unwrap();
                assert_equal(&mut conn);
            }
            // A rebuild of one version, then of everything, lands on the same figures.
            rebuild::rebuild(&mut conn, Some(VERSIONS[0]), |_| {}).unwrap();
            assert_equal(&mut conn);
            // A rebuild of one version while the aggregator folds newer events
            // of it: the rebuild's older events do not undo them.
            let started = rebuild::start(&mut conn, Some(VERSIONS[1])).unwrap();
            let (last, _) = chunks.last().unwrap();
            let mut events = Vec::new();
            for raw in last {
                runs.play(&mut conn, raw, &mut events);
            }
            record_events(&mut conn, &events).unwrap();
            aggregator::catch_up(&mut conn, 2).unwrap();
            while rebuild::step(&mut conn, Some(VERSIONS[1]), started.until)
                .unwrap()
                .is_some()
            {}
            assert_equal(&mut conn);
            rebuild::rebuild(&mut conn, None, |_| {}).unwrap();
            assert_equal(&mut conn);
            // A run deleted without an event (a reset from before resets were
            // recorded): a rebuild of its version no longer counts it.
            let silent = runs
                .current
                .values()
                .find(|(_, r)| r.status == RunStatus::InProgress && r.step_key.is_some());
            if let Some((_, row)) = silent {
                testers::delete_run(&mut conn, &row.id).unwrap();
                rebuild::rebuild(&mut conn, Some(&row.version_id), |_| {}).unwrap();
                assert_equal(&mut conn);
            }
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

/// The migration that keys the distinct-user sets by user first (docs/src/analytics.md
/// "Analytics at scale") keeps every member, and leaves one index on the
/// table, led by the user: the aggregator's lookups and inserts use it.
fn the_members_migration_keeps_every_member(backend: Backend) {
    use diesel::connection::SimpleConnection;
    use diesel::{QueryableByName, RunQueryDsl, sql_types::Text};

    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text)]
        line: String,
    }
    let lines = |conn: &mut AnyConnection, sql: &str| -> Vec<String> {
        diesel::sql_query(sql)
            .load::<Line>(conn)
            .unwrap()
            .into_iter()
            .map(|l| l.line)
            .collect()
    };
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(&backend, dir.path());
    let db = Db::new(&test_db.url, 1).unwrap();
    db.migrate().unwrap();
    let mut conn = db.conn().unwrap();
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    let migration = |file: &str| {
        std::fs::read_to_string(format!(
            "{}/migrations/{folder}/2026-11-30-000017_members_by_user/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    // Back to the layout before, with members of two users in two versions.
    conn.batch_execute(&migration("down.sql")).unwrap();
    conn.batch_execute(
        "INSERT INTO analytics_members \
         (version_id, channel, kind, step_key, variant, user_id, first_at) VALUES \
         ('00000000000a', 'production', 'started', '', '', 'u1', '2026-11-01 00:00:01'), \
         ('00000000000a', 'production', 'answered', 'goal', '', 'u1', '2026-11-01 00:00:02'), \
         ('00000000000a', '', 'exposure', 'exp', 'b', 'u2', '2026-11-01 00:00:03'), \
         ('00000000000b', 'staging', 'started', '', '', 'u1', '2026-11-01 00:00:04')",
    )
    .unwrap();
    let all = "SELECT version_id || '|' || channel || '|' || kind || '|' || step_key || '|' \
               || variant || '|' || user_id || '|' || first_at AS line \
               FROM analytics_members ORDER BY line";
    let before = lines(&mut conn, all);
    assert_eq!(before.len(), 4);
    conn.batch_execute(&migration("up.sql")).unwrap();
    assert_eq!(lines(&mut conn, all), before);
    let indexes = match backend {
        Backend::Sqlite => lines(
            &mut conn,
            "SELECT i.name || ':' || c.name AS line \
             FROM pragma_index_list('analytics_members') i, pragma_index_info(i.name) c \
             WHERE c.seqno = 0",
        ),
        Backend::Postgres(_) => lines(
            &mut conn,
            "SELECT indexname || ':' || a.attname AS line FROM pg_indexes p \
             JOIN pg_index x ON x.indexrelid = (quote_ident(p.indexname))::regclass \
             JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0] \
             WHERE p.tablename = 'analytics_members'",
        ),
    };
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    assert!(indexes[0].ends_with(":user_id"), "{indexes:?}");
    // The aggregator's lookup by user still finds them.
    let members = aggregates::members_of(&mut conn, &["u1"], &["00000000000a"]).unwrap();
    assert_eq!(members.len(), 2);
}

mod the_members_migration_keeps_every_member {
    #[test]
    fn sqlite() {
        super::the_members_migration_keeps_every_member(crate::support::Backend::Sqlite)
    }
    #[test]
    fn postgres() {
        if let Some(backend) = crate::support::Backend::postgres() {
            super::the_members_migration_keeps_every_member(backend)
        }
    }
}
