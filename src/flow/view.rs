//! What a mobile app receives: the state of a run and the scene to show.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::conditions::Attributes;
use super::engine::CompiledFlow;
use super::model::{Bound, InputKind};
use super::template;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InProgress,
    Completed,
}

/// A run's status is the state's: stored in `runs.status` as these words.
pub type RunStatus = Status;

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
        }
    }

    pub fn parse(raw: &str) -> Option<Status> {
        [Status::InProgress, Status::Completed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a user's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct State {
    pub status: Status,
    /// The version the run is pinned to.
    #[schema(example = "3f2a9c0d1e4b")]
    pub version: String,
    /// The scene to show; null once the flow is completed.
    pub scene: Option<SceneView>,
    pub progress: Progress,
    /// The workbook language served (BCP 47 tag); null: the default
    /// language, the workbook's unsuffixed columns.
    #[serde(default)]
    #[schema(example = "en-US")]
    pub locale: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SceneView {
    /// Opaque id of this showing of the scene; send it back with the answer.
    pub id: String,
    pub step: String,
    pub key: String,
    pub messages: Vec<Message>,
    pub input: InputView,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InputView {
    pub kind: InputKind,
    pub choices: Vec<ChoiceView>,
    /// Number, text length, picked-choice count, or date (YYYY-MM-DD).
    #[schema(value_type = super::schema::Bound)]
    pub min: Option<Value>,
    #[schema(value_type = super::schema::Bound)]
    pub max: Option<Value>,
    pub placeholder: Option<String>,
    /// After going back to this scene: the answer given before, as it was
    /// sent, for the app to prefill; null otherwise.
    #[serde(default)]
    #[schema(value_type = super::schema::Answer)]
    pub previous: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChoiceView {
    pub key: String,
    pub label: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    /// Accepted answers of the run, from 0.
    pub answered: u32,
    /// Fewest scenes still to answer, the current one included.
    pub remaining_estimate: u32,
}

pub fn bound_value(b: Option<Bound>) -> Option<Value> {
    b.map(|b| match b {
        Bound::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => Value::from(n as i64),
        Bound::Number(n) => Value::from(n),
        Bound::Date(_) => Value::String(b.to_text()),
    })
}

/// The scene at index `scene` in the languages `chain` (best first, as
/// [`super::locale::chain`] gives them; empty: the default language), with
/// its messages rendered for `attributes`. Each text comes from the first
/// language of the chain that has it, else from the default language.
pub fn scene_view(
    flow: &CompiledFlow,
    scene: usize,
    id: String,
    attributes: &Attributes,
    chain: &[&str],
) -> SceneView {
    let s = flow.scene(scene);
    let texts: Vec<_> = chain
        .iter()
        .filter_map(|l| s.translations.get(*l))
        .collect();
    let translated = |i: usize| {
        texts
            .iter()
            .find_map(|t| t.messages.get(i).and_then(Option::as_ref))
    };
    SceneView {
        id,
        step: s.step.clone(),
        key: s.key.clone(),
        messages: s
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| Message {
                text: template::render(translated(i).unwrap_or(m), attributes),
            })
            .collect(),
        input: InputView {
            kind: s.input,
            choices: flow
                .choices(scene)
                .map(|c| ChoiceView {
                    key: c.key.clone(),
                    label: chain
                        .iter()
                        .find_map(|l| c.translations.get(*l))
                        .unwrap_or(&c.label)
                        .clone(),
                })
                .collect(),
            min: bound_value(s.min),
            max: bound_value(s.max),
            placeholder: texts
                .iter()
                .find_map(|t| t.placeholder.clone())
                .or_else(|| s.placeholder.clone()),
            previous: None,
        },
    }
}
