//! Localised content over HTTP (docs/src/mobile-api.md "Languages"): negotiation from the
//! start attribute `locale` and `Accept-Language`, the fallback chain,
//! templates in a translation, and what operators see of languages.

use reqwest::StatusCode;
use sceneflow::auth::{Role, mint_user_token};
use serde_json::{Value, json};

use crate::dashboard::{add_user, sign_in};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app};

on_both_backends!(
    the_language_is_negotiated_and_served,
    operators_see_languages_coverage_and_changed_translations,
);

/// Upload and publish a workbook; its version id.
pub(crate) async fn publish(app: &TestApp, bytes: Vec<u8>) -> String {
    let token = app.token(Role::Admin).await;
    let res = app.upload(&token, bytes).await;
    assert!(res.status().is_success(), "{}", res.status());
    let body: Value = res.json().await.unwrap();
    let id = body["version"]["id"].as_str().unwrap().to_owned();
    app.publish(&id).await;
    id
}

async fn call(
    app: &TestApp,
    user: &str,
    path: &str,
    language: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let token = mint_user_token(&app.settings.jwt_secret, user, 1);
    let req = match body {
        Some(body) => app.client.post(app.url(path)).json(&body),
        None => app.client.get(app.url(path)),
    };
    let req = if language.is_empty() {
        req
    } else {
        req.header("accept-language", language)
    };
    let res = req.bearer_auth(token).send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

fn texts(state: &Value) -> Vec<&str> {
    state["scene"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

async fn the_language_is_negotiated_and_served(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, book::translated().bytes()).await;
    let start = |user: &'static str, attributes: Value, language: &'static str| {
        let app = &app;
        async move {
            call(
                app,
                user,
                "/v1/onboarding/start",
                language,
                Some(json!({"attributes": attributes})),
            )
            .await
        }
    };

    // Accept-Language, ranked by q: en-GB falls back to en.
    let (status, state) = start("lang-a", json!({}), "fr;q=0.1, en-GB, ja;q=0.5").await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["locale"], "en");
    assert_eq!(texts(&state), vec!["Welcome!", "Let's start"]);
    // Each request negotiates again; none that matches is the default.
    let (_, state) = call(&app, "lang-a", "/v1/onboarding/current", "de", None).await;
    assert_eq!(state["locale"], Value::Null);
    assert_eq!(texts(&state), vec!["ようこそ!", "はじめましょう"]);
    let (_, state) = call(&app, "lang-a", "/v1/onboarding/current", "", None).await;
    assert_eq!(state["locale"], Value::Null);
    // Several Accept-Language fields are one list (RFC 9110 §5.3), not the first.
    let res = app
        .client
        .get(app.url("/v1/onboarding/current"))
        .header("accept-language", "de")
        .header("accept-language", "en;q=0.5")
        .bearer_auth(mint_user_token(&app.settings.jwt_secret, "lang-a", 1))
        .send()
        .await
        .unwrap();
    let state: Value = res.json().await.unwrap();
    assert_eq!(state["locale"], "en", "{state}");

    // The start attribute wins over the header: en-US → en.
    let (_, state) = start("lang-b", json!({"locale": "en_US"}), "ja").await;
    assert_eq!(
        (state["locale"].as_str(), texts(&state)[0]),
        (Some("en"), "Welcome!")
    );
    let (_, state) = call(&app, "lang-b", "/v1/onboarding/current", "ja", None).await;
    assert_eq!(state["locale"], "en");
    // A locale attribute the workbook lacks gives the default, not the header.
    let (_, state) = start("lang-c", json!({"locale": "fr-CA"}), "en").await;
    assert_eq!(
        (state["locale"].clone(), texts(&state)[0]),
        (Value::Null, "ようこそ!")
    );

    // Templates, placeholders and labels in the translation.
    let (_, state) = start("lang-d", json!({}), "en").await;
    let answer =
        |state: &Value, answer: Value| json!({"scene_id": state["scene"]["id"], "answer": answer});
    let (_, state) = call(
        &app,
        "lang-d",
        "/v1/onboarding/answers",
        "en",
        Some(answer(&state, Value::Null)),
    )
    .await;
    assert_eq!(state["scene"]["input"]["placeholder"], "Nickname");
    let (_, state) = call(
        &app,
        "lang-d",
        "/v1/onboarding/answers",
        "en",
        Some(answer(&state, json!("Yuki"))),
    )
    .await;
    assert_eq!(texts(&state), vec!["Yuki, your goal?"]);
    let labels: Vec<_> = state["scene"]["input"]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, vec!["Lose weight", "Sleep better"]);
    let (_, state) = call(&app, "lang-d", "/v1/onboarding/current", "ja-JP", None).await;
    assert_eq!(texts(&state), vec!["Yukiさん、目標は?"]);
}

async fn operators_see_languages_coverage_and_changed_translations(backend: Backend) {
    let app = spawn_app(backend).await;
    let v1 = publish(&app, book::translated().bytes()).await;
    add_user(&app, "olive", Role::Operator).await;
    let (cookie, _) = sign_in(&app, "olive").await;
    let page = |path: String| {
        let (app, cookie) = (&app, cookie.clone());
        async move {
            let res = app
                .client
                .get(app.url(&path))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            res.text().await.unwrap()
        }
    };
    let html = page(format!("/admin/versions/{v1}")).await;
    assert!(html.contains("id=\"languages\""), "{html}");
    assert!(
        html.contains("<code>en</code></td><td>8 of 8</td><td>100%"),
        "{html}"
    );
    assert!(html.contains("no going back"), "{html}");

    // A second version changes one translation and drops another.
    let v2_book = book::translated()
        .set("scenes", 2, "message_1::en", "Hello!")
        .set("choices", 3, "label::en", "");
    let token = app.token(Role::Operator).await;
    let res = app.upload(&token, v2_book.bytes()).await;
    let body: Value = res.json().await.unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        body["report"]["warnings"][0]["code"], "missing_translation",
        "{body}"
    );
    let html = page(format!("/admin/versions/{v2}")).await;
    assert!(html.contains("7 of 8</td><td>87%"), "{html}");
    let diff = page(format!("/admin/versions/{v2}/diff")).await;
    for text in [
        "message_1::en",
        "Welcome!",
        "Hello!",
        "label::en",
        "Sleep better",
    ] {
        assert!(diff.contains(text), "{text} in {diff}");
    }
}
