//! Version pages: upload a workbook, look at a version (report, diagram,
//! steps) and its difference from production.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{Nav, nav, redirect};
use super::session::Signed;
use super::{DashboardError, diagram, html};
use crate::auth::Role;
use crate::boundary::upload::read_upload;
use crate::error::ApiError;
use crate::flow::diff::{FlowDiff, diff as flow_diff};
use crate::flow::{ChoiceDef, FlowDef};
use crate::master_data::import::Outcome;
use crate::master_data::{Problem, Report};
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow};
use crate::store::versions::VersionRow;

type Page = Result<HttpResponse, DashboardError>;

/// Problems grouped by sheet, in report order.
fn grouped(problems: &[Problem]) -> Vec<(String, Vec<Problem>)> {
    let mut out: Vec<(String, Vec<Problem>)> = Vec::new();
    for p in problems {
        match out.iter_mut().find(|(s, _)| *s == p.sheet) {
            Some((_, list)) => list.push(p.clone()),
            None => out.push((p.sheet.clone(), vec![p.clone()])),
        }
    }
    out
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    nav: Option<Nav>,
    csrf: String,
    groups: Vec<(String, Vec<Problem>)>,
    error_count: usize,
}

pub async fn upload_form(signed: Signed) -> Page {
    signed.require(Role::Operator)?;
    Ok(html(
        StatusCode::OK,
        &UploadPage {
            csrf: signed.csrf.clone(),
            nav: nav(&signed),
            groups: Vec::new(),
            error_count: 0,
        },
    ))
}

/// The sample workbook as a template to start from (`/admin/template.xlsx`).
pub async fn template(signed: Signed) -> Page {
    signed.require(Role::Operator)?;
    Ok(HttpResponse::Ok()
        .content_type(crate::master_data::cells::Format::Xlsx.content_type())
        .insert_header(crate::boundary::upload::attachment(
            "onboarding_template.xlsx",
            None,
        ))
        .body(crate::master_data::SAMPLE_WORKBOOK))
}

/// The condition catalogue as a sheet (`/admin/conditions.xlsx`).
pub async fn conditions_sheet(signed: Signed) -> Page {
    signed.require(Role::Operator)?;
    let bytes = crate::master_data::export::conditions_xlsx().map_err(|e| {
        tracing::error!(error = %e, "cannot write the conditions sheet");
        ApiError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .content_type(crate::master_data::cells::Format::Xlsx.content_type())
        .insert_header(crate::boundary::upload::attachment("conditions.xlsx", None))
        .body(bytes))
}

pub async fn upload(
    req: HttpRequest,
    signed: Signed,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Page {
    signed.require(Role::Operator)?;
    // Read and refused as by the JSON API: a file over the limit is the
    // same unreadable-workbook report, shown on this page.
    let upload = match read_upload(&req, payload, state.settings.max_upload_bytes, None).await {
        Ok(upload) => upload,
        Err(ApiError::InvalidWorkbook(report)) => return Ok(refused(&signed, &report)),
        Err(e) => return Err(e.into()),
    };
    signed.check_csrf(&upload.csrf)?;
    match state
        .importer
        .import(upload.bytes, upload.name, &signed.name)
        .await
        .map_err(ApiError::from)?
    {
        Outcome::Created { version, .. } | Outcome::Existing { version, .. } => Ok(redirect(
            &format!("/admin/versions/{}?done=uploaded", version.id),
        )),
        Outcome::Invalid { report } => Ok(refused(&signed, &report)),
    }
}

/// The upload page again, with every problem of the refused workbook.
fn refused(signed: &Signed, report: &Report) -> HttpResponse {
    html(
        StatusCode::UNPROCESSABLE_ENTITY,
        &UploadPage {
            csrf: signed.csrf.clone(),
            nav: nav(signed),
            error_count: report.errors.len(),
            groups: grouped(
                &report
                    .errors
                    .iter()
                    .chain(&report.warnings)
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
        },
    )
}

struct SceneRow {
    key: String,
    condition: String,
    weight: String,
    group: Option<String>,
    messages: Vec<String>,
    input: String,
    bounds: String,
    next_step: Option<String>,
    save_as: Option<String>,
    choices: Vec<ChoiceDef>,
    /// `back` is `no`: users cannot go back past this scene.
    no_back: bool,
}

struct StepView {
    key: String,
    scenes: Vec<SceneRow>,
}

fn step_views(compiled: &crate::flow::CompiledFlow) -> Vec<StepView> {
    let flow = &compiled.def;
    flow.steps
        .iter()
        .enumerate()
        .map(|(position, step)| StepView {
            key: step.clone(),
            scenes: compiled
                .scenes_of(position)
                .iter()
                .map(|&i| {
                    let s = compiled.scene(i);
                    let bounds = match (&s.min, &s.max) {
                        (None, None) => String::new(),
                        (min, max) => format!(
                            "[{} … {}]",
                            min.map(|b| b.to_text()).unwrap_or_default(),
                            max.map(|b| b.to_text()).unwrap_or_default()
                        ),
                    };
                    SceneRow {
                        key: s.key.clone(),
                        condition: s.condition.clone(),
                        weight: crate::flow::model::format_number(s.weight),
                        group: compiled.group_of(i).map(|g| g.experiment_id.to_string()),
                        messages: s.messages.clone(),
                        input: s.input.as_str().to_owned(),
                        bounds,
                        next_step: s.next_step.as_ref().map(|t| t.as_str().to_owned()),
                        save_as: s.save_as.clone(),
                        choices: flow.choices_of(&s.key).cloned().collect(),
                        no_back: !s.back,
                    }
                })
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "version.html")]
struct VersionPage {
    nav: Option<Nav>,
    version: VersionRow,
    done: Option<String>,
    on_staging: bool,
    on_production: bool,
    approved_by: Option<String>,
    /// Buttons are shown only to roles that may use them (the actions check again).
    can_deploy: bool,
    can_approve: bool,
    can_publish: bool,
    groups: Vec<(String, Vec<Problem>)>,
    svg: String,
    steps: Vec<StepView>,
    /// The workbook's languages besides the default, with their coverage.
    languages: Vec<crate::flow::model::Coverage>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub(super) struct Loaded {
    pub(super) version: VersionRow,
    flow: FlowDef,
    channels: Vec<ChannelRow>,
    approved_by: Option<String>,
}

pub(super) async fn load(state: &AppState, id: &str) -> Result<Loaded, DashboardError> {
    let (version, flow) = crate::catalog::load(state, id).await?;
    let lookup = version.id.clone();
    let (channels, approval) = state
        .db
        .run(move |c| Ok((channels::list(c)?, channels::approval(c, &lookup)?)))
        .await?;
    Ok(Loaded {
        version,
        flow,
        channels,
        approved_by: approval.map(|a| a.approved_by),
    })
}

impl Loaded {
    fn on(&self, channel: channels::Channel) -> bool {
        self.channels
            .iter()
            .any(|c| c.name == channel && c.version_id == self.version.id)
    }

    fn production(&self) -> Option<String> {
        self.channels
            .iter()
            .find(|c| c.name == channels::Channel::Production)
            .map(|c| c.version_id.clone())
    }
}

pub async fn version(
    signed: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Page {
    let loaded = load(&state, &id).await?;
    let report = loaded.version.report.0.clone();
    let done = query.into_inner().done.map(|d| match d.as_str() {
        "uploaded" => "The workbook is valid and stored as this version.".to_owned(),
        "deploy" => "Staging now serves this version.".to_owned(),
        "approve" => "You approved this version; an admin can publish it.".to_owned(),
        "publish" => "Production now serves this version.".to_owned(),
        "rollback" => "Production was rolled back to this version.".to_owned(),
        _ => "Done.".to_owned(),
    });
    Ok(html(
        StatusCode::OK,
        &VersionPage {
            nav: nav(&signed),
            on_staging: loaded.on(channels::Channel::Staging),
            on_production: loaded.on(channels::Channel::Production),
            approved_by: loaded.approved_by.clone(),
            can_deploy: signed.role >= Role::Operator,
            can_approve: signed.role >= Role::Qa,
            can_publish: signed.role >= Role::Admin,
            groups: grouped(&report.warnings),
            svg: diagram::svg(&loaded.flow),
            steps: step_views(&crate::flow::CompiledFlow::compile(
                loaded.version.id.clone(),
                loaded.flow.clone(),
            )),
            languages: loaded.flow.coverage(),
            version: loaded.version,
            done,
        },
    ))
}

pub async fn workbook(_signed: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Page {
    Ok(crate::catalog::serve_workbook(&state, &id).await?)
}

pub(super) async fn diff_against_production(
    state: &AppState,
    loaded: &Loaded,
) -> Result<(FlowDiff, String), DashboardError> {
    let Some(production) = loaded.production() else {
        return Ok((
            flow_diff(&FlowDef::default(), &loaded.flow),
            "nothing".into(),
        ));
    };
    let other = load(state, &production).await?;
    Ok((
        flow_diff(&other.flow.without_rows(), &loaded.flow.without_rows()),
        production,
    ))
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    nav: Option<Nav>,
    version: String,
    against: String,
    diff: FlowDiff,
}

pub async fn diff(signed: Signed, state: web::Data<AppState>, id: web::Path<String>) -> Page {
    let loaded = load(&state, &id).await?;
    let (diff, against) = diff_against_production(&state, &loaded).await?;
    Ok(html(
        StatusCode::OK,
        &DiffPage {
            nav: nav(&signed),
            version: loaded.version.id,
            against,
            diff,
        },
    ))
}
