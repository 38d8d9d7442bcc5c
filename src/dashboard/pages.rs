//! Dashboard pages shared by all: the navigation bar, sign-in and sign-out,
//! the overview of what is live, the audit log and the condition catalogue.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::session::{self, LoginOutcome, Signed};
use super::throttle::RetryAfter;
use super::{DashboardError, html};
use crate::auth::Role;
use crate::flow::Condition;
use crate::state::AppState;
use crate::store::audit::{self, AuditEntry};
use crate::store::channels;
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
    name: channels::Channel,
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
    rollout: Option<super::rollout::RolloutPanel>,
    /// A rollout runs: a rollback waits (409 `rollout_running`).
    rollout_running: bool,
    admin: bool,
    csrf: String,
}

pub async fn overview(signed: Signed, state: web::Data<AppState>) -> Page {
    let live = crate::catalog::overview(&state).await?;
    let list = state.db.run(versions::list).await?;
    let rollout = super::rollout::panel(&state).await?;
    let channels: Vec<ChannelView> = live
        .channels
        .into_iter()
        .map(|c| ChannelView {
            since: c.pointer.updated_at.format("%Y-%m-%d %H:%M").to_string(),
            name: c.pointer.name,
            version: c.pointer.version_id,
            by: c.pointer.updated_by,
            approved_by: c.approval.map(|a| a.approved_by),
        })
        .collect();
    let pending = channels
        .iter()
        .filter(|c| c.name == channels::Channel::Staging && c.approved_by.is_none())
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
            rollback_to: live
                .production_rollback_to
                .filter(|_| signed.role >= Role::Admin),
            rollout_running: rollout.as_ref().is_some_and(|r| r.running),
            rollout,
            admin: signed.role >= Role::Admin,
            csrf: signed.csrf.clone(),
        },
    ))
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
