//! Random flows for the conformance vectors: every input kind, conditions
//! of the catalogue, A/B groups, templates, jumps, and texts in several
//! languages.

use chrono::NaiveDate;

use super::Rng;
use crate::flow::conditions::CATALOGUE;
use crate::flow::model::{Bound, ChoiceDef, FlowDef, InputKind, SceneDef, SceneText, Target};

const MESSAGES: &[&str] = &[
    "はじめまして、{{nickname|ゲスト}}さん!",
    "{{ nickname }} / {{birth_year}} / {{app_version}}",
    "goal: {{goal|none}}, weight {{weight_kg}}, sleep {{sleep_hours|?}}",
    "tags: [{{tags}}] missing: [{{missing}}]",
    "broken {{oops",
    "bad {{Bad Name}} stays",
    "{{\u{85}nickname|x}} {{subscription|}}",
    "plain text }} {{",
    "{{install_source|organic}} on {{platform}} ({{locale|en}})",
];

const GOALS: &[&str] = &["lose_weight", "sleep_better", "eat_healthier"];

/// A random valid flow: every input kind, conditions of the catalogue, A/B
/// groups, templates, choice and scene jumps (back jumps included).
pub fn random_flow(rng: &mut Rng) -> FlowDef {
    let n = 3 + rng.below(6);
    let steps: Vec<String> = (0..n).map(|i| format!("step_{i}")).collect();
    let jump = |rng: &mut Rng| -> Option<Target> {
        match rng.below(10) {
            0 => Some(Target::End),
            1 | 2 => Some(Target::Step(rng.pick(&steps).clone())),
            _ => None,
        }
    };
    let (mut scenes, mut choices) = (Vec::new(), Vec::new());
    for step in &steps {
        let rows = 1 + rng.below(4);
        for r in 0..rows {
            let previous = scenes.last().filter(|p: &&SceneDef| p.step == *step);
            let condition = match previous {
                _ if r + 1 == rows && rng.chance(70) => "pass_through".to_owned(),
                // Same condition as the previous row: an A/B group.
                Some(p) if rng.chance(40) => p.condition.clone(),
                _ => rng.pick(CATALOGUE).name.to_owned(),
            };
            let key = format!("{step}_r{r}");
            let input = *rng.pick(&InputKind::ALL);
            let (save_as, min, max) = match input {
                InputKind::None => (None, None, None),
                InputKind::Choice => (
                    Some(if rng.chance(50) { "goal" } else { "plan" }),
                    None,
                    None,
                ),
                InputKind::MultiChoice => {
                    let lo = rng.below(3) as f64;
                    (
                        Some("tags"),
                        rng.chance(50).then_some(Bound::Number(lo)),
                        rng.chance(50).then_some(Bound::Number(lo + 1.0)),
                    )
                }
                InputKind::Text => (
                    Some("nickname"),
                    rng.chance(50).then_some(Bound::Number(2.0)),
                    rng.chance(50).then_some(Bound::Number(6.0)),
                ),
                InputKind::Number => {
                    let name = *rng.pick(&["weight_kg", "sleep_hours", "age_guess"]);
                    (
                        Some(name),
                        rng.chance(60)
                            .then_some(Bound::Number(*rng.pick(&[0.5, 3.0, 30.0, -10.0]))),
                        rng.chance(60)
                            .then_some(Bound::Number(*rng.pick(&[12.0, 200.0, 250.5]))),
                    )
                }
                InputKind::Date => {
                    let d =
                        |y, m, d| Bound::Date(NaiveDate::from_ymd_opt(y, m, d).expect("a date"));
                    (
                        Some("target_date"),
                        rng.chance(50).then(|| d(2026, 1, 1)),
                        rng.chance(50).then(|| d(2027, 12, 31)),
                    )
                }
            };
            if input.has_choices() {
                let count = 2 + rng.below(3);
                for c in 0..count {
                    let ckey = if save_as == Some("goal") {
                        GOALS[c % 3].to_owned()
                    } else {
                        format!("c{c}")
                    };
                    if choices
                        .iter()
                        .any(|x: &ChoiceDef| x.scene == key && x.key == ckey)
                    {
                        continue;
                    }
                    choices.push(ChoiceDef {
                        scene: key.clone(),
                        key: ckey.clone(),
                        label: format!("{ckey} ラベル"),
                        value: if rng.chance(30) {
                            format!(" v_{ckey} ")
                        } else {
                            ckey
                        },
                        next_step: jump(rng),
                        row: 0,
                        translations: Default::default(),
                    });
                }
            }
            let messages = (0..1 + rng.below(2))
                .map(|_| rng.pick(MESSAGES).to_string())
                .collect();
            scenes.push(SceneDef {
                key,
                step: step.clone(),
                condition,
                weight: *rng.pick(&[1.0, 1.0, 2.0, 0.5, 0.3, 3.7]),
                messages,
                input,
                save_as: save_as.map(str::to_owned),
                min,
                max,
                placeholder: rng.chance(30).then(|| "例: 62.5".to_owned()),
                next_step: jump(rng),
                row: 0,
                back: true,
                translations: Default::default(),
            });
        }
    }
    FlowDef {
        steps,
        scenes,
        choices,
    }
}

/// Translated bubbles: templates in every language, a malformed one too.
const TRANSLATED: &[&str] = &[
    "Hello {{nickname|guest}}!",
    "{{ nickname }} · {{birth_year|?}} · {{locale|no locale}}",
    "goal {{goal|none}} / tags [{{tags}}]",
    "still broken {{oops",
    "plain",
];

/// What users pick as their language when a choice saves `locale`: the
/// spellings of the start attribute, so an answer can change the language.
pub const LOCALE_VALUES: &[&str] = &["ja", "en_US", " EN-gb ", "fr", "zh-hant-tw", "pt-BR"];

/// Give `flow` texts in `locales` (canonical tags), with gaps: scenes and
/// choices without a translation, bubbles and placeholders left to the
/// default. Some choices save `locale`, so an answer changes the language.
pub fn translate(rng: &mut Rng, flow: &mut FlowDef, locales: &[&str]) {
    for s in &mut flow.scenes {
        if s.input == InputKind::Choice && rng.chance(30) {
            s.save_as = Some("locale".to_owned());
            for (i, c) in flow
                .choices
                .iter_mut()
                .filter(|c| c.scene == s.key)
                .enumerate()
            {
                c.value = LOCALE_VALUES[(i + rng.below(3)) % LOCALE_VALUES.len()].to_owned();
            }
        }
        for tag in locales {
            if !rng.chance(80) {
                continue;
            }
            let messages = s
                .messages
                .iter()
                .map(|_| {
                    rng.chance(85)
                        .then(|| format!("[{tag}] {}", rng.pick(TRANSLATED)))
                })
                .collect();
            let placeholder = s
                .placeholder
                .as_ref()
                .filter(|_| rng.chance(70))
                .map(|_| format!("[{tag}] e.g. 62.5"));
            s.translations.insert(
                (*tag).to_owned(),
                SceneText {
                    messages,
                    placeholder,
                },
            );
        }
    }
    for c in &mut flow.choices {
        for tag in locales {
            if rng.chance(80) {
                c.translations
                    .insert((*tag).to_owned(), format!("{} [{tag}]", c.key));
            }
        }
    }
}
