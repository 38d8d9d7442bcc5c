//! Statements per request of the mobile API, counted with diesel's
//! instrumentation on the service's own pool (README "Mobile API under
//! load"), so the number cannot creep back.

use sceneflow::flow::Attributes;
use sceneflow::metrics::Metrics;
use sceneflow::onboarding::Onboarding;
use sceneflow::store::{Db, StatementLog};

use crate::on_both_backends;
use crate::support::{Backend, spawn_app_with, valid_answer};

on_both_backends!(an_answer_is_one_read_and_one_write_batch);

/// A statement by its verb and table: `SELECT runs`, `INSERT events`, `BEGIN`.
fn kind(sql: &str) -> String {
    let words: Vec<&str> = sql.split_whitespace().collect();
    let verb = words.first().map_or("", |w| w.trim_end_matches(';'));
    let name = |w: &str| -> String {
        w.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let after = |marker: &str| {
        words
            .iter()
            .position(|w| name(w).eq_ignore_ascii_case(marker))
            .and_then(|i| words.get(i + 1))
            .map_or(String::new(), |w| name(w))
    };
    match verb.to_ascii_uppercase().as_str() {
        "SELECT" => format!("SELECT {}", after("FROM")),
        "INSERT" => format!("INSERT {}", after("INTO")),
        "UPDATE" => format!("UPDATE {}", name(words.get(1).unwrap_or(&""))),
        other => other.to_owned(),
    }
}

fn kinds(log: &StatementLog) -> Vec<String> {
    log.take().iter().map(|s| kind(s)).collect()
}

async fn an_answer_is_one_read_and_one_write_batch(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let log = StatementLog::default();
    let db = Db::with_statement_log(&app.settings.database_url, 2, log.clone()).unwrap();
    let onboarding = Onboarding::new(db, Metrics::new());

    // A new run: who the user is, the channel, the flow (compiled once).
    let state = onboarding
        .start("user-count".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    log.take();

    // Starting again: the existing run, one read and no write.
    onboarding
        .start("user-count".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    assert_eq!(kinds(&log), ["SELECT runs"]);
    onboarding
        .current("user-count".into(), Default::default())
        .await
        .unwrap();
    assert_eq!(kinds(&log), ["SELECT runs"]);

    // welcome → intro, an A/B group: bucketed now, so the assignment is stored.
    let state = serde_json::to_value(state).unwrap();
    let first_id = state["scene"]["id"].as_str().unwrap().to_owned();
    let first_answer = valid_answer(&state["scene"]);
    let next = onboarding
        .answer(
            "user-count".into(),
            first_id.clone(),
            first_answer.clone(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&log),
        [
            "SELECT runs",
            "BEGIN",
            "UPDATE runs",
            "INSERT run_answers",
            "INSERT assignments",
            "INSERT events",
            "COMMIT"
        ]
    );
    // An answer without an A/B group: no assignment.
    let next = serde_json::to_value(next).unwrap();
    onboarding
        .answer(
            "user-count".into(),
            next["scene"]["id"].as_str().unwrap().to_owned(),
            valid_answer(&next["scene"]),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&log),
        [
            "SELECT runs",
            "BEGIN",
            "UPDATE runs",
            "INSERT run_answers",
            "INSERT events",
            "COMMIT"
        ]
    );
    // A retried answer replays what was stored: one read.
    onboarding
        .answer(
            "user-count".into(),
            first_id,
            first_answer,
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(kinds(&log), ["SELECT runs"]);
}
