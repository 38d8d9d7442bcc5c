//! Staged rollouts (README "Staged rollouts and rescue"): the split of new
//! production runs by the rollout bucket, widening, completing, aborting,
//! the rules a publish keeps, the bundle, and a second instance.

use reqwest::{Method, StatusCode};
use sceneflow::auth::Role;
use sceneflow::flow::rollout::inside;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app_with};

on_both_backends!(
    a_rollout_splits_new_runs_by_the_bucket_and_widens,
    a_rollout_keeps_the_rules_of_a_publish,
    an_aborted_rollout_sends_new_runs_back,
    a_rollout_completes_at_100,
    a_second_instance_sees_a_rollout_at_once,
    a_guardrail_rolls_a_worse_version_back,
    with_auto_abort_off_a_breach_only_alerts,
);

/// An app with the sample on production and a second version on staging,
/// approved: `(app, sample, v2)`.
pub(crate) async fn approved_on_staging(backend: Backend) -> (TestApp, String, String) {
    approved_on_staging_with(backend, |_| {}).await
}

pub(crate) async fn approved_on_staging_with(
    backend: Backend,
    configure: impl FnOnce(&mut sceneflow::config::Settings),
) -> (TestApp, String, String) {
    let app = spawn_app_with(backend, |s| {
        s.sample = true;
        configure(s);
    })
    .await;
    let operator = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&operator, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Method::PUT,
            "/admin/api/channels/staging",
            &operator,
            json!({"version": v2}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/admin/api/versions/{v2}/approve"),
            &app.token(Role::Qa).await,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let sample =
        sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK)[..12].to_owned();
    (app, sample, v2)
}

pub(crate) async fn roll_out(app: &TestApp, version: &str, percent: f64) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        "/admin/api/channels/production",
        &app.token(Role::Admin).await,
        json!({"version": version, "rollout_percent": percent}),
    )
    .await
}

async fn widen(app: &TestApp, percent: u32) -> (StatusCode, Value) {
    app.call(
        Method::PATCH,
        "/admin/api/channels/production/rollout",
        &app.token(Role::Admin).await,
        json!({"percent": percent}),
    )
    .await
}

async fn started_on(app: &TestApp, user: &str) -> String {
    let state = app.mobile(user, "/v1/onboarding/start", json!({})).await;
    state["version"].as_str().unwrap_or_default().to_owned()
}

async fn a_rollout_splits_new_runs_by_the_bucket_and_widens(backend: Backend) {
    let (app, sample, v2) = approved_on_staging(backend).await;
    // A user in flight before the rollout stays pinned to the sample.
    assert_eq!(started_on(&app, "early").await, sample);
    let (status, body) = roll_out(&app, &v2, 30.0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rollout"]["state"], "running");
    assert_eq!(body["rollout"]["previous"], sample.as_str());
    // Production still names the previous version until 100 % completes it.
    let admin = app.token(Role::Admin).await;
    let (_, channels) = app
        .call(Method::GET, "/admin/api/channels", &admin, Value::Null)
        .await;
    assert!(channels.to_string().contains(&sample), "{channels}");
    let mut on_new = 0;
    for i in 0..60 {
        let user = format!("user-{i}");
        let expected = if inside(&user, &v2, 30.0) {
            &v2
        } else {
            &sample
        };
        let got = started_on(&app, &user).await;
        assert_eq!(&got, expected, "{user}");
        on_new += usize::from(got == v2);
    }
    assert!(
        (5..=35).contains(&on_new),
        "{on_new} of 60 on the new version"
    );
    // The bundle of a user with no run is the side the user's run would start on.
    for user in ["bundle-a", "bundle-b", "bundle-c", "bundle-d", "bundle-e"] {
        let res = crate::offline::get_bundle(&app, user, None).await;
        let envelope: Value = res.json().await.unwrap();
        let payload: Value = serde_json::from_str(envelope["payload"].as_str().unwrap()).unwrap();
        let expected = if inside(user, &v2, 30.0) {
            &v2
        } else {
            &sample
        };
        assert_eq!(payload["version"], expected.as_str(), "{user}");
    }
    assert_eq!(started_on(&app, "early").await, sample, "pinned");
    // Narrowing is refused; widening keeps everybody inside inside.
    let (status, body) = widen(&app, 10).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "invalid_rollout");
    let (status, body) = widen(&app, 60).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["percent"], 60.0);
    // Widening to where it is already changes nothing (one audit entry).
    let (status, _) = widen(&app, 60).await;
    assert_eq!(status, StatusCode::OK);
    for i in 60..100 {
        let user = format!("user-{i}");
        let expected = if inside(&user, &v2, 60.0) {
            &v2
        } else {
            &sample
        };
        assert_eq!(&started_on(&app, &user).await, expected, "{user}");
    }
    let (status, view) = app
        .call(
            Method::GET,
            "/admin/api/channels/production/rollout",
            &app.token(Role::Operator).await,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for key in [
        "version",
        "previous",
        "percent",
        "state",
        "started_at",
        "guardrails",
    ] {
        assert!(view.get(key).is_some(), "{key} in {view}");
    }
    let (_, audit) = app
        .call(Method::GET, "/admin/api/audit", &admin, Value::Null)
        .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"rollout_start") && actions.contains(&"rollout_widen"),
        "{actions:?}"
    );
}

async fn a_rollout_keeps_the_rules_of_a_publish(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let operator = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&operator, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    // Not approved: refused as a publish is.
    let (status, body) = roll_out(&app, &v2, 10.0).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_approved");
    // An operator cannot begin one; percentages out of range are refused.
    let (status, _) = app
        .call(
            Method::PUT,
            "/admin/api/channels/production",
            &operator,
            json!({"version": v2, "rollout_percent": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // null is refused, not read as absent (which would publish to everybody);
    // a share below one bucket (0.005 %) would reach nobody.
    for bad in [
        json!(0),
        json!(-5),
        json!(100.5),
        json!("10"),
        json!(null),
        json!(0.001),
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                "/admin/api/channels/production",
                &app.token(Role::Admin).await,
                json!({"version": v2, "rollout_percent": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // Nothing running: PATCH and abort say so.
    let admin = app.token(Role::Admin).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/api/channels/production/rollout/abort",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_rollout");
    let (status, _) = app
        .call(
            Method::GET,
            "/admin/api/channels/production/rollout",
            &admin,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // While one runs, a publish, a rollback and a second rollout wait.
    app.call(
        Method::PUT,
        "/admin/api/channels/staging",
        &operator,
        json!({"version": v2}),
    )
    .await;
    app.call(
        Method::POST,
        &format!("/admin/api/versions/{v2}/approve"),
        &app.token(Role::Qa).await,
        json!({}),
    )
    .await;
    let (status, _) = roll_out(&app, &v2, 10.0).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = roll_out(&app, &v2, 20.0).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "rollout_running");
    let (status, body) = app
        .call(
            Method::PUT,
            "/admin/api/channels/production",
            &admin,
            json!({"version": v2}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "rollout_running");
    let (status, _) = app
        .call(
            Method::POST,
            "/admin/api/channels/production/rollback",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn an_aborted_rollout_sends_new_runs_back(backend: Backend) {
    let (app, sample, v2) = approved_on_staging(backend).await;
    roll_out(&app, &v2, 50.0).await;
    let insider = (0..)
        .map(|i| format!("in-{i}"))
        .find(|u| inside(u, &v2, 50.0))
        .unwrap();
    assert_eq!(started_on(&app, &insider).await, v2);
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/api/channels/production/rollout/abort",
            &app.token(Role::Admin).await,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "aborted");
    let next = (0..)
        .map(|i| format!("next-{i}"))
        .find(|u| inside(u, &v2, 50.0))
        .unwrap();
    assert_eq!(started_on(&app, &next).await, sample);
    // The run started on the new version stays pinned to it.
    assert_eq!(started_on(&app, &insider).await, v2);
}

async fn a_rollout_completes_at_100(backend: Backend) {
    let (app, _sample, v2) = approved_on_staging(backend).await;
    roll_out(&app, &v2, 10.0).await;
    let admin = app.token(Role::Admin).await;
    let (status, body) = widen(&app, 100).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "completed");
    for i in 0..10 {
        assert_eq!(started_on(&app, &format!("after-{i}")).await, v2);
    }
    let (_, channels) = app
        .call(Method::GET, "/admin/api/channels", &admin, Value::Null)
        .await;
    assert!(channels.to_string().contains(&v2), "{channels}");
    // Rolling back goes to the version before, as after a publish.
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/api/channels/production/rollback",
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn a_second_instance_sees_a_rollout_at_once(backend: Backend) {
    let (app, sample, v2) = approved_on_staging(backend).await;
    let (other, _process) = app.spawn_process().await;
    roll_out(&app, &v2, 50.0).await;
    let started = |user: String| {
        let (app, other) = (&app, other.clone());
        async move { crate::release::served_version(app, &other, &user).await }
    };
    for i in 0..20 {
        let user = format!("o-{i}");
        let expected = if inside(&user, &v2, 50.0) {
            &v2
        } else {
            &sample
        };
        assert_eq!(&started(user.clone()).await, expected, "{user}");
    }
    app.call(
        Method::POST,
        "/admin/api/channels/production/rollout/abort",
        &app.token(Role::Admin).await,
        json!({}),
    )
    .await;
    for i in 0..20 {
        assert_eq!(started(format!("p-{i}")).await, sample);
    }
    // A rescue on the first instance: a user the second instance served
    // (and keeps in its run cache) answers there, on the rescued run.
    let stranded = (0..20)
        .map(|i| format!("o-{i}"))
        .find(|u| inside(u, &v2, 50.0))
        .unwrap();
    let token = sceneflow::auth::mint_user_token(&app.settings.jwt_secret, &stranded, 1);
    let current = |base: String| {
        let (client, token) = (app.client.clone(), token.clone());
        async move {
            client
                .get(format!("{base}/v1/onboarding/current"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let before = current(other.clone()).await;
    assert_eq!(before["version"], v2);
    let (status, done) = app
        .call(
            Method::POST,
            &format!("/admin/api/versions/{v2}/rescue"),
            &app.token(Role::Admin).await,
            json!({"to": sample, "dry_run": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    // The app answers the scene it had on screen: the second instance's
    // cached run is stale, the write finds the run moved, and the answer
    // is decided again on the rescued run: a scene mismatch naming it.
    let stale = app
        .client
        .post(format!("{other}/v1/onboarding/answers"))
        .bearer_auth(&token)
        .json(&json!({"scene_id": before["scene"]["id"], "answer": Value::Null}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let refused: Value = stale.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "scene_mismatch", "{refused}");
    let state = current(other.clone()).await;
    assert_eq!(state["version"], sample, "{state}");
    let answered: Value = app
        .client
        .post(format!("{other}/v1/onboarding/answers"))
        .bearer_auth(&token)
        .json(&json!({"scene_id": state["scene"]["id"], "answer": Value::Null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answered["version"], sample, "{answered}");
}

/// Play `user`'s run to its end, answering every scene.
pub(crate) async fn complete(app: &TestApp, user: &str) {
    let mut state = app
        .mobile(user, "/v1/onboarding/current", Value::Null)
        .await;
    for _ in 0..40 {
        if state["status"] != "in_progress" {
            break;
        }
        let scene = &state["scene"];
        // The sample's first diet choice goes back to the goal: take the other.
        let answer = if scene["key"] == "goal_diet" {
            json!("lose_weight")
        } else {
            crate::support::valid_answer(scene)
        };
        state = app
            .mobile(
                user,
                "/v1/onboarding/answers",
                json!({"scene_id": scene["id"], "answer": answer}),
            )
            .await;
    }
    assert_eq!(state["status"], "completed", "{user}: {state}");
}

/// New users until each side has `per_side` runs (or, once a guardrail
/// sent every new run back, the users a rollout at 50 % would have had):
/// those on `previous` complete three times in four, those on the new
/// version all stop at their first scene (a dead end).
pub(crate) async fn a_worse_version_meets_users(app: &TestApp, previous: &str, per_side: usize) {
    let (mut old, mut new) = (0, 0);
    let mut i = 0;
    while (old < per_side || new < per_side) && i < per_side * 3 {
        let user = format!("g-{i}");
        let version = started_on(app, &user).await;
        if version == previous {
            old += 1;
            if i % 4 != 0 {
                complete(app, &user).await;
            }
        } else {
            new += 1;
        }
        i += 1;
    }
}

async fn wait_for_state(app: &TestApp, state: &str) -> Value {
    let token = app.token(Role::Operator).await;
    let started = std::time::Instant::now();
    loop {
        let (_, view) = app
            .call(
                Method::GET,
                "/admin/api/channels/production/rollout",
                &token,
                Value::Null,
            )
            .await;
        if view["state"] == state {
            return view;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the rollout never became {state}: {view}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

async fn a_guardrail_rolls_a_worse_version_back(backend: Backend) {
    let (url, seen) = crate::alerts::receiver(false).await;
    let (app, sample, v2) = approved_on_staging_with(backend, move |s| {
        s.rollouts.interval = std::time::Duration::from_millis(100);
        s.alerts.webhook = Some(url);
    })
    .await;
    roll_out(&app, &v2, 50.0).await;
    a_worse_version_meets_users(&app, &sample, 110).await;
    let view = wait_for_state(&app, "rolled_back").await;
    let breached: Vec<&Value> = view["guardrails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["breached"] == true)
        .collect();
    assert!(!breached.is_empty(), "{view}");
    eprintln!("breached: {breached:?}");
    assert!(view["guardrails"][0]["ci"].is_array(), "{view}");
    // New runs go to the previous version at once, even inside the bucket.
    let insider = (0..)
        .map(|i| format!("after-{i}"))
        .find(|u| inside(u, &v2, 50.0))
        .unwrap();
    assert_eq!(started_on(&app, &insider).await, sample);
    // The alert names the guardrail and the impact scope; so does the audit log.
    let alert = crate::alerts::wait_for(&seen, "guardrail breached").await;
    let text = alert.to_string();
    assert!(text.contains("still in flight"), "{text}");
    let (_, audit) = app
        .call(
            Method::GET,
            "/admin/api/audit",
            &app.token(Role::Admin).await,
            Value::Null,
        )
        .await;
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "rollout_rolled_back")
        .unwrap_or_else(|| panic!("{audit}"));
    assert_eq!(entry["actor"], "guardrail");
    assert!(
        entry["note"]
            .as_str()
            .unwrap()
            .contains("on the new version"),
        "{entry}"
    );
}

async fn with_auto_abort_off_a_breach_only_alerts(backend: Backend) {
    let (url, seen) = crate::alerts::receiver(false).await;
    let (app, sample, v2) = approved_on_staging_with(backend, move |s| {
        s.rollouts.interval = std::time::Duration::from_millis(100);
        s.rollouts.auto_abort = false;
        s.alerts.webhook = Some(url);
    })
    .await;
    roll_out(&app, &v2, 50.0).await;
    a_worse_version_meets_users(&app, &sample, 110).await;
    let alert = crate::alerts::wait_for(&seen, "not rolled back").await;
    assert!(alert.to_string().contains("guardrail breached"));
    let view = wait_for_state(&app, "running").await;
    assert!(
        view["guardrails"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["breached"] == true),
        "{view}"
    );
    // Alerted once, not on every check.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let alerts = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.to_string().contains("guardrail breached"))
        .count();
    assert_eq!(alerts, 1);
}

/// The overview's rollout panel, its buttons for admins only, the rescue's
/// confirmation page with the dry run's table, and the incident page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_rollout_and_confirms_a_rescue() {
    use crate::dashboard::{add_user, sign_in};
    let (app, sample, v2) = approved_on_staging(Backend::Sqlite).await;
    add_user(&app, "ada", Role::Admin).await;
    add_user(&app, "olive", Role::Operator).await;
    roll_out(&app, &v2, 50.0).await;
    let insiders: Vec<String> = (0..)
        .map(|i| format!("d-{i}"))
        .filter(|u| inside(u, &v2, 50.0))
        .take(3)
        .collect();
    for user in &insiders {
        assert_eq!(started_on(&app, user).await, v2);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |cookie: String, path: &'static str| {
        let client = client.clone();
        let url = app.url(path);
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let (olive, _) = sign_in(&app, "olive").await;
    let seen = page(olive.clone(), "/admin").await;
    assert!(
        seen.contains("id=\"rollout\"") && seen.contains("50 %"),
        "{seen}"
    );
    assert!(
        !seen.contains("id=\"abort\""),
        "an operator is offered no button"
    );
    let (ada, csrf) = sign_in(&app, "ada").await;
    let seen = page(ada.clone(), "/admin").await;
    assert!(seen.contains("id=\"widen\"") && seen.contains("id=\"abort\""));
    // Widen to 60 %, then abort, through the forms.
    let res = client
        .post(app.url("/admin/rollout/widen"))
        .header("cookie", &ada)
        .form(&[("csrf", csrf.as_str()), ("percent", "60")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (status, _) = crate::dashboard::post(&app, &ada, "/admin/rollout/abort", &csrf).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let seen = page(ada.clone(), "/admin").await;
    assert!(
        seen.contains("aborted") && seen.contains("id=\"rescue\""),
        "{seen}"
    );
    // The confirmation page shows the dry run; nothing has moved yet.
    let confirm = client
        .get(app.url(&format!("/admin/rescue?from={v2}&to={sample}")))
        .header("cookie", &ada)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("id=\"rescue-moved\">3<"),
        "the dry run's table: {confirm}"
    );
    assert_eq!(started_on(&app, &insiders[0]).await, v2);
    let res = client
        .post(app.url("/admin/rescue"))
        .header("cookie", &ada)
        .form(&[
            ("csrf", csrf.as_str()),
            ("from", v2.as_str()),
            ("to", sample.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(started_on(&app, &insiders[0]).await, sample);
    let record = page(olive, "/admin/incidents").await;
    assert!(record.contains("Runs rescued:** 3"), "{record}");
}
