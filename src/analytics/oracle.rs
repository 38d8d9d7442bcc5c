//! The same figures as the aggregates, computed from the whole event log
//! (what the endpoints did before the aggregator). Its cost grows with
//! history, so nothing serves from it: the equality tests use it to check
//! the aggregates.

use std::collections::{BTreeMap, HashMap};

use super::{ChannelImpact, Experiment, Funnel, build_funnel, sketch};
use crate::flow::EventKind;
use crate::store::FlowCache;
use crate::store::analytics::{self as queries, StepTime};
use crate::store::{AnyConnection, StoreError};

/// The time-to-answer histogram from each user's first time seeing and
/// answering each step: `(step, bucket, users)`, sorted.
pub fn histogram(times: &[StepTime]) -> Vec<(String, i32, i64)> {
    type Firsts = (Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>);
    let mut firsts: HashMap<(&str, &str), Firsts> = HashMap::new();
    for (user, step, kind, at) in times {
        let Some(step) = step.as_deref() else {
            continue;
        };
        let entry = firsts.entry((user.as_str(), step)).or_default();
        match kind {
            EventKind::SceneShown => entry.0 = *at,
            _ => entry.1 = *at,
        }
    }
    let mut buckets: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for ((_, step), (shown, answered)) in firsts {
        if let (Some(s), Some(a)) = (shown, answered) {
            let bucket = sketch::bucket_of((a - s).num_milliseconds());
            *buckets.entry((step.to_owned(), bucket)).or_default() += 1;
        }
    }
    buckets.into_iter().map(|((s, b), n)| (s, b, n)).collect()
}

pub fn funnel(
    conn: &mut AnyConnection,
    steps: &[String],
    version: &str,
    channel: &str,
) -> Result<Funnel, StoreError> {
    Ok(build_funnel(
        version,
        channel,
        steps,
        // The funnel reads counter kinds, which name these event kinds.
        &queries::users_by_step(conn, version, channel)?
            .into_iter()
            .map(|(step, kind, users)| (step, kind.as_str().to_owned(), users))
            .collect::<Vec<_>>(),
        queries::started_and_completed(conn, version, channel)?,
        &queries::waiting_by_step(conn, version, channel)?,
        &histogram(&queries::step_times(conn, version, channel)?),
    ))
}

pub fn experiments(
    conn: &mut AnyConnection,
    flows: &FlowCache,
    version: Option<&str>,
) -> Result<Vec<Experiment>, StoreError> {
    let keep = |rows: Vec<queries::VariantCount>| -> Vec<queries::VariantCount> {
        rows.into_iter()
            .filter(|r| version.is_none_or(|v| r.0 == v))
            .collect()
    };
    let exposures = keep(queries::exposures(conn)?);
    let completions = keep(queries::exposed_completions(conn)?);
    super::assemble_experiments(conn, flows, &exposures, &completions)
}

pub fn impact(conn: &mut AnyConnection, version: &str) -> Result<Vec<ChannelImpact>, StoreError> {
    let (mut served, completed) = queries::impact(conn, version)?;
    let rescued = queries::rescued(conn, version)?;
    served.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(served
        .into_iter()
        .map(|(channel, users, first_seen, last_seen)| ChannelImpact {
            completed: completed
                .iter()
                .find(|(c, _)| *c == channel)
                .map_or(0, |c| c.1),
            rescued: rescued
                .iter()
                .find(|(c, _)| *c == channel)
                .map_or(0, |c| c.1),
            channel,
            users,
            first_seen,
            last_seen,
        })
        .collect())
}
