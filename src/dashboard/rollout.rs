//! The staged rollout on the dashboard (docs/src/rollouts.md): the
//! overview's panel (version, percent, since, by whom, guardrails) with
//! widen and abort for admins, the rescue's confirmation page with the dry
//! run's table, and the incident record. Every action goes through
//! [`crate::release`] and the run service, as the JSON API's do.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{CsrfForm, Nav, nav, redirect};
use super::session::Signed;
use super::{DashboardError, html};
use crate::onboarding::rescue::Rescue;
use crate::release::Action;
use crate::release::rollout::RolloutView;
use crate::state::AppState;
use crate::store::channels::Channel;
use crate::store::rollouts::IncidentRow;
use crate::words::RolloutState;

type Page = Result<HttpResponse, DashboardError>;

/// One guardrail's row on the panel.
pub struct GuardrailRow {
    pub name: String,
    pub new: String,
    pub previous: String,
    pub difference: String,
    pub interval: String,
    pub breached: bool,
}

/// The overview's rollout panel.
pub struct RolloutPanel {
    pub view: RolloutView,
    pub running: bool,
    pub since: String,
    pub checked: String,
    pub guardrails: Vec<GuardrailRow>,
    /// A rollout that ended badly: its stranded runs may be rescued.
    pub rescue: bool,
}

/// The newest rollout as the overview shows it; `None` when none ever ran.
pub async fn panel(state: &AppState) -> Result<Option<RolloutPanel>, DashboardError> {
    let view = match state.releases.rollout().await {
        Ok(view) => view,
        Err(crate::release::ReleaseError::NoRollout) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let rate = |kind: &serde_json::Value| kind == "binomial";
    let guardrails = view
        .guardrails
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let scale = if rate(&g["kind"]) { 100.0 } else { 1.0 };
            let unit = if rate(&g["kind"]) { " %" } else { "" };
            let side = |s: &serde_json::Value| {
                format!(
                    "{:.1}{unit} of {}",
                    s["mean"].as_f64().unwrap_or(0.0) * scale,
                    s["users"]
                )
            };
            GuardrailRow {
                name: g["name"].as_str().unwrap_or_default().to_owned(),
                new: side(&g["treatment"]),
                previous: side(&g["control"]),
                difference: g["difference"]
                    .as_f64()
                    .map_or("not judged yet".into(), |d| format!("{:+.1}", d * scale)),
                interval: g["ci"]
                    .as_array()
                    .map(|c| {
                        let at = |i: usize| c[i].as_f64().unwrap_or(f64::NAN) * scale;
                        format!("[{:+.1}, {:+.1}]", at(0), at(1))
                    })
                    .unwrap_or_default(),
                breached: g["breached"] == true,
            }
        })
        .collect();
    Ok(Some(RolloutPanel {
        running: view.state == RolloutState::Running,
        rescue: matches!(view.state, RolloutState::Aborted | RolloutState::RolledBack),
        since: view.started_at.format("%Y-%m-%d %H:%M").to_string(),
        checked: view.checked_at.map_or("not yet".into(), |t| {
            t.format("%Y-%m-%d %H:%M:%S").to_string()
        }),
        guardrails,
        view,
    }))
}

#[derive(Deserialize)]
pub struct WidenForm {
    #[serde(default)]
    csrf: String,
    percent: f64,
}

/// `POST /admin/rollout/widen`.
pub async fn widen(signed: Signed, state: web::Data<AppState>, form: web::Form<WidenForm>) -> Page {
    signed.require(Action::Publish.required_role())?;
    signed.check_csrf(&form.csrf)?;
    state.releases.widen(form.percent, &signed.name).await?;
    Ok(redirect("/admin?done=widen"))
}

/// `POST /admin/rollout/abort`.
pub async fn abort(signed: Signed, state: web::Data<AppState>, form: web::Form<CsrfForm>) -> Page {
    signed.require(Action::Rollback.required_role())?;
    signed.check_csrf(&form.csrf)?;
    state.releases.abort(&signed.name).await?;
    Ok(redirect("/admin?done=abort"))
}

#[derive(Template)]
#[template(path = "rescue.html")]
struct RescuePage {
    nav: Option<Nav>,
    csrf: String,
    plan: Rescue,
}

#[derive(Deserialize)]
pub struct RescueQuery {
    from: String,
    to: String,
}

/// `GET /admin/rescue?from=V&to=P`: the dry run's table and the button.
pub async fn confirm_rescue(
    signed: Signed,
    state: web::Data<AppState>,
    query: web::Query<RescueQuery>,
) -> Page {
    signed.require(Action::Publish.required_role())?;
    let RescueQuery { from, to } = query.into_inner();
    let plan = state
        .onboarding
        .rescue(from, to, Channel::Production, true, signed.name.clone())
        .await?;
    Ok(html(
        StatusCode::OK,
        &RescuePage {
            nav: nav(&signed),
            csrf: signed.csrf.clone(),
            plan,
        },
    ))
}

#[derive(Deserialize)]
pub struct RescueForm {
    #[serde(default)]
    csrf: String,
    from: String,
    to: String,
}

/// `POST /admin/rescue`: the move, then the incident record.
pub async fn rescue(
    signed: Signed,
    state: web::Data<AppState>,
    form: web::Form<RescueForm>,
) -> Page {
    signed.require(Action::Publish.required_role())?;
    signed.check_csrf(&form.csrf)?;
    let RescueForm { from, to, .. } = form.into_inner();
    let done = state
        .onboarding
        .rescue(from, to, Channel::Production, false, signed.name.clone())
        .await?;
    crate::onboarding::rescue::announce(&state.alerts, &signed.name, &done);
    Ok(redirect("/admin/incidents"))
}

/// An incident with its Markdown, for the page.
pub struct IncidentItem {
    pub row: IncidentRow,
    pub markdown: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    nav: Option<Nav>,
    incidents: Vec<IncidentItem>,
}

/// `GET /admin/incidents`.
pub async fn incidents(signed: Signed, state: web::Data<AppState>) -> Page {
    let rows = state
        .db
        .run(|c| crate::store::rollouts::incidents(c, 200))
        .await?;
    Ok(html(
        StatusCode::OK,
        &IncidentsPage {
            nav: nav(&signed),
            incidents: rows
                .into_iter()
                .map(|row| IncidentItem {
                    markdown: crate::release::incident::markdown(&row),
                    row,
                })
                .collect(),
        },
    ))
}
