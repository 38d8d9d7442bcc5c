//! Guardrails that act (docs/src/rollouts.md): every
//! instance judges the running rollout's guardrails on a timer
//! (`SCENEFLOW_ROLLOUT_CHECK_MS`); on a breach the rollout is rolled back
//! at once (new runs go to the previous version), the audit log and the
//! incident record name the guardrail with its figures and the impact
//! scope, and an alert goes out. `SCENEFLOW_ROLLOUT_AUTO_ABORT=false`
//! makes a breach alert only. The judging itself is
//! [`crate::analytics::guardrails`]; this module reads the figures and acts.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::Connection;
use serde_json::json;

use super::rollout::RolloutView;
use super::{ReleaseError, Releases};
use crate::alerts::Severity;
use crate::analytics::comparison::{Kind, Summary};
use crate::analytics::guardrails::{self, Judged, Observed};
use crate::analytics::outcomes::Metric;
use crate::flow::RunStatus;
use crate::store::rollouts::{self, NewIncident, RolloutRow};
use crate::store::{AnyConnection, StoreError, audit, now, outcomes};
use crate::words::{AlertKind, AuditAction, Channel, Direction, IncidentKind, RolloutState};

/// How guardrails are judged (docs/src/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardSettings {
    /// Time between two judgements on an instance; zero: this instance
    /// does not judge.
    pub interval: Duration,
    /// Roll back on a breach (else alert only).
    pub auto_abort: bool,
}

impl Default for GuardSettings {
    fn default() -> Self {
        GuardSettings {
            interval: Duration::from_secs(60),
            auto_abort: true,
        }
    }
}

/// The actor the audit log names for what a guardrail did.
pub const GUARDRAIL: &str = "guardrail";

/// The figures of one judgement: the guardrails and the impact scope.
struct Figures {
    observed: Vec<Observed>,
    /// Runs started on the new version since the rollout began.
    met: i64,
    /// Of those, runs still in progress.
    in_flight: i64,
}

/// Read the figures of rollout `r`.
fn figures(c: &mut AnyConnection, r: &RolloutRow) -> Result<Figures, StoreError> {
    let versions = [r.previous_id.as_str(), r.version_id.as_str()];
    let runs = rollouts::run_figures(c, r.channel, &versions, r.started_at)?;
    let answered = rollouts::answered_steps(c, r.channel, &versions, r.started_at)?;
    let steps = rollouts::shared_steps(c, &r.version_id, &r.previous_id)?;
    let metrics: Vec<Metric> = outcomes::metrics_list(c)?
        .iter()
        .filter_map(Metric::from_row)
        .filter(|m| m.guardrail)
        .collect();
    let metric_sums = if metrics.is_empty() {
        HashMap::new()
    } else {
        metric_summaries(c, r, &metrics)?
    };
    let side = |v: &str| Tally::of(v, &runs, &answered);
    let (control, treatment) = (side(&r.previous_id), side(&r.version_id));
    let mut observed = vec![Observed {
        name: "completed".into(),
        kind: Kind::Binomial,
        direction: Direction::Increase,
        control: binomial(control.runs, control.completed),
        treatment: binomial(treatment.runs, treatment.completed),
    }];
    for m in &metrics {
        let sums = |v: &str, runs: i64| {
            let (sum, sum_squares) = metric_sums
                .get(&(m.name.clone(), v.to_owned()))
                .copied()
                .unwrap_or((0.0, 0.0));
            Summary {
                users: runs.max(0) as u64,
                sum,
                sum_squares,
            }
        };
        observed.push(Observed {
            name: format!("metric:{}", m.name),
            kind: m.kind,
            direction: m.direction,
            control: sums(&r.previous_id, control.runs),
            treatment: sums(&r.version_id, treatment.runs),
        });
    }
    for step in &steps {
        let at = |t: &Tally| {
            let left = t.waiting.get(step).copied().unwrap_or(0);
            let reached = left + t.answered.get(step).copied().unwrap_or(0);
            binomial(reached, left)
        };
        observed.push(Observed {
            name: format!("drop_off:{step}"),
            kind: Kind::Binomial,
            direction: Direction::Decrease,
            control: at(&control),
            treatment: at(&treatment),
        });
    }
    Ok(Figures {
        observed,
        met: treatment.runs,
        in_flight: treatment.runs - treatment.completed,
    })
}

/// One side's runs: how many, completed, waiting at each step (in
/// progress there), and how many answered each step.
#[derive(Default)]
struct Tally {
    runs: i64,
    completed: i64,
    waiting: HashMap<String, i64>,
    answered: HashMap<String, i64>,
}

impl Tally {
    fn of(
        version: &str,
        runs: &[rollouts::RunFigure],
        answered: &[(String, String, i64)],
    ) -> Tally {
        let mut t = Tally::default();
        for (_, status, step, n) in runs.iter().filter(|r| r.0 == version) {
            t.runs += n;
            match (status, step) {
                (RunStatus::Completed, _) => t.completed += n,
                (_, Some(step)) => *t.waiting.entry(step.clone()).or_default() += n,
                _ => {}
            }
        }
        for (_, step, n) in answered.iter().filter(|a| a.0 == version) {
            *t.answered.entry(step.clone()).or_default() += n;
        }
        t
    }
}

fn binomial(users: i64, conversions: i64) -> Summary {
    let (users, conversions) = (users.max(0), conversions.max(0));
    Summary {
        users: users as u64,
        sum: conversions as f64,
        sum_squares: conversions as f64,
    }
}

/// Per (metric, version): `(Σy, Σy²)` of the runs' values.
type Sums = HashMap<(String, String), (f64, f64)>;

/// Per (metric, version): the sum of the runs' values and of their
/// squares, each run's value taken over its metric window from its start.
fn metric_summaries(
    c: &mut AnyConnection,
    r: &RolloutRow,
    metrics: &[Metric],
) -> Result<Sums, StoreError> {
    let versions = [r.previous_id.as_str(), r.version_id.as_str()];
    let runs = rollouts::started(c, r.channel, &versions, r.started_at)?;
    let users: Vec<&str> = runs.iter().map(|(_, u, _)| u.as_str()).collect();
    let names: Vec<&str> = metrics.iter().map(|m| m.event.as_str()).collect();
    let events = outcomes::of_users(c, &users, &names, i64::MAX)?;
    let mut by_user: HashMap<&str, Vec<&outcomes::OutcomeRow>> = HashMap::new();
    for e in &events {
        by_user.entry(e.user_id.as_str()).or_default().push(e);
    }
    let mut out = Sums::new();
    for m in metrics {
        for (version, user, started) in &runs {
            let value = run_value(m, *started, by_user.get(user.as_str()));
            let entry = out.entry((m.name.clone(), version.clone())).or_default();
            entry.0 += value;
            entry.1 += value * value;
        }
    }
    Ok(out)
}

fn run_value(
    m: &Metric,
    started: NaiveDateTime,
    events: Option<&Vec<&outcomes::OutcomeRow>>,
) -> f64 {
    events
        .into_iter()
        .flatten()
        .filter(|e| e.name == m.event && m.covers(started, e.occurred_at))
        .fold(0.0, |v, e| m.next(v, e.value))
}

/// A guardrail's figures in words, for the alert, the audit log and the
/// incident record.
pub fn describe(j: &Judged) -> String {
    // Rates in percent and their difference in percentage points; other
    // values in their own unit.
    let (scale, unit, diff_unit) = match j.kind {
        Kind::Binomial => (100.0, " %", " points"),
        _ => (1.0, "", ""),
    };
    let difference = j
        .difference
        .map_or("n/a".into(), |d| format!("{:+.2}{diff_unit}", d * scale));
    let ci = j.ci.map_or("n/a".into(), |c| {
        format!("[{:+.2}, {:+.2}]{diff_unit}", c[0] * scale, c[1] * scale)
    });
    format!(
        "{}: {:.2}{unit} on the new version ({} runs) against {:.2}{unit} on the previous ({} runs), difference {difference}, interval {ci} at alpha {:.4}",
        j.name,
        j.treatment.mean * scale,
        j.treatment.users,
        j.control.mean * scale,
        j.control.users,
        j.alpha
    )
}

/// What one judgement did.
enum Verdict {
    Fine,
    /// Breached, and this instance rolled the rollout back.
    RolledBack {
        guardrail: Judged,
        met: i64,
        in_flight: i64,
    },
    /// Breached with auto-abort off, first seen now.
    Alert {
        guardrail: Judged,
        met: i64,
        in_flight: i64,
    },
}

impl Releases {
    /// Judge the running rollout's guardrails now, keep the judgement, and
    /// act on a breach as `settings` say. `None` when no rollout runs.
    pub async fn check_guardrails(
        &self,
        settings: GuardSettings,
    ) -> Result<Option<RolloutView>, ReleaseError> {
        let outcome = self
            .db
            .run_with(move |c| -> Result<_, ReleaseError> {
                let Some(r) = rollouts::running(c, Channel::Production)? else {
                    return Ok(None);
                };
                let f = figures(c, &r)?;
                let judged = guardrails::judge(&f.observed, guardrails::ALPHA);
                let at = now();
                let seen_before = |name: &str| {
                    r.guardrails.as_array().is_some_and(|list| {
                        list.iter()
                            .any(|g| g["name"] == name && g["breached"] == true)
                    })
                };
                let verdict = c.transaction::<_, ReleaseError, _>(|c| {
                    rollouts::judged(
                        c,
                        r.id,
                        &serde_json::to_value(&judged).unwrap_or_default(),
                        at,
                    )?;
                    let Some(breach) = guardrails::breached(&judged).cloned() else {
                        return Ok(Verdict::Fine);
                    };
                    if !settings.auto_abort {
                        return Ok(if seen_before(&breach.name) {
                            Verdict::Fine
                        } else {
                            Verdict::Alert {
                                guardrail: breach,
                                met: f.met,
                                in_flight: f.in_flight,
                            }
                        });
                    }
                    if !rollouts::end(c, r.id, RolloutState::RolledBack, GUARDRAIL, at)? {
                        // Another instance rolled it back first.
                        return Ok(Verdict::Fine);
                    }
                    let words = describe(&breach);
                    audit::record(
                        c,
                        GUARDRAIL,
                        AuditAction::RolloutRolledBack,
                        Some(&r.version_id),
                        Some(&r.previous_id),
                        Some(&words),
                    )?;
                    rollouts::record_incident(
                        c,
                        NewIncident {
                            kind: IncidentKind::RolledBack,
                            at,
                            actor: GUARDRAIL,
                            channel: r.channel,
                            version: &r.version_id,
                            to_version: &r.previous_id,
                            guardrail: Some(&breach.name),
                            details: json!({
                                "percent": r.percent,
                                "rollout_started_at": r.started_at,
                                "guardrail": breach,
                                "guardrails": judged,
                                "impact": {"users": f.met, "in_flight": f.in_flight},
                            }),
                        },
                    )?;
                    Ok(Verdict::RolledBack {
                        guardrail: breach,
                        met: f.met,
                        in_flight: f.in_flight,
                    })
                })?;
                let view = rollouts::latest(c, Channel::Production)?.map(RolloutView::from);
                Ok(Some((view, verdict, r.version_id, r.previous_id)))
            })
            .await?;
        let Some((view, verdict, version, previous)) = outcome else {
            return Ok(None);
        };
        match verdict {
            Verdict::Fine => {}
            Verdict::RolledBack {
                guardrail,
                met,
                in_flight,
            } => self.alerts.send(
                Severity::Critical,
                AlertKind::GuardrailBreached,
                format!(
                    "guardrail breached, rollout of {version} rolled back: new production runs go to {previous}. {}. Impact: {met} users met {version}, {in_flight} still in flight on it (POST /admin/api/versions/{version}/rescue moves them).",
                    describe(&guardrail)
                ),
            ),
            Verdict::Alert {
                guardrail,
                met,
                in_flight,
            } => self.alerts.send(
                Severity::Critical,
                AlertKind::GuardrailBreached,
                format!(
                    "guardrail breached during the rollout of {version} (SCENEFLOW_ROLLOUT_AUTO_ABORT=false: not rolled back). {}. Impact: {met} users met {version}, {in_flight} still in flight on it.",
                    describe(&guardrail)
                ),
            ),
        }
        Ok(view)
    }
}

/// Judge the running rollout every `settings.interval`, until cancelled.
pub async fn watch(releases: Releases, settings: GuardSettings) {
    let mut tick = tokio::time::interval(settings.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = releases.check_guardrails(settings).await {
            tracing::warn!(error = %e, "could not judge the rollout's guardrails");
        }
    }
}
