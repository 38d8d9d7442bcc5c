//! Every JSON body the service takes is an object: an array (which serde
//! would take for a struct's fields in order), a string, a number, true,
//! false or null is 400 `invalid_request` on every JSON endpoint, whatever
//! the content type, and the same request as an object still works.

use reqwest::{Method, StatusCode};
use sceneflow::auth::{Role, mint_user_token};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, spawn_app_with, valid_answer};

/// One JSON endpoint: the call as an object, the same fields in order as an
/// array, and the status the object gets.
struct Call {
    method: Method,
    path: String,
    token: String,
    object: Value,
    positional: Value,
    status: StatusCode,
}

async fn send(app: &TestApp, call: &Call, body: String, content_type: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .request(call.method.clone(), app.url(&call.path))
        .bearer_auth(&call.token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Refuse every body that is not an object, then take the object.
async fn check(app: &TestApp, call: Call) {
    let mut bodies: Vec<String> = ["[]", r#"["u1"]"#, r#""x""#, "1", "true", "null", " [ ]"]
        .map(str::to_owned)
        .into();
    bodies.push(call.positional.to_string());
    for body in &bodies {
        // `curl -d` declares the form type; the endpoints read JSON anyway.
        for content_type in ["application/json", "application/x-www-form-urlencoded"] {
            let (status, answer) = send(app, &call, body.clone(), content_type).await;
            let what = format!("{} {} {body} as {content_type}", call.method, call.path);
            assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {answer}");
            assert_eq!(
                answer["error"]["code"], "invalid_request",
                "{what}: {answer}"
            );
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("must be a JSON object"),
                "{what}: {answer}"
            );
        }
    }
    let (status, answer) = send(app, &call, call.object.to_string(), "application/json").await;
    assert_eq!(
        status, call.status,
        "{} {} {}: {answer}",
        call.method, call.path, call.object
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_that_are_not_objects_are_refused_on_every_json_endpoint() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.sample = true;
        s.debug = true;
    })
    .await;
    let user = mint_user_token(&app.settings.jwt_secret, "u1", 1);
    let (qa, operator) = (app.token(Role::Qa).await, app.token(Role::Operator).await);
    let call = |method: Method, path: &str, token: &str, object, positional, status| Call {
        method,
        path: path.to_owned(),
        token: token.to_owned(),
        object,
        positional,
        status,
    };

    // The mobile API, in the order a phone calls it.
    check(
        &app,
        call(
            Method::POST,
            "/v1/onboarding/start",
            &user,
            json!({"attributes": {}}),
            json!([{}]),
            StatusCode::OK,
        ),
    )
    .await;
    let state = app
        .mobile("u1", "/v1/onboarding/current", Value::Null)
        .await;
    let (scene_id, answer) = (state["scene"]["id"].clone(), valid_answer(&state["scene"]));
    check(
        &app,
        call(
            Method::POST,
            "/v1/onboarding/answers",
            &user,
            json!({"scene_id": scene_id, "answer": answer}),
            json!([scene_id, answer]),
            StatusCode::OK,
        ),
    )
    .await;
    // Past a scene that takes an answer, so there is one to go back to.
    let mut state = app
        .mobile("u1", "/v1/onboarding/current", Value::Null)
        .await;
    for _ in 0..3 {
        let body =
            json!({"scene_id": state["scene"]["id"], "answer": valid_answer(&state["scene"])});
        state = app.mobile("u1", "/v1/onboarding/answers", body).await;
    }
    let scene_id = state["scene"]["id"].clone();
    check(
        &app,
        call(
            Method::POST,
            "/v1/onboarding/back",
            &user,
            json!({"scene_id": scene_id}),
            json!([scene_id]),
            StatusCode::OK,
        ),
    )
    .await;
    let version = state["version"].clone();
    let started = crate::support::an_hour_ago();
    check(
        &app,
        call(
            Method::POST,
            "/v1/onboarding/sync",
            &user,
            json!({"sync_id": "s1", "version": version, "started_at": started, "answers": []}),
            json!(["s1", version, started, {}, null, []]),
            StatusCode::OK,
        ),
    )
    .await;

    // The debug API, for a registered tester.
    let (status, _) = app
        .call(Method::PUT, "/debug/testers/qa-u", &qa, Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    app.mobile("qa-u", "/v1/onboarding/start", json!({"attributes": {}}))
        .await;
    let debug = [
        (
            Method::PUT,
            "/debug/users/qa-u/overrides",
            json!({"subscription": "premium"}),
            json!([["subscription", "premium"]]),
        ),
        (
            Method::PUT,
            "/debug/users/qa-u/variants",
            json!({"step": "intro", "scene": "intro_friendly"}),
            json!(["intro", "intro_friendly"]),
        ),
        (
            Method::POST,
            "/debug/users/qa-u/jump",
            json!({"step": "intro"}),
            json!(["intro"]),
        ),
        (Method::POST, "/debug/simulate", json!({}), json!([null])),
    ];
    for (method, path, object, positional) in debug {
        check(
            &app,
            call(method, path, &qa, object, positional, StatusCode::OK),
        )
        .await;
    }

    // The admin API.
    check(
        &app,
        call(
            Method::PUT,
            "/admin/api/channels/staging",
            &operator,
            json!({"version": version}),
            json!([version]),
            StatusCode::OK,
        ),
    )
    .await;
    check(
        &app,
        call(
            Method::POST,
            "/admin/api/versions/import",
            &operator,
            json!({"key": "inbox/none.xlsx"}),
            json!(["inbox/none.xlsx"]),
            StatusCode::NOT_FOUND,
        ),
    )
    .await;
}

/// Endpoints that take no body still ignore whatever is sent, `null`
/// included (as clients send it), and an empty body on a JSON endpoint is
/// still "the body must be JSON".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_where_none_is_taken_and_empty_bodies_are_as_before() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.sample = true;
        s.debug = true;
    })
    .await;
    let qa = app.token(Role::Qa).await;
    for body in [Value::Null, json!([]), json!(1)] {
        let (status, answer) = app
            .call(Method::PUT, "/debug/testers/qa-n", &qa, body.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}: {answer}");
    }
    let user = mint_user_token(&app.settings.jwt_secret, "u2", 1);
    for body in ["", " \n"] {
        let res = app
            .client
            .post(app.url("/v1/onboarding/start"))
            .bearer_auth(&user)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "invalid_request", "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains("the body must be JSON"), "{answer}");
    }
}
