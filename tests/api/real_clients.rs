//! Workbooks and clients as they come from the field: what the operator sees
//! in the sheet is what the app gets, and every spelling of an attribute
//! value means the same (docs/src/workbook.md, "How cells are read"
//! and "How attribute values are compared").

use chrono::Datelike;
use reqwest::StatusCode;
use sceneflow::auth::{Role, mint_user_token};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app, valid_answer};

on_both_backends!(
    percent_labels_are_served_as_the_sheet_shows_them,
    every_spelling_of_a_birth_year_matches_age_30s,
    number_answers_saved_as_floats_match_conditions,
    a_retry_is_recognised_by_value_not_spelling,
    text_length_counts_characters_as_people_see_them,
    old_android_language_codes_get_their_language,
);

fn case(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/cases/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn publish(app: &TestApp, bytes: Vec<u8>) {
    let token = app.token(Role::Admin).await;
    let res = app.upload(&token, bytes).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    app.publish(body["version"]["id"].as_str().unwrap()).await;
}

async fn send(app: &TestApp, user: &str, path: &str, body: Value) -> Value {
    let token = mint_user_token(&app.settings.jwt_secret, user, 1);
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path} {body}");
    res.json().await.unwrap()
}

async fn percent_labels_are_served_as_the_sheet_shows_them(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, case("percent_labels.xlsx")).await;
    let mut state = send(
        &app,
        "u1",
        "/v1/onboarding/start",
        json!({"attributes": {}}),
    )
    .await;
    for _ in 0..5 {
        let scene = &state["scene"];
        if scene["input"]["kind"] == "choice" {
            let labels: Vec<&str> = scene["input"]["choices"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["label"].as_str().unwrap())
                .collect();
            assert_eq!(labels, ["3%", "5%", "10%"]);
            return;
        }
        let answer = valid_answer(scene);
        state = send(
            &app,
            "u1",
            "/v1/onboarding/answers",
            json!({"scene_id": scene["id"], "answer": answer}),
        )
        .await;
    }
    panic!("no choice scene reached: {state}");
}

async fn every_spelling_of_a_birth_year_matches_age_30s(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, case("age_30s.xlsx")).await;
    let year = chrono::Utc::now().year() - 32;
    let spellings = [
        json!(year),
        json!(year as f64),
        json!(year.to_string()),
        json!(format!(" {year} ")),
        json!(format!("{year}.0")),
    ];
    for (i, birth_year) in spellings.into_iter().enumerate() {
        let state = send(
            &app,
            &format!("user{i}"),
            "/v1/onboarding/start",
            json!({"attributes": {"birth_year": birth_year}}),
        )
        .await;
        assert_eq!(
            state["scene"]["key"], "welcome_age_30s",
            "birth_year {birth_year}"
        );
    }
}

/// A `number` answer sent as a double is stored as the number and matched by
/// a condition later in the run.
async fn number_answers_saved_as_floats_match_conditions(backend: Backend) {
    use crate::support::book::Book;
    let app = spawn_app(backend).await;
    let year = chrono::Utc::now().year() - 35;
    let book = Book { sheets: Vec::new() }
        .sheet(
            "scenes",
            vec![
                vec![
                    "step",
                    "scene",
                    "condition",
                    "message_1",
                    "input",
                    "save_as",
                    "min",
                    "max",
                ],
                vec![
                    "born",
                    "ask_year",
                    "",
                    "When were you born?",
                    "number",
                    "birth_year",
                    "#1900",
                    "#2100",
                ],
                vec![
                    "hello",
                    "hello_30s",
                    "age_30s",
                    "Hi, thirty-something",
                    "",
                    "",
                    "",
                    "",
                ],
                vec!["hello", "hello_other", "", "Hi", "", "", "", ""],
            ],
        )
        .sheet("choices", vec![vec!["scene", "choice", "label"]]);
    publish(&app, book.bytes()).await;
    let state = send(
        &app,
        "u1",
        "/v1/onboarding/start",
        json!({"attributes": {}}),
    )
    .await;
    let state = send(
        &app,
        "u1",
        "/v1/onboarding/answers",
        json!({"scene_id": state["scene"]["id"], "answer": year as f64}),
    )
    .await;
    assert_eq!(state["scene"]["key"], "hello_30s");
}

/// `1994` answered, then the same scene retried as Gson sends it (`1994.0`):
/// the same answer, so the first state again and nothing stored; the same
/// for a sync retried with its numbers spelled as floats and its times in
/// another offset (docs/src/mobile-api.md; docs/src/offline.md "Sync").
async fn a_retry_is_recognised_by_value_not_spelling(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, case("birth_year.xlsx")).await;
    let started = send(
        &app,
        "u1",
        "/v1/onboarding/start",
        json!({"attributes": {}}),
    )
    .await;
    let scene = &started["scene"];
    assert_eq!(scene["input"]["kind"], "number", "{started}");
    let body = |answer: Value| json!({"scene_id": scene["id"], "answer": answer});
    let first = send(&app, "u1", "/v1/onboarding/answers", body(json!(1994))).await;
    let again = send(&app, "u1", "/v1/onboarding/answers", body(json!(1994.0))).await;
    assert_eq!(again, first);
    assert_eq!(app.count("run_answers").await, 1);
    // A different number is still a different answer.
    let token = mint_user_token(&app.settings.jwt_secret, "u1", 1);
    let other = app
        .client
        .post(app.url("/v1/onboarding/answers"))
        .bearer_auth(&token)
        .json(&body(json!(1995)))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::CONFLICT);

    let at = |seconds: i64| chrono::Utc::now() - chrono::Duration::seconds(seconds);
    let (started_at, answered_at) = (at(60), at(50));
    let sync = |answer: Value, offset: chrono::FixedOffset| {
        json!({"sync_id": "retry-1", "version": started["version"],
            "started_at": started_at.with_timezone(&offset).to_rfc3339(),
            "attributes": {},
            "answers": [{"scene_key": scene["key"], "answer": answer,
                         "answered_at": answered_at.with_timezone(&offset).to_rfc3339()}]})
    };
    let utc = chrono::FixedOffset::east_opt(0).unwrap();
    let tokyo = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let accepted = send(&app, "u2", "/v1/onboarding/sync", sync(json!(1994), utc)).await;
    assert_eq!(accepted["outcome"], "accepted");
    let stored = app.count("run_answers").await;
    let retried = send(
        &app,
        "u2",
        "/v1/onboarding/sync",
        sync(json!(1994.0), tokyo),
    )
    .await;
    assert_eq!(retried, accepted);
    assert_eq!(app.count("run_answers").await, stored);
}

/// A nickname of at most 5 characters takes three flags and a family emoji
/// (3 and 1 as people count them; 6 and 7 code points), and still refuses 6.
async fn text_length_counts_characters_as_people_see_them(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, case("nickname_max5.xlsx")).await;
    for (user, nickname) in [
        ("flags", "🇯🇵🇯🇵🇯🇵"),
        ("family", "👨\u{200d}👩\u{200d}👧\u{200d}👦"),
    ] {
        let state = at_text_input(&app, user).await;
        assert_eq!(state["scene"]["input"]["max"], 5, "{state}");
        let answered = send(
            &app,
            user,
            "/v1/onboarding/answers",
            json!({"scene_id": state["scene"]["id"], "answer": nickname}),
        )
        .await;
        assert_ne!(answered["scene"]["id"], state["scene"]["id"], "{answered}");
    }
    let token = mint_user_token(&app.settings.jwt_secret, "six", 1);
    let state = at_text_input(&app, "six").await;
    let res = app
        .client
        .post(app.url("/v1/onboarding/answers"))
        .bearer_auth(token)
        .json(&json!({"scene_id": state["scene"]["id"], "answer": "🇯🇵🇯🇵🇯🇵🇯🇵🇯🇵🇯🇵"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["details"]["got"], 6);
}

/// Android still reports Hebrew as `iw` and Indonesian as `in`: read as the
/// registry says (`he`, `id`), from the `locale` attribute and from
/// `Accept-Language` alike, they get the `::he` and `::id` texts.
async fn old_android_language_codes_get_their_language(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, case("hebrew_indonesian.xlsx")).await;
    let text = |state: &Value| {
        state["scene"]["messages"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let mut served = Vec::new();
    for (user, old, new) in [("a", "iw_IL", "he_IL"), ("b", "in_ID", "id_ID")] {
        let by_old = send(
            &app,
            &format!("{user}-old"),
            "/v1/onboarding/start",
            json!({"attributes": {"locale": old}}),
        )
        .await;
        let by_new = send(
            &app,
            &format!("{user}-new"),
            "/v1/onboarding/start",
            json!({"attributes": {"locale": new}}),
        )
        .await;
        assert_eq!(text(&by_old), text(&by_new), "{old}");
        assert_eq!(by_old["locale"], by_new["locale"]);
        served.push(by_old["locale"].clone());
    }
    assert_eq!(served, [json!("he"), json!("id")]);
    let default = send(&app, "c", "/v1/onboarding/start", json!({"attributes": {}})).await;
    let token = mint_user_token(&app.settings.jwt_secret, "d", 1);
    let by_header: Value = app
        .client
        .post(app.url("/v1/onboarding/start"))
        .bearer_auth(token)
        .header("accept-language", "iw-IL, en;q=0.5")
        .json(&json!({"attributes": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_header["locale"], "he");
    assert_ne!(text(&by_header), text(&default));
}

/// `user` started and answered validly up to the first text input; its state.
async fn at_text_input(app: &TestApp, user: &str) -> Value {
    let mut state = send(app, user, "/v1/onboarding/start", json!({"attributes": {}})).await;
    while state["scene"]["input"]["kind"] != "text" {
        let scene = &state["scene"];
        let body = json!({"scene_id": scene["id"], "answer": valid_answer(scene)});
        state = send(app, user, "/v1/onboarding/answers", body).await;
    }
    state
}
