//! Funnel, experiments, export, impact and metrics, on real runs.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use sceneflow::auth::{Role, mint_user_token};
use sceneflow::flow::EventKind;
use sceneflow::store::runs::NewEvent;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app_with, valid_answer};

on_both_backends!(
    funnel_and_experiments_match_the_runs_driven,
    a_qa_reset_takes_the_run_out_of_left,
    a_sample_ratio_mismatch_is_flagged,
    the_export_streams_every_event_and_neutralises_formulas,
    metrics_move_with_requests,
);

async fn post(app: &TestApp, user: &str, path: &str, body: Value) -> Value {
    app.client
        .post(app.url(path))
        .bearer_auth(mint_user_token(&app.settings.jwt_secret, user, 1))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Drive `user` for at most `answers` answers; the step it stopped at
/// (`None` when completed) and the intro variant it saw.
async fn drive(app: &TestApp, user: &str, answers: usize) -> (Option<String>, String) {
    let mut state = post(app, user, "/v1/onboarding/start", json!({"attributes": {}})).await;
    let mut intro = String::new();
    for n in 0..=answers {
        // The intro variant counts as exposed once shown, answered or not.
        if state["scene"]["step"] == "intro" {
            intro = state["scene"]["key"].as_str().unwrap().to_owned();
        }
        if state["status"] == "completed" || n == answers {
            break;
        }
        let scene = state["scene"].clone();
        state = post(
            app,
            user,
            "/v1/onboarding/answers",
            json!({"scene_id": scene["id"], "answer": valid_answer(&scene)}),
        )
        .await;
    }
    let stopped = state["scene"]["step"].as_str().map(str::to_owned);
    (stopped, intro)
}

/// A GET; figures from the aggregates are read once the aggregator has
/// folded every event (`pending_events` 0).
async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    for _ in 0..200 {
        let body: Value = app.get(token, path).await.json().await.unwrap();
        if body.get("pending_events").is_none_or(|p| p == 0) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{path}: the aggregator did not catch up within 5 s")
}

async fn funnel_and_experiments_match_the_runs_driven(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.sample = true;
        s.analytics.interval = std::time::Duration::from_millis(20);
    })
    .await;
    let token = app.token(Role::Operator).await;
    // 30 users: every third stops after 1 answer, every third after 3, the rest finish.
    let mut stopped: BTreeMap<String, i64> = BTreeMap::new();
    let mut exposed: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut completed = 0;
    let mut version = String::new();
    for n in 0..30 {
        let user = format!("funnel-{n}");
        let (at, intro) = drive(&app, &user, [1, 3, 100][n % 3]).await;
        if !intro.is_empty() {
            let e = exposed.entry(intro).or_default();
            e.0 += 1;
            e.1 += i64::from(at.is_none());
        }
        match at {
            Some(step) => *stopped.entry(step).or_default() += 1,
            None => completed += 1,
        }
        if version.is_empty() {
            version = get(&app, &token, "/admin/api/channels").await["channels"][0]["version_id"]
                .as_str()
                .unwrap()
                .to_owned();
        }
    }
    let funnel = get(
        &app,
        &token,
        &format!("/admin/api/versions/{version}/funnel"),
    )
    .await;
    assert_eq!(funnel["started"], 30);
    assert_eq!(funnel["completed"], completed);
    assert_eq!(
        funnel["completion_rate"].as_f64().unwrap(),
        completed as f64 / 30.0
    );
    let steps = funnel["steps"].as_array().unwrap();
    let step = |key: &str| steps.iter().find(|s| s["step"] == key).unwrap().clone();
    assert_eq!(step("welcome")["reached"], 30);
    assert_eq!(step("welcome")["answered"], 30);
    assert_eq!(step("intro")["reached"], 30);
    assert_eq!(
        step("intro")["left"],
        stopped.get("intro").copied().unwrap_or(0)
    );
    for (key, n) in &stopped {
        assert_eq!(step(key)["left"], *n, "users left at {key}");
    }
    assert!(step("welcome")["median_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        step("nickname")["reached"].as_i64().unwrap()
            - step("nickname")["answered"].as_i64().unwrap(),
        stopped.get("nickname").copied().unwrap_or(0)
    );

    let experiments = get(&app, &token, "/admin/api/experiments").await;
    let intro = experiments["experiments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["experiment_id"] == "intro:pass_through")
        .unwrap()
        .clone();
    for variant in intro["variants"].as_array().unwrap() {
        let (n, done) = exposed
            .get(variant["scene"].as_str().unwrap())
            .copied()
            .unwrap_or_default();
        assert_eq!(variant["exposures"], n, "{variant}");
        assert_eq!(variant["completions"], done, "{variant}");
    }
    assert_eq!(intro["variants"][0]["scene"], "intro_coach", "sheet order");
    assert!(intro["sample_ratio"]["p_value"].as_f64().is_some());

    let impact = get(
        &app,
        &token,
        &format!("/admin/api/versions/{version}/impact"),
    )
    .await;
    let production = &impact["channels"][0];
    assert_eq!(production["channel"], "production");
    assert_eq!(production["users"], 30);
    assert_eq!(production["completed"], completed);
    assert!(
        production["first_seen"].as_str().unwrap() <= production["last_seen"].as_str().unwrap()
    );
    assert!(impact["as_of"].as_str().is_some(), "{impact}");

    // Experiments of one version; another version has none; an unknown one is 404.
    let only = get(
        &app,
        &token,
        &format!("/admin/api/experiments?version={version}"),
    )
    .await;
    assert_eq!(only["experiments"], experiments["experiments"]);
    let res = app
        .get(&token, "/admin/api/experiments?version=000000000000")
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// "left" is folded from the log: a QA reset records `run_reset`, so the
/// tester's deleted run stops counting, and the new run counts where it is.
async fn a_qa_reset_takes_the_run_out_of_left(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.sample = true;
        s.analytics.interval = std::time::Duration::from_millis(20);
    })
    .await;
    let (operator, qa) = (app.token(Role::Operator).await, app.token(Role::Qa).await);
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/debug/testers/qa-phone",
            &qa,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (stopped, _) = drive(&app, "qa-phone", 1).await;
    let second = stopped.expect("one answer does not finish the sample");
    let version = get(&app, &operator, "/admin/api/channels").await["channels"][0]["version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let left = |funnel: &Value, key: &str| {
        funnel["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == key)
            .unwrap()["left"]
            .clone()
    };
    let path = format!("/admin/api/versions/{version}/funnel?channel=staging");
    assert_eq!(left(&get(&app, &operator, &path).await, &second), 1);

    let (status, _) = app
        .call(
            reqwest::Method::POST,
            "/debug/users/qa-phone/reset",
            &qa,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let funnel = get(&app, &operator, &path).await;
    assert_eq!(left(&funnel, &second), 0, "{funnel}");
    assert_eq!(funnel["started"], 1, "a reset is not a visit");

    // The new run counts where it is now.
    let (stopped, _) = drive(&app, "qa-phone", 0).await;
    let first = stopped.unwrap();
    let funnel = get(&app, &operator, &path).await;
    assert_eq!(left(&funnel, &first), 1, "{funnel}");
    assert_eq!(left(&funnel, &second), 0, "{funnel}");
}

async fn a_sample_ratio_mismatch_is_flagged(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let token = app.token(Role::Operator).await;
    let version =
        sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK)[..12].to_owned();
    // 5,300 exposures of intro_coach and 4,700 of intro_friendly against 1:1;
    // 1,060 and 1,175 of them complete (20 % and 25 %).
    let mut rows = Vec::new();
    let at = sceneflow::store::now();
    for (variant, n, done) in [("intro_coach", 5300, 1060), ("intro_friendly", 4700, 1175)] {
        for i in 0..n {
            let run = format!("{variant}-{i}");
            let event = |kind: EventKind| NewEvent {
                kind,
                occurred_at: at,
                user_id: format!("u-{run}"),
                run_id: run.clone(),
                version_id: version.clone(),
                channel: sceneflow::store::channels::Channel::Production,
                step_key: Some("intro".into()),
                scene_key: Some(variant.into()),
                experiment_id: Some("intro:pass_through".into()),
                variation_id: Some(variant.into()),
                offline: false,
            };
            rows.push(event(EventKind::Exposure));
            if i < done {
                rows.push(event(EventKind::Completed));
            }
        }
    }
    app.db
        .run(move |c| sceneflow::store::runs::record_events(c, &rows))
        .await
        .unwrap();
    let experiments = get(&app, &token, "/admin/api/experiments").await;
    let e = &experiments["experiments"][0];
    assert_eq!(e["variants"][0]["exposures"], 5300);
    assert_eq!(e["variants"][1]["completions"], 1175);
    assert!((e["variants"][1]["difference"].as_f64().unwrap() - 0.05).abs() < 1e-9);
    // Pooled two-proportion test: z = 5.97, p ≈ 2.4e-9.
    assert!(e["variants"][1]["p_value"].as_f64().unwrap() < 1e-8);
    assert!((e["sample_ratio"]["chi_square"].as_f64().unwrap() - 36.0).abs() < 1e-9);
    assert_eq!(e["sample_ratio"]["mismatch"], true);
}

async fn the_export_streams_every_event_and_neutralises_formulas(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let token = app.token(Role::Operator).await;
    drive(&app, "=HYPERLINK(\"http://evil\")", 2).await;
    drive(&app, "plain-user", 100).await;
    let total = app.count("events").await;

    let ndjson = app.get(&token, "/admin/api/events?format=ndjson").await;
    assert_eq!(ndjson.status(), StatusCode::OK);
    assert!(
        ndjson.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("ndjson")
    );
    let text = ndjson.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as i64, total);
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["id"].as_i64() < w[1]["id"].as_i64())
    );
    assert!(
        lines
            .iter()
            .any(|l| l["kind"] == "exposure" && l["experiment_id"] == "intro:pass_through")
    );

    let csv = app
        .get(&token, "/admin/api/events?format=csv")
        .await
        .text()
        .await
        .unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next().unwrap(),
        "id,kind,occurred_at,user_id,run_id,version_id,channel,step,scene,experiment_id,variation_id"
    );
    assert_eq!(rows.clone().count() as i64, total);
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "the formula is neutralised and quoted"
    );
    assert!(
        !csv.lines()
            .any(|l| l.split(',').any(|cell| cell.starts_with('=')))
    );

    // A window in time, and bad parameters.
    let future = app
        .get(&token, "/admin/api/events?since=2999-01-01")
        .await
        .text()
        .await
        .unwrap();
    assert!(future.is_empty());
    let bad = app.get(&token, "/admin/api/events?since=yesterday").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(name)
                && labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics_move_with_requests(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let scrape = || async {
        app.client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;
    drive(&app, "metrics-user", 3).await;
    post(
        &app,
        "metrics-user",
        "/v1/onboarding/answers",
        json!({"scene_id": "stale-1", "answer": null}),
    )
    .await;
    let token = app.token(Role::Operator).await;
    app.upload(&token, crate::support::book::valid().bytes())
        .await;
    let after = scrape().await;
    let answers_route = [
        ("route", "/v1/onboarding/answers"),
        ("method", "POST"),
        ("status", "200"),
    ];
    assert_eq!(
        metric(&after, "sceneflow_http_requests_total", &answers_route)
            - metric(&before, "sceneflow_http_requests_total", &answers_route),
        3.0
    );
    // The three answers driven; by step they are the funnel's.
    assert_eq!(metric(&after, "sceneflow_answers_total", &[]), 3.0);
    // Every documented series from the start; the build and the process.
    assert_eq!(
        metric(
            &after,
            "sceneflow_errors_total",
            &[("code", "sync_refused")]
        ),
        0.0
    );
    assert!(after.contains("sceneflow_syncs_total{outcome=\"online_kept\"} 0"));
    assert!(after.contains("sceneflow_build_info{version="));
    // The aggregator's lag, in events.
    assert!(
        after.contains("sceneflow_events_pending{consumer=\"aggregator\"}"),
        "{after}"
    );
    assert!(after.contains("\nprocess_resident_memory_bytes "));
    assert!(after.contains("\nprocess_cpu_seconds_total "));
    assert_eq!(
        metric(
            &after,
            "sceneflow_errors_total",
            &[("code", "scene_mismatch")]
        ),
        1.0
    );
    let created = [("outcome", "created")];
    assert_eq!(
        metric(&after, "sceneflow_imports_total", &created)
            - metric(&before, "sceneflow_imports_total", &created),
        1.0,
        "the upload (the sample import at start counts too)"
    );
    assert!(
        metric(
            &after,
            "sceneflow_http_request_duration_seconds_count",
            &[("route", "/v1/onboarding/start")]
        ) >= 1.0
    );
    assert_eq!(
        metric(
            &after,
            "sceneflow_channel_version",
            &[("channel", "production")]
        ),
        1.0
    );
    // Idle and in use add up to the open connections: no third series.
    assert!(after.contains("sceneflow_db_pool_connections{state=\"in_use\"}"));
    assert!(!after.contains("sceneflow_db_pool_connections{state=\"open\"}"));
}
