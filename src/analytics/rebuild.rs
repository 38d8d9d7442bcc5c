//! `sceneflow analytics rebuild [--version V]`: recompute the aggregates
//! from the event log after a restore or a change of definition, batch by
//! batch (bounded memory), while the service keeps aggregating new events
//! (docs/src/analytics.md "Analytics at scale").

use std::time::Duration;

use diesel::Connection;

use super::aggregator::{self, BATCH, LOCK_KEY, Pass};
use crate::store::aggregates::{self as agg, AGGREGATES};
use crate::store::{AnyConnection, StoreError};

/// Where a rebuild stands: events folded up to `done` of `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: i64,
    pub until: i64,
}

fn cursor_name(version: &str) -> String {
    format!("rebuild:{version}")
}

/// Run `work` in a transaction holding the aggregator's lock, waiting for it.
fn locked<T>(
    conn: &mut AnyConnection,
    mut work: impl FnMut(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    loop {
        let done = conn.transaction(|c| {
            if !agg::try_lock(c, LOCK_KEY)? {
                return Ok(None);
            }
            agg::touch_cursor(c, AGGREGATES)?;
            work(c).map(Some)
        })?;
        match done {
            Some(value) => return Ok(value),
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Forget the aggregates (of one version) and set the cursor back; the
/// events to fold are those up to the returned bound.
pub fn start(conn: &mut AnyConnection, version: Option<&str>) -> Result<Progress, StoreError> {
    let horizon = aggregator::horizon(conn)?;
    locked(conn, |c| {
        agg::clear(c, version)?;
        match version {
            None => {
                agg::set_cursor(c, AGGREGATES, 0, None)?;
                // The metrics' values are folded again too, from the first
                // outcome event, after the exposures.
                crate::store::outcomes::forget_all(c)?;
                agg::set_cursor(c, super::outcomes::OUTCOMES, 0, None)?;
                Ok(Progress {
                    done: 0,
                    until: horizon,
                })
            }
            Some(v) => {
                // Events past the aggregator's cursor are its job, as usual.
                let until = agg::cursor(c, AGGREGATES)?.map_or(0, |r| r.0);
                agg::set_cursor(c, &cursor_name(v), 0, Some(until))?;
                Ok(Progress { done: 0, until })
            }
        }
    })
}

/// Fold the next batch of the rebuild; `None` when it is complete.
pub fn step(
    conn: &mut AnyConnection,
    version: Option<&str>,
    until: i64,
) -> Result<Option<Progress>, StoreError> {
    match version {
        None => loop {
            match aggregator::step(conn, until, BATCH)? {
                Pass::Busy => std::thread::sleep(Duration::from_millis(50)),
                Pass::Folded { events, last_id } => {
                    return Ok((events > 0 && last_id < until).then_some(Progress {
                        done: last_id,
                        until,
                    }));
                }
            }
        },
        Some(v) => {
            let name = cursor_name(v);
            locked(conn, |c| {
                let Some((last_id, Some(until), _)) = agg::cursor(c, &name)? else {
                    return Ok(None);
                };
                let events = agg::events_after(c, last_id, Some(until), Some(v), BATCH)?;
                aggregator::fold(c, &events)?;
                match events.last() {
                    Some(e) if e.0 < until => {
                        agg::set_cursor(c, &name, e.0, Some(until))?;
                        Ok(Some(Progress { done: e.0, until }))
                    }
                    _ => {
                        agg::delete_cursor(c, &name)?;
                        Ok(None)
                    }
                }
            })
        }
    }
}

/// Rebuild to the end, reporting progress after each batch.
pub fn rebuild(
    conn: &mut AnyConnection,
    version: Option<&str>,
    mut progress: impl FnMut(Progress),
) -> Result<(), StoreError> {
    let start = start(conn, version)?;
    progress(start);
    while let Some(p) = step(conn, version, start.until)? {
        progress(p);
    }
    if version.is_none() {
        // The outcome events after the exposures: the metrics' values.
        let until = crate::store::outcomes::horizon(conn)?;
        loop {
            match aggregator::step_outcomes(conn, until, BATCH)? {
                Pass::Busy => std::thread::sleep(Duration::from_millis(50)),
                Pass::Folded { events, last_id } if events > 0 && last_id < until => {}
                Pass::Folded { .. } => break,
            }
        }
    }
    locked(conn, |c| agg::forget_gone_runs(c, version))?;
    progress(Progress {
        done: start.until,
        until: start.until,
    });
    Ok(())
}
