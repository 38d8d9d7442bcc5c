//! Runs: a user's way through the flow of their channel, kept in the
//! database. The engine decides; this module loads, stores and records.
//!
//! Every answer is load → decide → save ([`load`], [`decide`], [`save`]):
//! one read of everything the decision needs, a decision with no database,
//! one transaction writing everything it produced. The run is written only
//! if its `revision` is still the one read: a lost race (a concurrent
//! answer, a second start, SQLite's writer lock) runs again on fresh data,
//! so ten identical answers sent at once advance the run exactly once and
//! the other nine replay its state.

pub mod back;
pub mod cache;
pub mod commit;
pub mod decide;
pub mod load;
pub mod qa;
pub mod rescue;
pub mod retry;
pub mod runs;
pub mod save;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::background::Background;
use crate::flow::answer::AnswerError;
use crate::flow::locale::Wanted;
use crate::flow::view::State;
use crate::flow::{Assignments, Attributes, CompiledFlow, values};
use crate::store::channels::Channel;
use crate::store::runs::RunRow;
use crate::store::{AnyConnection, Db, FlowCache, StoreError};
use decide::Answered;
pub use load::who;
use retry::{retrying, retrying_async, transact};

#[derive(Debug, thiserror::Error)]
pub enum OnboardingError {
    #[error("this user has not started onboarding: call POST /v1/onboarding/start first")]
    NotStarted,
    #[error("no flow is published on the {0} channel")]
    FlowUnavailable(Channel),
    #[error("scene_id is not the scene this user is on; fetch GET /v1/onboarding/current")]
    SceneMismatch { current: Option<String> },
    #[error("this scene was already answered with a different answer")]
    AlreadyAnswered,
    #[error("this user's onboarding is already completed")]
    AlreadyCompleted,
    #[error(
        "scene '{0}' cannot be changed any more (its back column is no), so the run cannot go back past it"
    )]
    BackNotAllowed(String),
    #[error("there is no earlier answered scene to go back to")]
    NothingToGoBackTo,
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
    pub fn is_retryable(&self) -> bool {
        match self {
            OnboardingError::Conflict => true,
            OnboardingError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }
}

type Result<T, E = OnboardingError> = std::result::Result<T, E>;

/// Most start attributes a request may carry, and the longest text value.
const MAX_ATTRIBUTES: usize = 64;
const MAX_ATTRIBUTE_TEXT: usize = 1000;
/// Bytes of one run's attributes as JSON (docs/src/operations.md "Limits"): a run is kept
/// in memory and rendered on every answer, so it stays small whatever the
/// per-value limits add up to (64 lists of 64 texts of 1,000 characters
/// would be megabytes).
pub const MAX_ATTRIBUTE_BYTES: usize = 32 * 1024;

/// Start attributes (and QA overrides) as docs/src/mobile-api.md allows
/// them: at most 64 names matching `[a-z0-9_]{1,64}`, each a string of up to
/// 1,000 characters, a number, a boolean, null, or a list of those, and
/// at most [`MAX_ATTRIBUTE_BYTES`] as JSON in all;
/// [`OnboardingError::Invalid`] (`invalid_request`) otherwise.
pub fn check_attributes(
    attributes: &serde_json::Map<String, Value>,
) -> Result<(), OnboardingError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(OnboardingError::Invalid(format!(
            "at most {MAX_ATTRIBUTES} attributes are accepted"
        )));
    }
    for (key, value) in attributes {
        if !crate::flow::Key::is_valid(key) {
            return Err(OnboardingError::Invalid(format!(
                "attribute name '{key}' must match [a-z0-9_]{{1,64}}"
            )));
        }
        let scalar_ok = |v: &Value| match v {
            Value::String(s) => s.chars().count() <= MAX_ATTRIBUTE_TEXT,
            Value::Null | Value::Bool(_) | Value::Number(_) => true,
            _ => false,
        };
        let ok = match value {
            Value::Array(items) => items.len() <= MAX_ATTRIBUTES && items.iter().all(scalar_ok),
            other => scalar_ok(other),
        };
        if !ok {
            return Err(OnboardingError::Invalid(format!(
                "attribute '{key}' must be a string (up to {MAX_ATTRIBUTE_TEXT} characters), number, boolean, null or a list of those"
            )));
        }
    }
    let bytes = serde_json::to_vec(attributes).map_or(usize::MAX, |t| t.len());
    if bytes > MAX_ATTRIBUTE_BYTES {
        return Err(OnboardingError::Invalid(format!(
            "the attributes take {bytes} bytes as JSON; at most {MAX_ATTRIBUTE_BYTES} are accepted"
        )));
    }
    Ok(())
}

/// How answers are written (docs/src/configuration.md "Configuration").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerSettings {
    /// Runs kept in memory per instance; 0 disables the cache.
    pub run_cache: usize,
    /// Bytes the kept runs may take (by [`cache::footprint`]); 0 disables
    /// the cache.
    pub run_cache_bytes: u64,
    /// Bytes the compiled flows may take (by [`crate::store::flows::footprint`]).
    pub flow_cache_bytes: u64,
    /// How long a write waits for others to commit with; zero disables
    /// group commit.
    pub group_commit: Duration,
}

impl Default for AnswerSettings {
    fn default() -> Self {
        AnswerSettings {
            run_cache: 10_000,
            run_cache_bytes: 64 << 20,
            flow_cache_bytes: crate::store::flows::DEFAULT_BYTES,
            group_commit: Duration::from_micros(1000),
        }
    }
}

#[derive(Clone)]
pub struct Onboarding {
    db: Db,
    flows: Arc<FlowCache>,
    metrics: crate::metrics::Metrics,
    runs: Arc<runs::Runs>,
}

impl Onboarding {
    /// The run service; its group committer (if on) runs as `background` work.
    pub fn with_settings(
        db: Db,
        metrics: crate::metrics::Metrics,
        settings: AnswerSettings,
        background: &Background,
    ) -> Onboarding {
        Onboarding {
            runs: Arc::new(runs::Runs::new(db.clone(), settings, background)),
            db,
            flows: Arc::new(FlowCache::with_budget(settings.flow_cache_bytes)),
            metrics,
        }
    }

    pub fn flows(&self) -> &Arc<FlowCache> {
        &self.flows
    }

    /// Start a run, or return the user's existing one (then `attributes` are
    /// ignored): load → decide, then a new run's write through the port
    /// (with the next group when group commit is on). A lost race (a second
    /// start of the user inserting the same run) starts again on a fresh read.
    pub async fn start(
        &self,
        user_id: String,
        attributes: Attributes,
        accept: Wanted,
    ) -> Result<State> {
        // The boundary: attribute values are stored in their one form.
        let attributes = Arc::new(values::normalise_all(&attributes));
        let accept = Arc::new(accept);
        let coming = self.runs.coming();
        retrying_async(|| {
            let (flows, user) = (self.flows.clone(), user_id.clone());
            let (attributes, accept) = (attributes.clone(), accept.clone());
            let coming = &coming;
            let user_id = &user_id;
            async move {
                let decided: Started = self
                    .db
                    .run_with(move |c| retrying(|| start(c, &flows, &user, &attributes, &accept)))
                    .await?;
                match decided {
                    Started::Existing(state, loaded) => {
                        self.runs.keep(user_id, loaded);
                        Ok(state)
                    }
                    Started::New(state, write, loaded) => {
                        self.runs.commit(user_id, &loaded, write, coming).await?;
                        Ok(state)
                    }
                }
            }
        })
        .await
    }

    pub async fn current(&self, user_id: String, accept: Wanted) -> Result<State> {
        let flows = self.flows.clone();
        let user = user_id.clone();
        let (state, loaded) = self
            .db
            .run_with(move |c| -> Result<_> {
                let loaded = load::load(c, &user, "")?;
                let (Some(run), Some(who)) = (&loaded.run, &loaded.who) else {
                    return Err(OnboardingError::NotStarted);
                };
                let flow = flows.get(c, &run.version_id)?;
                let state = render_in(&flow, run, who, &accept)?;
                Ok((state, loaded))
            })
            .await?;
        self.runs.keep(&user_id, loaded);
        Ok(state)
    }

    /// Load → decide → save, again on a lost race or a busy database.
    pub async fn answer(
        &self,
        user_id: String,
        scene_id: String,
        answer: Value,
        accept: Wanted,
    ) -> Result<State> {
        let coming = self.runs.coming();
        let (state, moved) =
            retrying_async(|| self.answer_once(&user_id, &scene_id, &answer, &accept, &coming))
                .await?;
        if moved {
            self.metrics.answers.with_label_values(&[] as &[&str]).inc();
        }
        Ok(state)
    }

    async fn answer_once(
        &self,
        user_id: &str,
        scene_id: &str,
        answer: &Value,
        accept: &Wanted,
        coming: &commit::Coming<'_>,
    ) -> Result<(State, bool)> {
        // A cached run: decide without reading, if its flow is compiled.
        if let Some(loaded) = self.runs.cached(user_id) {
            let flow = loaded
                .run
                .as_ref()
                .and_then(|r| self.flows.cached(&r.version_id));
            let decided =
                flow.map(|f| decide::answer(&f, &loaded, scene_id, answer, now(), accept));
            if let Some(Ok(Answered::Moved { state, write })) = decided {
                return match self.runs.commit(user_id, &loaded, write, coming).await {
                    Ok(()) => Ok((state, true)),
                    // A moved run: again at once, on a fresh read.
                    Err(OnboardingError::Conflict) => {
                        self.answer_fresh(user_id, scene_id, answer, accept, coming)
                            .await
                    }
                    Err(e) => Err(e),
                };
            }
            // Refusals and replays are decided on a fresh read only.
            self.runs.forget(user_id);
        }
        self.answer_fresh(user_id, scene_id, answer, accept, coming)
            .await
    }

    async fn answer_fresh(
        &self,
        user_id: &str,
        scene_id: &str,
        answer: &Value,
        accept: &Wanted,
        coming: &commit::Coming<'_>,
    ) -> Result<(State, bool)> {
        let (flows, user, scene, answer, accept) = (
            self.flows.clone(),
            user_id.to_owned(),
            scene_id.to_owned(),
            answer.clone(),
            accept.clone(),
        );
        let (loaded, decided) = self
            .db
            .run_with(move |c| -> Result<_> {
                let loaded = load::load(c, &user, &scene)?;
                let run = loaded.run.as_ref().ok_or(OnboardingError::NotStarted)?;
                let flow = flows.get(c, &run.version_id)?;
                let decided = decide::answer(&flow, &loaded, &scene, &answer, now(), &accept)?;
                Ok((loaded, decided))
            })
            .await?;
        match decided {
            Answered::Replay(state) => Ok((state, false)),
            Answered::Moved { state, write } => {
                self.runs.commit(user_id, &loaded, write, coming).await?;
                Ok((state, true))
            }
        }
    }

    /// Forget what this instance keeps of a user QA just changed (other
    /// instances see the bumped revision).
    fn forget(&self, user_id: &str) {
        self.runs.forget(user_id);
    }
}

fn now() -> chrono::NaiveDateTime {
    crate::store::now()
}

/// Who is asking: testers are served staging and may have QA overrides;
/// everybody else is served production.
#[derive(Debug, Clone)]
pub struct Who {
    pub channel: Channel,
    pub overrides: Attributes,
}

/// What a start found or decided.
enum Started {
    /// The user's run, rendered, and the user as it is now.
    Existing(State, load::Loaded),
    /// A new run: its state, the write to commit, the user before it.
    New(State, Box<save::Write>, load::Loaded),
}

/// Load → decide for a start: an existing run is only rendered; a new one
/// is the caller's to write.
fn start(
    c: &mut AnyConnection,
    flows: &FlowCache,
    user_id: &str,
    attributes: &Attributes,
    accept: &Wanted,
) -> Result<Started> {
    // One read: the user's rows with the channels' pointers (with no
    // channel stored, the user's rows alone: an existing run is shown, and
    // no new one can start).
    let (mut loaded, pointers) = match load::for_start(c, user_id)? {
        Some((loaded, pointers)) => (loaded, pointers),
        None => (load::load(c, user_id, "")?, Vec::new()),
    };
    if let (Some(run), Some(who)) = (&loaded.run, &loaded.who) {
        let flow = flows.get(c, &run.version_id)?;
        let state = render_in(&flow, run, who, accept)?;
        return Ok(Started::Existing(state, loaded));
    }
    let who = match loaded.who.clone() {
        Some(who) => who,
        None => load::who(c, user_id)?,
    };
    let version = load::served(&who, user_id, pointers)?;
    let flow = flows.get(c, &version)?;
    let (state, write) = decide::start(
        &flow,
        user_id,
        &who,
        attributes,
        &loaded.assignments,
        now(),
        accept,
    )?;
    loaded.who = Some(who);
    Ok(Started::New(state, Box::new(write), loaded))
}

/// The state of a stored run as the app sees it, in the language
/// negotiated from the attribute `locale`, else `accept` (docs/src/mobile-api.md "Languages").
pub fn render_in(flow: &CompiledFlow, run: &RunRow, who: &Who, accept: &Wanted) -> Result<State> {
    Ok(decide::resume(flow, run, who, &Assignments::default())?.state(accept))
}
