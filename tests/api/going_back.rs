//! Going back over HTTP (docs/src/mobile-api.md "Going back"): the scene gone back to, the
//! answers withdrawn, a different answer down another branch, sticky A/B,
//! the `back` column, idempotent and concurrent backs, the version pin.

use reqwest::StatusCode;
use sceneflow::auth::mint_user_token;
use serde_json::{Value, json};

use crate::languages::publish;
use crate::on_both_backends;
use crate::support::book::Book;
use crate::support::{Backend, TestApp, book, spawn_app};

on_both_backends!(
    back_then_a_different_answer_takes_another_branch,
    back_follows_the_rules_of_the_workbook_and_the_run,
    concurrent_identical_backs_move_the_run_once,
);

/// welcome (none) → goal (choice) → intro (A/B of two none scenes) →
/// weight (lose_weight only) | sleep (sleep_better only) → plan (choice,
/// back = no) → done.
pub(crate) fn branching() -> Book {
    let h = vec![
        "step",
        "scene",
        "weight",
        "message_1",
        "condition",
        "input",
        "save_as",
        "back",
        "next_step",
    ];
    Book::new()
        .sheet(
            "scenes",
            vec![
                h,
                vec!["welcome", "welcome", "", "Hi", "", "none", "", "", ""],
                vec![
                    "goal",
                    "goal_question",
                    "",
                    "Your goal?",
                    "",
                    "choice",
                    "goal",
                    "",
                    "",
                ],
                vec![
                    "intro",
                    "intro_a",
                    "#1",
                    "A: {{goal}}",
                    "",
                    "none",
                    "",
                    "",
                    "",
                ],
                vec![
                    "intro",
                    "intro_b",
                    "#1",
                    "B: {{goal}}",
                    "",
                    "none",
                    "",
                    "",
                    "",
                ],
                vec![
                    "weight",
                    "weight_ask",
                    "",
                    "Your weight?",
                    "goal_lose_weight",
                    "number",
                    "weight",
                    "",
                    "",
                ],
                vec![
                    "sleep",
                    "sleep_ask",
                    "",
                    "Hours of sleep?",
                    "goal_sleep_better",
                    "number",
                    "sleep_hours",
                    "",
                    "",
                ],
                vec![
                    "plan",
                    "plan_pick",
                    "",
                    "Pick a plan",
                    "",
                    "choice",
                    "plan",
                    "no",
                    "",
                ],
                vec![
                    "done",
                    "done",
                    "",
                    "Thanks ({{goal}}, {{weight|-}}, {{sleep_hours|-}})",
                    "",
                    "none",
                    "",
                    "",
                    "END",
                ],
            ],
        )
        .sheet(
            "choices",
            vec![
                vec!["scene", "choice", "label"],
                vec!["goal_question", "lose_weight", "Lose weight"],
                vec!["goal_question", "sleep_better", "Sleep better"],
                vec!["plan_pick", "basic", "Basic"],
                vec!["plan_pick", "premium", "Premium"],
            ],
        )
}

pub(crate) struct Phone<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Phone<'a> {
    pub(crate) fn new(app: &'a TestApp, user: &str) -> Phone<'a> {
        Phone {
            app,
            token: mint_user_token(&app.settings.jwt_secret, user, 1),
        }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (res.status(), res.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn start(&self) -> Value {
        let (status, state) = self
            .post("/v1/onboarding/start", json!({"attributes": {}}))
            .await;
        assert_eq!(status, StatusCode::OK, "{state}");
        state
    }

    pub(crate) async fn answer(&self, state: &Value, answer: Value) -> Value {
        let (status, next) = self.try_answer(state, answer).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        next
    }

    async fn try_answer(&self, state: &Value, answer: Value) -> (StatusCode, Value) {
        let body = json!({"scene_id": state["scene"]["id"], "answer": answer});
        self.post("/v1/onboarding/answers", body).await
    }

    pub(crate) async fn back(&self, state: &Value) -> (StatusCode, Value) {
        self.post(
            "/v1/onboarding/back",
            json!({"scene_id": state["scene"]["id"]}),
        )
        .await
    }
}

pub(crate) fn key(state: &Value) -> &str {
    state["scene"]["key"].as_str().unwrap_or("")
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

async fn events(app: &TestApp, kind: &str) -> i64 {
    app.count_sql(format!(
        "SELECT COUNT(*) AS n FROM events WHERE kind = '{kind}'"
    ))
    .await
}

async fn back_then_a_different_answer_takes_another_branch(backend: Backend) {
    let app = spawn_app(backend).await;
    let v1 = publish(&app, branching().bytes()).await;
    let phone = Phone::new(&app, "back-branch");
    let welcome = phone.start().await;
    let goal = phone.answer(&welcome, Value::Null).await;
    let intro = phone.answer(&goal, json!("lose_weight")).await;
    let variant = key(&intro).to_owned();
    assert!(variant.starts_with("intro_"), "{intro}");
    assert_eq!(
        intro["scene"]["messages"][0]["text"].as_str().unwrap()[3..],
        *"lose_weight"
    );
    let weight = phone.answer(&intro, Value::Null).await;
    assert_eq!(key(&weight), "weight_ask");
    assert_eq!(weight["progress"]["answered"], 3);
    assert_eq!(events(&app, "exposure").await, 1);

    // A new version does not move the run.
    publish(&app, book::valid().bytes()).await;

    // Back passes over the A/B intro (input none) to the goal question.
    let (status, again) = phone.back(&weight).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(key(&again), "goal_question");
    assert_eq!(again["version"], v1.as_str());
    assert_ne!(again["scene"]["id"], goal["scene"]["id"], "a new scene id");
    assert_eq!(again["scene"]["input"]["previous"], "lose_weight");
    assert_eq!(
        again["progress"]["answered"], 1,
        "only welcome's answer is current"
    );
    let (_, current) = phone.post("/v1/onboarding/current", Value::Null).await;
    let _ = current;

    // A late retry of the withdrawn answer is not replayed.
    let (status, body) = phone.try_answer(&goal, json!("lose_weight")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "scene_mismatch"),
        "{body}"
    );

    // Another answer, another branch; the A/B variant is kept, not exposed again.
    let intro2 = phone.answer(&again, json!("sleep_better")).await;
    assert_eq!(key(&intro2), variant);
    assert!(
        intro2["scene"]["messages"][0]["text"]
            .as_str()
            .unwrap()
            .ends_with("sleep_better")
    );
    assert_eq!(intro2["scene"]["input"]["previous"], Value::Null);
    let sleep = phone.answer(&intro2, Value::Null).await;
    assert_eq!(key(&sleep), "sleep_ask");
    let plan = phone.answer(&sleep, json!(7)).await;
    let done = phone.answer(&plan, json!("basic")).await;
    // The withdrawn weight is gone from what templates see.
    assert_eq!(
        done["scene"]["messages"][0]["text"],
        "Thanks (sleep_better, -, 7)"
    );
    assert_eq!(done["progress"]["answered"], 5);
    assert_eq!(events(&app, "exposure").await, 1);
    assert_eq!(events(&app, "went_back").await, 1);
    let went_back = app
        .count_sql("SELECT COUNT(*) AS n FROM events WHERE kind = 'went_back' AND step_key = 'goal' AND scene_key = 'goal_question'")
        .await;
    assert_eq!(went_back, 1);
}

async fn back_follows_the_rules_of_the_workbook_and_the_run(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, branching().bytes()).await;
    let phone = Phone::new(&app, "back-rules");
    let (status, body) = phone
        .post("/v1/onboarding/back", json!({"scene_id": "x"}))
        .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_started")
    );
    let welcome = phone.start().await;
    // Nothing answered yet.
    let (status, body) = phone.back(&welcome).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "nothing_to_go_back_to"),
        "{body}"
    );
    let goal = phone.answer(&welcome, Value::Null).await;
    // Only none scenes answered: nothing to change.
    let (status, body) = phone.back(&goal).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "nothing_to_go_back_to"),
        "{body}"
    );
    let intro = phone.answer(&goal, json!("sleep_better")).await;
    let sleep = phone.answer(&intro, Value::Null).await;
    let plan = phone.answer(&sleep, json!(6.5)).await;
    assert_eq!(key(&plan), "plan_pick");

    // From a scene that is not the current one.
    let (status, body) = phone.back(&sleep).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "scene_mismatch"),
        "{body}"
    );
    assert_eq!(
        body["error"]["details"]["current_scene_id"],
        plan["scene"]["id"]
    );

    // plan_pick (back = no) is not answered yet: going back from it is fine,
    // and a repeat returns the same state.
    let (status, sleep_again) = phone.back(&plan).await;
    assert_eq!(status, StatusCode::OK, "{sleep_again}");
    assert_eq!(
        (
            key(&sleep_again),
            &sleep_again["scene"]["input"]["previous"]
        ),
        ("sleep_ask", &json!(6.5))
    );
    let (status, repeat) = phone.back(&plan).await;
    assert_eq!((status, &repeat), (StatusCode::OK, &sleep_again));
    // The scene left by going back takes no answer any more.
    let (status, body) = phone.try_answer(&plan, json!("basic")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "scene_mismatch"),
        "{body}"
    );

    let plan = phone.answer(&sleep_again, json!(8)).await;
    let done = phone.answer(&plan, json!("premium")).await;
    assert_eq!(key(&done), "done");
    // Back past plan_pick (back = no) is refused, and nothing moves.
    let (status, body) = phone.back(&done).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "back_not_allowed"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plan_pick"),
        "{body}"
    );
    // The book promises the scene in the details, for code.
    assert_eq!(
        body["error"]["details"],
        json!({"scene": "plan_pick"}),
        "{body}"
    );
    let completed = phone.answer(&done, Value::Null).await;
    assert_eq!(completed["status"], "completed");
    let (status, body) = phone.back(&done).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_completed"),
        "{body}"
    );
    assert_eq!(events(&app, "went_back").await, 1);
}

async fn concurrent_identical_backs_move_the_run_once(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, branching().bytes()).await;
    let phone = Phone::new(&app, "back-race");
    let welcome = phone.start().await;
    let goal = phone.answer(&welcome, Value::Null).await;
    let intro = phone.answer(&goal, json!("lose_weight")).await;
    let weight = phone.answer(&intro, Value::Null).await;
    let phone = &phone;
    let weight = &weight;
    let results =
        futures_util::future::join_all((0..8).map(|_| async move { phone.back(weight).await }))
            .await;
    let first = &results[0].1;
    for (status, state) in &results {
        assert_eq!(*status, StatusCode::OK, "{state}");
        assert_eq!(state, first);
    }
    assert_eq!(key(first), "goal_question");
    assert_eq!(events(&app, "went_back").await, 1);
    assert_eq!(app.count("run_backs").await, 1);
    assert_eq!(
        app.count("run_answers").await,
        1,
        "welcome's answer remains"
    );
}
