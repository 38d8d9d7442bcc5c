//! The QA pages: testers, a tester's state with forms to fake attributes,
//! force a variant, jump and reset, and "preview as" a phone would show it.
//! Same service and audit as the `/debug` API; refused when debug is off.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::pages::{CsrfForm, Nav, nav, redirect};
use super::session::Signed;
use super::{DashboardError, html};
use crate::auth::Role;
use crate::error::ApiError;
use crate::flow::Attributes;
use crate::flow::conditions::KNOWN_START_ATTRIBUTES;
use crate::onboarding::qa::ConditionResult;
use crate::state::AppState;
use crate::store::testers;

type Page = Result<HttpResponse, DashboardError>;

pub(super) fn require_qa(signed: &Signed, state: &AppState) -> Result<(), DashboardError> {
    signed.require(Role::Qa)?;
    if !state.settings.debug {
        return Err(ApiError::NotFound("the debug tools are off on this deployment".into()).into());
    }
    Ok(())
}

pub(super) fn user_url(user: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(user.as_bytes()).collect();
    format!("/admin/qa/users/{encoded}")
}

pub(super) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "qa.html")]
struct QaPage {
    nav: Option<Nav>,
    csrf: String,
    debug: bool,
    testers: Vec<(String, String)>,
}

pub async fn index(signed: Signed, state: web::Data<AppState>) -> Page {
    signed.require(Role::Qa)?;
    let list = state.db.run(testers::list).await?;
    Ok(html(
        StatusCode::OK,
        &QaPage {
            nav: nav(&signed),
            csrf: signed.csrf.clone(),
            debug: state.settings.debug,
            testers: list,
        },
    ))
}

#[derive(Deserialize)]
pub struct RegisterForm {
    csrf: String,
    user_id: String,
}

pub async fn register(
    signed: Signed,
    state: web::Data<AppState>,
    form: web::Form<RegisterForm>,
) -> Page {
    require_qa(&signed, &state)?;
    signed.check_csrf(&form.csrf)?;
    let user = form.user_id.trim().to_owned();
    if user.is_empty() || user.len() > 255 {
        return Err(ApiError::InvalidRequest("a user id has 1 to 255 bytes".into()).into());
    }
    state
        .onboarding
        .add_tester(user.clone(), signed.name.clone())
        .await?;
    Ok(redirect(&format!("{}?done=registered", user_url(&user))))
}

#[derive(Template)]
#[template(path = "tester.html")]
struct TesterPage {
    nav: Option<Nav>,
    csrf: String,
    user: String,
    done: Option<String>,
    run_summary: String,
    /// Said when the run is on an older version than staging serves.
    pinned: Option<String>,
    attributes: Vec<AttributeRow>,
    conditions: Vec<ConditionResult>,
    known: Vec<(String, String)>,
    extra: String,
    /// `step|scene` and its label
    groups: Vec<(String, String)>,
    steps: Vec<String>,
    variants: Vec<String>,
}

/// One attribute's value from each source, as text.
struct AttributeRow {
    name: String,
    start: String,
    answer: String,
    overridden: String,
    effective: String,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn tester(
    signed: Signed,
    state: web::Data<AppState>,
    user: web::Path<String>,
    query: web::Query<DoneQuery>,
) -> Page {
    require_qa(&signed, &state)?;
    let user = user.into_inner();
    let debug = state.onboarding.debug_state(user.clone()).await?;
    let sources = &debug.attributes;
    let attributes = sources
        .effective
        .iter()
        .map(|(k, v)| {
            let get = |m: &Attributes| m.get(k).map(text).unwrap_or_default();
            AttributeRow {
                name: k.clone(),
                start: get(&sources.start),
                answer: get(&sources.answers),
                overridden: get(&sources.overrides),
                effective: text(v),
            }
        })
        .collect();
    let overrides = &sources.overrides;
    let known = KNOWN_START_ATTRIBUTES
        .iter()
        .map(|k| {
            (
                k.to_string(),
                overrides.get(*k).map(text).unwrap_or_default(),
            )
        })
        .collect();
    let extra = overrides
        .iter()
        .filter(|(k, _)| !KNOWN_START_ATTRIBUTES.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={}", text(v)))
        .collect::<Vec<_>>()
        .join("\n");
    let staging = state
        .db
        .run(|c| crate::store::channels::get(c, crate::store::channels::Channel::Staging))
        .await?
        .map(|c| c.version_id);
    let version = match &debug.run {
        Some(run) => Some(run.version.clone()),
        None => staging.clone(),
    };
    // Runs are pinned: a run started before the latest deploy is on the
    // older version, and approving staging's would approve what QA never saw.
    let pinned = match (&debug.run, &staging) {
        (Some(run), Some(staging)) if run.version != *staging => Some(format!(
            "This run is pinned to version {}, not the {} staging serves now: what you see is the older version. Reset the run to try staging's before approving it.",
            run.version, staging
        )),
        _ => None,
    };
    let (mut groups, mut steps) = (Vec::new(), Vec::new());
    if let Some(version) = version {
        let flows = state.onboarding.flows().clone();
        let flow = state.db.run(move |c| flows.get(c, &version)).await?;
        for (position, step) in flow.def.steps.iter().enumerate() {
            steps.push(step.clone());
            for &i in flow.scenes_of(position) {
                let s = flow.scene(i);
                if flow.group_of(i).is_some() {
                    groups.push((
                        format!("{step}|{}", s.key),
                        format!("{step} ({}): {}", s.condition, s.key),
                    ));
                }
            }
        }
    }
    let run_summary = match (&debug.run, &debug.state) {
        (Some(run), Some(st)) => format!(
            "version {}, {}, at step {}, scene {}, {}",
            run.version,
            run.status,
            st.scene.as_ref().map_or("—".into(), |s| s.step.clone()),
            st.scene.as_ref().map_or("—".into(), |s| s.key.clone()),
            crate::text::counted(st.progress.answered as i64, "answer")
        ),
        _ => "No run yet: the phone starts one with POST /v1/onboarding/start.".into(),
    };
    Ok(html(
        StatusCode::OK,
        &TesterPage {
            nav: nav(&signed),
            csrf: signed.csrf.clone(),
            done: query.into_inner().done.map(|d| format!("Done: {d}.")),
            run_summary,
            pinned,
            attributes,
            conditions: debug.conditions,
            known,
            extra,
            groups,
            steps,
            variants: debug
                .variants
                .iter()
                .map(|v| format!("{} ({}): {} — {}", v.step, v.condition, v.scene, v.source))
                .collect(),
            user,
        },
    ))
}

/// Parse an urlencoded body into its pairs, keeping repeated keys.
pub(super) fn pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

pub(super) fn field<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub async fn overrides(
    signed: Signed,
    state: web::Data<AppState>,
    user: web::Path<String>,
    body: web::Bytes,
) -> Page {
    require_qa(&signed, &state)?;
    let form = pairs(&body);
    signed.check_csrf(field(&form, "csrf"))?;
    let user = user.into_inner();
    let mut attributes = Map::new();
    for (k, v) in &form {
        if let Some(name) = k.strip_prefix("o_")
            && !v.trim().is_empty()
        {
            attributes.insert(name.to_owned(), Value::String(v.trim().to_owned()));
        }
    }
    for line in field(&form, "extra").lines() {
        if let Some((k, v)) = line.split_once('=')
            && !k.trim().is_empty()
        {
            attributes.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
        }
    }
    crate::onboarding::check_attributes(&attributes)?;
    state
        .onboarding
        .set_overrides(
            user.clone(),
            attributes.into_iter().collect(),
            signed.name.clone(),
        )
        .await?;
    Ok(redirect(&format!(
        "{}?done=overrides%20saved",
        user_url(&user)
    )))
}

#[derive(Deserialize)]
pub struct VariantForm {
    csrf: String,
    choice: String,
}

pub async fn variant(
    signed: Signed,
    state: web::Data<AppState>,
    user: web::Path<String>,
    form: web::Form<VariantForm>,
) -> Page {
    require_qa(&signed, &state)?;
    signed.check_csrf(&form.csrf)?;
    let user = user.into_inner();
    let (step, scene) = form
        .choice
        .split_once('|')
        .ok_or_else(|| ApiError::InvalidRequest("choose a variant".into()))?;
    state
        .onboarding
        .force_variant(user.clone(), step.into(), scene.into(), signed.name.clone())
        .await?;
    Ok(redirect(&format!(
        "{}?done=variant%20forced",
        user_url(&user)
    )))
}

#[derive(Deserialize)]
pub struct JumpForm {
    csrf: String,
    step: String,
}

pub async fn jump(
    signed: Signed,
    state: web::Data<AppState>,
    user: web::Path<String>,
    form: web::Form<JumpForm>,
) -> Page {
    require_qa(&signed, &state)?;
    signed.check_csrf(&form.csrf)?;
    let user = user.into_inner();
    let step = form.into_inner().step;
    state
        .onboarding
        .jump(user.clone(), step.clone(), signed.name.clone())
        .await?;
    Ok(redirect(&format!(
        "{}?done=moved%20to%20{step}",
        user_url(&user)
    )))
}

pub async fn reset(
    signed: Signed,
    state: web::Data<AppState>,
    user: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Page {
    require_qa(&signed, &state)?;
    signed.check_csrf(&form.csrf)?;
    let user = user.into_inner();
    state
        .onboarding
        .reset(user.clone(), signed.name.clone())
        .await?;
    Ok(redirect(&format!("{}?done=run%20reset", user_url(&user))))
}
