//! Offline onboarding: the signed bundle (ETag, caching, assignments) and the
//! JavaScript reference player (clients/js) run by `node` on a real bundle.

use std::io::Write;
use std::process::{Command, Stdio};

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use sceneflow::auth::{Role, mint_user_token};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app_with, valid_answer};

on_both_backends!(
    the_bundle_is_signed_cached_and_carries_the_assignments,
    the_js_player_plays_a_bundle_as_the_server_runs_it,
    an_offline_run_syncs_with_the_answers_events_and_funnel_of_an_online_one,
    a_sync_is_idempotent_and_stores_nothing_when_it_does_not_replay,
    a_sync_keeps_the_run_that_got_further_and_takes_old_versions,
    a_sync_racing_answers_on_two_instances_loses_no_acknowledged_answer,
    a_sync_names_only_a_version_its_channel_released,
);

async fn sample_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.sample = true).await
}

pub(crate) async fn get_bundle(app: &TestApp, user: &str, etag: Option<&str>) -> reqwest::Response {
    let token = mint_user_token(&app.settings.jwt_secret, user, 1);
    let mut req = app
        .client
        .get(app.url("/v1/onboarding/bundle"))
        .bearer_auth(token);
    if let Some(tag) = etag {
        req = req.header(IF_NONE_MATCH, tag);
    }
    req.send().await.expect("sent")
}

/// The envelope's signature, checked with the public key of the settings.
fn open(app: &TestApp, envelope: &Value) -> Value {
    let key = sceneflow::offline::BundleKey::from_seed(&app.settings.bundle_seed());
    let signature = &envelope["signature"];
    assert_eq!(signature["alg"], "Ed25519");
    assert_eq!(signature["public_key"], key.public_key_hex());
    let payload = envelope["payload"].as_str().expect("a payload string");
    let value = hex::decode(signature["value"].as_str().unwrap()).unwrap();
    let public = hex::decode(key.public_key_hex()).unwrap();
    UnparsedPublicKey::new(&ED25519, public)
        .verify(payload.as_bytes(), &value)
        .expect("the signature verifies");
    serde_json::from_str(payload).expect("the payload is JSON")
}

async fn metric(app: &TestApp, line: &str) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(line))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn the_bundle_is_signed_cached_and_carries_the_assignments(backend: Backend) {
    let app = sample_app(backend).await;
    let res = app
        .client
        .get(app.url("/v1/onboarding/bundle"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    let res = get_bundle(&app, "bundle-user", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    assert!(
        res.headers()[CACHE_CONTROL]
            .to_str()
            .unwrap()
            .starts_with("private")
    );
    let bundle = open(&app, &res.json().await.unwrap());
    let version = bundle["version"].as_str().unwrap().to_owned();
    assert!(etag.starts_with(&format!("\"{version}.")), "{etag}");
    assert_eq!(bundle["user_id"], "bundle-user");
    assert_eq!(bundle["channel"], "production");
    assert_eq!(bundle["assignments"], json!([]));
    assert_eq!(bundle["steps"][0]["key"], "welcome");
    assert_eq!(
        bundle["conditions"]["from_diet_campaign"]["expr"],
        json!({"op": "eq", "attribute": "install_source", "value": "diet_campaign"})
    );
    assert_eq!(bundle["bucketing"]["buckets"], 10000);
    let intro = bundle["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["step"] == "intro")
        .count();
    assert_eq!(intro, 2, "both scenes of the A/B group travel");

    let res = get_bundle(&app, "bundle-user", Some(&etag)).await;
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(res.headers()[ETAG].to_str().unwrap(), etag);
    assert!(res.bytes().await.unwrap().is_empty());

    // Playing online stores an assignment: the bundle changes with it.
    let state = app
        .mobile(
            "bundle-user",
            "/v1/onboarding/start",
            json!({"attributes": {}}),
        )
        .await;
    let intro = app
        .mobile(
            "bundle-user",
            "/v1/onboarding/answers",
            json!({"scene_id": state["scene"]["id"], "answer": null}),
        )
        .await;
    let res = get_bundle(&app, "bundle-user", Some(&etag)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed = res.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(changed, etag);
    let bundle = open(&app, &res.json().await.unwrap());
    assert_eq!(
        bundle["assignments"],
        json!([{"step": "intro", "condition": "pass_through", "scene": intro["scene"]["key"]}])
    );
    // Another user's bundle has their own (no) assignments.
    let other = get_bundle(&app, "someone-else", None).await;
    assert_ne!(other.headers()[ETAG].to_str().unwrap(), changed);

    let full = "sceneflow_bundles_served_total{outcome=\"full\"}";
    let not_modified = "sceneflow_bundles_served_total{outcome=\"not_modified\"}";
    assert_eq!(metric(&app, full).await, 3);
    assert_eq!(metric(&app, not_modified).await, 1);
}

/// Run `clients/js/play.mjs` with `input` on stdin.
pub(crate) fn play_in_node(input: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/js/play.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (20 or later) runs the JavaScript player");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the player prints JSON")
}

fn without_ids(mut state: Value) -> Value {
    if state["scene"].is_object() {
        state["scene"]["id"] = Value::Null;
    }
    state
}

/// The player, given the user's signed bundle, shows exactly the states the
/// server serves the same user online, A/B scene and templates included.
async fn the_js_player_plays_a_bundle_as_the_server_runs_it(backend: Backend) {
    let app = sample_app(backend).await;
    let attributes = json!({"install_source": " sleep_campaign ", "nickname": "ゆき",
                            "birth_year": "1994.0", "app_version": "2.1"});
    let answers = json!({"goal_sleep": "sleep_better", "goal_default": "sleep_better"});
    for user in ["js-player-1", "js-player-2", "ゆき:3"] {
        let envelope: Value = get_bundle(&app, user, None).await.json().await.unwrap();
        let key = sceneflow::offline::BundleKey::from_seed(&app.settings.bundle_seed());
        let offline = play_in_node(&json!({
            "envelope": envelope, "public_key": key.public_key_hex(),
            "attributes": attributes, "answers": answers,
        }));
        let offline_states = offline["states"].as_array().unwrap();

        let mut state = app
            .mobile(
                user,
                "/v1/onboarding/start",
                json!({"attributes": attributes}),
            )
            .await;
        let mut online = vec![state.clone()];
        while state["status"] == "in_progress" {
            let scene = &state["scene"];
            let key = scene["key"].as_str().unwrap();
            let answer = answers
                .get(key)
                .cloned()
                .unwrap_or_else(|| valid_answer(scene));
            state = app
                .mobile(
                    user,
                    "/v1/onboarding/answers",
                    json!({"scene_id": scene["id"], "answer": answer}),
                )
                .await;
            online.push(state.clone());
            assert!(online.len() < 40, "the run never ends");
        }
        assert_eq!(online.len(), offline_states.len(), "{user}: {offline}");
        for (on, off) in online.iter().zip(offline_states) {
            assert_eq!(without_ids(on.clone()), without_ids(off.clone()), "{user}");
        }
        assert_eq!(
            offline["sync"]["answers"].as_array().unwrap().len(),
            online.len() - 1
        );
    }
}

const ATTRIBUTES: &str =
    r#"{"install_source": "diet_campaign", "nickname": "ゆき", "birth_year": 1994}"#;

/// `user` plays the sample offline in node from their signed bundle; the
/// player's sync request (times start an hour ago, 7 s apart).
async fn play_offline(app: &TestApp, user: &str, sync_id: &str) -> Value {
    let envelope: Value = get_bundle(app, user, None).await.json().await.unwrap();
    let key = sceneflow::offline::BundleKey::from_seed(&app.settings.bundle_seed());
    let played = play_in_node(&json!({
        "envelope": envelope, "public_key": key.public_key_hex(),
        "attributes": serde_json::from_str::<Value>(ATTRIBUTES).unwrap(),
        "answers": {"goal_diet": "lose_weight"},
        "started_at": crate::support::an_hour_ago(), "sync_id": sync_id,
    }));
    played["sync"].clone()
}

pub(crate) async fn post_sync(app: &TestApp, user: &str, body: &Value) -> (StatusCode, Value) {
    let token = mint_user_token(&app.settings.jwt_secret, user, 1);
    let res = app
        .client
        .post(app.url("/v1/onboarding/sync"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

/// The same policy as the player's script, online.
async fn play_online(app: &TestApp, user: &str) -> Value {
    let mut state = app
        .mobile(
            user,
            "/v1/onboarding/start",
            json!({"attributes": serde_json::from_str::<Value>(ATTRIBUTES).unwrap()}),
        )
        .await;
    while state["status"] == "in_progress" {
        let scene = &state["scene"];
        let answer = if scene["key"] == "goal_diet" {
            json!("lose_weight")
        } else {
            valid_answer(scene)
        };
        state = app
            .mobile(
                user,
                "/v1/onboarding/answers",
                json!({"scene_id": scene["id"], "answer": answer}),
            )
            .await;
    }
    state
}

pub(crate) async fn rows(app: &TestApp, sql: &str) -> Vec<Value> {
    let sql = sql.to_owned();
    app.db
        .run(move |c| {
            use diesel::RunQueryDsl;
            #[derive(diesel::QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Text)]
                row: String,
            }
            let found: Vec<Row> = diesel::sql_query(sql).load(c)?;
            Ok(found.into_iter().map(|r| Value::String(r.row)).collect())
        })
        .await
        .unwrap()
}

/// The funnel once the aggregator has folded every event, freshness left out.
async fn settled_funnel(app: &TestApp, version: &str) -> Value {
    let token = app.token(Role::Operator).await;
    let path = format!("/admin/api/versions/{version}/funnel");
    for _ in 0..200 {
        let (_, mut funnel) = app
            .call(reqwest::Method::GET, &path, &token, Value::Null)
            .await;
        if funnel["pending_events"] == 0 {
            if let Some(f) = funnel.as_object_mut() {
                f.retain(|k, _| {
                    !k.contains("fresh") && !k.contains("as_of") && !k.contains("pending")
                });
            }
            return funnel;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the aggregator never caught up");
}

async fn an_offline_run_syncs_with_the_answers_events_and_funnel_of_an_online_one(
    backend: Backend,
) {
    let online = spawn_app_with(backend.clone(), |s| {
        s.sample = true;
        s.analytics.interval = std::time::Duration::from_millis(20);
    })
    .await;
    let offline = spawn_app_with(backend, |s| {
        s.sample = true;
        s.analytics.interval = std::time::Duration::from_millis(20);
    })
    .await;
    let user = "same-user";
    let done_online = play_online(&online, user).await;
    let body = play_offline(&offline, user, "sync-1").await;
    let (status, synced) = post_sync(&offline, user, &body).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    assert_eq!(synced["outcome"], "accepted");
    assert_eq!(synced["state"]["status"], "completed");
    assert_eq!(synced["state"]["progress"], done_online["progress"]);
    let current = offline
        .mobile(user, "/v1/onboarding/current", Value::Null)
        .await;
    assert_eq!(current, synced["state"]);

    let answers = "SELECT a.scene_key || '=' || a.answer AS row FROM run_answers a \
                   ORDER BY a.created_at, a.scene_key";
    assert_eq!(rows(&online, answers).await, rows(&offline, answers).await);
    let stored = "SELECT status || ' ' || answers AS row FROM runs";
    assert_eq!(rows(&online, stored).await, rows(&offline, stored).await);
    let events = "SELECT kind || ' ' || COALESCE(step_key, '-') || ' ' || COALESCE(scene_key, '-') \
                  || ' ' || COALESCE(experiment_id, '-') || ' ' || COALESCE(variation_id, '-') AS row \
                  FROM events ORDER BY id";
    let on = rows(&online, events).await;
    assert!(on.len() > 10);
    assert_eq!(on, rows(&offline, events).await);
    let flags = "SELECT CASE WHEN offline THEN 'offline' ELSE 'online' END AS row FROM events GROUP BY offline";
    assert_eq!(rows(&online, flags).await, vec![json!("online")]);
    assert_eq!(rows(&offline, flags).await, vec![json!("offline")]);
    // Original times: the run started when the player says, one answer each 7 s.
    let first = "SELECT CAST(MIN(occurred_at) AS TEXT) AS row FROM events";
    let started = body["started_at"].as_str().unwrap()[..19].replace('T', " ");
    assert!(
        rows(&offline, first).await[0]
            .as_str()
            .unwrap()
            .starts_with(&started)
    );
    let version = synced["state"]["version"].as_str().unwrap();
    // The same funnel; only the time per step differs, and it is the
    // player's (7 s an answer), not the time of the sync.
    let (mut on, mut off) = (
        settled_funnel(&online, version).await,
        settled_funnel(&offline, version).await,
    );
    for step in off["steps"].as_array().unwrap() {
        if let Some(median) = step["median_seconds"].as_f64() {
            assert!((6.0..8.0).contains(&median), "{step}");
        }
    }
    for funnel in [&mut on, &mut off] {
        for step in funnel["steps"].as_array_mut().unwrap() {
            step["median_seconds"] = json!(step["median_seconds"].is_number());
        }
    }
    assert_eq!(on, off);
    let token = offline.token(Role::Operator).await;
    let path = format!("/admin/api/versions/{version}/impact");
    let (_, impact) = offline
        .call(reqwest::Method::GET, &path, &token, Value::Null)
        .await;
    assert_eq!(impact["offline_runs"], json!({"production": 1}), "{impact}");
    // The dashboard's funnel page counts them too.
    crate::dashboard::add_user(&offline, "olive", Role::Operator).await;
    let (cookie, _) = crate::dashboard::sign_in(&offline, "olive").await;
    let page = crate::dashboard::no_redirects()
        .get(offline.url(&format!("/admin/versions/{version}/funnel")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Runs played offline and synced:\nproduction 1"),
        "{page}"
    );
    let token = online.token(Role::Operator).await;
    let (_, impact) = online
        .call(reqwest::Method::GET, &path, &token, Value::Null)
        .await;
    assert_eq!(impact["offline_runs"], json!({}), "{impact}");
    let accepted = "sceneflow_syncs_total{outcome=\"accepted\"}";
    assert_eq!(metric(&offline, accepted).await, 1);
}

async fn a_sync_is_idempotent_and_stores_nothing_when_it_does_not_replay(backend: Backend) {
    let app = sample_app(backend).await;
    let body = play_offline(&app, "retrying", "sync-a").await;
    let (status, first) = post_sync(&app, "retrying", &body).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (events, answers) = (app.count("events").await, app.count("run_answers").await);
    let (status, again) = post_sync(&app, "retrying", &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first, "a retry gets the same answer");
    assert_eq!(app.count("events").await, events, "and stores nothing");
    assert_eq!(app.count("run_answers").await, answers);
    let mut reused = body.clone();
    reused["answers"].as_array_mut().unwrap().pop();
    let (status, err) = post_sync(&app, "retrying", &reused).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["error"]["code"], "sync_id_reused");

    // An inconsistent run: nothing of it is stored.
    let before = (
        app.count("runs").await,
        app.count("events").await,
        app.count("assignments").await,
    );
    let mut wrong_scene = play_offline(&app, "inconsistent", "sync-b").await;
    wrong_scene["answers"][2]["scene_key"] = json!("plan_lose_weight");
    let (status, err) = post_sync(&app, "inconsistent", &wrong_scene).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["error"]["code"], "sync_refused");
    assert_eq!(err["error"]["details"]["index"], 2);
    assert_eq!(err["error"]["details"]["reason"], "scene_mismatch");
    assert_eq!(
        err["error"]["details"]["expected_scene_key"],
        "nickname_known"
    );
    let mut bad_answer = play_offline(&app, "inconsistent", "sync-c").await;
    let weight = bad_answer["answers"]
        .as_array()
        .unwrap()
        .iter()
        .position(|a| a["scene_key"] == "current_weight")
        .unwrap();
    bad_answer["answers"][weight]["answer"] = json!(500);
    let (status, err) = post_sync(&app, "inconsistent", &bad_answer).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["details"]["index"], weight);
    assert_eq!(err["error"]["details"]["reason"], "invalid_answer");
    assert_eq!(err["error"]["details"]["answer_details"]["rule"], "range");
    let mut unknown = play_offline(&app, "inconsistent", "sync-d").await;
    unknown["version"] = json!("000000000000");
    let (status, err) = post_sync(&app, "inconsistent", &unknown).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["error"]["code"], "unknown_version");
    let after = (
        app.count("runs").await,
        app.count("events").await,
        app.count("assignments").await,
    );
    assert_eq!(before, after);
    assert_eq!(app.count("offline_syncs").await, 1);
    let refused = "sceneflow_syncs_total{outcome=\"refused\"}";
    assert_eq!(metric(&app, refused).await, 2);
    let replayed = "sceneflow_syncs_total{outcome=\"replayed\"}";
    assert_eq!(metric(&app, replayed).await, 1);
}

async fn a_sync_keeps_the_run_that_got_further_and_takes_old_versions(backend: Backend) {
    let app = sample_app(backend).await;
    // Online one answer in, offline complete: the offline run replaces it.
    let started = app
        .mobile(
            "behind-online",
            "/v1/onboarding/start",
            json!({"attributes": {}}),
        )
        .await;
    app.mobile(
        "behind-online",
        "/v1/onboarding/answers",
        json!({"scene_id": started["scene"]["id"], "answer": null}),
    )
    .await;
    let body = play_offline(&app, "behind-online", "sync-1").await;
    let (status, synced) = post_sync(&app, "behind-online", &body).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    assert_eq!(synced["outcome"], "accepted");
    let current = app
        .mobile("behind-online", "/v1/onboarding/current", Value::Null)
        .await;
    assert_eq!(current["status"], "completed");
    let replaced = rows(
        &app,
        "SELECT COALESCE(replaced_run, '-') AS row FROM offline_syncs",
    )
    .await;
    assert_ne!(
        replaced[0],
        json!("-"),
        "the online run is recorded as replaced"
    );

    // Online completed, offline partial: the online run stays.
    let done = play_online(&app, "ahead-online").await;
    let mut partial = play_offline(&app, "ahead-online", "sync-2").await;
    partial["answers"].as_array_mut().unwrap().truncate(2);
    let (status, kept) = post_sync(&app, "ahead-online", &partial).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["outcome"], "online_kept");
    assert_eq!(kept["state"], done);
    let mine = "SELECT CAST(COUNT(*) AS TEXT) AS row FROM runs WHERE user_id = 'ahead-online'";
    assert_eq!(rows(&app, mine).await, vec![json!("1")]);

    // A version no longer served still syncs: runs are pinned.
    let old = play_offline(&app, "late-syncer", "sync-3").await;
    let token = app.token(Role::Admin).await;
    let upload: Value = app
        .upload(&token, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    app.publish(upload["version"]["id"].as_str().unwrap()).await;
    let (status, synced) = post_sync(&app, "late-syncer", &old).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    assert_eq!(synced["state"]["version"], old["version"]);
}

/// A sync and an online answer of one user at once, on two instances: the
/// sync replaces the online run only through the one guarded door, so an
/// answer acknowledged (200) is never deleted after the fact. Each round
/// the online run has one answer and the offline run two: if the online
/// answer commits first, the runs tie and the online run stays (the
/// the tie rule of docs/src/offline.md "Sync"); if the sync commits first, the answer is refused.
async fn a_sync_racing_answers_on_two_instances_loses_no_acknowledged_answer(backend: Backend) {
    let app = sample_app(backend).await;
    let (other, _guard) = app.spawn_process().await;
    let now = chrono::Utc::now();
    let time = |back: i64| (now - chrono::Duration::seconds(back)).to_rfc3339();
    let mut acknowledged = Vec::new();
    let (mut kept, mut replaced) = (0, 0);
    for round in 0..60 {
        let user = format!("racer-{round}");
        let first = app
            .mobile(&user, "/v1/onboarding/start", json!({"attributes": {}}))
            .await;
        let second = app
            .mobile(
                &user,
                "/v1/onboarding/answers",
                json!({"scene_id": first["scene"]["id"], "answer": valid_answer(&first["scene"])}),
            )
            .await;
        let scene = &second["scene"];
        let body = json!({
            "sync_id": format!("sync-{round}"), "version": first["version"],
            "started_at": time(60), "attributes": {},
            "answers": [
                {"scene_key": first["scene"]["key"], "answer": valid_answer(&first["scene"]), "answered_at": time(50)},
                {"scene_key": scene["key"], "answer": valid_answer(scene), "answered_at": time(40)},
            ],
        });
        let token = mint_user_token(&app.settings.jwt_secret, &user, 1);
        let answer = app
            .client
            .post(app.url("/v1/onboarding/answers"))
            .bearer_auth(&token)
            .json(&json!({"scene_id": scene["id"], "answer": valid_answer(scene)}))
            .send();
        let sync = app
            .client
            .post(format!("{other}/v1/onboarding/sync"))
            .bearer_auth(&token)
            .json(&body)
            .send();
        let (answered, synced) = tokio::join!(answer, sync);
        let synced = synced.expect("sent");
        assert_eq!(synced.status(), StatusCode::OK);
        let synced: Value = synced.json().await.unwrap();
        match synced["outcome"].as_str() {
            Some("online_kept") => kept += 1,
            _ => replaced += 1,
        }
        if answered.expect("sent").status() == StatusCode::OK {
            acknowledged.push(scene["id"].as_str().unwrap().to_owned());
        }
    }
    let stored = rows(&app, "SELECT scene_id AS row FROM run_answers").await;
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(&json!(id)))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged answers deleted by a sync ({kept} kept, {replaced} replaced): {missing:?}",
        missing.len()
    );
}

/// A sync is accepted only on a version the user's channel serves or
/// served: not on an upload never released, nor, for a production user, on
/// a version only deployed to staging (a tester may sync that one). Nothing
/// is stored for a refused sync.
async fn a_sync_names_only_a_version_its_channel_released(backend: Backend) {
    let app = sample_app(backend).await;
    let admin = app.token(Role::Admin).await;
    let upload: Value = app
        .upload(&admin, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let fresh = upload["version"]["id"].as_str().unwrap().to_owned();
    let now = chrono::Utc::now();
    let body = |version: &str, sync_id: &str| {
        json!({"sync_id": sync_id, "version": version,
               "started_at": (now - chrono::Duration::seconds(30)).to_rfc3339(),
               "attributes": {}, "answers": []})
    };
    // Dated before its version existed, or before any plausible clock.
    for started_at in ["0000-01-01T00:00:00+23:59", "2020-01-01T00:00:00Z"] {
        let mut early = body(&fresh, "s-0");
        early["started_at"] = json!(started_at);
        let (status, refused) = post_sync(&app, "sneaky", &early).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
        assert_eq!(refused["error"]["code"], "invalid_request");
    }
    let (status, refused) = post_sync(&app, "sneaky", &body(&fresh, "s-1")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "version_not_served");
    assert_eq!(refused["error"]["details"]["channel"], "production");
    assert_eq!(app.count("runs").await, 0);
    assert_eq!(app.count("offline_syncs").await, 0);

    // On staging only: still not production's.
    let (status, deployed) = app
        .call(
            reqwest::Method::PUT,
            "/admin/api/channels/staging",
            &app.token(Role::Operator).await,
            json!({"version": fresh}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    let (status, refused) = post_sync(&app, "sneaky", &body(&fresh, "s-2")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(app.count("runs").await, 0);

    // A tester is served staging: accepted there.
    let qa = app.token(Role::Qa).await;
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/debug/testers/qa-phone",
            &qa,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, synced) = post_sync(&app, "qa-phone", &body(&fresh, "s-3")).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
    assert_eq!(synced["outcome"], "accepted");

    // Production's own version, and the versions it served before, sync.
    let sample = synced["state"]["version"].clone();
    assert_eq!(sample, json!(fresh));
    let (_, current) = app
        .call(
            reqwest::Method::GET,
            "/admin/api/channels",
            &admin,
            Value::Null,
        )
        .await;
    let production = current["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "production")
        .unwrap()["version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, synced) = post_sync(&app, "honest", &body(&production, "s-4")).await;
    assert_eq!(status, StatusCode::OK, "{synced}");
}
