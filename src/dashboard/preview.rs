//! "Preview as": a tester's run as the chat a phone shows, with the input of
//! the scene on screen, answered (and gone back from) through the real run.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use askama::Template;
use serde_json::Value;

use super::pages::{Nav, nav, redirect};
use super::qa::{field, pairs, require_qa, text, user_url};
use super::session::Signed;
use super::{DashboardError, html};
use crate::error::ApiError;
use crate::flow::back::{BackError, Given, plan};
use crate::flow::{CompiledFlow, view};
use crate::onboarding::qa::{DebugState, RunSummary};
use crate::state::AppState;
use crate::store::backs::shown_number;

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
    /// The answer withdrawn by going back, as the app may prefill it.
    previous: Option<String>,
}

/// The Back button under the scene on screen (docs/src/mobile-api.md "Going back").
struct BackButton {
    scene_id: String,
    /// The scene going back returns to.
    to: String,
    /// Why the workbook does not allow it (`back` = `no`), if it does not.
    refused: Option<String>,
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    nav: Option<Nav>,
    csrf: String,
    user: String,
    turns: Vec<Turn>,
    input: Option<InputForm>,
    back: Option<BackButton>,
    /// The run's backs, in words, oldest first.
    backs: Vec<String>,
    /// Why the last action did not go through.
    notice: Option<String>,
    ending: String,
}

pub async fn preview(signed: Signed, state: web::Data<AppState>, user: web::Path<String>) -> Page {
    require_qa(&signed, &state)?;
    let page = page(&signed, &state, user.into_inner(), None).await?;
    Ok(html(StatusCode::OK, &page))
}

async fn page(
    signed: &Signed,
    state: &AppState,
    user: String,
    notice: Option<String>,
) -> Result<PreviewPage, DashboardError> {
    let debug = state.onboarding.debug_state(user.clone()).await?;
    let (conversation, ending) = match (&debug.run, &debug.state) {
        (Some(run), Some(current)) => (
            conversation(state, &debug, run, current).await?,
            "The flow is completed. Reset the run to go again.",
        ),
        _ => (
            Conversation::default(),
            "No run yet: start one from the phone (POST /v1/onboarding/start), then reload.",
        ),
    };
    let backs = debug
        .backs
        .iter()
        .map(|b| {
            format!(
                "{} went back from {} to {} ({})",
                b.at.format("%H:%M:%S"),
                b.from_step,
                b.to_step,
                b.to_scene
            )
        })
        .collect();
    Ok(PreviewPage {
        nav: nav(signed),
        csrf: signed.csrf.clone(),
        user,
        turns: conversation.turns,
        input: conversation.input,
        back: conversation.back,
        backs,
        notice,
        ending: ending.into(),
    })
}

#[derive(Default)]
struct Conversation {
    turns: Vec<Turn>,
    input: Option<InputForm>,
    back: Option<BackButton>,
}

/// Where the Back button leads from the scene on screen, if anywhere: the
/// plan of the real back over the run's current answers.
fn back_button(flow: &CompiledFlow, debug: &DebugState, scene_id: &str) -> Option<BackButton> {
    let mut history: Vec<_> = debug.history.iter().collect();
    history.sort_by_key(|h| shown_number(&h.scene_id));
    let given: Vec<Given> = history
        .iter()
        .map(|h| {
            Some(Given {
                scene: flow.scene_position(&h.scene)?,
                answer: h.answer.clone(),
            })
        })
        .collect::<Option<_>>()?;
    let (to, refused) = match plan(flow, &given) {
        Ok(p) => (flow.scene(p.scene).key.clone(), None),
        Err(BackError::NotAllowed(fixed)) => (
            String::new(),
            Some(format!(
                "Going back is not allowed: scene {fixed} cannot be changed any more (its back column is no)."
            )),
        ),
        Err(_) => return None,
    };
    Some(BackButton {
        scene_id: scene_id.to_owned(),
        to,
        refused,
    })
}

/// The run so far as chat turns, with the input of the scene on screen.
async fn conversation(
    state: &AppState,
    debug: &DebugState,
    run: &RunSummary,
    current: &crate::flow::view::State,
) -> Result<Conversation, DashboardError> {
    let version = run.version.clone();
    let flows = state.onboarding.flows().clone();
    let flow = state.db.run(move |c| flows.get(c, &version)).await?;
    let effective = &debug.attributes.effective;
    let source_of = |step: &str, condition: &str| {
        debug
            .variants
            .iter()
            .find(|v| v.step == step && v.condition == condition)
            .map(|v| v.source)
    };
    let turn = |scene_key: &str, answer: Option<String>| -> Option<Turn> {
        let i = flow.scene_position(scene_key)?;
        let s = flow.scene(i);
        let served = crate::flow::locale::served(flow.languages(), effective, &Default::default());
        let chain = crate::flow::locale::chain(flow.locales(), served.as_deref());
        let view = view::scene_view(&flow, i, String::new(), effective, &chain);
        Some(Turn {
            step: s.step.clone(),
            scene: s.key.clone(),
            why: crate::onboarding::qa::reason(&flow, i, source_of(&s.step, &s.condition)),
            messages: view.messages.into_iter().map(|m| m.text).collect(),
            answer,
        })
    };
    let mut turns: Vec<Turn> = debug
        .history
        .iter()
        .filter_map(|h| turn(&h.scene, Some(shown(&h.answer))))
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
            previous: s.input.previous.as_ref().map(shown),
        }
    });
    let back = input
        .as_ref()
        .and_then(|i| back_button(&flow, debug, &i.scene_id));
    Ok(Conversation { turns, input, back })
}

/// An answer as the chat shows it.
fn shown(answer: &Value) -> String {
    match answer {
        Value::Null => "(next)".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => text(other),
    }
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

/// Go back from the tester's current scene through the real run, as the
/// phone would; a refusal (the workbook's `back` = `no`, nothing to go back
/// to, a page out of date) is shown on the preview in words.
pub async fn back(
    signed: Signed,
    state: web::Data<AppState>,
    user: web::Path<String>,
    body: web::Bytes,
) -> Page {
    require_qa(&signed, &state)?;
    let form = pairs(&body);
    signed.check_csrf(field(&form, "csrf"))?;
    let user = user.into_inner();
    // Only a tester's run (the debug view refuses anybody else).
    state.onboarding.debug_state(user.clone()).await?;
    let scene_id = field(&form, "scene_id").to_owned();
    match state
        .onboarding
        .back(user.clone(), scene_id, Default::default())
        .await
        .map_err(ApiError::from)
    {
        Ok(_) => Ok(redirect(&format!("{}/preview", user_url(&user)))),
        Err(e) if e.status_code() == StatusCode::CONFLICT => {
            let notice = format!("Could not go back: {e}");
            let page = page(&signed, &state, user, Some(notice)).await?;
            Ok(html(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(e.into()),
    }
}
