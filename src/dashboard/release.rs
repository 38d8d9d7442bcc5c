//! The release actions on the dashboard: a confirmation page, then the
//! form that deploys, approves, publishes or rolls back through
//! [`crate::release`], with the role each action needs.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::pages::{CsrfForm, Nav, nav, redirect};
use super::session::Signed;
use super::versions::{diff_against_production, load};
use super::{DashboardError, html};
use crate::error::ApiError;
use crate::flow::diff::FlowDiff;
use crate::release::Action;
use crate::state::AppState;
use crate::store::channels;

type Page = Result<HttpResponse, DashboardError>;

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Option<Nav>,
    csrf: String,
    title: String,
    text: String,
    action: String,
    button: String,
    style: &'static str,
    diff: Option<FlowDiff>,
    version: String,
    against: String,
}

/// An action on a version named in the URL (rollback has its own page).
fn version_action(raw: &str) -> Result<Action, DashboardError> {
    match Action::parse(raw) {
        Some(Action::Rollback) | None => {
            Err(ApiError::NotFound(format!("there is no action '{raw}'")).into())
        }
        Some(action) => Ok(action),
    }
}

pub async fn confirm(
    signed: Signed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Page {
    let (id, raw) = path.into_inner();
    let action = version_action(&raw)?;
    signed.require(action.required_role())?;
    let loaded = load(&state, &id).await?;
    let (title, text, button, style) = match action {
        Action::Deploy => (
            format!("Deploy {id} to staging?"),
            "Testers are served staging. Runs already in progress stay on their version.",
            "Deploy to staging",
            "primary",
        ),
        Action::Approve => (
            format!("Approve {id}?"),
            "Approve only after testing this version on staging. An admin can then publish exactly this version.",
            "Approve",
            "success",
        ),
        Action::Publish | Action::Rollback => (
            format!("Publish {id} to production?"),
            "Every new run in production starts on this version; runs in progress finish on theirs.",
            "Publish to production",
            "danger",
        ),
    };
    let (diff, against) = if action == Action::Publish {
        let (d, a) = diff_against_production(&state, &loaded).await?;
        (Some(d), a)
    } else {
        (None, String::new())
    };
    Ok(html(
        StatusCode::OK,
        &ConfirmPage {
            nav: nav(&signed),
            csrf: signed.csrf.clone(),
            title,
            text: text.to_owned(),
            action: format!("/admin/versions/{id}/{raw}"),
            button: button.to_owned(),
            style,
            diff,
            version: id,
            against,
        },
    ))
}

pub async fn act(
    signed: Signed,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Page {
    let (id, raw) = path.into_inner();
    let action = version_action(&raw)?;
    signed.require(action.required_role())?;
    signed.check_csrf(&form.csrf)?;
    match action {
        Action::Deploy => {
            state.releases.deploy_staging(&id, &signed.name).await?;
        }
        Action::Approve => {
            state.releases.approve(&id, &signed.name).await?;
        }
        Action::Publish => {
            state.releases.publish(&id, &signed.name).await?;
        }
        Action::Rollback => {
            state.releases.rollback(&signed.name).await?;
        }
    }
    Ok(redirect(&format!("/admin/versions/{id}?done={raw}")))
}

pub async fn confirm_rollback(signed: Signed, state: web::Data<AppState>) -> Page {
    signed.require(Action::Rollback.required_role())?;
    let (current, previous) = state
        .db
        .run(|c| {
            Ok((
                channels::get(c, channels::Channel::Production)?.map(|c| c.version_id),
                channels::previous(c, channels::Channel::Production)?,
            ))
        })
        .await?;
    let to = previous.ok_or(crate::release::ReleaseError::NothingToRollBack)?;
    let current = current.unwrap_or_default();
    Ok(html(
        StatusCode::OK,
        &ConfirmPage {
            nav: nav(&signed),
            csrf: signed.csrf.clone(),
            title: format!("Roll production back from {current} to {to}?"),
            text: "New runs start on the earlier version at once; runs in progress finish on theirs. The rolled-back version stays approved.".into(),
            action: "/admin/rollback".into(),
            button: "Roll back".into(),
            style: "danger",
            diff: None,
            version: to,
            against: current,
        },
    ))
}

pub async fn rollback(
    signed: Signed,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Page {
    signed.require(Action::Rollback.required_role())?;
    signed.check_csrf(&form.csrf)?;
    let change = state.releases.rollback(&signed.name).await?;
    Ok(redirect(&format!(
        "/admin/versions/{}?done=rollback",
        change.to
    )))
}
