//! Outcome events, metrics and experiment results (docs/src/analytics.md "Outcomes and
//! experiment results"), on real runs.

use std::collections::HashMap;

use reqwest::StatusCode;
use sceneflow::analytics::aggregator;
use sceneflow::auth::{Role, mint_user_token};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app_with};

on_both_backends!(outcome_events_feed_metrics_and_results);

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn mobile(app: &TestApp, user: &str) -> String {
    mint_user_token(&app.settings.jwt_secret, user, 1)
}

/// Start `user` and pass the welcome scene: the intro variant they are shown.
async fn expose(app: &TestApp, user: &str) -> String {
    let token = mobile(app, user);
    let (status, state) = call(
        app,
        reqwest::Method::POST,
        &token,
        "/v1/onboarding/start",
        Some(json!({"attributes": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    let (_, state) = call(
        app,
        reqwest::Method::POST,
        &token,
        "/v1/onboarding/answers",
        Some(json!({"scene_id": state["scene"]["id"], "answer": null})),
    )
    .await;
    assert_eq!(state["scene"]["step"], "intro", "{state}");
    state["scene"]["key"].as_str().unwrap().to_owned()
}

async fn fold(app: &TestApp) {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.conn().unwrap();
        aggregator::catch_up(&mut conn, 7).unwrap();
    })
    .await
    .unwrap();
}

fn ago(minutes: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339()
}

async fn outcome_events_feed_metrics_and_results(backend: Backend) {
    use reqwest::Method;
    // The aggregator runs when the test says (fold), not in the background.
    let app = spawn_app_with(backend, |s| {
        s.sample = true;
        s.analytics.interval = std::time::Duration::ZERO;
    })
    .await;
    let operator = app.token(Role::Operator).await;
    let admin = app.token(Role::Admin).await;

    // A metric defined before any event, one after (built from history).
    let (status, metric) = call(&app, Method::PUT, &operator, "/admin/api/metrics/subscribed",
        Some(json!({"event": "subscribed", "kind": "binomial", "window_hours": 168, "guardrail": true}))).await;
    assert_eq!(status, StatusCode::OK, "{metric}");
    assert_eq!(metric["direction"], "increase");

    // An event before the first exposure does not count; a user with no run
    // may send events.
    let (status, body) = call(
        &app,
        Method::POST,
        &mobile(&app, "early"),
        "/v1/events",
        Some(json!({"events": [{"id": "e0", "name": "subscribed", "time": ago(30)}]})),
    )
    .await;
    assert_eq!(
        (status, body.clone()),
        (StatusCode::OK, json!({"accepted": 1, "duplicates": 0})),
        "{body}"
    );

    let mut seen: HashMap<String, String> = HashMap::new();
    for n in 0..24 {
        let user = format!("user-{n}");
        let scene = expose(&app, &user).await;
        seen.insert(user, scene);
    }
    seen.insert("early".into(), expose(&app, "early").await);

    // Every third user subscribes (twice: a binomial counts once), every
    // fourth buys, through the app or, for some, a back end's nightly job.
    let mut subscribed: HashMap<String, f64> = HashMap::new();
    let mut revenue: HashMap<String, f64> = HashMap::new();
    let mut backend_events = Vec::new();
    for n in 0..24 {
        let user = format!("user-{n}");
        let scene = seen[&user].clone();
        if n % 3 == 0 {
            let events = json!({"events": [
                {"id": format!("s-{n}"), "name": "subscribed"},
                {"id": format!("s2-{n}"), "name": "subscribed", "value": 1.0},
            ]});
            let (status, body) = call(
                &app,
                Method::POST,
                &mobile(&app, &user),
                "/v1/events",
                Some(events.clone()),
            )
            .await;
            assert_eq!(body, json!({"accepted": 2, "duplicates": 0}), "{status}");
            // A retry stores nothing.
            let (_, body) = call(
                &app,
                Method::POST,
                &mobile(&app, &user),
                "/v1/events",
                Some(events),
            )
            .await;
            assert_eq!(body, json!({"accepted": 0, "duplicates": 2}));
            *subscribed.entry(scene.clone()).or_default() += 1.0;
        }
        if n % 4 == 0 {
            let amount = 1.5 + n as f64;
            backend_events.push(json!({"id": format!("p-{n}"), "user_id": user, "name": "purchase", "value": amount}));
            *revenue.entry(scene).or_default() += amount;
        }
    }
    // The early user's event stays before their exposure.
    let ingest = {
        let db = app.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.conn().unwrap();
            sceneflow::auth::mint_admin_token(&mut conn, "nightly", Role::Ingest, 1).unwrap()
        })
        .await
        .unwrap()
    };
    let (status, body) = call(
        &app,
        Method::POST,
        &ingest,
        "/admin/api/events",
        Some(json!({"events": backend_events})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The ingest role may call nothing else.
    let (status, body) = call(&app, Method::GET, &ingest, "/admin/api/versions", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = call(&app, Method::GET, &ingest, "/admin/api/metrics", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A bad event refuses its whole batch, with its index; nothing stored.
    let before = app.count("outcomes").await;
    let (status, body) = call(&app, Method::POST, &mobile(&app, "user-1"), "/v1/events",
        Some(json!({"events": [{"id": "ok", "name": "subscribed"}, {"id": "bad", "name": "Not-A-Name"}]}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_request");
    assert_eq!(body["error"]["details"]["index"], 1, "{body}");
    assert_eq!(app.count("outcomes").await, before);

    // Not folded yet: the results say how many outcome events wait.
    let (_, waiting) = call(
        &app,
        Method::GET,
        &admin,
        "/admin/api/experiments/intro:pass_through/results?metric=subscribed",
        None,
    )
    .await;
    assert!(
        waiting["pending_events"].as_i64().unwrap() >= app.count("outcomes").await,
        "{waiting}"
    );
    fold(&app).await;
    let (status, metric) = call(&app, Method::PUT, &operator, "/admin/api/metrics/revenue",
        Some(json!({"event": "purchase", "kind": "mean", "window_hours": 24.0, "description": "spent in the first day"}))).await;
    assert_eq!(status, StatusCode::OK, "{metric}");

    let exposed = |scene: &str| seen.values().filter(|s| *s == scene).count() as u64;
    for (name, expected) in [("subscribed", &subscribed), ("revenue", &revenue)] {
        let path = format!("/admin/api/experiments/intro:pass_through/results?metric={name}");
        let (status, results) = call(&app, Method::GET, &admin, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{results}");
        assert_eq!(results["metric"]["name"], name);
        let variants = results["variants"].as_array().unwrap();
        assert_eq!(variants.len(), 2, "{results}");
        for (i, v) in variants.iter().enumerate() {
            let scene = v["scene"].as_str().unwrap();
            assert_eq!(v["users"], exposed(scene), "{name} {scene}: {results}");
            let sum = expected.get(scene).copied().unwrap_or(0.0);
            assert!(
                (v["sum"].as_f64().unwrap() - sum).abs() < 1e-9,
                "{name} {scene}: {results}"
            );
            assert_eq!(v.get("vs_control").is_some(), i > 0, "{results}");
        }
        assert!(results["sample_ratio"]["p_value"].is_number(), "{results}");
        assert!(results["as_of"].is_string(), "{results}");
        assert_eq!(results["power"]["min_relative_effect"], 0.05);
    }
    // The built-in completion metric, and refusals.
    let (status, results) = call(
        &app,
        Method::GET,
        &admin,
        "/admin/api/experiments/intro:pass_through/results",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{results}");
    assert_eq!(results["metric"]["name"], "completed");
    for (path, code) in [
        (
            "/admin/api/experiments/intro:pass_through/results?metric=nope",
            StatusCode::NOT_FOUND,
        ),
        (
            "/admin/api/experiments/nope:pass_through/results",
            StatusCode::NOT_FOUND,
        ),
        (
            "/admin/api/experiments/intro:pass_through/results?min_effect=0",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(
            call(&app, Method::GET, &admin, path, None).await.0,
            code,
            "{path}"
        );
    }

    // The outcome log exports like the event log.
    let res = app
        .client
        .get(app.url("/admin/api/events?log=outcomes&format=csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csv = res.text().await.unwrap();
    assert!(
        csv.starts_with("id,user_id,event_id,name,value,occurred_at,received_at,source\r\n"),
        "{csv}"
    );
    assert_eq!(
        csv.lines().count() as i64,
        1 + app.count("outcomes").await,
        "{csv}"
    );
    assert!(
        csv.contains(",purchase,") && csv.contains(",backend"),
        "{csv}"
    );

    // Metrics: listed with the built-in first, replaced, removed, audited.
    let (_, list) = call(&app, Method::GET, &operator, "/admin/api/metrics", None).await;
    let names: Vec<&str> = list["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["completed", "revenue", "subscribed"]);
    for (body, what) in [
        (
            json!({"event": "x", "kind": "median", "window_hours": 1}),
            "kind",
        ),
        (
            json!({"event": "x", "kind": "count", "window_hours": 0}),
            "window",
        ),
        (
            json!({"event": "X", "kind": "count", "window_hours": 1}),
            "event",
        ),
    ] {
        let (status, _) = call(
            &app,
            Method::PUT,
            &operator,
            "/admin/api/metrics/bad",
            Some(body),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
    }
    let (status, _) = call(
        &app,
        Method::PUT,
        &operator,
        "/admin/api/metrics/completed",
        Some(json!({"event": "x", "kind": "count", "window_hours": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &operator,
        "/admin/api/metrics/revenue",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &operator,
        "/admin/api/metrics/revenue",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, audit) = call(&app, Method::GET, &admin, "/admin/api/audit", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"metric_put") && actions.contains(&"metric_delete"),
        "{actions:?}"
    );
}
