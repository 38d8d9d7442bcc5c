//! Judging an answer against the input of its scene.

use std::collections::BTreeSet;
use unicode_segmentation::UnicodeSegmentation;

use chrono::NaiveDate;
use serde_json::{Value, json};

use super::engine::{CompiledFlow, Next};
use super::model::{Bound, InputKind};

/// Why an answer does not fit its input; `details` tells the client which rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnswerError {
    #[error("this scene takes {expected} as its answer")]
    WrongType { expected: &'static str },
    #[error("'{0}' is not a choice of this scene")]
    UnknownChoice(String),
    #[error("the choice '{0}' is picked twice")]
    RepeatedChoice(String),
    #[error("pick between {min} and {max} choices")]
    ChoiceCount { min: usize, max: usize, got: usize },
    #[error("the text must be {min} to {max} characters long")]
    TextLength { min: usize, max: usize, got: usize },
    #[error("the number must be between {} and {}", bound_text(.min, "-∞"), bound_text(.max, "∞"))]
    OutOfRange {
        min: Option<f64>,
        max: Option<f64>,
        got: f64,
    },
    #[error("the date must be between {} and {}", date_text(.min, "any date"), date_text(.max, "any date"))]
    DateOutOfRange {
        min: Option<NaiveDate>,
        max: Option<NaiveDate>,
        got: NaiveDate,
    },
    #[error("'{0}' is not a date written YYYY-MM-DD")]
    NotADate(String),
}

impl AnswerError {
    pub fn details(&self) -> Value {
        match self {
            AnswerError::WrongType { expected } => json!({"rule": "type", "expected": expected}),
            AnswerError::UnknownChoice(key) => json!({"rule": "unknown_choice", "choice": key}),
            AnswerError::RepeatedChoice(key) => json!({"rule": "repeated_choice", "choice": key}),
            AnswerError::ChoiceCount { min, max, got } => {
                json!({"rule": "count", "min": min, "max": max, "got": got})
            }
            AnswerError::TextLength { min, max, got } => {
                json!({"rule": "length", "min": min, "max": max, "got": got})
            }
            // Bounds are JSON numbers (null = unbounded), like `count` and
            // `length`; dates are ISO strings under their own rule (docs/src/mobile-api.md).
            // In the form the sheet gave them: `30`, not `30.0`.
            AnswerError::OutOfRange { min, max, got } => {
                let number = |n: f64| super::values::normalise(&json!(n));
                json!({"rule": "range", "min": min.map(number), "max": max.map(number), "got": number(*got)})
            }
            AnswerError::DateOutOfRange { min, max, got } => json!({
                "rule": "date_range",
                "min": min.map(|d| d.to_string()),
                "max": max.map(|d| d.to_string()),
                "got": got.to_string(),
            }),
            AnswerError::NotADate(raw) => json!({"rule": "date_format", "got": raw}),
        }
    }
}

/// An accepted answer: what is stored under `save_as`, and where it leads.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub value: Value,
    pub next: Next,
}

/// Longest text answer when the sheet gives no `max`.
pub const DEFAULT_TEXT_MAX: usize = 1000;

fn count_bound(b: Option<Bound>) -> Option<usize> {
    match b {
        Some(Bound::Number(n)) if n >= 0.0 => Some(n as usize),
        _ => None,
    }
}

fn bound_text(b: &Option<f64>, default: &str) -> String {
    b.map_or_else(|| default.to_owned(), super::model::format_number)
}

fn date_text(b: &Option<NaiveDate>, default: &str) -> String {
    b.map_or_else(|| default.to_owned(), |d| d.to_string())
}

fn number_bound(b: Option<Bound>) -> Option<f64> {
    match b {
        Some(Bound::Number(n)) => Some(n),
        _ => None,
    }
}

fn date_bound(b: Option<Bound>) -> Option<NaiveDate> {
    match b {
        Some(Bound::Date(d)) => Some(d),
        _ => None,
    }
}

/// A date written exactly `YYYY-MM-DD`. chrono alone also takes `" 2020-1-01"`
/// and `"+2020-1-01"` (ten bytes too), which an offline player would have to
/// copy quirk by quirk (docs/src/offline.md).
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
}

/// Check `answer` against scene `scene` of `flow`.
pub fn accept(flow: &CompiledFlow, scene: usize, answer: &Value) -> Result<Accepted, AnswerError> {
    let s = flow.scene(scene);
    match s.input {
        InputKind::None => match answer {
            Value::Null => Ok(Accepted {
                value: Value::Null,
                next: flow.next_after(scene, &[]),
            }),
            _ => Err(AnswerError::WrongType { expected: "null" }),
        },
        InputKind::Choice => {
            let key = answer.as_str().ok_or(AnswerError::WrongType {
                expected: "a choice key (string)",
            })?;
            let choice = flow
                .choices(scene)
                .find(|c| c.key == key)
                .ok_or_else(|| AnswerError::UnknownChoice(key.to_owned()))?;
            Ok(Accepted {
                value: Value::String(choice.value.clone()),
                next: flow.next_after(scene, &[key]),
            })
        }
        InputKind::MultiChoice => {
            let wrong = AnswerError::WrongType {
                expected: "a list of choice keys",
            };
            let items = answer.as_array().ok_or(wrong.clone())?;
            let mut keys = Vec::with_capacity(items.len());
            let mut seen = BTreeSet::new();
            for item in items {
                let key = item.as_str().ok_or(wrong.clone())?;
                if !seen.insert(key) {
                    return Err(AnswerError::RepeatedChoice(key.to_owned()));
                }
                keys.push(key);
            }
            let total = flow.choices(scene).count();
            let min = count_bound(s.min).unwrap_or(1);
            let max = count_bound(s.max).unwrap_or(total);
            if keys.len() < min || keys.len() > max {
                return Err(AnswerError::ChoiceCount {
                    min,
                    max,
                    got: keys.len(),
                });
            }
            let mut values = Vec::with_capacity(keys.len());
            for key in &keys {
                let choice = flow
                    .choices(scene)
                    .find(|c| c.key == *key)
                    .ok_or_else(|| AnswerError::UnknownChoice((*key).to_owned()))?;
                values.push(Value::String(choice.value.clone()));
            }
            Ok(Accepted {
                value: Value::Array(values),
                next: flow.next_after(scene, &keys),
            })
        }
        InputKind::Text => {
            let text = answer.as_str().ok_or(AnswerError::WrongType {
                expected: "text (string)",
            })?;
            let text = text.trim();
            // What people see as one character: extended grapheme clusters
            // (UAX #29), so 🇯🇵 is 1 and a family emoji is 1, not 2 and 7.
            let got = text.graphemes(true).count();
            let min = count_bound(s.min).unwrap_or(1);
            let max = count_bound(s.max).unwrap_or(DEFAULT_TEXT_MAX);
            if got < min || got > max {
                return Err(AnswerError::TextLength { min, max, got });
            }
            Ok(Accepted {
                value: Value::String(text.to_owned()),
                next: flow.next_after(scene, &[]),
            })
        }
        InputKind::Number => {
            let n = answer
                .as_f64()
                .filter(|n| n.is_finite())
                .ok_or(AnswerError::WrongType {
                    expected: "a number",
                })?;
            let below = matches!(s.min, Some(Bound::Number(m)) if n < m);
            let above = matches!(s.max, Some(Bound::Number(m)) if n > m);
            if below || above {
                return Err(AnswerError::OutOfRange {
                    min: number_bound(s.min),
                    max: number_bound(s.max),
                    got: n,
                });
            }
            // Stored as conditions read it: `1994.0` is `1994`
            // (docs/src/workbook.md, "How attribute values are compared").
            Ok(Accepted {
                value: super::values::normalise(answer),
                next: flow.next_after(scene, &[]),
            })
        }
        InputKind::Date => {
            let raw = answer.as_str().ok_or(AnswerError::WrongType {
                expected: "a date (string YYYY-MM-DD)",
            })?;
            let date = parse_date(raw).ok_or_else(|| AnswerError::NotADate(raw.to_owned()))?;
            let below = matches!(s.min, Some(Bound::Date(m)) if date < m);
            let above = matches!(s.max, Some(Bound::Date(m)) if date > m);
            if below || above {
                return Err(AnswerError::DateOutOfRange {
                    min: date_bound(s.min),
                    max: date_bound(s.max),
                    got: date,
                });
            }
            Ok(Accepted {
                value: Value::String(raw.to_owned()),
                next: flow.next_after(scene, &[]),
            })
        }
    }
}
