//! The mobile API: a full run, every error code, idempotent and concurrent
//! answers, version pinning, templates, and the OpenAPI document.

use reqwest::StatusCode;
use sceneflow::auth::{Role, mint_user_token};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app, spawn_app_with, valid_answer};

on_both_backends!(
    a_run_goes_from_start_to_completed,
    start_returns_the_existing_run,
    every_error_has_its_code,
    a_retried_answer_returns_the_same_state_and_stores_nothing,
    concurrent_identical_answers_advance_once,
    runs_stay_on_the_version_they_started_on,
    ab_assignment_is_sticky_and_exposed_once,
    templates_fall_back_when_attributes_are_missing,
    states_and_errors_keep_their_shape,
);

/// A phone: one user's token against the app.
struct Phone<'a> {
    app: &'a TestApp,
    token: String,
}

impl<'a> Phone<'a> {
    fn new(app: &'a TestApp, user: &str) -> Phone<'a> {
        Phone {
            app,
            token: mint_user_token(&app.settings.jwt_secret, user, 1),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let res = req.bearer_auth(&self.token).send().await.expect("sent");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn start(&self, attributes: Value) -> (StatusCode, Value) {
        let req = self.app.client.post(self.app.url("/v1/onboarding/start"));
        self.send(req.json(&json!({ "attributes": attributes })))
            .await
    }

    async fn current(&self) -> (StatusCode, Value) {
        self.send(self.app.client.get(self.app.url("/v1/onboarding/current")))
            .await
    }

    async fn answer(&self, scene_id: &Value, answer: Value) -> (StatusCode, Value) {
        let req = self.app.client.post(self.app.url("/v1/onboarding/answers"));
        self.send(req.json(&json!({"scene_id": scene_id, "answer": answer})))
            .await
    }
}

async fn sample_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.sample = true).await
}

async fn a_run_goes_from_start_to_completed(backend: Backend) {
    let app = sample_app(backend).await;
    let phone = Phone::new(&app, "user-full-run");
    let (status, mut state) = phone
        .start(json!({"install_source": "diet_campaign", "nickname": "ゆき", "birth_year": 1994}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["scene"]["key"], "welcome_diet");
    let mut keys = vec![];
    while state["status"] == "in_progress" {
        let scene = state["scene"].clone();
        keys.push(scene["key"].as_str().unwrap().to_owned());
        let answer = match scene["key"].as_str().unwrap() {
            "goal_diet" => json!("lose_weight"),
            _ => valid_answer(&scene),
        };
        let (status, next) = phone.answer(&scene["id"], answer).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        assert_eq!(
            next["progress"]["answered"].as_u64().unwrap() as usize,
            keys.len()
        );
        state = next;
        assert!(keys.len() < 30, "the run never ends: {keys:?}");
    }
    assert_eq!(state["scene"], Value::Null);
    assert_eq!(state["progress"]["remaining_estimate"], 0);
    // The diet user with a nickname skips the nickname question; the goal
    // answer sends them through weight and target date, then the plan for
    // their goal.
    assert_eq!(keys[0], "welcome_diet");
    assert!(keys[1].starts_with("intro_"));
    assert_eq!(
        &keys[2..],
        [
            "nickname_known",
            "goal_diet",
            "current_weight",
            "target_date",
            "interests",
            "birth_year_ask",
            "plan_lose_weight"
        ]
    );

    let (status, resumed) = phone.current().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resumed, state);
    assert_eq!(app.count("runs").await, 1);
    assert_eq!(app.count("run_answers").await, keys.len() as i64);
    let events = event_counts(&app).await;
    assert_eq!(events["scene_shown"], keys.len() as i64);
    assert_eq!(events["answered"], keys.len() as i64);
    assert_eq!(events["completed"], 1);
    assert_eq!(events["exposure"], 1, "one A/B group (intro) on the path");
}

async fn event_counts(app: &TestApp) -> Value {
    let mut out = json!({"scene_shown": 0, "answered": 0, "completed": 0, "exposure": 0});
    for kind in ["scene_shown", "answered", "completed", "exposure"] {
        let sql = format!("SELECT COUNT(*) AS n FROM events WHERE kind = '{kind}'");
        out[kind] = json!(app.count_sql(sql).await);
    }
    out
}

async fn start_returns_the_existing_run(backend: Backend) {
    let app = sample_app(backend).await;
    let phone = Phone::new(&app, "user-twice");
    let (_, first) = phone.start(json!({})).await;
    let (_, moved) = phone.answer(&first["scene"]["id"], Value::Null).await;
    let (status, again) = phone
        .start(json!({"install_source": "diet_campaign"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        again, moved,
        "start returns the run in progress, attributes ignored"
    );
    assert_eq!(app.count("runs").await, 1);
}

async fn every_error_has_its_code(backend: Backend) {
    let empty = spawn_app(backend.clone()).await;
    let phone = Phone::new(&empty, "user-errors");
    let (status, body) = phone.start(json!({})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "flow_unavailable");
    assert_eq!(body["error"]["details"]["channel"], "production");

    let app = sample_app(backend).await;
    let phone = Phone::new(&app, "user-errors");
    let code = |body: &Value| body["error"]["code"].as_str().unwrap_or("").to_owned();

    let (status, body) = phone.current().await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_started".into())
    );
    let (status, body) = phone.answer(&json!("x-1"), Value::Null).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::NOT_FOUND, "not_started".into())
    );

    // Tokens: missing, signed with another secret, expired.
    for token in [
        None,
        Some(mint_user_token("another-secret", "user-errors", 1)),
        Some(expired_token(&app.settings.jwt_secret)),
    ] {
        let mut req = app.client.get(app.url("/v1/onboarding/current"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: Value = res.json().await.unwrap();
        assert_eq!(code(&body), "unauthorized");
    }

    // Bodies that are not the JSON described.
    let start_url = app.url("/v1/onboarding/start");
    for req in [
        app.client.post(&start_url).body("{not json"),
        app.client
            .post(&start_url)
            .header("content-type", "application/json")
            .body("{not json"),
        app.client
            .post(&start_url)
            .json(&json!({"attributes": "diet"})),
        app.client
            .post(&start_url)
            .json(&json!({"attributes": {"Bad Key": 1}})),
        app.client
            .post(&start_url)
            .json(&json!({"attributes": {"nested": {"a": 1}}})),
        app.client
            .post(app.url("/v1/onboarding/answers"))
            .json(&json!({"answer": null})),
    ] {
        let (status, body) = phone.send(req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&body), "invalid_request");
    }
    // Each value within its limits, but 40 of 1,000 characters are more
    // than a run may hold (docs/src/operations.md "Limits"): refused, nothing stored.
    let wide: serde_json::Map<String, Value> = (0..40)
        .map(|i| (format!("note_{i}"), json!("x".repeat(1000))))
        .collect();
    let (status, body) = phone
        .send(
            app.client
                .post(&start_url)
                .json(&json!({"attributes": wide})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(code(&body), "invalid_request");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("32768"),
        "{body}"
    );
    assert_eq!(app.count("runs").await, 0);
    let huge = json!({"attributes": {"nickname": "x".repeat(2 * 1024 * 1024)}});
    let (status, body) = phone.send(app.client.post(&start_url).json(&huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&body), "invalid_request");

    let (_, welcome) = phone.start(json!({})).await;
    let welcome_id = welcome["scene"]["id"].clone();
    let (status, body) = phone.answer(&welcome_id, json!("hello")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_answer".into())
    );
    assert_eq!(body["error"]["details"]["rule"], "type");
    let (_, unchanged) = phone.current().await;
    assert_eq!(
        unchanged, welcome,
        "an invalid answer leaves the run as it was"
    );

    let (_, intro) = phone.answer(&welcome_id, Value::Null).await;
    let (status, body) = phone.answer(&welcome_id, json!("different")).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_answered".into())
    );
    let (status, body) = phone.answer(&json!("nope-7"), Value::Null).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "scene_mismatch".into())
    );
    assert_eq!(
        body["error"]["details"]["current_scene_id"],
        intro["scene"]["id"]
    );

    // Walk to the number question and break its bounds.
    let mut state = intro;
    while state["scene"]["input"]["kind"] != "number" {
        let answer = match state["scene"]["key"].as_str().unwrap() {
            "goal_default" => json!("lose_weight"),
            _ => valid_answer(&state["scene"]),
        };
        state = phone.answer(&state["scene"]["id"], answer).await.1;
    }
    let (status, body) = phone.answer(&state["scene"]["id"], json!(500)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["details"]["rule"], "range");
    // As the sheet and the app wrote them: `200`, `500`, not `200.0`.
    assert_eq!(body["error"]["details"]["max"], json!(200));
    assert_eq!(body["error"]["details"]["got"], json!(500));

    while state["status"] == "in_progress" {
        state = phone
            .answer(&state["scene"]["id"], valid_answer(&state["scene"]))
            .await
            .1;
    }
    let (status, body) = phone.answer(&json!("late-1"), Value::Null).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::CONFLICT, "already_completed".into())
    );
}

fn expired_token(secret: &str) -> String {
    #[derive(serde::Serialize)]
    struct Claims<'a> {
        sub: &'a str,
        exp: i64,
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &Claims {
            sub: "user-errors",
            exp: chrono::Utc::now().timestamp() - 3600,
        },
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn a_retried_answer_returns_the_same_state_and_stores_nothing(backend: Backend) {
    let app = sample_app(backend).await;
    let phone = Phone::new(&app, "user-retry");
    let (_, state) = phone.start(json!({})).await;
    let id = state["scene"]["id"].clone();
    let (_, first) = phone.answer(&id, Value::Null).await;
    let next = first["scene"]["id"].clone();
    let (_, _) = phone.answer(&next, Value::Null).await;
    // A retry of the first answer, after the run moved on, replays its state.
    let (status, again) = phone.answer(&id, Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    assert_eq!(app.count("run_answers").await, 2);
    assert_eq!(event_counts(&app).await["answered"], 2);
}

async fn concurrent_identical_answers_advance_once(backend: Backend) {
    let app = sample_app(backend).await;
    let phone = Phone::new(&app, "user-concurrent");
    let (_, state) = phone.start(json!({})).await;
    let id = state["scene"]["id"].clone();
    let results =
        futures_util::future::join_all((0..10).map(|_| phone.answer(&id, Value::Null))).await;
    let first = &results[0].1;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
        assert_eq!(body, first);
    }
    assert_eq!(first["progress"]["answered"], 1);
    assert_eq!(app.count("run_answers").await, 1);
    assert_eq!(event_counts(&app).await["answered"], 1);
    let (_, current) = phone.current().await;
    assert_eq!(&current, first);
}

async fn runs_stay_on_the_version_they_started_on(backend: Backend) {
    let app = sample_app(backend).await;
    let early = Phone::new(&app, "user-early");
    let (_, state) = early.start(json!({})).await;
    let sample_version = state["version"].clone();

    let token = app.token(Role::Admin).await;
    let upload: Value = app
        .upload(&token, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = upload["version"]["id"].as_str().unwrap().to_owned();
    app.publish(&v2).await;

    let late = Phone::new(&app, "user-late");
    let (_, late_state) = late.start(json!({})).await;
    assert_eq!(late_state["version"], v2.as_str());
    assert_eq!(late_state["scene"]["key"], "welcome");

    let (_, next) = early.answer(&state["scene"]["id"], Value::Null).await;
    assert_eq!(next["version"], sample_version);
    assert!(next["scene"]["key"].as_str().unwrap().starts_with("intro_"));
}

async fn ab_assignment_is_sticky_and_exposed_once(backend: Backend) {
    let app = sample_app(backend).await;
    let mut seen = std::collections::BTreeSet::new();
    for n in 0..12 {
        let user = format!("ab-user-{n}");
        let phone = Phone::new(&app, &user);
        let (_, state) = phone.start(json!({})).await;
        let (_, intro) = phone.answer(&state["scene"]["id"], Value::Null).await;
        let key = intro["scene"]["key"].as_str().unwrap().to_owned();
        let weights = [1.0, 1.0];
        let expected = ["intro_coach", "intro_friendly"][sceneflow::flow::bucket::pick(
            sceneflow::flow::bucket::bucket(&user, "intro", "pass_through"),
            &weights,
        )];
        assert_eq!(key, expected, "{user} gets the documented bucket");
        seen.insert(key);
        let (_, again) = phone.current().await;
        assert_eq!(again["scene"]["key"], intro["scene"]["key"]);
    }
    assert_eq!(seen.len(), 2, "both variants are served");
    assert_eq!(event_counts(&app).await["exposure"], 12);
    assert_eq!(app.count("assignments").await, 12);
    let exposure: i64 = app
        .count_sql(
            "SELECT COUNT(*) AS n FROM events WHERE kind = 'exposure' AND experiment_id = 'intro:pass_through' AND variation_id IN ('intro_coach', 'intro_friendly')",
        )
        .await;
    assert_eq!(exposure, 12);
}

async fn templates_fall_back_when_attributes_are_missing(backend: Backend) {
    let app = sample_app(backend).await;
    let named = Phone::new(&app, "user-named");
    let (_, state) = named
        .start(json!({"install_source": "diet_campaign", "nickname": "ゆき"}))
        .await;
    assert_eq!(
        state["scene"]["messages"][1]["text"],
        "ゆきの「やせたい」を、今日から一緒にかなえましょう。"
    );
    let anonymous = Phone::new(&app, "user-anonymous");
    let (_, state) = anonymous
        .start(json!({"install_source": "diet_campaign", "nickname": ""}))
        .await;
    assert_eq!(
        state["scene"]["messages"][1]["text"],
        "あなたの「やせたい」を、今日から一緒にかなえましょう。"
    );
}

async fn states_and_errors_keep_their_shape(backend: Backend) {
    let app = sample_app(backend).await;
    let phone = Phone::new(&app, "user-snapshot");
    let (_, state) = phone.start(json!({"nickname": "ゆき"})).await;
    insta::assert_json_snapshot!("start_state", state, {".scene.id" => "[scene_id]", ".version" => "[version]"});
    let mut state = phone.answer(&state["scene"]["id"], Value::Null).await.1;
    while state["scene"]["input"]["kind"] == "none" {
        state = phone.answer(&state["scene"]["id"], Value::Null).await.1;
    }
    insta::assert_json_snapshot!("goal_state", state, {".scene.id" => "[scene_id]", ".version" => "[version]"});
    let (_, error) = phone.answer(&state["scene"]["id"], json!("fly")).await;
    insta::assert_json_snapshot!("invalid_answer_error", error);
}

pub async fn openapi_lists_every_mobile_route() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/v1/onboarding/start", "post"),
        ("/v1/onboarding/current", "get"),
        ("/v1/onboarding/answers", "post"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    assert!(doc["components"]["schemas"]["State"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn openapi_document() {
    openapi_lists_every_mobile_route().await
}
