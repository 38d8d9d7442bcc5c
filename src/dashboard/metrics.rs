//! The Metrics page: the metrics experiments are judged on, defined and
//! removed as with `/admin/api/metrics` (operator and above; audited).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{Nav, nav, redirect};
use super::session::Signed;
use super::{DashboardError, html};
use crate::analytics::outcomes::Metric;
use crate::auth::Role;
use crate::boundary::metrics::{self, MetricBody};
use crate::state::AppState;

type Page = Result<HttpResponse, DashboardError>;

#[derive(Template)]
#[template(path = "metrics.html")]
struct MetricsPage {
    nav: Option<Nav>,
    csrf: String,
    done: Option<&'static str>,
    metrics: Vec<(Metric, Option<crate::store::outcomes::MetricRow>)>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn index(
    signed: Signed,
    state: web::Data<AppState>,
    query: web::Query<DoneQuery>,
) -> Page {
    let rows = state.db.run(crate::store::outcomes::metrics_list).await?;
    let mut list = vec![(Metric::completed(), None)];
    list.extend(
        rows.into_iter()
            .filter_map(|r| Metric::from_row(&r).map(|m| (m, Some(r)))),
    );
    let done = query.into_inner().done.map(|d| match d.as_str() {
        "saved" => "The metric was saved; its figures were built from the whole history.",
        "removed" => "The metric was removed.",
        _ => "Done.",
    });
    Ok(html(
        StatusCode::OK,
        &MetricsPage {
            nav: nav(&signed),
            csrf: signed.csrf.clone(),
            done,
            metrics: list,
        },
    ))
}

#[derive(Deserialize)]
pub struct MetricForm {
    #[serde(default)]
    csrf: String,
    name: String,
    event: String,
    kind: String,
    window_hours: String,
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    guardrail: Option<String>,
    #[serde(default)]
    description: String,
}

pub async fn save(signed: Signed, state: web::Data<AppState>, form: web::Form<MetricForm>) -> Page {
    let form = form.into_inner();
    let who = signed.require(Role::Operator)?.name.clone();
    signed.check_csrf(&form.csrf)?;
    let window_hours = form.window_hours.trim().parse::<f64>().map_err(|_| {
        crate::error::ApiError::InvalidRequest(
            "window_hours must be a whole number of hours".into(),
        )
    })?;
    let metric = metrics::check(
        form.name.trim(),
        MetricBody {
            event: form.event.trim().to_owned(),
            kind: form.kind,
            window_hours,
            direction: form.direction,
            guardrail: form.guardrail.is_some(),
            description: form.description,
        },
    )?;
    metrics::define(&state, &metric, who).await?;
    Ok(redirect("/admin/metrics?done=saved"))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn remove(
    signed: Signed,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    let who = signed.require(Role::Operator)?.name.clone();
    signed.check_csrf(&form.csrf)?;
    metrics::remove(&state, &name, who).await?;
    Ok(redirect("/admin/metrics?done=removed"))
}
