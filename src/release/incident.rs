//! The incident record (docs/src/rollouts.md "Incident record"): each automatic rollback
//! and each rescue, as the facts an on-call engineer pastes into an
//! incident report — what happened, when, the impact, the recovery — in
//! Markdown.

use crate::store::rollouts::IncidentRow;
use crate::words::IncidentKind;

/// One incident as Markdown: a heading, then what happened, when, the
/// impact and the recovery, with the figures.
pub fn markdown(r: &IncidentRow) -> String {
    let d = &r.details.0;
    let when = r.occurred_at.format("%Y-%m-%d %H:%M:%S UTC");
    match r.kind {
        IncidentKind::RolledBack => {
            let g = &d["guardrail"];
            let figures = |side: &str| {
                format!(
                    "{} runs, mean {}",
                    g[side]["users"],
                    g[side]["mean"]
                        .as_f64()
                        .map_or("n/a".into(), |m| format!("{m:.4}"))
                )
            };
            let ci = g["ci"]
                .as_array()
                .map(|c| {
                    let at = |i: usize| c.get(i).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
                    format!("[{:+.4}, {:+.4}]", at(0), at(1))
                })
                .unwrap_or_else(|| "n/a".into());
            format!(
                "### Rollout of {version} rolled back by a guardrail\n\n\
                 - **What happened:** the guardrail `{guardrail}` was breached during the rollout of {version} to {percent} % of new {channel} runs (begun {started}).\n\
                 - **When:** {when}.\n\
                 - **Figures:** new version {treatment}; previous version {control}; difference {difference}, sequential interval {ci} at alpha {alpha}.\n\
                 - **Impact:** {users} users started a run on {version}; {in_flight} of those runs were still in progress.\n\
                 - **Recovery:** new runs go to {to} again (automatic). Runs in progress on {version} stay there until rescued: `POST /admin/api/versions/{version}/rescue` `{{\"to\": \"{to}\", \"channel\": \"{channel}\", \"dry_run\": true}}`.\n",
                version = r.version_id,
                guardrail = r.guardrail.as_deref().unwrap_or("?"),
                percent = d["percent"].as_f64().map_or("?".into(), |p| format!("{p}")),
                channel = r.channel,
                started = d["rollout_started_at"].as_str().unwrap_or("?"),
                treatment = figures("treatment"),
                control = figures("control"),
                difference = g["difference"]
                    .as_f64()
                    .map_or("n/a".into(), |x| format!("{x:+.4}")),
                alpha = g["alpha"]
                    .as_f64()
                    .map_or("n/a".into(), |x| format!("{x:.4}")),
                users = d["impact"]["users"],
                in_flight = d["impact"]["in_flight"],
                to = r.to_version,
            )
        }
        IncidentKind::Rescued => {
            let by_step = d["by_step"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(step, n)| format!("{step}: {n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let stayed = d["stayed"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|s| format!("{}: {}", s["step"].as_str().unwrap_or("?"), s["runs"]))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into());
            format!(
                "### Runs rescued from {from} onto {to}\n\n\
                 - **What happened:** {actor} moved the in-progress {channel} runs pinned to {from} onto {to}, each at its step.\n\
                 - **When:** {when}.\n\
                 - **Runs rescued:** {moved} ({by_step}).\n\
                 - **Stayed on {from}** (their step is not in {to}): {stayed}.\n",
                from = r.version_id,
                to = r.to_version,
                actor = r.actor,
                channel = r.channel,
                moved = d["moved"],
            )
        }
    }
}
