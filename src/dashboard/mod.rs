//! The HTML dashboard at `/admin`: server-rendered askama templates from
//! `admin/templates`, Bootstrap's CSS embedded from `admin/static`, plain
//! forms (no JavaScript). Every page and action checks the role itself; the
//! release rules are those of [`crate::release`], shared with the JSON API.

pub mod diagram;
mod figures;
mod metrics;
mod pages;
mod people;
mod preview;
mod qa;
mod release;
mod rollout;
pub mod session;
pub use crate::throttle;
mod versions;

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;

use crate::auth::Role;
use crate::error::ApiError;
use crate::store::StoreError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Only the dashboard takes forms: a form that does not parse is a page
    // saying so, not actix's plain text.
    cfg.app_data(web::FormConfig::default().error_handler(|err, _| {
        DashboardError::Api(ApiError::InvalidRequest(format!(
            "the form is not what this page takes: {err}"
        )))
        .into()
    }))
    .route("/admin", web::get().to(pages::overview))
    .route("/admin/", web::get().to(pages::overview))
    .route("/admin/static/bootstrap.min.css", web::get().to(css))
    .route("/admin/login", web::get().to(pages::login_form))
    .route("/admin/login", web::post().to(pages::login))
    .route("/admin/logout", web::post().to(pages::logout))
    .route("/admin/upload", web::get().to(versions::upload_form))
    .route("/admin/upload", web::post().to(versions::upload))
    .route("/admin/template.xlsx", web::get().to(versions::template))
    .route(
        "/admin/conditions.xlsx",
        web::get().to(versions::conditions_sheet),
    )
    .route("/admin/versions/{id}", web::get().to(versions::version))
    .route(
        "/admin/versions/{id}/workbook",
        web::get().to(versions::workbook),
    )
    .route("/admin/versions/{id}/diff", web::get().to(versions::diff))
    .route(
        "/admin/versions/{id}/confirm/{action}",
        web::get().to(release::confirm),
    )
    .route(
        "/admin/versions/{id}/{action}",
        web::post().to(release::act),
    )
    .route("/admin/rollback", web::get().to(release::confirm_rollback))
    .route("/admin/rollback", web::post().to(release::rollback))
    .route(
        "/admin/versions/{id}/funnel",
        web::get().to(figures::funnel),
    )
    .route("/admin/experiments", web::get().to(figures::experiments))
    .route("/admin/metrics", web::get().to(metrics::index))
    .route("/admin/metrics", web::post().to(metrics::save))
    .route(
        "/admin/metrics/{name}/remove",
        web::post().to(metrics::remove),
    )
    .route(
        "/admin/experiments/{version}/{experiment}",
        web::get().to(figures::experiment),
    )
    .route("/admin/qa", web::get().to(qa::index))
    .route("/admin/qa/testers", web::post().to(qa::register))
    .route("/admin/qa/users/{user}", web::get().to(qa::tester))
    .route(
        "/admin/qa/users/{user}/overrides",
        web::post().to(qa::overrides),
    )
    .route(
        "/admin/qa/users/{user}/variant",
        web::post().to(qa::variant),
    )
    .route("/admin/qa/users/{user}/jump", web::post().to(qa::jump))
    .route("/admin/qa/users/{user}/reset", web::post().to(qa::reset))
    .route(
        "/admin/qa/users/{user}/preview",
        web::get().to(preview::preview),
    )
    .route(
        "/admin/qa/users/{user}/answer",
        web::post().to(preview::answer),
    )
    .route("/admin/qa/users/{user}/back", web::post().to(preview::back))
    .route("/admin/people", web::get().to(people::index))
    .route("/admin/people/users", web::post().to(people::add_user))
    .route(
        "/admin/people/users/{name}/remove",
        web::post().to(people::remove_user),
    )
    .route(
        "/admin/people/users/{name}/password",
        web::post().to(people::set_password),
    )
    .route("/admin/people/tokens", web::post().to(people::create_token))
    .route(
        "/admin/people/tokens/{id}/revoke",
        web::post().to(people::revoke_token),
    )
    .route("/admin/audit", web::get().to(pages::audit))
    .route("/admin/rollout/widen", web::post().to(rollout::widen))
    .route("/admin/rollout/abort", web::post().to(rollout::abort))
    .route("/admin/rescue", web::get().to(rollout::confirm_rescue))
    .route("/admin/rescue", web::post().to(rollout::rescue))
    .route("/admin/incidents", web::get().to(rollout::incidents))
    .route("/admin/conditions", web::get().to(pages::conditions));
}

const BOOTSTRAP_CSS: &[u8] = include_bytes!("../../admin/static/bootstrap.min.css");

async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(BOOTSTRAP_CSS)
}

/// What a dashboard request can fail with, rendered as a page (or a redirect
/// to the sign-in page).
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("please sign in")]
    LoginRequired,
    #[error("this needs the role {needed} or higher; you are signed in as {have}")]
    Forbidden { needed: Role, have: Role },
    #[error(
        "the form has expired or did not come from this dashboard; go back, reload and try again"
    )]
    BadCsrf,
    #[error("{0}")]
    Api(#[from] ApiError),
}

/// Module errors reach a page through the one mapping to [`ApiError`].
macro_rules! through_api_error {
    ($($t:ty),*) => {$(
        impl From<$t> for DashboardError {
            fn from(e: $t) -> Self {
                DashboardError::Api(e.into())
            }
        }
    )*};
}

impl From<crate::auth::Forbidden> for DashboardError {
    fn from(crate::auth::Forbidden { needed, have }: crate::auth::Forbidden) -> Self {
        DashboardError::Forbidden { needed, have }
    }
}

through_api_error!(
    StoreError,
    crate::release::ReleaseError,
    crate::onboarding::OnboardingError,
    crate::onboarding::rescue::RescueError
);

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    nav: Option<pages::Nav>,
    title: &'a str,
    text: String,
    style: &'a str,
}

impl ResponseError for DashboardError {
    fn status_code(&self) -> StatusCode {
        match self {
            DashboardError::LoginRequired => StatusCode::SEE_OTHER,
            DashboardError::Forbidden { .. } | DashboardError::BadCsrf => StatusCode::FORBIDDEN,
            DashboardError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let DashboardError::LoginRequired = self {
            return HttpResponse::SeeOther()
                .insert_header(("Location", "/admin/login"))
                .finish();
        }
        let title = match self {
            DashboardError::Forbidden { .. } => "Not allowed",
            DashboardError::BadCsrf => "Form expired",
            _ => api_title(self.status_code()),
        };
        message(self.status_code(), title, &self.to_string())
    }
}

/// The title of a page that reports an API error.
fn api_title(status: StatusCode) -> &'static str {
    if status.is_server_error() {
        "Try again shortly"
    } else {
        "That did not work"
    }
}

/// Whether `path` is a dashboard page (the JSON API under `/admin/api` is not).
pub fn is_page(path: &str) -> bool {
    (path == "/admin" || path.starts_with("/admin/"))
        && !path.starts_with("/admin/api/")
        && path != "/admin/api"
}

/// The dashboard's error page for an error of the API's kinds, as the
/// default error handler renders it on a page.
pub fn error_page(status: StatusCode, text: &str) -> HttpResponse {
    message(status, api_title(status), text)
}

fn message(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    let page = MessagePage {
        nav: None,
        title,
        text: text.to_owned(),
        style: "danger",
    };
    html(status, &page)
}

/// A visitor who is not signed in is sent to the sign-in page: routine, not
/// a failure. Without the error attached to the redirect, the request logger
/// records it as the request it is instead of at ERROR (it logs every
/// non-4xx error response at ERROR).
pub fn without_sign_in_error<B>(res: ServiceResponse<B>) -> ServiceResponse<B> {
    let redirect = res
        .response()
        .error()
        .and_then(|e| e.as_error::<DashboardError>())
        .is_some_and(|e| matches!(e, DashboardError::LoginRequired));
    if !redirect {
        return res;
    }
    let (req, response) = res.into_parts();
    let (head, body) = response.into_parts();
    let mut clean = HttpResponse::with_body(head.status(), ());
    *clean.headers_mut() = head.headers().clone();
    ServiceResponse::new(req, clean.set_body(body))
}

pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header(("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard template failed to render");
            HttpResponse::InternalServerError().body("the page could not be rendered")
        }
    }
}
