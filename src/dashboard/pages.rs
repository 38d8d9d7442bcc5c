//! Dashboard pages and form actions.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use futures_util::StreamExt;
use serde::Deserialize;

use super::session::{self, LoginOutcome, Signed};
use super::throttle::RetryAfter;
use super::{DashboardError, diagram, html};
use crate::auth::Role;
use crate::error::ApiError;
use crate::flow::diff::{FlowDiff, diff as flow_diff};
use crate::flow::{ChoiceDef, Condition, FlowDef};
use crate::master_data::import::Outcome;
use crate::master_data::{Problem, Report};
use crate::release::Action;
use crate::startup::AppState;
use crate::store::audit::{self, AuditEntry};
use crate::store::channels::{self, ChannelRow};
use crate::store::versions::{self, VersionRow};

type Page = Result<HttpResponse, DashboardError>;

/// The navigation bar: who is signed in, and the CSRF token its forms carry.
pub struct Nav {
    pub name: String,
    pub role: Role,
    pub csrf: String,
}

impl Nav {
    /// The People page is for admins only; nobody else sees its link.
    pub fn is_admin(&self) -> bool {
        self.role >= Role::Admin
    }
}

pub(super) fn nav(s: &Signed) -> Option<Nav> {
    Some(Nav {
        name: s.name.clone(),
        role: s.role,
        csrf: s.csrf.clone(),
    })
}

pub(super) fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to.to_owned()))
        .finish()
}

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
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    error: Option<String>,
}

pub async fn login_form() -> HttpResponse {
    html(
        StatusCode::OK,
        &LoginPage {
            nav: None,
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Page {
    let LoginForm { name, password } = form.into_inner();
    let refused = |message: &str| {
        html(
            StatusCode::UNAUTHORIZED,
            &LoginPage {
                nav: None,
                error: Some(message.to_owned()),
            },
        )
    };
    same_origin(&req)?;
    let ip = req.peer_addr().map(|a| a.ip());
    Ok(
        match session::login(&state, ip, name.trim().to_owned(), password).await? {
            LoginOutcome::Session(token) => HttpResponse::SeeOther()
                .insert_header(("Location", "/admin"))
                .cookie(session::cookie(&req, token))
                .finish(),
            LoginOutcome::WrongPassword => refused("The user name or password is wrong."),
            LoginOutcome::Throttled(RetryAfter(seconds)) => {
                let mut res = html(
                    StatusCode::TOO_MANY_REQUESTS,
                    &LoginPage {
                        nav: None,
                        error: Some(format!(
                            "Too many sign-in attempts. Wait a minute and try again (in {seconds} s)."
                        )),
                    },
                );
                res.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from(seconds),
                );
                res
            }
        },
    )
}

/// Login CSRF: a browser names the page a form came from. A sign-in posted
/// from another site (`Origin` or `Sec-Fetch-Site` says so) is refused, so
/// nobody can sign a victim's browser into the attacker's account.
fn same_origin(req: &HttpRequest) -> Result<(), DashboardError> {
    let headers = req.headers();
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
    {
        return Err(DashboardError::BadCsrf);
    }
    let Some(origin) = headers.get("origin") else {
        return Ok(());
    };
    let host = req.connection_info().host().to_owned();
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest.trim_end_matches('/'));
    if origin_host == Some(host.as_str()) {
        Ok(())
    } else {
        Err(DashboardError::BadCsrf)
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    signed: Signed,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> Page {
    signed.check_csrf(&form.csrf)?;
    session::logout(&state, &signed).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/admin/login"))
        .cookie(session::removal(&req))
        .finish())
}

struct ChannelView {
    name: String,
    version: String,
    since: String,
    by: String,
    approved_by: Option<String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    nav: Option<Nav>,
    channels: Vec<ChannelView>,
    pending: Vec<String>,
    versions: Vec<VersionRow>,
    rollback_to: Option<String>,
}

pub async fn overview(signed: Signed, state: web::Data<AppState>) -> Page {
    let (rows, approvals, list, rollback_to) = state
        .db
        .run(|c| {
            Ok((
                channels::list(c)?,
                channels::approvals(c)?,
                versions::list(c)?,
                channels::previous(c, channels::PRODUCTION)?,
            ))
        })
        .await?;
    let approved = |v: &str| {
        approvals
            .iter()
            .find(|a| a.version_id == v)
            .map(|a| a.approved_by.clone())
    };
    let channels: Vec<ChannelView> = rows
        .iter()
        .map(|c: &ChannelRow| ChannelView {
            name: c.name.clone(),
            version: c.version_id.clone(),
            since: c.updated_at.format("%Y-%m-%d %H:%M").to_string(),
            by: c.updated_by.clone(),
            approved_by: approved(&c.version_id),
        })
        .collect();
    let pending = channels
        .iter()
        .filter(|c| c.name == channels::STAGING && c.approved_by.is_none())
        .map(|c| c.version.clone())
        .collect();
    Ok(html(
        StatusCode::OK,
        &OverviewPage {
            nav: nav(&signed),
            channels,
            pending,
            versions: list.into_iter().take(50).collect(),
            // Only admins may roll back: nobody else is offered the button.
            rollback_to: rollback_to.filter(|_| signed.role >= Role::Admin),
        },
    ))
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

pub async fn upload(
    req: HttpRequest,
    signed: Signed,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Page {
    signed.require(Role::Operator)?;
    let limit = state.settings.max_upload_bytes;
    let mut form = actix_multipart::Multipart::new(req.headers(), payload);
    let (mut csrf, mut file, mut name) = (String::new(), None, None);
    while let Some(field) = form.next().await {
        let mut field = field
            .map_err(|e| ApiError::InvalidRequest(format!("the form could not be read: {e}")))?;
        let field_name = field.name().unwrap_or_default().to_owned();
        if field_name == "workbook" {
            name = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .map(str::to_owned);
            if let Some(name) = &name {
                crate::boundary::refuse_nul("the file name", name)?;
            }
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::InvalidRequest(format!("the upload was interrupted: {e}"))
            })?;
            if bytes.len() + chunk.len() > limit {
                return Err(
                    ApiError::InvalidWorkbook(Box::new(Report::unreadable(format!(
                        "The file is larger than the upload limit of {} MB.",
                        limit / (1024 * 1024)
                    ))))
                    .into(),
                );
            }
            bytes.extend_from_slice(&chunk);
        }
        match field_name.as_str() {
            "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
            "workbook" => file = Some(bytes),
            _ => {}
        }
    }
    signed.check_csrf(&csrf)?;
    let bytes = file
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::InvalidRequest("choose a workbook file to upload".into()))?;
    match state
        .importer
        .import(bytes, name, &signed.name)
        .await
        .map_err(ApiError::from)?
    {
        Outcome::Created { version, .. } | Outcome::Existing { version, .. } => Ok(redirect(
            &format!("/admin/versions/{}?done=uploaded", version.id),
        )),
        Outcome::Invalid { report } => Ok(html(
            StatusCode::UNPROCESSABLE_ENTITY,
            &UploadPage {
                csrf: signed.csrf.clone(),
                nav: nav(&signed),
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
        )),
    }
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

struct Loaded {
    version: VersionRow,
    flow: FlowDef,
    channels: Vec<ChannelRow>,
    approved_by: Option<String>,
}

async fn load(state: &AppState, id: &str) -> Result<Loaded, DashboardError> {
    let lookup = id.to_owned();
    let found = state
        .db
        .run(move |c| {
            let Some(v) = versions::find(c, &lookup)? else {
                return Ok(None);
            };
            let flow = versions::load_flow(c, &v.id)?;
            let approval = channels::approval(c, &v.id)?;
            Ok(Some((v, flow, channels::list(c)?, approval)))
        })
        .await?;
    let (version, flow, channels, approval) =
        found.ok_or_else(|| ApiError::NotFound(format!("there is no version '{id}'")))?;
    Ok(Loaded {
        version,
        flow,
        channels,
        approved_by: approval.map(|a| a.approved_by),
    })
}

impl Loaded {
    fn on(&self, channel: &str) -> bool {
        self.channels
            .iter()
            .any(|c| c.name == channel && c.version_id == self.version.id)
    }

    fn production(&self) -> Option<String> {
        self.channels
            .iter()
            .find(|c| c.name == channels::PRODUCTION)
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
    let report = loaded.version.report()?;
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
            on_staging: loaded.on(channels::STAGING),
            on_production: loaded.on(channels::PRODUCTION),
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
    Ok(crate::admin::versions::serve_workbook(&state, &id).await?)
}

async fn diff_against_production(
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
                channels::get(c, channels::PRODUCTION)?.map(|c| c.version_id),
                channels::previous(c, channels::PRODUCTION)?,
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

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Option<Nav>,
    entries: Vec<AuditEntry>,
}

pub async fn audit(signed: Signed, state: web::Data<AppState>) -> Page {
    let entries = state.db.run(|c| audit::list(c, 500)).await?;
    Ok(html(
        StatusCode::OK,
        &AuditPage {
            nav: nav(&signed),
            entries,
        },
    ))
}

#[derive(Template)]
#[template(path = "conditions.html")]
struct ConditionsPage {
    nav: Option<Nav>,
    conditions: &'static [Condition],
}

pub async fn conditions(signed: Signed) -> Page {
    Ok(html(
        StatusCode::OK,
        &ConditionsPage {
            nav: nav(&signed),
            conditions: crate::flow::catalogue(),
        },
    ))
}

#[derive(Template)]
#[template(path = "funnel.html")]
struct FunnelPage {
    nav: Option<Nav>,
    funnel: crate::analytics::Funnel,
    chart: String,
    impact: Vec<crate::analytics::ChannelImpact>,
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
        crate::admin::analytics::channel_param(query.into_inner().channel.as_deref())?.as_str();
    let flows = state.onboarding.flows().clone();
    let version = loaded.version.id.clone();
    let ((funnel, impact), freshness) = state
        .db
        .run(move |c| {
            crate::analytics::with_freshness(c, |c| {
                Ok((
                    crate::analytics::funnel(c, &flows, &version, channel)?,
                    crate::analytics::impact(c, &version)?,
                ))
            })
        })
        .await?;
    Ok(html(
        StatusCode::OK,
        &FunnelPage {
            nav: nav(&signed),
            chart: diagram::funnel_svg(&funnel),
            funnel,
            impact,
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
