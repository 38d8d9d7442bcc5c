//! What changed between two flows: steps, scenes and choices added, removed
//! or changed, field by field.

use serde::Serialize;

use super::model::{Bound, ChoiceDef, FlowDef, SceneDef, format_number};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    pub kind: Kind,
    /// Step key, scene key, or `scene/choice`.
    pub key: String,
    pub fields: Vec<FieldChange>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowDiff {
    pub steps: Vec<Entry>,
    pub scenes: Vec<Entry>,
    pub choices: Vec<Entry>,
}

impl FlowDiff {
    /// The three lists with their titles, for display.
    pub fn sections(&self) -> [(&'static str, &[Entry]); 3] {
        [
            ("Steps", &self.steps),
            ("Scenes", &self.scenes),
            ("Choices", &self.choices),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.scenes.is_empty() && self.choices.is_empty()
    }
}

fn bound(b: &Option<Bound>) -> String {
    b.map(|b| b.to_text()).unwrap_or_default()
}

fn scene_fields(s: &SceneDef) -> Vec<(String, String)> {
    let mut out = vec![
        ("step".to_owned(), s.step.clone()),
        ("condition".to_owned(), s.condition.clone()),
        ("weight".to_owned(), format_number(s.weight)),
    ];
    out.extend(
        s.messages
            .iter()
            .enumerate()
            .map(|(i, m)| (format!("message_{}", i + 1), m.clone())),
    );
    out.extend([
        ("input".to_owned(), s.input.as_str().to_owned()),
        ("save_as".to_owned(), s.save_as.clone().unwrap_or_default()),
        ("min".to_owned(), bound(&s.min)),
        ("max".to_owned(), bound(&s.max)),
        (
            "placeholder".to_owned(),
            s.placeholder.clone().unwrap_or_default(),
        ),
        (
            "next_step".to_owned(),
            s.next_step
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
        ),
        (
            "back".to_owned(),
            if s.back { "yes" } else { "no" }.to_owned(),
        ),
    ]);
    // Translations as their columns: `message_1::en`, `placeholder::en`.
    for (locale, text) in &s.translations {
        out.extend(text.messages.iter().enumerate().filter_map(|(i, m)| {
            m.as_ref()
                .map(|m| (format!("message_{}::{locale}", i + 1), m.clone()))
        }));
        if let Some(p) = &text.placeholder {
            out.push((format!("placeholder::{locale}"), p.clone()));
        }
    }
    out
}

fn choice_fields(c: &ChoiceDef) -> Vec<(String, String)> {
    let mut out = vec![
        ("label".to_owned(), c.label.clone()),
        ("value".to_owned(), c.value.clone()),
        (
            "next_step".to_owned(),
            c.next_step
                .as_ref()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
        ),
    ];
    out.extend(
        c.translations
            .iter()
            .map(|(locale, label)| (format!("label::{locale}"), label.clone())),
    );
    out
}

fn field_changes(before: &[(String, String)], after: &[(String, String)]) -> Vec<FieldChange> {
    let get = |list: &[(String, String)], name: &str| {
        list.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut names: Vec<&String> = before.iter().map(|(n, _)| n).collect();
    for (n, _) in after {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let (b, a) = (get(before, name), get(after, name));
            (b != a).then(|| FieldChange {
                field: name.clone(),
                before: b,
                after: a,
            })
        })
        .collect()
}

fn entries<T>(
    before: &[T],
    after: &[T],
    key: impl Fn(&T) -> String,
    fields: impl Fn(&T) -> Vec<(String, String)>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for b in before {
        let k = key(b);
        match after.iter().find(|a| key(a) == k) {
            None => out.push(Entry {
                kind: Kind::Removed,
                key: k,
                fields: field_changes(&fields(b), &[]),
            }),
            Some(a) => {
                let changes = field_changes(&fields(b), &fields(a));
                if !changes.is_empty() {
                    out.push(Entry {
                        kind: Kind::Changed,
                        key: k,
                        fields: changes,
                    });
                }
            }
        }
    }
    for a in after {
        let k = key(a);
        if !before.iter().any(|b| key(b) == k) {
            out.push(Entry {
                kind: Kind::Added,
                key: k,
                fields: field_changes(&[], &fields(a)),
            });
        }
    }
    out
}

/// The changes that turn `before` into `after`.
pub fn diff(before: &FlowDef, after: &FlowDef) -> FlowDiff {
    let positions = |f: &FlowDef| -> Vec<(String, usize)> {
        f.steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect()
    };
    FlowDiff {
        steps: entries(
            &positions(before),
            &positions(after),
            |(k, _)| k.clone(),
            |(_, p)| vec![("position".to_owned(), (p + 1).to_string())],
        ),
        scenes: entries(
            &before.scenes,
            &after.scenes,
            |s| s.key.clone(),
            scene_fields,
        ),
        choices: entries(
            &before.choices,
            &after.choices,
            |c| format!("{}/{}", c.scene, c.key),
            choice_fields,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::model::Target;

    fn scene(key: &str, message: &str) -> SceneDef {
        SceneDef {
            messages: vec![message.into()],
            ..crate::flow::tests::scene(key, key, "pass_through")
        }
    }

    #[test]
    fn reports_added_removed_and_changed_fields() {
        let before = FlowDef {
            steps: vec!["a".into(), "b".into()],
            scenes: vec![scene("a", "hi"), scene("b", "bye")],
            choices: vec![],
        };
        let mut changed = scene("a", "hello");
        changed.next_step = Some(Target::End);
        let after = FlowDef {
            steps: vec!["a".into(), "c".into()],
            scenes: vec![changed, scene("c", "new")],
            choices: vec![],
        };
        let d = diff(&before, &after);
        assert_eq!(d.steps.len(), 2);
        assert_eq!(d.scenes[0].kind, Kind::Changed);
        assert_eq!(
            d.scenes[0].fields,
            vec![
                FieldChange {
                    field: "message_1".into(),
                    before: "hi".into(),
                    after: "hello".into()
                },
                FieldChange {
                    field: "next_step".into(),
                    before: "".into(),
                    after: "END".into()
                },
            ]
        );
        assert_eq!(
            (d.scenes[1].kind, d.scenes[1].key.as_str()),
            (Kind::Removed, "b")
        );
        assert_eq!(
            (d.scenes[2].kind, d.scenes[2].key.as_str()),
            (Kind::Added, "c")
        );
        assert!(diff(&after, &after).is_empty());
    }
}
