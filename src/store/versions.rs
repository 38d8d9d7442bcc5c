//! Versions and their normalised content.

use diesel::prelude::*;
use serde::Serialize;

use super::column::Json;
use super::schema::{choices, scene_messages, scenes, steps, translations, versions};
use super::{AnyConnection, StoreError};
use crate::flow::{Bound, ChoiceDef, FlowDef, InputKind, SceneDef, SceneText, Target};
use crate::insert_chunks;
use crate::report::Report;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = versions)]
pub struct VersionRow {
    pub id: String,
    pub sha256: String,
    pub file_name: Option<String>,
    pub format: String,
    pub store_key: String,
    pub size_bytes: i64,
    pub uploaded_by: String,
    pub created_at: chrono::NaiveDateTime,
    #[serde(skip)]
    pub report: Json<Report>,
    pub step_count: i32,
    pub scene_count: i32,
    pub choice_count: i32,
    pub warning_count: i32,
}

#[derive(Insertable, Queryable)]
#[diesel(table_name = steps)]
struct StepRow {
    version_id: String,
    key: String,
    position: i32,
}

#[derive(Insertable, Queryable)]
#[diesel(table_name = scenes)]
struct SceneRow {
    version_id: String,
    key: String,
    step_key: String,
    position: i32,
    sheet_row: i32,
    condition_name: String,
    weight: f64,
    input_kind: String,
    save_as: Option<String>,
    min_bound: Option<String>,
    max_bound: Option<String>,
    placeholder: Option<String>,
    next_step: Option<String>,
    back_allowed: bool,
}

/// Text in another language: `field` is `message_N`, `placeholder` or
/// `label` (then `choice_key` is set; blank otherwise).
#[derive(Insertable, Queryable)]
#[diesel(table_name = translations)]
struct TranslationRow {
    version_id: String,
    scene_key: String,
    choice_key: String,
    locale: String,
    field: String,
    body: String,
}

#[derive(Insertable, Queryable)]
#[diesel(table_name = scene_messages)]
struct MessageRow {
    version_id: String,
    scene_key: String,
    position: i32,
    body: String,
}

#[derive(Insertable, Queryable)]
#[diesel(table_name = choices)]
struct ChoiceRow {
    version_id: String,
    scene_key: String,
    key: String,
    position: i32,
    sheet_row: i32,
    label: String,
    value: String,
    next_step: Option<String>,
}

/// Store a version and its content in one transaction: all of it or nothing.
pub fn insert(
    conn: &mut AnyConnection,
    version: &VersionRow,
    flow: &FlowDef,
    audit_actor: &str,
) -> Result<(), StoreError> {
    let v = || version.id.clone();
    let step_rows: Vec<StepRow> = flow
        .steps
        .iter()
        .enumerate()
        .map(|(i, key)| StepRow {
            version_id: v(),
            key: key.clone(),
            position: i as i32,
        })
        .collect();
    let scene_rows: Vec<SceneRow> = flow
        .scenes
        .iter()
        .enumerate()
        .map(|(i, s)| SceneRow {
            version_id: v(),
            key: s.key.clone(),
            step_key: s.step.clone(),
            position: i as i32,
            sheet_row: s.row as i32,
            condition_name: s.condition.clone(),
            weight: s.weight,
            input_kind: s.input.as_str().to_owned(),
            save_as: s.save_as.clone(),
            min_bound: s.min.map(|b| b.to_text()),
            max_bound: s.max.map(|b| b.to_text()),
            placeholder: s.placeholder.clone(),
            next_step: s.next_step.as_ref().map(|t| t.as_str().to_owned()),
            back_allowed: s.back,
        })
        .collect();
    let mut translation_rows: Vec<TranslationRow> = Vec::new();
    for s in &flow.scenes {
        for (locale, text) in &s.translations {
            let row = |field: String, body: &String| TranslationRow {
                version_id: v(),
                scene_key: s.key.clone(),
                choice_key: String::new(),
                locale: locale.clone(),
                field,
                body: body.clone(),
            };
            for (i, m) in text.messages.iter().enumerate() {
                if let Some(body) = m {
                    translation_rows.push(row(format!("message_{}", i + 1), body));
                }
            }
            if let Some(body) = &text.placeholder {
                translation_rows.push(row("placeholder".to_owned(), body));
            }
        }
    }
    for c in &flow.choices {
        for (locale, body) in &c.translations {
            translation_rows.push(TranslationRow {
                version_id: v(),
                scene_key: c.scene.clone(),
                choice_key: c.key.clone(),
                locale: locale.clone(),
                field: "label".to_owned(),
                body: body.clone(),
            });
        }
    }
    let message_rows: Vec<MessageRow> = flow
        .scenes
        .iter()
        .flat_map(|s| {
            s.messages.iter().enumerate().map(|(i, body)| MessageRow {
                version_id: v(),
                scene_key: s.key.clone(),
                position: i as i32,
                body: body.clone(),
            })
        })
        .collect();
    let choice_rows: Vec<ChoiceRow> = flow
        .choices
        .iter()
        .enumerate()
        .map(|(i, c)| ChoiceRow {
            version_id: v(),
            scene_key: c.scene.clone(),
            key: c.key.clone(),
            position: i as i32,
            sheet_row: c.row as i32,
            label: c.label.clone(),
            value: c.value.clone(),
            next_step: c.next_step.as_ref().map(|t| t.as_str().to_owned()),
        })
        .collect();

    conn.transaction(|conn| {
        diesel::insert_into(versions::table)
            .values(version)
            .execute(conn)?;
        insert_chunks!(conn, steps::table, &step_rows);
        insert_chunks!(conn, scenes::table, &scene_rows);
        insert_chunks!(conn, scene_messages::table, &message_rows);
        insert_chunks!(conn, choices::table, &choice_rows);
        insert_chunks!(conn, translations::table, &translation_rows);
        super::audit::record(
            conn,
            audit_actor,
            crate::words::AuditAction::Upload,
            None,
            Some(&version.id),
            version.file_name.as_deref(),
        )?;
        Ok(())
    })
}

pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<VersionRow>, StoreError> {
    Ok(versions::table
        .find(id)
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_sha(
    conn: &mut AnyConnection,
    sha256: &str,
) -> Result<Option<VersionRow>, StoreError> {
    Ok(versions::table
        .filter(versions::sha256.eq(sha256))
        .select(VersionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<VersionRow>, StoreError> {
    Ok(versions::table
        .order((versions::created_at.desc(), versions::id))
        .select(VersionRow::as_select())
        .load(conn)?)
}

pub fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(versions::table.count().get_result(conn)?)
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} '{value}'"))
}

/// The content of a stored version, exactly as validation produced it.
pub fn load_flow(conn: &mut AnyConnection, id: &str) -> Result<FlowDef, StoreError> {
    let step_rows: Vec<StepRow> = steps::table
        .filter(steps::version_id.eq(id))
        .order(steps::position)
        .load(conn)?;
    let scene_rows: Vec<SceneRow> = scenes::table
        .filter(scenes::version_id.eq(id))
        .order(scenes::position)
        .load(conn)?;
    let message_rows: Vec<MessageRow> = scene_messages::table
        .filter(scene_messages::version_id.eq(id))
        .order((scene_messages::scene_key, scene_messages::position))
        .load(conn)?;
    let choice_rows: Vec<ChoiceRow> = choices::table
        .filter(choices::version_id.eq(id))
        .order(choices::position)
        .load(conn)?;

    let translation_rows: Vec<TranslationRow> = translations::table
        .filter(translations::version_id.eq(id))
        .load(conn)?;

    let mut messages: std::collections::HashMap<String, Vec<String>> =
        std::collections::HashMap::new();
    for m in message_rows {
        messages.entry(m.scene_key).or_default().push(m.body);
    }
    type Texts = std::collections::BTreeMap<String, SceneText>;
    let mut scene_texts: std::collections::HashMap<String, Texts> =
        std::collections::HashMap::new();
    let mut labels: std::collections::HashMap<
        (String, String),
        std::collections::BTreeMap<String, String>,
    > = std::collections::HashMap::new();
    for t in translation_rows {
        if !t.choice_key.is_empty() {
            labels
                .entry((t.scene_key, t.choice_key))
                .or_default()
                .insert(t.locale, t.body);
            continue;
        }
        let bubbles = messages.get(&t.scene_key).map_or(0, Vec::len);
        let text = scene_texts
            .entry(t.scene_key.clone())
            .or_default()
            .entry(t.locale)
            .or_insert_with(|| SceneText {
                messages: vec![None; bubbles],
                placeholder: None,
            });
        match t
            .field
            .strip_prefix("message_")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if (1..=bubbles).contains(&n) => text.messages[n - 1] = Some(t.body),
            _ if t.field == "placeholder" => text.placeholder = Some(t.body),
            _ => return Err(corrupt("translation field", &t.field)),
        }
    }
    let bound = |b: Option<String>| -> Result<Option<Bound>, StoreError> {
        b.map(|t| Bound::from_text(&t).ok_or_else(|| corrupt("bound", &t)))
            .transpose()
    };
    let mut scenes_out = Vec::with_capacity(scene_rows.len());
    for s in scene_rows {
        scenes_out.push(SceneDef {
            messages: messages.remove(&s.key).unwrap_or_default(),
            translations: scene_texts.remove(&s.key).unwrap_or_default(),
            back: s.back_allowed,
            input: InputKind::parse(&s.input_kind)
                .ok_or_else(|| corrupt("input kind", &s.input_kind))?,
            min: bound(s.min_bound)?,
            max: bound(s.max_bound)?,
            next_step: s.next_step.as_deref().map(Target::parse),
            key: s.key,
            step: s.step_key,
            condition: s.condition_name,
            weight: s.weight,
            save_as: s.save_as,
            placeholder: s.placeholder,
            row: s.sheet_row as u32,
        });
    }
    Ok(FlowDef {
        steps: step_rows.into_iter().map(|s| s.key).collect(),
        scenes: scenes_out,
        choices: choice_rows
            .into_iter()
            .map(|c| ChoiceDef {
                translations: labels
                    .remove(&(c.scene_key.clone(), c.key.clone()))
                    .unwrap_or_default(),
                next_step: c.next_step.as_deref().map(Target::parse),
                scene: c.scene_key,
                key: c.key,
                label: c.label,
                value: c.value,
                row: c.sheet_row as u32,
            })
            .collect(),
    })
}
