//! Rescue (docs/src/rollouts.md "Rescue"): in-progress runs pinned to a
//! version move onto another at their step, with a dry run first; the
//! funnel, the impact scope and the incident record count them.

use reqwest::{Method, StatusCode};
use sceneflow::auth::Role;
use sceneflow::flow::rollout::inside;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::rollout::{approved_on_staging, roll_out};
use crate::support::{Backend, TestApp};

on_both_backends!(
    a_rescue_moves_stranded_runs_onto_the_previous_version,
    a_rescue_keeps_its_rules,
    a_rescue_and_an_answer_at_once_both_land,
);

/// Users inside a 50 % rollout of `v2`, started on it; the first `answered`
/// of them answer their first scene (they wait at `goal`).
async fn stranded(app: &TestApp, v2: &str, users: usize, answered: usize) -> Vec<String> {
    let inside_users: Vec<String> = (0..)
        .map(|i| format!("s-{i}"))
        .filter(|u| inside(u, v2, 50.0))
        .take(users)
        .collect();
    for (n, user) in inside_users.iter().enumerate() {
        let state = app.mobile(user, "/v1/onboarding/start", json!({})).await;
        assert_eq!(state["version"], v2);
        if n < answered {
            let scene = &state["scene"];
            let next = app
                .mobile(
                    user,
                    "/v1/onboarding/answers",
                    json!({"scene_id": scene["id"], "answer": crate::support::valid_answer(scene)}),
                )
                .await;
            assert_eq!(next["scene"]["step"], "goal", "{next}");
        }
    }
    inside_users
}

async fn rescue(app: &TestApp, from: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        &format!("/admin/api/versions/{from}/rescue"),
        &app.token(Role::Admin).await,
        body,
    )
    .await
}

async fn abort(app: &TestApp) {
    let (status, _) = app
        .call(
            Method::POST,
            "/admin/api/channels/production/rollout/abort",
            &app.token(Role::Admin).await,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_rescue_moves_stranded_runs_onto_the_previous_version(backend: Backend) {
    let (app, sample, v2) = approved_on_staging(backend).await;
    roll_out(&app, &v2, 50.0).await;
    let users = stranded(&app, &v2, 6, 4).await;
    abort(&app).await;
    // The first user's last answer, as the app would retry it.
    let welcome = app
        .mobile(&users[0], "/v1/onboarding/current", Value::Null)
        .await;
    let retry_id = format!(
        "{}-1",
        welcome["scene"]["id"]
            .as_str()
            .unwrap()
            .rsplit_once('-')
            .unwrap()
            .0
    );
    // The dry run: 4 at goal and 2 at welcome would move (both steps are in
    // the sample); nothing moves yet.
    let (status, dry) = rescue(
        &app,
        &v2,
        json!({"to": sample, "channel": "production", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["moved"], 6, "{dry}");
    assert_eq!(dry["by_step"], json!({"goal": 4, "welcome": 2}));
    assert_eq!(dry["stayed"], json!([]));
    let state = app
        .mobile(&users[0], "/v1/onboarding/current", Value::Null)
        .await;
    assert_eq!(state["version"], v2, "a dry run moves nothing");
    // The move.
    let (status, done) = rescue(
        &app,
        &v2,
        json!({"to": sample, "channel": "production", "dry_run": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["moved"], 6);
    for (n, user) in users.iter().enumerate() {
        let state = app
            .mobile(user, "/v1/onboarding/current", Value::Null)
            .await;
        assert_eq!(state["version"], sample, "{user}: {state}");
        let step = if n < 4 { "goal" } else { "welcome" };
        assert_eq!(state["scene"]["step"], step, "{user}: {state}");
        // The app answers the rescued scene as any other.
        let scene = &state["scene"];
        let answer = if scene["key"] == "goal_diet" {
            json!("lose_weight")
        } else {
            crate::support::valid_answer(scene)
        };
        let next = app
            .mobile(
                user,
                "/v1/onboarding/answers",
                json!({"scene_id": scene["id"], "answer": answer}),
            )
            .await;
        assert_eq!(next["version"], sample, "{next}");
    }
    // A retry of an answer given before the rescue follows the run: the
    // reply names the version it is on now, not the one it left.
    let retried = app
        .mobile(
            &users[0],
            "/v1/onboarding/answers",
            json!({"scene_id": retry_id, "answer": Value::Null}),
        )
        .await;
    // (Its scene may not stand on the sample: then a scene_mismatch naming
    // the current one does the same.)
    assert!(
        retried["version"] == sample.as_str() || retried["error"]["code"] == "scene_mismatch",
        "{retried}"
    );
    // Idempotent: nothing is left on v2.
    let (_, again) = rescue(
        &app,
        &v2,
        json!({"to": sample, "channel": "production", "dry_run": false}),
    )
    .await;
    assert_eq!(again["moved"], 0, "{again}");
    // One rescued event per run; the funnel and the impact scope count them.
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM events WHERE kind = 'rescued'")
            .await,
        6
    );
    let operator = app.token(Role::Operator).await;
    let started = std::time::Instant::now();
    loop {
        let (_, funnel) = app
            .call(
                Method::GET,
                &format!("/admin/api/versions/{v2}/funnel?channel=production"),
                &operator,
                Value::Null,
            )
            .await;
        let rescued: i64 = funnel["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["rescued"].as_i64().unwrap_or(0))
            .sum();
        if rescued == 6 {
            let (_, impact) = app
                .call(
                    Method::GET,
                    &format!("/admin/api/versions/{v2}/impact"),
                    &operator,
                    Value::Null,
                )
                .await;
            assert!(impact.to_string().contains("\"rescued\":6"), "{impact}");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{funnel}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // Audited, and in the incident record with its Markdown.
    let (_, incidents) = app
        .call(Method::GET, "/admin/api/incidents", &operator, Value::Null)
        .await;
    let first = &incidents["incidents"][0];
    assert_eq!(first["kind"], "rescued", "{incidents}");
    assert!(
        first["markdown"]
            .as_str()
            .unwrap()
            .contains("**Runs rescued:** 6"),
        "{first}"
    );
}

async fn a_rescue_keeps_its_rules(backend: Backend) {
    let (app, sample, v2) = approved_on_staging(backend).await;
    // An unknown version; the same version; a channel that is no channel.
    let (status, _) = rescue(&app, "nope", json!({"to": sample, "dry_run": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = rescue(&app, &sample, json!({"to": sample, "dry_run": true})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = rescue(&app, &sample, json!({"to": v2, "dry_run": null})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "null is not absent");
    let (status, _) = rescue(
        &app,
        &sample,
        json!({"to": v2, "channel": "beta", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // v2 is approved but production never served it: not_approved.
    let (status, body) = rescue(&app, &sample, json!({"to": v2, "dry_run": true})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_approved");
    // Only admins.
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/admin/api/versions/{sample}/rescue"),
            &app.token(Role::Qa).await,
            json!({"to": v2, "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn a_rescue_and_an_answer_at_once_both_land(backend: Backend) {
    let (app, sample, v2) = approved_on_staging(backend).await;
    roll_out(&app, &v2, 50.0).await;
    let users = stranded(&app, &v2, 20, 0).await;
    abort(&app).await;
    // Every user answers its welcome scene while the rescue runs.
    let answers = users.iter().map(|user| {
        let app = &app;
        async move {
            let state = app
                .mobile(user, "/v1/onboarding/current", Value::Null)
                .await;
            app.mobile(
                user,
                "/v1/onboarding/answers",
                json!({"scene_id": state["scene"]["id"], "answer": Value::Null}),
            )
            .await
        }
    });
    let rescue = rescue(
        &app,
        &v2,
        json!({"to": sample, "channel": "production", "dry_run": false}),
    );
    let (replies, (status, done)) = tokio::join!(futures_util::future::join_all(answers), rescue);
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["moved"], 20, "{done}");
    // Whichever came first, each run is on the sample now, past or at
    // welcome, with a consistent state (the answer either landed on v2
    // and the rescue moved the run from goal, or it met the moved run).
    for (user, reply) in users.iter().zip(replies) {
        let state = app
            .mobile(user, "/v1/onboarding/current", Value::Null)
            .await;
        assert_eq!(
            state["version"], sample,
            "{user}: {state} (answer: {reply})"
        );
        assert!(state["scene"]["step"].is_string(), "{state}");
    }
}
