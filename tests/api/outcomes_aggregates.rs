//! The metric aggregates, kept incrementally by the aggregator, equal a
//! recomputation from the logs (the exposures in `events`, the outcome
//! events in `outcomes`), whatever the order the two logs arrive and are
//! folded in, with metrics defined before, between and after the events.

use std::collections::HashMap;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sceneflow::analytics::{aggregator, outcomes as metrics, rebuild};
use sceneflow::flow::EventKind;
use sceneflow::store::outcomes::{self as store, MetricRow, NewOutcome};
use sceneflow::store::runs::{NewEvent, record_events};
use sceneflow::store::{AnyConnection, Db, aggregates};

use crate::support::{Backend, TestDb};

mod metric_aggregates_equal_a_recomputation_from_the_logs {
    #[test]
    fn sqlite() {
        super::metric_aggregates_equal_a_recomputation_from_the_logs(
            crate::support::Backend::Sqlite,
        )
    }
    #[test]
    fn postgres() {
        if let Some(backend) = crate::support::Backend::postgres() {
            super::metric_aggregates_equal_a_recomputation_from_the_logs(backend)
        }
    }
}

const USERS: usize = 6;
const EXPERIMENTS: [&str; 2] = ["intro:pass_through", "goal:female"];
const VARIANTS: [&str; 2] = ["a", "b"];
const NAMES: [&str; 2] = ["subscribed", "purchase"];

fn t0() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    /// An exposure of a user to a variant, at a minute.
    Expose(usize, usize, usize, i64),
    /// An outcome event of a user, a name, a value, at a minute.
    Outcome(usize, usize, i32, i64),
    /// The aggregator catches up, in batches of this size.
    Fold(i64),
    /// A metric is (re)defined: index into [`definitions`].
    Define(usize),
}

fn definitions() -> Vec<(&'static str, &'static str, &'static str, i32)> {
    vec![
        ("converted", "subscribed", "binomial", 2),
        ("bought", "purchase", "count", 1),
        ("revenue", "purchase", "mean", 3),
        ("revenue", "purchase", "mean", 1),
        ("converted", "subscribed", "count", 5),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..USERS, 0..EXPERIMENTS.len(), 0..VARIANTS.len(), 0..360i64)
            .prop_map(|(u, e, v, m)| Op::Expose(u, e, v, m)),
        5 => (0..USERS, 0..NAMES.len(), -3..20i32, 0..360i64)
            .prop_map(|(u, n, v, m)| Op::Outcome(u, n, v, m)),
        1 => (1..6i64).prop_map(Op::Fold),
        1 => (0..definitions().len()).prop_map(Op::Define),
    ]
}

fn define(conn: &mut AnyConnection, index: usize) {
    let (name, event, kind, hours) = definitions()[index];
    let row = MetricRow {
        name: name.into(),
        event: event.into(),
        kind: kind.into(),
        window_hours: hours,
        direction: "increase".into(),
        guardrail: false,
        description: String::new(),
        updated_at: t0(),
        updated_by: "test".into(),
    };
    conn.transaction(|c| {
        store::put_metric(c, &row)?;
        let until = aggregates::cursor(c, metrics::OUTCOMES)?.map_or(0, |r| r.0);
        metrics::build(c, name, until)
    })
    .unwrap();
}

fn reset(conn: &mut AnyConnection) {
    for table in [
        "events",
        "outcomes",
        "metrics",
        "analytics_members",
        "analytics_counts",
        "analytics_runs",
        "analytics_run_steps",
        "analytics_left",
        "analytics_durations",
        "analytics_cursors",
        "analytics_metric_values",
        "analytics_metric_stats",
    ] {
        diesel::sql_query(format!("DELETE FROM {table}"))
            .execute(conn)
            .unwrap();
    }
}

type Sums = HashMap<(String, String, String), (f64, f64)>;

/// The sums recomputed from the logs: first exposures from `events`, values
/// from every outcome event in the window.
fn recomputed(conn: &mut AnyConnection) -> Sums {
    use sceneflow::store::schema::events::dsl as e;
    let exposures: Vec<(String, Option<String>, Option<String>, NaiveDateTime)> = e::events
        .filter(e::kind.eq("exposure"))
        .select((
            e::user_id,
            e::experiment_id,
            e::variation_id,
            e::occurred_at,
        ))
        .load(conn)
        .unwrap();
    let mut first: HashMap<(String, String, String), NaiveDateTime> = HashMap::new();
    for (user, experiment, variant, at) in exposures {
        let key = (user, experiment.unwrap(), variant.unwrap());
        let slot = first.entry(key).or_insert(at);
        *slot = (*slot).min(at);
    }
    let outcomes: Vec<store::OutcomeRow> = store::outcomes::table.load(conn).unwrap();
    let mut sums = Sums::new();
    for row in store::metrics_list(conn).unwrap() {
        let metric = metrics::Metric::from_row(&row).unwrap();
        for ((user, experiment, variant), at) in &first {
            let value = outcomes
                .iter()
                .filter(|o| {
                    &o.user_id == user
                        && o.name == metric.event
                        && metric.covers(*at, o.occurred_at)
                })
                .fold(0.0, |v, o| metric.next(v, o.value));
            let sum = sums
                .entry((metric.name.clone(), experiment.clone(), variant.clone()))
                .or_default();
            sum.0 += value;
            sum.1 += value * value;
        }
    }
    sums.retain(|_, (s, q)| *s != 0.0 || *q != 0.0);
    sums
}

fn kept(conn: &mut AnyConnection) -> Sums {
    let mut sums = Sums::new();
    for row in store::metrics_list(conn).unwrap() {
        for experiment in EXPERIMENTS {
            for (variant, sum, squares) in store::stats(conn, &row.name, "v1", experiment).unwrap()
            {
                if sum != 0.0 || squares != 0.0 {
                    sums.insert(
                        (row.name.clone(), experiment.into(), variant),
                        (sum, squares),
                    );
                }
            }
        }
    }
    sums
}

fn assert_equal(conn: &mut AnyConnection, ops: &[Op]) {
    let (want, got) = (recomputed(conn), kept(conn));
    let close = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 1e-6 && (a.1 - b.1).abs() < 1e-6;
    assert_eq!(want.len(), got.len(), "{want:?} != {got:?} after {ops:?}");
    for (key, value) in &want {
        let kept = got.get(key).copied().unwrap_or_default();
        assert!(
            close(*value, kept),
            "{key:?}: {value:?} != {kept:?} after {ops:?}"
        );
    }
}

fn metric_aggregates_equal_a_recomputation_from_the_logs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(&backend, dir.path());
    let db = Db::new(&test_db.url, 2).unwrap();
    db.migrate().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 32,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 1..60), |ops| {
            let mut conn = db.conn().unwrap();
            reset(&mut conn);
            for (n, op) in ops.iter().enumerate() {
                match op {
                    Op::Expose(u, e, v, m) => {
                        let event = NewEvent {
                            kind: EventKind::Exposure,
                            occurred_at: t0() + Duration::minutes(*m),
                            user_id: format!("u{u}"),
                            run_id: format!("r{u}"),
                            version_id: "v1".into(),
                            channel: sceneflow::store::channels::Channel::Production,
                            step_key: Some(EXPERIMENTS[*e].split(':').next().unwrap().into()),
                            scene_key: Some(VARIANTS[*v].into()),
                            experiment_id: Some(EXPERIMENTS[*e].into()),
                            variation_id: Some(VARIANTS[*v].into()),
                            offline: false,
                        };
                        record_events(&mut conn, &[event]).unwrap();
                    }
                    Op::Outcome(u, name, value, m) => {
                        let row = NewOutcome {
                            user_id: format!("u{u}"),
                            event_id: format!("e{n}"),
                            name: NAMES[*name].into(),
                            value: f64::from(*value) / 2.0,
                            occurred_at: t0() + Duration::minutes(*m),
                            received_at: t0(),
                            source: "app".into(),
                        };
                        store::insert(&mut conn, &[row]).unwrap();
                    }
                    Op::Fold(batch) => {
                        aggregator::catch_up(&mut conn, *batch).unwrap();
                    }
                    Op::Define(index) => define(&mut conn, *index),
                }
            }
            aggregator::catch_up(&mut conn, 3).unwrap();
            assert_equal(&mut conn, &ops);
            // A full rebuild lands on the same sums.
            rebuild::rebuild(&mut conn, None, |_| {}).unwrap();
            assert_equal(&mut conn, &ops);
            Ok(())
        })
        .unwrap();
}
