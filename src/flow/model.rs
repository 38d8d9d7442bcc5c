//! The normalised content of one workbook: what validation produces, what the
//! store persists and what the engine runs. No I/O here.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The step key that ends a flow when used as a `next_step`.
pub const END: &str = "END";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowDef {
    /// Step keys in order of first appearance in the `scenes` sheet.
    pub steps: Vec<String>,
    /// Scenes in sheet order.
    pub scenes: Vec<SceneDef>,
    /// Choices in sheet order.
    pub choices: Vec<ChoiceDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneDef {
    pub key: String,
    pub step: String,
    pub condition: String,
    pub weight: f64,
    pub messages: Vec<String>,
    pub input: InputKind,
    pub save_as: Option<String>,
    pub min: Option<Bound>,
    pub max: Option<Bound>,
    pub placeholder: Option<String>,
    pub next_step: Option<Target>,
    /// Whether a user may go back past this scene (`back` column; docs/src/mobile-api.md
    /// "Going back").
    #[serde(default = "yes", skip_serializing_if = "is_yes")]
    pub back: bool,
    /// Text in other languages, by BCP 47 tag (docs/src/mobile-api.md "Languages").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, SceneText>,
    /// Row of the `scenes` sheet this scene came from (header = 1).
    pub row: u32,
}

fn yes() -> bool {
    true
}

fn is_yes(b: &bool) -> bool {
    *b
}

/// A scene's text in one language. `messages[i]` translates the default
/// bubble `messages[i]`; `None` where the workbook gives no translation (the
/// default is served there).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneText {
    pub messages: Vec<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChoiceDef {
    pub scene: String,
    pub key: String,
    pub label: String,
    pub value: String,
    pub next_step: Option<Target>,
    /// The label in other languages, by BCP 47 tag.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub translations: BTreeMap<String, String>,
    /// Row of the `choices` sheet this choice came from (header = 1).
    pub row: u32,
}

/// Where a scene or choice sends the user next.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Step(String),
    End,
}

impl Target {
    pub fn parse(raw: &str) -> Target {
        if raw == END {
            Target::End
        } else {
            Target::Step(raw.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Target::Step(key) => key,
            Target::End => END,
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Target::parse(&raw))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    None,
    Choice,
    MultiChoice,
    Text,
    Number,
    Date,
}

impl InputKind {
    pub const ALL: [InputKind; 6] = [
        InputKind::None,
        InputKind::Choice,
        InputKind::MultiChoice,
        InputKind::Text,
        InputKind::Number,
        InputKind::Date,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::None => "none",
            InputKind::Choice => "choice",
            InputKind::MultiChoice => "multi_choice",
            InputKind::Text => "text",
            InputKind::Number => "number",
            InputKind::Date => "date",
        }
    }

    pub fn parse(raw: &str) -> Option<InputKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    pub fn has_choices(self) -> bool {
        matches!(self, InputKind::Choice | InputKind::MultiChoice)
    }

    /// What `min`/`max` bound for this kind, or `None` when bounds make no sense.
    pub fn bound_kind(self) -> Option<BoundKind> {
        match self {
            InputKind::Number => Some(BoundKind::Number),
            InputKind::Text | InputKind::MultiChoice => Some(BoundKind::Count),
            InputKind::Date => Some(BoundKind::Date),
            InputKind::None | InputKind::Choice => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundKind {
    /// Any number.
    Number,
    /// A whole number of characters or picked choices.
    Count,
    /// An ISO date.
    Date,
}

/// An inclusive bound of an input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bound {
    Number(f64),
    Date(NaiveDate),
}

impl Bound {
    /// The text form used in the database and in exported workbooks.
    pub fn to_text(&self) -> String {
        match self {
            Bound::Number(n) => format_number(*n),
            Bound::Date(d) => d.format("%Y-%m-%d").to_string(),
        }
    }

    pub fn from_text(raw: &str) -> Option<Bound> {
        if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            return Some(Bound::Date(d));
        }
        raw.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Bound::Number)
    }
}

/// Numbers as a person wrote them: `3` rather than `3.0`.
pub fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// One language's share of the workbook's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub locale: String,
    pub translated: usize,
    pub total: usize,
}

impl Coverage {
    /// Whole percent, rounded down (100 only when complete).
    pub fn percent(&self) -> usize {
        (self.translated * 100)
            .checked_div(self.total)
            .unwrap_or(100)
    }
}

impl FlowDef {
    pub fn step_position(&self, key: &str) -> Option<usize> {
        self.steps.iter().position(|s| s == key)
    }

    pub fn scene(&self, key: &str) -> Option<&SceneDef> {
        self.scenes.iter().find(|s| s.key == key)
    }

    pub fn choices_of<'a>(&'a self, scene: &'a str) -> impl Iterator<Item = &'a ChoiceDef> + 'a {
        self.choices.iter().filter(move |c| c.scene == scene)
    }

    /// The languages the workbook provides besides its default, sorted.
    pub fn locales(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .scenes
            .iter()
            .flat_map(|s| s.translations.keys())
            .chain(self.choices.iter().flat_map(|c| c.translations.keys()))
            .cloned()
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// How much of the default text each language translates: cells
    /// translated and cells to translate (bubbles, placeholders, labels).
    pub fn coverage(&self) -> Vec<Coverage> {
        let total = self
            .scenes
            .iter()
            .map(|s| s.messages.len() + usize::from(s.placeholder.is_some()))
            .sum::<usize>()
            + self.choices.len();
        self.locales()
            .into_iter()
            .map(|locale| {
                let scenes: usize = self
                    .scenes
                    .iter()
                    .filter_map(|s| s.translations.get(&locale).map(|t| (s, t)))
                    .map(|(s, t)| {
                        t.messages.iter().flatten().count()
                            + usize::from(s.placeholder.is_some() && t.placeholder.is_some())
                    })
                    .sum();
                let choices = self
                    .choices
                    .iter()
                    .filter(|c| c.translations.contains_key(&locale))
                    .count();
                Coverage {
                    locale,
                    translated: scenes + choices,
                    total,
                }
            })
            .collect()
    }

    /// The same flow with sheet rows forgotten: two workbooks that differ only
    /// in layout (blank rows, row order of unrelated sheets) compare equal.
    pub fn without_rows(&self) -> FlowDef {
        let mut flow = self.clone();
        flow.scenes.iter_mut().for_each(|s| s.row = 0);
        flow.choices.iter_mut().for_each(|c| c.row = 0);
        flow
    }
}
