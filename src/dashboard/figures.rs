//! Analytics pages: a version's funnel with its impact, and the experiments.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{Nav, nav};
use super::session::Signed;
use super::versions::load;
use super::{DashboardError, diagram, html};
use crate::state::AppState;

type Page = Result<HttpResponse, DashboardError>;

#[derive(Template)]
#[template(path = "funnel.html")]
struct FunnelPage {
    nav: Option<Nav>,
    funnel: crate::analytics::Funnel,
    chart: String,
    impact: Vec<crate::analytics::ChannelImpact>,
    /// Runs played offline and synced, by channel (README "Offline onboarding").
    offline: Vec<(String, i64)>,
    freshness: crate::analytics::Freshness,
}

#[derive(Deserialize)]
pub struct ChannelQuery {
    channel: Option<String>,
}

pub async fn funnel(
    signed: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<ChannelQuery>,
) -> Page {
    let loaded = load(&state, &id).await?;
    let channel =
        crate::boundary::upload::channel_param(query.into_inner().channel.as_deref())?.as_str();
    let flows = state.onboarding.flows().clone();
    let version = loaded.version.id.clone();
    let (((funnel, impact), freshness), offline) = state
        .db
        .run(move |c| {
            let figures = crate::analytics::with_freshness(c, |c| {
                Ok((
                    crate::analytics::funnel(c, &flows, &version, channel)?,
                    crate::analytics::impact(c, &version)?,
                ))
            })?;
            Ok((figures, crate::store::offline::synced_runs(c, &version)?))
        })
        .await?;
    Ok(html(
        StatusCode::OK,
        &FunnelPage {
            nav: nav(&signed),
            chart: diagram::funnel_svg(&funnel),
            funnel,
            impact,
            offline,
            freshness,
        },
    ))
}

#[derive(Template)]
#[template(path = "experiments.html")]
struct ExperimentsPage {
    nav: Option<Nav>,
    experiments: Vec<crate::analytics::Experiment>,
    freshness: crate::analytics::Freshness,
}

pub async fn experiments(signed: Signed, state: web::Data<AppState>) -> Page {
    let flows = state.onboarding.flows().clone();
    let (experiments, freshness) = state
        .db
        .run(move |c| {
            crate::analytics::with_freshness(c, |c| crate::analytics::experiments(c, &flows, None))
        })
        .await?;
    Ok(html(
        StatusCode::OK,
        &ExperimentsPage {
            nav: nav(&signed),
            experiments,
            freshness,
        },
    ))
}
