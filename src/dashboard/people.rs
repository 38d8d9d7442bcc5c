//! The People page (admins only): dashboard users and admin API tokens, the
//! same operations as `sceneflow user …` and `sceneflow admin-token …`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::pages::{Nav, nav, redirect};
use super::session::Signed;
use super::{DashboardError, html};
use crate::auth::Role;
use crate::error::ApiError;
use crate::people::{self, PeopleError, TokenView, UserView};
use crate::state::AppState;

type Page = Result<HttpResponse, DashboardError>;

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    nav: Option<Nav>,
    /// The signed-in admin, who cannot remove themself.
    me: String,
    csrf: String,
    done: Option<String>,
    /// A token just created: shown this once.
    new_token: Option<String>,
    users: Vec<UserView>,
    tokens: Vec<TokenView>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn page(
    signed: &Signed,
    state: &AppState,
    done: Option<String>,
    new_token: Option<String>,
) -> Page {
    let (users, tokens) = state
        .db
        .run_with(|c| -> Result<_, PeopleError> {
            Ok((people::list_users(c)?, people::list_tokens(c)?))
        })
        .await
        .map_err(ApiError::from)?;
    Ok(html(
        StatusCode::OK,
        &PeoplePage {
            nav: nav(signed),
            me: signed.name.clone(),
            csrf: signed.csrf.clone(),
            done,
            new_token,
            users,
            tokens,
        },
    ))
}

pub async fn index(
    signed: Signed,
    state: web::Data<AppState>,
    query: web::Query<DoneQuery>,
) -> Page {
    signed.require(Role::Admin)?;
    let done = query.into_inner().done.map(|d| match d.as_str() {
        "added" => "The user was added; they can sign in now.",
        "removed" => "The user was removed; their sessions ended.",
        "password" => "The password was changed; the user's sessions ended.",
        "revoked" => "The token was revoked; it no longer works.",
        _ => "Done.",
    });
    page(&signed, &state, done.map(str::to_owned), None).await
}

/// Run a people operation as the signed-in admin, after the role and CSRF checks.
async fn act<T: Send + 'static>(
    signed: &Signed,
    state: &AppState,
    csrf: &str,
    work: impl FnOnce(&mut crate::store::AnyConnection, &str) -> Result<T, PeopleError> + Send + 'static,
) -> Result<T, DashboardError> {
    signed.require(Role::Admin)?;
    signed.check_csrf(csrf)?;
    let actor = signed.name.clone();
    Ok(state
        .db
        .run_with(move |c| work(c, &actor))
        .await
        .map_err(ApiError::from)?)
}

#[derive(Deserialize)]
pub struct AddUserForm {
    #[serde(default)]
    csrf: String,
    name: String,
    role: Role,
    password: String,
}

pub async fn add_user(
    signed: Signed,
    state: web::Data<AppState>,
    form: web::Form<AddUserForm>,
) -> Page {
    let AddUserForm {
        csrf,
        name,
        role,
        password,
    } = form.into_inner();
    act(&signed, &state, &csrf, move |c, actor| {
        people::add_user(c, actor, &name, role, &password, false)
    })
    .await?;
    Ok(redirect("/admin/people?done=added"))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn remove_user(
    signed: Signed,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    let name = name.into_inner();
    if name == signed.name {
        return Err(ApiError::from(PeopleError::RemoveSelf).into());
    }
    act(&signed, &state, &form.csrf, move |c, actor| {
        people::remove_user(c, actor, &name)
    })
    .await?;
    Ok(redirect("/admin/people?done=removed"))
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    password: String,
}

pub async fn set_password(
    signed: Signed,
    state: web::Data<AppState>,
    name: web::Path<String>,
    form: web::Form<PasswordForm>,
) -> Page {
    let name = name.into_inner();
    let PasswordForm { csrf, password } = form.into_inner();
    act(&signed, &state, &csrf, move |c, actor| {
        people::set_password(c, actor, &name, &password)
    })
    .await?;
    Ok(redirect("/admin/people?done=password"))
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    name: String,
    role: Role,
    days: u32,
}

pub async fn create_token(
    signed: Signed,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Page {
    let TokenForm {
        csrf,
        name,
        role,
        days,
    } = form.into_inner();
    if !(1..=3650).contains(&days) {
        return Err(ApiError::InvalidRequest("a token lasts 1 to 3650 days".into()).into());
    }
    let token = act(&signed, &state, &csrf, move |c, actor| {
        people::mint_token(c, actor, &name, role, days)
    })
    .await?;
    let done = "The token was created. Copy it now: it is not shown again.".to_owned();
    page(&signed, &state, Some(done), Some(token)).await
}

pub async fn revoke_token(
    signed: Signed,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    let id = id.into_inner();
    act(&signed, &state, &form.csrf, move |c, actor| {
        people::revoke_token(c, actor, &id)
    })
    .await?;
    Ok(redirect("/admin/people?done=revoked"))
}
