//! Staged rollouts (docs/src/rollouts.md): production serves
//! a new version to a share of new runs, by the rollout bucket
//! ([`crate::flow::rollout`]), widens step by step, completes at 100 % or
//! ends aborted (by an admin) or rolled back (by a guardrail, see
//! [`crate::rollout`]). Runs in flight stay pinned to their version.

use diesel::Connection;
use serde::Serialize;

use super::{ReleaseError, Releases, find_version, point};
use crate::alerts::Severity;
use crate::store::channels::{self, Channel};
use crate::store::rollouts::{self, RolloutRow};
use crate::store::{AnyConnection, audit, now};
use crate::words::{AlertKind, AuditAction, RolloutState};

/// A rollout as `GET /admin/api/channels/production/rollout` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutView {
    pub version: String,
    pub previous: String,
    /// Share of new production runs sent to `version`, 0 < percent ≤ 100.
    pub percent: f64,
    pub state: RolloutState,
    pub started_at: chrono::NaiveDateTime,
    pub started_by: String,
    pub updated_at: chrono::NaiveDateTime,
    pub updated_by: String,
    pub ended_at: Option<chrono::NaiveDateTime>,
    /// When the guardrails were last judged.
    pub checked_at: Option<chrono::NaiveDateTime>,
    /// The last judgement: one entry per guardrail (docs/src/rollouts.md "Guardrails").
    pub guardrails: serde_json::Value,
}

impl From<RolloutRow> for RolloutView {
    fn from(r: RolloutRow) -> Self {
        RolloutView {
            version: r.version_id,
            previous: r.previous_id,
            percent: r.percent,
            state: r.state,
            started_at: r.started_at,
            started_by: r.started_by,
            updated_at: r.updated_at,
            updated_by: r.updated_by,
            ended_at: r.ended_at,
            checked_at: r.checked_at,
            guardrails: r.guardrails.0,
        }
    }
}

/// A rollout's percentage as the API takes it: a number in (0, 100] that
/// reaches at least one bucket (0.005 or more: the bucket counts hundredths).
pub fn check_percent(percent: f64) -> Result<f64, ReleaseError> {
    // Below 0.005 the rollout bucket's threshold is 0: nobody would be inside.
    if percent.is_finite()
        && percent > 0.0
        && percent <= 100.0
        && crate::flow::rollout::threshold(percent) > 0
    {
        Ok(percent)
    } else {
        Err(ReleaseError::InvalidPercent(percent))
    }
}

fn running(c: &mut AnyConnection) -> Result<RolloutRow, ReleaseError> {
    rollouts::running(c, Channel::Production)?.ok_or(ReleaseError::NoRollout)
}

fn percent_text(p: f64) -> String {
    format!("{p} %")
}

impl Releases {
    /// Begin a rollout of `version` to `percent` (below 100) of new
    /// production runs; the same approval rule as a publish. A share of 100
    /// is a publish ([`Releases::publish`]), and refused here.
    pub async fn roll_out(
        &self,
        version: &str,
        percent: f64,
        actor: &str,
    ) -> Result<RolloutView, ReleaseError> {
        let percent = check_percent(percent)?;
        if percent >= 100.0 {
            return Err(ReleaseError::InvalidPercent(percent));
        }
        let (v, a) = (version.to_owned(), actor.to_owned());
        let row = self
            .db
            .run_with(move |c| {
                c.transaction::<_, ReleaseError, _>(|c| {
                    find_version(c, &v)?;
                    if channels::approval(c, &v)?.is_none() {
                        return Err(ReleaseError::NotApproved(v.clone()));
                    }
                    if let Some(r) = rollouts::running(c, Channel::Production)? {
                        return Err(ReleaseError::RolloutRunning(r.version_id));
                    }
                    let current = channels::get(c, Channel::Production)?
                        .ok_or(ReleaseError::NothingToRollOutOver)?
                        .version_id;
                    if current == v {
                        return Err(ReleaseError::AlreadyServed(v.clone()));
                    }
                    rollouts::begin(c, Channel::Production, &v, &current, percent, &a, now())?;
                    audit::record(
                        c,
                        &a,
                        AuditAction::RolloutStart,
                        Some(&current),
                        Some(&v),
                        Some(&percent_text(percent)),
                    )?;
                    running(c)
                })
            })
            .await
            .map_err(|e| match e {
                // Another admin began one at the same moment.
                ReleaseError::Store(s) if s.is_unique_violation() => {
                    ReleaseError::RolloutRunning(version.to_owned())
                }
                other => other,
            })?;
        self.alerts.send(
            Severity::Info,
            AlertKind::Rollout,
            format!(
                "{actor} began rolling {version} out to {} of new production runs (the others stay on {})",
                percent_text(percent),
                row.previous_id
            ),
        );
        Ok(row.into())
    }

    /// The running rollout, else the newest one; [`ReleaseError::NoRollout`]
    /// when none ever ran.
    pub async fn rollout(&self) -> Result<RolloutView, ReleaseError> {
        self.db
            .run(|c| rollouts::latest(c, Channel::Production))
            .await?
            .map(RolloutView::from)
            .ok_or(ReleaseError::NoRollout)
    }

    /// Widen the running rollout to `percent` (never narrow); at 100 it
    /// completes: the version becomes production's.
    pub async fn widen(&self, percent: f64, actor: &str) -> Result<RolloutView, ReleaseError> {
        let percent = check_percent(percent)?;
        let a = actor.to_owned();
        let (row, moved, changed) = self
            .db
            .run_with(move |c| {
                c.transaction::<_, ReleaseError, _>(|c| {
                    let r = running(c)?;
                    let same = crate::flow::rollout::threshold(percent)
                        == crate::flow::rollout::threshold(r.percent);
                    if same && percent < 100.0 {
                        // Already there: nothing to change, audit or alert.
                        return Ok((r, None, false));
                    }
                    if percent < r.percent {
                        return Err(ReleaseError::Narrowing {
                            from: r.percent,
                            to: percent,
                        });
                    }
                    let at = now();
                    if percent < 100.0 {
                        rollouts::widen(c, r.id, percent, &a, at)?;
                        audit::record(
                            c,
                            &a,
                            AuditAction::RolloutWiden,
                            Some(&r.previous_id),
                            Some(&r.version_id),
                            Some(&percent_text(percent)),
                        )?;
                        return Ok((running(c)?, None, true));
                    }
                    rollouts::widen(c, r.id, 100.0, &a, at)?;
                    rollouts::end(c, r.id, RolloutState::Completed, &a, at)?;
                    let version = find_version(c, &r.version_id)?;
                    let moved = point(
                        c,
                        Channel::Production,
                        version,
                        &a,
                        AuditAction::RolloutComplete,
                    )?;
                    let row =
                        rollouts::latest(c, Channel::Production)?.ok_or(ReleaseError::NoRollout)?;
                    Ok((row, Some(moved), true))
                })
            })
            .await?;
        if let Some(moved) = moved {
            self.mirror(&moved.pointer).await;
        }
        if !changed {
            return Ok(row.into());
        }
        self.alerts.send(
            Severity::Info,
            AlertKind::Rollout,
            match row.state {
                RolloutState::Completed => format!(
                    "{actor} completed the rollout of {}: production serves it to every new run",
                    row.version_id
                ),
                _ => format!(
                    "{actor} widened the rollout of {} to {}",
                    row.version_id,
                    percent_text(percent)
                ),
            },
        );
        Ok(row.into())
    }

    /// Abort the running rollout: every new run goes to the previous
    /// version again; runs started on the new one stay on it (a rescue moves them).
    pub async fn abort(&self, actor: &str) -> Result<RolloutView, ReleaseError> {
        let a = actor.to_owned();
        let row = self
            .db
            .run_with(move |c| {
                c.transaction::<_, ReleaseError, _>(|c| {
                    let r = running(c)?;
                    rollouts::end(c, r.id, RolloutState::Aborted, &a, now())?;
                    audit::record(
                        c,
                        &a,
                        AuditAction::RolloutAbort,
                        Some(&r.version_id),
                        Some(&r.previous_id),
                        Some(&percent_text(r.percent)),
                    )?;
                    rollouts::latest(c, Channel::Production)?.ok_or(ReleaseError::NoRollout)
                })
            })
            .await?;
        self.alerts.send(
            Severity::Warning,
            AlertKind::Rollout,
            format!(
                "{actor} aborted the rollout of {}: new production runs go to {} again",
                row.version_id, row.previous_id
            ),
        );
        Ok(row.into())
    }
}
