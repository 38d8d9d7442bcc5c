//! Offline onboarding: the signed bundle (ETag, caching, assignments) and the
//! JavaScript reference player (clients/js) run by `node` on a real bundle.

use std::io::Write;
use std::process::{Command, Stdio};

use aws_lc_rs::signature::{ED25519, UnparsedPublicKey};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use sceneflow::auth::mint_user_token;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app_with, valid_answer};

on_both_backends!(
    the_bundle_is_signed_cached_and_carries_the_assignments,
    the_js_player_plays_a_bundle_as_the_server_runs_it,
);

async fn sample_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| s.sample = true).await
}

async fn get_bundle(app: &TestApp, user: &str, etag: Option<&str>) -> reqwest::Response {
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
        .mobile("bundle-user", "/v1/onboarding/start", json!({"attributes": {}}))
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
fn play_in_node(input: &Value) -> Value {
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
            .mobile(user, "/v1/onboarding/start", json!({"attributes": attributes}))
            .await;
        let mut online = vec![state.clone()];
        while state["status"] == "in_progress" {
            let scene = &state["scene"];
            let key = scene["key"].as_str().unwrap();
            let answer = answers.get(key).cloned().unwrap_or_else(|| valid_answer(scene));
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
        assert_eq!(offline["sync"]["answers"].as_array().unwrap().len(), online.len() - 1);
    }
}
