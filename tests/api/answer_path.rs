//! The answer path: statements per request of the mobile API, counted
//! with diesel's instrumentation on the service's own pool (docs/src/benchmarks.md "Mobile
//! API under load"), so the number cannot creep back; the run cache across
//! instances; group commit.

use std::time::Duration;

use sceneflow::background::Background;
use sceneflow::flow::Attributes;
use sceneflow::metrics::Metrics;
use sceneflow::onboarding::save::{AssignmentWrite, RunWrite, Write};
use sceneflow::onboarding::{AnswerSettings, Onboarding, OnboardingError, commit, load};
use sceneflow::store::runs::{AnswerRow, AssignmentRow, NewEvent};
use sceneflow::store::{Db, StatementLog};
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app_with, valid_answer};

on_both_backends!(
    an_answer_is_one_read_and_one_write_batch,
    a_cached_run_answers_without_a_read,
    two_instances_racing_one_user_advance_it_once,
    a_qa_change_on_another_instance_is_seen,
    one_bad_write_does_not_fail_its_group,
    a_group_is_a_constant_number_of_statements,
    a_group_stores_and_exposes_assignments,
    a_group_keeps_the_order_of_its_events,
    a_group_waits_only_for_requests_on_their_way,
    a_lone_request_does_not_wait_out_the_bound,
);

const PLAIN: AnswerSettings = AnswerSettings {
    run_cache: 0,
    run_cache_bytes: 0,
    flow_cache_bytes: 1 << 20,
    group_commit: Duration::ZERO,
};

fn instance(app: &TestApp, settings: AnswerSettings) -> (Onboarding, StatementLog) {
    let log = StatementLog::default();
    let db = Db::with_statement_log(&app.settings.database_url, 4, log.clone()).unwrap();
    (
        Onboarding::with_settings(db, Metrics::new(), settings, &Background::new()),
        log,
    )
}

async fn sample(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.sample = true).await
}

fn scene_of(state: &impl serde::Serialize) -> (String, Value) {
    let state = serde_json::to_value(state).unwrap();
    (
        state["scene"]["id"].as_str().unwrap().to_owned(),
        valid_answer(&state["scene"]),
    )
}

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
        // A group's whole write on PostgreSQL: one statement.
        "WITH" if sql.contains("INSERT INTO events") => "GROUP WRITE".into(),
        // `WITH v(…) AS (VALUES …) UPDATE runs …`: the guarded updates.
        "WITH" => format!("UPDATE {}", after("UPDATE")),
        "SELECT" => format!("SELECT {}", after("FROM")),
        "INSERT" => format!("INSERT {}", after("INTO")),
        "UPDATE" => format!("UPDATE {}", name(words.get(1).unwrap_or(&""))),
        other => other.to_owned(),
    }
}

fn kinds(log: &StatementLog) -> Vec<String> {
    log.take().iter().map(|s| kind(s)).collect()
}

/// The reads of [`kinds`].
fn reads(log: &StatementLog) -> Vec<String> {
    kinds(log)
        .into_iter()
        .filter(|k| k.starts_with("SELECT"))
        .collect()
}

/// What a group commit sends: one statement on PostgreSQL, `statements`
/// in a transaction on SQLite.
fn group_write(backend: &Backend, statements: &[&str]) -> Vec<String> {
    match backend {
        Backend::Postgres(_) => vec!["GROUP WRITE".into()],
        Backend::Sqlite => std::iter::once("BEGIN")
            .chain(statements.iter().copied())
            .chain(["COMMIT"])
            .map(String::from)
            .collect(),
    }
}

/// Save `writes` as one group: each counted on its way first, so the group
/// waits for all of them.
async fn save_together(
    commits: &commit::GroupCommit,
    writes: impl IntoIterator<Item = Box<Write>>,
) -> Vec<Result<(), OnboardingError>> {
    let writes: Vec<_> = writes.into_iter().collect();
    let coming: Vec<_> = writes.iter().map(|_| commits.coming()).collect();
    futures_util::future::join_all(
        writes
            .into_iter()
            .zip(&coming)
            .map(|(w, c)| commits.save(w, c)),
    )
    .await
}

async fn an_answer_is_one_read_and_one_write_batch(backend: Backend) {
    let app = sample(backend).await;
    let (onboarding, log) = instance(&app, PLAIN);

    // A new run: who the user is, the channel, the flow (compiled once).
    let state = onboarding
        .start("user-count".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    log.take();

    // Starting again: the existing run, one read (the channels with the
    // user's rows) and no write.
    onboarding
        .start("user-count".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    assert_eq!(kinds(&log), ["SELECT channels"]);

    // Another user's first start (the flow is compiled): the same one read,
    // and the write.
    onboarding
        .start("user-count-2".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    assert_eq!(reads(&log), ["SELECT channels"]);

    // A tester's first start: the same one read knows it is a tester, and
    // the run is on staging.
    let db = Db::new(&app.settings.database_url, 1).unwrap();
    sceneflow::store::testers::add(&mut db.conn().unwrap(), "user-count-qa", "qa").unwrap();
    onboarding
        .start(
            "user-count-qa".into(),
            Attributes::new(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(reads(&log), ["SELECT channels"]);
    let staging = sceneflow::store::runs::find(
        &mut db.conn().unwrap(),
        "user-count-qa",
        sceneflow::store::channels::Channel::Staging,
    )
    .unwrap();
    assert!(staging.is_some());
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

/// With the run cache (and group commit, the defaults) an answer after the
/// instance's last write of the run reads nothing.
async fn a_cached_run_answers_without_a_read(backend: Backend) {
    let app = sample(backend.clone()).await;
    let (onboarding, log) = instance(&app, AnswerSettings::default());
    let state = onboarding
        .start("user-cached".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    log.take();
    let (id, answer) = scene_of(&state);
    let next = onboarding
        .answer(
            "user-cached".into(),
            id.clone(),
            answer.clone(),
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&log),
        group_write(
            &backend,
            &[
                "UPDATE runs",
                "INSERT run_answers",
                "INSERT assignments",
                "INSERT events",
            ]
        )
    );
    let (next_id, next_answer) = scene_of(&next);
    onboarding
        .answer(
            "user-cached".into(),
            next_id,
            next_answer,
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&log),
        group_write(
            &backend,
            &["UPDATE runs", "INSERT run_answers", "INSERT events"]
        )
    );
    // A replay is never decided from memory: one fresh read.
    let again = onboarding
        .answer("user-cached".into(), id, answer, Default::default())
        .await
        .unwrap();
    assert_eq!(again, next);
    assert_eq!(kinds(&log), ["SELECT runs"]);
}

/// Two instances keep the same run in memory; each answer is written only
/// if the run is still the one read, so the run advances once.
async fn two_instances_racing_one_user_advance_it_once(backend: Backend) {
    let app = sample(backend).await;
    let (a, _) = instance(&app, AnswerSettings::default());
    let (b, _) = instance(&app, AnswerSettings::default());
    let state = a
        .start("user-race".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    // Both instances now keep the run at the same revision.
    b.current("user-race".into(), Default::default())
        .await
        .unwrap();
    let (id, answer) = scene_of(&state);
    let answers = (0..10).map(|i| {
        let (one, id, answer) = (if i % 2 == 0 { &a } else { &b }, id.clone(), answer.clone());
        async move {
            one.answer("user-race".into(), id, answer, Default::default())
                .await
        }
    });
    let results = futures_util::future::join_all(answers).await;
    let first = results[0].as_ref().unwrap();
    for r in &results {
        assert_eq!(r.as_ref().unwrap(), first);
    }
    assert_eq!(first.progress.answered, 1);
    assert_eq!(app.count("run_answers").await, 1);
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM events WHERE kind = 'answered'")
            .await,
        1
    );
    // Instance b moves the run on; a, holding the old revision, answers the
    // new scene once it learns of it, and nothing is lost or doubled.
    let (next_id, next_answer) = scene_of(first);
    let moved = b
        .answer(
            "user-race".into(),
            next_id.clone(),
            next_answer.clone(),
            Default::default(),
        )
        .await
        .unwrap();
    let replayed = a
        .answer("user-race".into(), next_id, next_answer, Default::default())
        .await
        .unwrap();
    assert_eq!(moved, replayed);
    assert_eq!(app.count("run_answers").await, 2);
    assert_eq!(
        a.current("user-race".into(), Default::default())
            .await
            .unwrap(),
        moved
    );
}

/// QA on one instance (a tester added) reaches a run another instance
/// keeps in memory: the tester is then served staging.
async fn a_qa_change_on_another_instance_is_seen(backend: Backend) {
    let app = sample(backend).await;
    let (a, _) = instance(&app, AnswerSettings::default());
    let (b, _) = instance(&app, AnswerSettings::default());
    let state = a
        .start("user-qa".into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    b.add_tester("user-qa".into(), "quinn".into())
        .await
        .unwrap();
    // The production run is no longer the user's: a must not write it.
    let (id, answer) = scene_of(&state);
    let err = a
        .answer("user-qa".into(), id, answer, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, OnboardingError::NotStarted), "{err}");
    assert_eq!(app.count("run_answers").await, 0);
}

/// A user with a started run and one answer, and the write of a second
/// answer to its current scene (or, `bad`, to the scene it already
/// answered: a duplicate answer row the database refuses).
async fn next_write(app: &TestApp, service: &Onboarding, user: &str, bad: bool) -> Box<Write> {
    let state = service
        .start(user.into(), Attributes::new(), Default::default())
        .await
        .unwrap();
    let (id, answer) = scene_of(&state);
    service
        .answer(user.into(), id.clone(), answer, Default::default())
        .await
        .unwrap();
    let db = Db::new(&app.settings.database_url, 1).unwrap();
    let owned = user.to_owned();
    let loaded = db
        .run_with(move |c| load::load(c, &owned, ""))
        .await
        .unwrap();
    let mut run = loaded.run.unwrap();
    let expected = run.revision;
    run.revision += 1;
    run.answered += 1;
    let answer = AnswerRow {
        run_id: run.id.clone(),
        scene_id: if bad {
            id
        } else {
            run.scene_id.clone().unwrap()
        },
        step_key: run.step_key.clone().unwrap(),
        scene_key: run.scene_key.clone().unwrap(),
        answer: sceneflow::store::column::Json(serde_json::Value::Null),
        response: sceneflow::store::column::Json(state.clone()),
        created_at: run.updated_at,
    };
    let event = NewEvent {
        kind: sceneflow::flow::EventKind::Answered,
        occurred_at: run.updated_at,
        user_id: run.user_id.clone(),
        run_id: run.id.clone(),
        version_id: run.version_id.clone(),
        channel: run.channel,
        step_key: run.step_key.clone(),
        scene_key: run.scene_key.clone(),
        experiment_id: None,
        variation_id: None,
        offline: false,
    };
    Box::new(Write {
        run: Some(RunWrite::Update { run, expected }),
        answers: vec![answer],
        events: vec![event],
        ..Write::default()
    })
}

/// `write` as if somebody else had moved its run since it was read.
fn moved_since_read(mut write: Box<Write>) -> Box<Write> {
    if let Some(RunWrite::Update { expected, .. }) = &mut write.run {
        *expected -= 1;
    }
    write
}

/// In one group, a write the database refuses (a duplicate answer row)
/// fails alone; the other is committed.
async fn one_bad_write_does_not_fail_its_group(backend: Backend) {
    let app = sample(backend).await;
    let (service, _) = instance(&app, PLAIN);
    let good = next_write(&app, &service, "user-good", false).await;
    let bad = next_write(&app, &service, "user-bad", true).await;
    let db = Db::new(&app.settings.database_url, 2).unwrap();
    let commits = commit::GroupCommit::start(db, Duration::from_millis(50), &Background::new());
    let [good, bad]: [_; 2] = save_together(&commits, vec![good, bad])
        .await
        .try_into()
        .unwrap();
    assert!(good.is_ok(), "{good:?}");
    assert!(bad.is_err());
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM runs WHERE answered = 2")
            .await,
        1
    );
    assert_eq!(app.count("run_answers").await, 3);
}

/// A group costs the same statements whatever its size: one guarded update
/// for all its runs, one insert each for answers and events. A run moved
/// since it was read is left out alone, and so is a second write of one
/// run in the same group.
async fn a_group_is_a_constant_number_of_statements(backend: Backend) {
    let app = sample(backend.clone()).await;
    let (service, _) = instance(&app, PLAIN);
    let log = StatementLog::default();
    let db = Db::with_statement_log(&app.settings.database_url, 2, log.clone()).unwrap();
    let commits = commit::GroupCommit::start(db, Duration::from_millis(200), &Background::new());
    // 63 + the second write of one run: a full group (64).
    for size in [1usize, 8, 63] {
        let mut writes = Vec::new();
        for i in 0..size {
            writes.push(next_write(&app, &service, &format!("user-{size}-{i}"), false).await);
        }
        let mut twice = None;
        if size > 1 {
            // Somebody else moved this run since it was read.
            let Some(RunWrite::Update { expected, .. }) = &mut writes[0].run else {
                unreachable!()
            };
            *expected -= 1;
            // And this one is written twice in the group.
            twice = Some(writes[1].clone());
        }
        log.take();
        let results = save_together(&commits, writes.into_iter().chain(twice)).await;
        assert_eq!(
            kinds(&log),
            group_write(
                &backend,
                &["UPDATE runs", "INSERT run_answers", "INSERT events"]
            ),
            "a group of {size}"
        );
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(OnboardingError::Conflict)))
            .count();
        assert_eq!(conflicts, if size > 1 { 2 } else { 0 }, "{results:?}");
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            results.len() - conflicts
        );
    }
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM runs WHERE answered = 2")
            .await,
        // Each group of more than one: the moved run stays put.
        1 + 8 + 63 - 2
    );
    // Two answers a user, but the moved run's second in each larger group.
    assert_eq!(app.count("run_answers").await, 2 * (1 + 8 + 63) - 2);
}

/// A write with no run to guard: an assignment change and nothing else.
fn assignment_write(change: AssignmentWrite) -> Box<Write> {
    Box::new(Write {
        assignments: vec![change],
        ..Write::default()
    })
}

fn put(user: &str, scene: &str) -> AssignmentWrite {
    AssignmentWrite::Put(AssignmentRow {
        user_id: user.into(),
        step_key: "intro".into(),
        condition_name: "test_condition".into(),
        scene_key: scene.into(),
        source: sceneflow::words::AssignmentSource::Bucket,
        assigned_at: sceneflow::store::now(),
        exposed_at: None,
    })
}

fn expose(user: &str) -> AssignmentWrite {
    AssignmentWrite::Expose {
        user_id: user.into(),
        step_key: "intro".into(),
        condition_name: "test_condition".into(),
        at: sceneflow::store::now(),
    }
}

async fn assigned(app: &TestApp, user: &str, scene: &str, exposed: bool) -> i64 {
    let exposed = if exposed { "NOT NULL" } else { "NULL" };
    app.count_sql(format!(
        "SELECT COUNT(*) AS n FROM assignments WHERE user_id = '{user}' \
         AND condition_name = 'test_condition' AND scene_key = '{scene}' \
         AND exposed_at IS {exposed}"
    ))
    .await
}

/// Assignments stored and exposed in a group; nothing of a write left out
/// (its assignment, its exposure, its events). Two writes of one group on
/// one assignment are written, on PostgreSQL too, by the statements SQLite
/// uses (one statement may not touch a row twice): exposures first, then
/// the stored assignments, the later of two winning.
async fn a_group_stores_and_exposes_assignments(backend: Backend) {
    let app = sample(backend.clone()).await;
    let (service, _) = instance(&app, PLAIN);
    let log = StatementLog::default();
    let db = Db::with_statement_log(&app.settings.database_url, 2, log.clone()).unwrap();
    let commits = commit::GroupCommit::start(db, Duration::from_secs(5), &Background::new());
    let mut moved = moved_since_read(next_write(&app, &service, "user-moved", false).await);
    moved.assignments = vec![put("user-moved", "a")];
    let moved_events = "SELECT COUNT(*) AS n FROM events WHERE user_id = 'user-moved'";
    let events_before = app.count_sql(moved_events).await;
    log.take();
    let results = save_together(
        &commits,
        vec![
            assignment_write(put("user-1", "a")),
            assignment_write(put("user-2", "b")),
            moved,
        ],
    )
    .await;
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(matches!(results[2], Err(OnboardingError::Conflict)));
    assert_eq!(
        kinds(&log),
        group_write(&backend, &["UPDATE runs", "INSERT assignments"])
    );
    assert_eq!(assigned(&app, "user-1", "a", false).await, 1);
    assert_eq!(assigned(&app, "user-2", "b", false).await, 1);
    assert_eq!(assigned(&app, "user-moved", "a", false).await, 0);
    assert_eq!(app.count_sql(moved_events).await, events_before);

    // An exposure and another user's assignment: one group; the exposure
    // of a write left out is not made.
    let mut moved = moved_since_read(next_write(&app, &service, "user-moved-2", false).await);
    moved.assignments = vec![expose("user-2")];
    log.take();
    let results = save_together(
        &commits,
        vec![
            assignment_write(expose("user-1")),
            assignment_write(put("user-3", "c")),
            moved,
        ],
    )
    .await;
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    assert!(matches!(results[2], Err(OnboardingError::Conflict)));
    assert_eq!(
        kinds(&log),
        group_write(
            &backend,
            &["UPDATE runs", "UPDATE assignments", "INSERT assignments"]
        )
    );
    assert_eq!(assigned(&app, "user-1", "a", true).await, 1);
    assert_eq!(assigned(&app, "user-3", "c", false).await, 1);
    assert_eq!(assigned(&app, "user-2", "b", false).await, 1);

    // One assignment twice in a group: the later store wins.
    log.take();
    let results = save_together(
        &commits,
        vec![
            assignment_write(put("user-4", "first")),
            assignment_write(put("user-4", "second")),
            assignment_write(expose("user-2")),
            assignment_write(put("user-2", "later")),
        ],
    )
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(kinds(&log).first().map(String::as_str), Some("BEGIN"));
    assert_eq!(assigned(&app, "user-4", "second", false).await, 1);
    assert_eq!(assigned(&app, "user-4", "first", false).await, 0);
    assert_eq!(assigned(&app, "user-2", "later", false).await, 1);
}

/// The events of a group get ids in the order of its writes and of each
/// write's events (funnels and exports read them by id).
async fn a_group_keeps_the_order_of_its_events(backend: Backend) {
    use sceneflow::flow::EventKind;
    let app = sample(backend).await;
    let db = Db::new(&app.settings.database_url, 2).unwrap();
    let commits = commit::GroupCommit::start(db, Duration::from_secs(5), &Background::new());
    let event = |position: usize, kind: EventKind| NewEvent {
        kind,
        occurred_at: sceneflow::store::now(),
        user_id: "user-order".into(),
        run_id: format!("run-{}", position / 3),
        version_id: "v".into(),
        channel: sceneflow::store::channels::Channel::Production,
        step_key: None,
        scene_key: None,
        experiment_id: None,
        // The position in the group, sortable as text.
        variation_id: Some(format!("{position:02}")),
        offline: false,
    };
    let kinds = [
        EventKind::Completed,
        EventKind::Answered,
        EventKind::SceneShown,
    ];
    let writes: Vec<Box<Write>> = (0..4)
        .map(|w| {
            Box::new(Write {
                events: (0..3).map(|e| event(w * 3 + e, kinds[e])).collect(),
                ..Write::default()
            })
        })
        .collect();
    let results = save_together(&commits, writes).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM events WHERE user_id = 'user-order'")
            .await,
        12
    );
    assert_eq!(
        app.count_sql(
            "SELECT COUNT(*) AS n FROM events a JOIN events b ON a.id < b.id \
             WHERE a.user_id = 'user-order' AND b.user_id = 'user-order' \
             AND a.variation_id > b.variation_id"
        )
        .await,
        0,
        "an event of a later position got an earlier id"
    );
}

/// A group waits for a request still on its way (up to the bound), and not
/// at all once none is: a lone write does not sit out the bound.
async fn a_group_waits_only_for_requests_on_their_way(backend: Backend) {
    let app = sample(backend).await;
    let db = Db::new(&app.settings.database_url, 2).unwrap();
    let bound = Duration::from_secs(30);
    let commits = commit::GroupCommit::start(db, bound, &Background::new());
    let lone = assignment_write(put("user-lone", "a"));
    let coming = commits.coming();
    tokio::time::timeout(bound / 2, commits.save(lone, &coming))
        .await
        .expect("a lone write commits without waiting out the bound")
        .unwrap();

    // Another request is on its way: the write waits for it …
    let other = commits.coming();
    let coming = commits.coming();
    let write = assignment_write(put("user-waits", "a"));
    let mut saved = std::pin::pin!(commits.save(write, &coming));
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut saved)
            .await
            .is_err(),
        "committed while a request was on its way"
    );
    // … until it ends without a write.
    drop(other);
    tokio::time::timeout(bound / 2, saved)
        .await
        .expect("the group commits once nobody is on its way")
        .unwrap();
    assert_eq!(assigned(&app, "user-waits", "a", false).await, 1);
}

/// Through the service: a start and an answer with nobody else on the way
/// commit at once, whatever the bound (their counts end when they hand
/// their writes over).
async fn a_lone_request_does_not_wait_out_the_bound(backend: Backend) {
    let app = sample(backend).await;
    let bound = Duration::from_secs(60);
    let (service, _) = instance(
        &app,
        AnswerSettings {
            run_cache: 100,
            group_commit: bound,
            ..AnswerSettings::default()
        },
    );
    let quick = bound / 2;
    let state = tokio::time::timeout(
        quick,
        service.start("user-lone".into(), Attributes::new(), Default::default()),
    )
    .await
    .expect("a lone start commits at once")
    .unwrap();
    let (id, answer) = scene_of(&state);
    tokio::time::timeout(
        quick,
        service.answer("user-lone".into(), id, answer, Default::default()),
    )
    .await
    .expect("a lone answer commits at once")
    .unwrap();
}
