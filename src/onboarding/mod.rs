//! Runs: a user's way through the flow of their channel, kept in the
//! database. The engine decides; this module loads, stores and records.
//!
//! Every write is one transaction guarded by the run's `revision`: a lost
//! race (a concurrent answer, a second start, SQLite's writer lock) rolls
//! back and runs again on fresh data, so ten identical answers sent at once
//! advance the run exactly once and the other nine replay its state.

pub mod flows;
pub mod qa;

use std::sync::Arc;
use std::time::Duration;

use diesel::Connection;
use serde_json::Value;

use crate::flow::answer::{self, AnswerError};
use crate::flow::engine::Assignment;
use crate::flow::locale::{self, Wanted};
use crate::flow::view::{self, Progress, State, Status};
use crate::flow::{Attributes, CompiledFlow, Context, Next, Reached, values};
use crate::store::runs::{self, AnswerRow, AssignmentRow, NewEvent, RunRow};
use crate::store::{AnyConnection, Db, StoreError, channels, testers};
pub use flows::FlowCache;

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("this user has not started onboarding: call POST /v1/onboarding/start first")]
    NotStarted,
    #[error("no flow is published on the {0} channel")]
    FlowUnavailable(String),
    #[error("scene_id is not the scene this user is on; fetch GET /v1/onboarding/current")]
    SceneMismatch { current: Option<String> },
    #[error("this scene was already answered with a different answer")]
    AlreadyAnswered,
    #[error("this user's onboarding is already completed")]
    AlreadyCompleted,
    #[error("{0}")]
    InvalidAnswer(#[from] AnswerError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the user {0} is not a registered tester")]
    NotATester(String),
    #[error("{0}")]
    UnknownKey(String),
    #[error("{0}")]
    Invalid(String),
    /// The run changed under us; retried, and surfaced only if it keeps happening.
    #[error("the run kept changing while it was being written")]
    Conflict,
}

impl From<diesel::result::Error> for OnboardingError {
    fn from(e: diesel::result::Error) -> Self {
        OnboardingError::Store(e.into())
    }
}

impl OnboardingError {
    fn is_retryable(&self) -> bool {
        match self {
            OnboardingError::Conflict => true,
            OnboardingError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }
}

type Result<T, E = OnboardingError> = std::result::Result<T, E>;

const MAX_ATTEMPTS: u32 = 50;
/// How long a write keeps retrying a lost race or a busy database (an
/// import's transaction on SQLite) before answering 503 `storage_unavailable`.
const RETRY_FOR: Duration = Duration::from_secs(3);

/// Run `body` in a transaction, again on a lost race.
fn transact<T>(
    conn: &mut AnyConnection,
    mut body: impl FnMut(&mut AnyConnection) -> Result<T>,
) -> Result<T> {
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        match conn.transaction(|c| body(c)) {
            Err(e)
                if e.is_retryable()
                    && (attempt < MAX_ATTEMPTS || started.elapsed() < RETRY_FOR) =>
            {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(u64::from(attempt.min(20))));
            }
            other => return other,
        }
    }
}

#[derive(Clone)]
pub struct Onboarding {
    db: Db,
    flows: Arc<FlowCache>,
    metrics: crate::metrics::Metrics,
}

impl Onboarding {
    pub fn new(db: Db, metrics: crate::metrics::Metrics) -> Onboarding {
        Onboarding {
            db,
            flows: Arc::new(FlowCache::default()),
            metrics,
        }
    }

    pub fn flows(&self) -> &Arc<FlowCache> {
        &self.flows
    }

    /// Start a run, or return the user's existing one (then `attributes` are ignored).
    pub async fn start(
        &self,
        user_id: String,
        attributes: Attributes,
        accept: Wanted,
    ) -> Result<State> {
        let flows = self.flows.clone();
        // The boundary: attribute values are stored in their one form.
        let attributes = values::normalise_all(&attributes);
        self.db
            .run_with(move |c| transact(c, |c| start(c, &flows, &user_id, &attributes, &accept)))
            .await
    }

    pub async fn current(&self, user_id: String, accept: Wanted) -> Result<State> {
        let flows = self.flows.clone();
        self.db
            .run_with(move |c| {
                let who = who(c, &user_id)?;
                let run =
                    runs::find(c, &user_id, who.channel)?.ok_or(OnboardingError::NotStarted)?;
                let flow = flows.get(c, &run.version_id)?;
                let attrs = effective_attributes(&run, &who.overrides)?;
                render_in(&flow, &run, &attrs, &accept)
            })
            .await
    }

    pub async fn answer(
        &self,
        user_id: String,
        scene_id: String,
        answer: Value,
        accept: Wanted,
    ) -> Result<State> {
        let flows = self.flows.clone();
        let (state, counted) = self
            .db
            .run_with(move |c| {
                transact(c, |c| {
                    answer_scene(c, &flows, &user_id, &scene_id, &answer, &accept)
                })
            })
            .await?;
        if let Some((version, step)) = counted {
            self.metrics
                .answers
                .with_label_values(&[version.as_str(), step.as_str()])
                .inc();
        }
        Ok(state)
    }
}

/// Who is asking: testers are served staging and may have QA overrides;
/// everybody else is served production.
pub struct Who {
    pub channel: &'static str,
    pub overrides: Attributes,
}

pub fn who(conn: &mut AnyConnection, user_id: &str) -> Result<Who> {
    if !runs::is_tester(conn, user_id)? {
        return Ok(Who {
            channel: channels::PRODUCTION,
            overrides: Attributes::new(),
        });
    }
    let overrides = match testers::overrides(conn, user_id)? {
        Some(text) => parse_object(&text, "overrides")?,
        None => Attributes::new(),
    };
    Ok(Who {
        channel: channels::STAGING,
        overrides,
    })
}

fn parse_object(text: &str, what: &str) -> Result<Attributes> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{what} of a run: {e}")).into())
}

/// Attributes as conditions and templates see them: QA overrides, then
/// answers, then start attributes.
pub fn effective_attributes(run: &RunRow, overrides: &Attributes) -> Result<Attributes> {
    let mut attrs = parse_object(&run.attributes, "attributes")?;
    attrs.extend(parse_object(&run.answers, "answers")?);
    attrs.extend(overrides.clone());
    // Runs stored before values were normalised at the boundary read the same.
    Ok(values::normalise_all(&attrs))
}

fn start(
    c: &mut AnyConnection,
    flows: &FlowCache,
    user_id: &str,
    attributes: &Attributes,
    accept: &Wanted,
) -> Result<State> {
    let Who { channel, overrides } = who(c, user_id)?;
    if let Some(run) = runs::find(c, user_id, channel)? {
        let flow = flows.get(c, &run.version_id)?;
        let attrs = effective_attributes(&run, &overrides)?;
        return render_in(&flow, &run, &attrs, accept);
    }
    let version = channels::get(c, channel)?
        .ok_or_else(|| OnboardingError::FlowUnavailable(channel.to_owned()))?
        .version_id;
    let flow = flows.get(c, &version)?;
    let now = crate::store::now();
    let mut run = RunRow {
        id: crate::auth::random_hex(12),
        user_id: user_id.to_owned(),
        channel: channel.to_owned(),
        version_id: version,
        status: runs::IN_PROGRESS.to_owned(),
        step_key: None,
        scene_key: None,
        scene_id: None,
        shown: 0,
        answered: 0,
        attributes: serde_json::to_string(attributes).expect("attributes serialise"),
        answers: "{}".to_owned(),
        revision: 0,
        started_at: now,
        updated_at: now,
        completed_at: None,
    };
    let mut events = Vec::new();
    let attrs = effective_attributes(&run, &overrides)?;
    advance(c, &flow, &mut run, Next::Step(0), &attrs, &mut events)?;
    runs::insert(c, &run)?;
    runs::record_events(c, &events)?;
    render_in(&flow, &run, &attrs, accept)
}

fn answer_scene(
    c: &mut AnyConnection,
    flows: &FlowCache,
    user_id: &str,
    scene_id: &str,
    answer: &Value,
    accept: &Wanted,
) -> Result<(State, Option<(String, String)>)> {
    let Who { channel, overrides } = who(c, user_id)?;
    let mut run = runs::find(c, user_id, channel)?.ok_or(OnboardingError::NotStarted)?;
    let answer_text = serde_json::to_string(answer).expect("JSON serialises");
    if let Some(earlier) = runs::find_answer(c, &run.id, scene_id)? {
        if earlier.answer != answer_text {
            return Err(OnboardingError::AlreadyAnswered);
        }
        let state = serde_json::from_str(&earlier.response).map_err(|e| {
            OnboardingError::from(StoreError::Corrupt(format!(
                "stored response of {scene_id}: {e}"
            )))
        })?;
        return Ok((state, None));
    }
    if run.status == runs::COMPLETED {
        return Err(OnboardingError::AlreadyCompleted);
    }
    if run.scene_id.as_deref() != Some(scene_id) {
        return Err(OnboardingError::SceneMismatch {
            current: run.scene_id.clone(),
        });
    }
    let flow = flows.get(c, &run.version_id)?;
    let (step_key, scene_key) = (
        run.step_key.clone().unwrap_or_default(),
        run.scene_key.clone().unwrap_or_default(),
    );
    let scene = flow.scene_position(&scene_key).ok_or_else(|| {
        StoreError::Corrupt(format!("run {} is on unknown scene {scene_key}", run.id))
    })?;
    let accepted = answer::accept(&flow, scene, answer)?;

    let now = crate::store::now();
    let mut answers = parse_object(&run.answers, "answers")?;
    if let Some(key) = &flow.scene(scene).save_as {
        answers.insert(key.clone(), accepted.value);
    }
    run.answers = serde_json::to_string(&answers).expect("answers serialise");
    run.answered += 1;
    let expected = run.revision;
    run.revision += 1;
    run.updated_at = now;

    let (experiment_id, variation_id) = experiment_of(&flow, scene);
    let answered_step = step_key.clone();
    let mut events = vec![NewEvent {
        kind: "answered",
        step_key: Some(step_key.clone()),
        scene_key: Some(scene_key.clone()),
        experiment_id,
        variation_id,
        ..event(&run, now)
    }];
    let attrs = effective_attributes(&run, &overrides)?;
    advance(c, &flow, &mut run, accepted.next, &attrs, &mut events)?;
    // Advancing stores no answer, so these attributes are still the run's.
    let state = render_in(&flow, &run, &attrs, accept)?;
    runs::insert_answer(
        c,
        &AnswerRow {
            run_id: run.id.clone(),
            scene_id: scene_id.to_owned(),
            step_key,
            scene_key,
            answer: answer_text,
            response: serde_json::to_string(&state).expect("states serialise"),
            created_at: now,
        },
    )?;
    if !runs::update(c, &run, expected)? {
        return Err(OnboardingError::Conflict);
    }
    runs::record_events(c, &events)?;
    Ok((state, Some((run.version_id.clone(), answered_step))))
}

/// The experiment a scene belongs to, when its step and condition have
/// several scenes.
fn experiment_of(flow: &CompiledFlow, scene: usize) -> (Option<String>, Option<String>) {
    let s = flow.scene(scene);
    let step = flow.step_position(&s.step).unwrap_or_default();
    let members = flow
        .scenes_of(step)
        .iter()
        .filter(|&&i| flow.scene(i).condition == s.condition)
        .count();
    if members > 1 {
        (
            Some(format!("{}:{}", s.step, s.condition)),
            Some(s.key.clone()),
        )
    } else {
        (None, None)
    }
}

fn event(run: &RunRow, at: chrono::NaiveDateTime) -> NewEvent {
    NewEvent {
        kind: "scene_shown",
        occurred_at: at,
        user_id: run.user_id.clone(),
        run_id: run.id.clone(),
        version_id: run.version_id.clone(),
        channel: run.channel.clone(),
        step_key: None,
        scene_key: None,
        experiment_id: None,
        variation_id: None,
    }
}

/// Move `run` to the scene reached from `from` (or complete it), storing a new
/// A/B assignment and recording the events of showing it.
pub fn advance(
    c: &mut AnyConnection,
    flow: &CompiledFlow,
    run: &mut RunRow,
    from: Next,
    attributes: &Attributes,
    events: &mut Vec<NewEvent>,
) -> Result<()> {
    let now = run.updated_at;
    let user_id = run.user_id.clone();
    let ctx = Context {
        user_id: &user_id,
        attributes,
        today: now.date(),
    };
    let mut failure = None;
    let reached = flow.reach(from, &ctx, &mut |step, condition| match runs::assignment(
        c, &user_id, step, condition,
    ) {
        Ok(found) => found.map(|a| a.scene_key),
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    match reached {
        Reached::End { .. } => {
            run.status = runs::COMPLETED.to_owned();
            run.step_key = None;
            run.scene_key = None;
            run.scene_id = None;
            run.completed_at = Some(now);
            events.push(NewEvent {
                kind: "completed",
                ..event(run, now)
            });
        }
        Reached::Scene(selection) => {
            let scene = flow.scene(selection.scene);
            let step = flow.step_key(selection.step).to_owned();
            let (mut experiment_id, mut variation_id) = (None, None);
            if let Some(group) = &selection.group {
                let first_exposure = match selection.assignment {
                    Assignment::Bucketed { .. } => {
                        runs::put_assignment(
                            c,
                            &AssignmentRow {
                                user_id: user_id.clone(),
                                step_key: step.clone(),
                                condition_name: selection.condition.clone(),
                                scene_key: scene.key.clone(),
                                source: "bucket".into(),
                                assigned_at: now,
                                exposed_at: Some(now),
                            },
                        )?;
                        true
                    }
                    Assignment::Stored => {
                        runs::mark_exposed(c, &user_id, &step, &selection.condition, now)?
                    }
                    Assignment::Only => false,
                };
                experiment_id = Some(group.experiment_id.clone());
                variation_id = Some(scene.key.clone());
                if first_exposure {
                    events.push(NewEvent {
                        kind: "exposure",
                        step_key: Some(step.clone()),
                        scene_key: Some(scene.key.clone()),
                        experiment_id: experiment_id.clone(),
                        variation_id: variation_id.clone(),
                        ..event(run, now)
                    });
                }
            }
            run.shown += 1;
            run.scene_id = Some(format!("{}-{}", run.id, run.shown));
            run.step_key = Some(step.clone());
            run.scene_key = Some(scene.key.clone());
            events.push(NewEvent {
                kind: "scene_shown",
                step_key: Some(step),
                scene_key: Some(scene.key.clone()),
                experiment_id,
                variation_id,
                ..event(run, now)
            });
        }
    }
    Ok(())
}

/// The state of a run as the app sees it; `attributes` are the run's
/// effective attributes ([`effective_attributes`]), which the caller has at hand.
pub fn render(flow: &CompiledFlow, run: &RunRow, attributes: &Attributes) -> Result<State> {
    render_in(flow, run, attributes, &Wanted::default())
}

/// [`render`] in the language negotiated from the attribute `locale`, else
/// `accept` (README "Languages").
pub fn render_in(
    flow: &CompiledFlow,
    run: &RunRow,
    attributes: &Attributes,
    accept: &Wanted,
) -> Result<State> {
    let served = locale::served(flow.locales(), attributes, accept);
    let answered = run.answered.max(0) as u32;
    let Some(scene_key) = &run.scene_key else {
        return Ok(State {
            status: Status::Completed,
            version: run.version_id.clone(),
            scene: None,
            progress: Progress {
                answered,
                remaining_estimate: 0,
            },
            locale: served,
        });
    };
    let scene = flow.scene_position(scene_key).ok_or_else(|| {
        StoreError::Corrupt(format!("run {} is on unknown scene {scene_key}", run.id))
    })?;
    let step = flow
        .step_position(&flow.scene(scene).step)
        .unwrap_or_default();
    Ok(State {
        status: Status::InProgress,
        version: run.version_id.clone(),
        scene: Some(view::scene_view(
            flow,
            scene,
            run.scene_id.clone().unwrap_or_default(),
            attributes,
            &locale::chain(flow.locales(), served.as_deref()),
        )),
        progress: Progress {
            answered,
            remaining_estimate: flow.remaining_from(step),
        },
        locale: served,
    })
}
