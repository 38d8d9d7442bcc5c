//! The QA debug API under `/debug` (docs/src/qa.md). Needs an admin token
//! of role `qa` or `admin`, only ever touches registered testers, and writes
//! every call to the audit log. Absent (404) when `SCENEFLOW_DEBUG=false`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::Role;
use crate::boundary::Json;
use crate::boundary::admin::Admin;
use crate::error::ApiError;
use crate::flow::simulate::Script;
use crate::onboarding::check_attributes;
use crate::state::AppState;
use crate::store::audit;
use crate::words::AuditAction;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/debug")
            .route("/testers/{user_id}", web::put().to(add_tester))
            .route("/testers/{user_id}", web::delete().to(remove_tester))
            .route("/users/{user_id}", web::get().to(user))
            .route("/users/{user_id}/overrides", web::put().to(overrides))
            .route("/users/{user_id}/variants", web::put().to(variant))
            .route("/users/{user_id}/jump", web::post().to(jump))
            .route("/users/{user_id}/reset", web::post().to(reset))
            .route("/simulate", web::post().to(simulate)),
    );
}

/// The QA identity of a call, after the role check.
fn qa(admin: &Admin) -> Result<String, ApiError> {
    Ok(admin.require(Role::Qa)?.name.clone())
}

/// Audit a read-only debug call; changes are audited by the service itself.
async fn record(
    state: &AppState,
    actor: &str,
    action: AuditAction,
    note: String,
) -> Result<(), ApiError> {
    let actor = actor.to_owned();
    state
        .db
        .run(move |c| audit::record(c, &actor, action, None, None, Some(&note)))
        .await?;
    Ok(())
}

async fn add_tester(
    admin: Admin,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let user = user.into_inner();
    if user.is_empty() || user.len() > 255 {
        return Err(ApiError::InvalidRequest(
            "a user id has 1 to 255 bytes".into(),
        ));
    }
    let added = state.onboarding.add_tester(user.clone(), actor).await?;
    Ok(HttpResponse::Ok().json(json!({"tester": user, "added": added, "channel": crate::store::channels::Channel::Staging})))
}

async fn remove_tester(
    admin: Admin,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let user = user.into_inner();
    state.onboarding.remove_tester(user.clone(), actor).await?;
    Ok(HttpResponse::Ok().json(json!({"tester": user, "removed": true})))
}

async fn user(
    admin: Admin,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let user = user.into_inner();
    let view = state.onboarding.debug_state(user.clone()).await?;
    record(
        &state,
        &actor,
        AuditAction::DebugView,
        format!("tester {user}"),
    )
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

async fn overrides(
    admin: Admin,
    state: web::Data<AppState>,
    user: web::Path<String>,
    body: Json<Map<String, Value>>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let user = user.into_inner();
    let attributes = body.into_inner();
    check_attributes(&attributes)?;
    state
        .onboarding
        .set_overrides(user.clone(), attributes.into_iter().collect(), actor)
        .await?;
    Ok(HttpResponse::Ok().json(state.onboarding.debug_state(user).await?))
}

#[derive(Deserialize)]
struct VariantRequest {
    step: String,
    scene: String,
}

async fn variant(
    admin: Admin,
    state: web::Data<AppState>,
    user: web::Path<String>,
    body: Json<VariantRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let user = user.into_inner();
    let VariantRequest { step, scene } = body.into_inner();
    state
        .onboarding
        .force_variant(user.clone(), step, scene, actor)
        .await?;
    Ok(HttpResponse::Ok().json(state.onboarding.debug_state(user).await?))
}

#[derive(Deserialize)]
struct JumpRequest {
    step: String,
}

async fn jump(
    admin: Admin,
    state: web::Data<AppState>,
    user: web::Path<String>,
    body: Json<JumpRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let run = state
        .onboarding
        .jump(user.into_inner(), body.into_inner().step, actor)
        .await?;
    Ok(HttpResponse::Ok().json(run))
}

async fn reset(
    admin: Admin,
    state: web::Data<AppState>,
    user: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let user = user.into_inner();
    let forgotten = state.onboarding.reset(user.clone(), actor).await?;
    Ok(HttpResponse::Ok().json(json!({"tester": user, "run_forgotten": forgotten})))
}

#[derive(Deserialize)]
struct SimulateRequest {
    version: Option<String>,
    /// Whose stored A/B assignments to honour, and whose bucket to use.
    #[serde(default = "simulated_user")]
    user_id: String,
    #[serde(default)]
    attributes: Map<String, Value>,
    /// Answers by step key, or an ordered script that may go back (docs/src/qa.md).
    #[serde(default)]
    answers: Value,
}

fn simulated_user() -> String {
    "simulated-user".into()
}

async fn simulate(
    admin: Admin,
    state: web::Data<AppState>,
    body: Json<SimulateRequest>,
) -> Result<HttpResponse, ApiError> {
    let actor = qa(&admin)?;
    let req = body.into_inner();
    check_attributes(&req.attributes)?;
    let script = Script::from_json(req.answers).map_err(ApiError::InvalidRequest)?;
    let result = state
        .onboarding
        .simulate(
            req.version,
            req.user_id.clone(),
            req.attributes.into_iter().collect(),
            script,
        )
        .await?;
    record(
        &state,
        &actor,
        AuditAction::DebugSimulate,
        format!("version {} as {}", result.version, req.user_id),
    )
    .await?;
    Ok(HttpResponse::Ok().json(result))
}
