//! "Preview as": a tester's run as the chat a phone shows, with the input of
//! the scene on screen, answered through the real run.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde_json::Value;

use super::pages::{Nav, nav, redirect};
use super::qa::{field, pairs, require_qa, text, user_url};
use super::session::Signed;
use super::{DashboardError, html};
use crate::error::ApiError;
use crate::flow::view;
use crate::onboarding::qa::{DebugState, RunSummary};
use crate::startup::AppState;

type Page = Result<HttpResponse, DashboardError>;

struct Turn {
    step: String,
    scene: String,
    why: String,
    messages: Vec<String>,
    answer: Option<String>,
}

struct InputForm {
    scene_id: String,
    kind: String,
    choices: Vec<(String, String)>,
    placeholder: String,
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    nav: Option<Nav>,
    csrf: String,
    user: String,
    turns: Vec<Turn>,
    input: Option<InputForm>,
    ending: String,
}

pub async fn preview(signed: Signed, state: web::Data<AppState>, user: web::Path<String>) -> Page {
    require_qa(&signed, &state)?;
    let user = user.into_inner();
    let debug = state.onboarding.debug_state(user.clone()).await?;
    let (turns, input, ending) = match (&debug.run, &debug.state) {
        (Some(run), Some(current)) => {
            let (turns, input) = conversation(&state, &debug, run, current).await?;
            (
                turns,
                input,
                "The flow is completed. Reset the run to go again.",
            )
        }
        _ => (
            Vec::new(),
            None,
            "No run yet: start one from the phone (POST /v1/onboarding/start), then reload.",
        ),
    };
    Ok(html(
        StatusCode::OK,
        &PreviewPage {
            nav: nav(&signed),
            csrf: signed.csrf.clone(),
            user,
            turns,
            input,
            ending: ending.into(),
        },
    ))
}

/// The run so far as chat turns, with the input of the scene on screen.
async fn conversation(
    state: &AppState,
    debug: &DebugState,
    run: &RunSummary,
    current: &crate::flow::view::State,
) -> Result<(Vec<Turn>, Option<InputForm>), DashboardError> {
    let version = run.version.clone();
    let flows = state.onboarding.flows().clone();
    let flow = state.db.run(move |c| flows.get(c, &version)).await?;
    let effective = &debug.attributes.effective;
    let source_of = |step: &str, condition: &str| {
        debug
            .variants
            .iter()
            .find(|v| v.step == step && v.condition == condition)
            .map(|v| v.source.clone())
    };
    let turn = |scene_key: &str, answer: Option<String>| -> Option<Turn> {
        let i = flow.scene_position(scene_key)?;
        let s = flow.scene(i);
        let served = crate::flow::locale::served(flow.locales(), effective, &Default::default());
        let chain = crate::flow::locale::chain(flow.locales(), served.as_deref());
        let view = view::scene_view(&flow, i, String::new(), effective, &chain);
        Some(Turn {
            step: s.step.clone(),
            scene: s.key.clone(),
            why: crate::onboarding::qa::reason(
                &flow,
                i,
                source_of(&s.step, &s.condition).as_deref(),
            ),
            messages: view.messages.into_iter().map(|m| m.text).collect(),
            answer,
        })
    };
    let mut turns: Vec<Turn> = debug
        .history
        .iter()
        .filter_map(|h| {
            let answer = match &h.answer {
                Value::Null => "(next)".to_owned(),
                Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
                other => text(other),
            };
            turn(&h.scene, Some(answer))
        })
        .collect();
    let input = current.scene.as_ref().map(|s| {
        turns.extend(turn(&s.key, None));
        InputForm {
            scene_id: s.id.clone(),
            kind: s.input.kind.as_str().to_owned(),
            choices: s
                .input
                .choices
                .iter()
                .map(|c| (c.key.clone(), c.label.clone()))
                .collect(),
            placeholder: s.input.placeholder.clone().unwrap_or_default(),
        }
    });
    Ok((turns, input))
}

/// Answer the tester's current scene through the real run, as the phone would.
pub async fn answer(
    signed: Signed,
    state: web::Data<AppState>,
    user: web::Path<String>,
    body: web::Bytes,
) -> Page {
    require_qa(&signed, &state)?;
    let form = pairs(&body);
    signed.check_csrf(field(&form, "csrf"))?;
    let user = user.into_inner();
    let debug = state.onboarding.debug_state(user.clone()).await?;
    let scene = debug
        .state
        .and_then(|s| s.scene)
        .ok_or_else(|| ApiError::InvalidRequest("the run has no scene to answer".into()))?;
    let raw = field(&form, "answer").trim().to_owned();
    let answer = match scene.input.kind.as_str() {
        "none" => Value::Null,
        "multi_choice" => Value::Array(
            form.iter()
                .filter(|(k, _)| k == "pick")
                .map(|(_, v)| Value::String(v.clone()))
                .collect(),
        ),
        "number" => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(raw)),
        _ => Value::String(raw),
    };
    let scene_id = field(&form, "scene_id").to_owned();
    state
        .onboarding
        .answer(user.clone(), scene_id, answer, Default::default())
        .await
        .map_err(ApiError::from)?;
    Ok(redirect(&format!("{}/preview", user_url(&user))))
}
