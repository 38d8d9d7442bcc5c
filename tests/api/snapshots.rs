//! Snapshots of the public JSON: the OpenAPI document, the admin API bodies
//! (the release pipeline end to end, its refusals, versions, channels, audit)
//! and the debug API bodies. Ids, hashes and times are redacted; everything
//! else must stay byte for byte what clients see today.

use reqwest::{Method, StatusCode};
use sceneflow::auth::Role;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app_with, valid_answer};

on_both_backends!(
    the_openapi_document_is_stable,
    admin_bodies_are_stable,
    debug_bodies_are_stable,
);

/// Replace what differs between runs: version ids and hashes (also inside
/// messages), times, scene instance ids and row ids.
struct Redactor {
    /// (text, placeholder), longest first so a hash wins over its prefix.
    known: Vec<(String, String)>,
}

impl Redactor {
    fn new() -> Redactor {
        Redactor { known: Vec::new() }
    }

    fn learn(&mut self, text: &str, placeholder: &str) {
        if !text.is_empty() {
            self.known.push((text.to_owned(), placeholder.to_owned()));
            self.known.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        }
    }

    fn redact(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    let redacted = match k.as_str() {
                        _ if v.is_null() => Value::Null,
                        "time" | "exp" | "at" => json!("[time]"),
                        k if k.ends_with("_at") => json!("[time]"),
                        "id" | "run_id" | "scene_id" | "current_scene_id" => json!("[id]"),
                        // The test workbook's size varies with its zip timestamps.
                        "size_bytes" => json!("[size]"),
                        "sha256" => json!("[sha256]"),
                        _ => self.redact(v),
                    };
                    (k.clone(), redacted)
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            Value::Array(items) => items.iter().map(|v| self.redact(v)).collect(),
            Value::String(s) => {
                let mut s = s.clone();
                for (text, placeholder) in &self.known {
                    s = s.replace(text, placeholder);
                }
                Value::String(s)
            }
            other => other.clone(),
        }
    }
}

fn snapshot(name: &str, redactor: &Redactor, status: StatusCode, body: &Value) {
    let value = json!({"status": status.as_u16(), "body": redactor.redact(body)});
    insta::assert_json_snapshot!(name, value);
}

async fn the_openapi_document_is_stable(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let res = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    snapshot("openapi", &Redactor::new(), status, &body);
}

async fn sample_and_upload(app: &TestApp, redactor: &mut Redactor) -> (String, Value) {
    let sample = sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK);
    redactor.learn(&sample, "[sample_sha256]");
    redactor.learn(&sample[..12], "[sample]");
    let operator = app.token(Role::Operator).await;
    let res = app.upload(&operator, book::valid().bytes()).await;
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    redactor.learn(body["version"]["sha256"].as_str().unwrap(), "[v2_sha256]");
    redactor.learn(&v2, "[v2]");
    (v2, json!({"status": status.as_u16(), "body": body}))
}

async fn admin_bodies_are_stable(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let mut r = Redactor::new();
    let (v2, upload) = sample_and_upload(&app, &mut r).await;
    snapshot(
        "admin_upload",
        &r,
        StatusCode::from_u16(upload["status"].as_u64().unwrap() as u16).unwrap(),
        &upload["body"],
    );
    let (operator, qa, admin) = (
        app.token(Role::Operator).await,
        app.token(Role::Qa).await,
        app.token(Role::Admin).await,
    );
    let v = json!({"version": v2});
    let approve = format!("/admin/api/versions/{v2}/approve");
    let calls: Vec<(&str, Method, String, &String, Value)> = vec![
        (
            "versions_list",
            Method::GET,
            "/admin/api/versions".into(),
            &operator,
            Value::Null,
        ),
        (
            "version_show",
            Method::GET,
            format!("/admin/api/versions/{v2}"),
            &operator,
            Value::Null,
        ),
        (
            "version_unknown",
            Method::GET,
            "/admin/api/versions/000000000000".into(),
            &operator,
            Value::Null,
        ),
        (
            "channels_before",
            Method::GET,
            "/admin/api/channels".into(),
            &operator,
            Value::Null,
        ),
        (
            "approve_not_on_staging",
            Method::POST,
            approve.clone(),
            &qa,
            Value::Null,
        ),
        (
            "publish_not_approved",
            Method::PUT,
            "/admin/api/channels/production".into(),
            &admin,
            v.clone(),
        ),
        (
            "channel_unknown",
            Method::PUT,
            "/admin/api/channels/beta".into(),
            &admin,
            v.clone(),
        ),
        (
            "deploy_forbidden",
            Method::PUT,
            "/admin/api/channels/staging".into(),
            &qa,
            v.clone(),
        ),
        (
            "deploy_unknown_version",
            Method::PUT,
            "/admin/api/channels/staging".into(),
            &operator,
            json!({"version": "000000000000"}),
        ),
        (
            "deploy_bad_body",
            Method::PUT,
            "/admin/api/channels/staging".into(),
            &operator,
            json!({"versio": 1}),
        ),
        (
            "deploy",
            Method::PUT,
            "/admin/api/channels/staging".into(),
            &operator,
            v.clone(),
        ),
        (
            "approve_self",
            Method::POST,
            approve.clone(),
            &operator,
            Value::Null,
        ),
        ("approve", Method::POST, approve.clone(), &qa, Value::Null),
        (
            "approve_again",
            Method::POST,
            approve.clone(),
            &admin,
            Value::Null,
        ),
        (
            "publish",
            Method::PUT,
            "/admin/api/channels/production".into(),
            &admin,
            v.clone(),
        ),
        (
            "channels_after",
            Method::GET,
            "/admin/api/channels".into(),
            &operator,
            Value::Null,
        ),
        (
            "rollback",
            Method::POST,
            "/admin/api/channels/production/rollback".into(),
            &admin,
            Value::Null,
        ),
        (
            "rollback_nothing",
            Method::POST,
            "/admin/api/channels/production/rollback".into(),
            &admin,
            Value::Null,
        ),
        (
            "audit",
            Method::GET,
            "/admin/api/audit".into(),
            &operator,
            Value::Null,
        ),
        (
            "conditions",
            Method::GET,
            "/admin/api/conditions".into(),
            &operator,
            Value::Null,
        ),
    ];
    for (name, method, path, token, body) in calls {
        let (status, answer) = app.call(method, &path, token, body).await;
        snapshot(&format!("admin_{name}"), &r, status, &answer);
    }
}

async fn debug_bodies_are_stable(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let mut r = Redactor::new();
    let (v2, _) = sample_and_upload(&app, &mut r).await;
    let (operator, qa) = (app.token(Role::Operator).await, app.token(Role::Qa).await);
    app.call(
        Method::PUT,
        "/admin/api/channels/staging",
        &operator,
        json!({"version": v2}),
    )
    .await;
    let user = "/debug/users/qa-phone";
    let calls: Vec<(&str, Method, String, Value)> = vec![
        ("not_a_tester", Method::GET, user.into(), Value::Null),
        (
            "add_tester",
            Method::PUT,
            "/debug/testers/qa-phone".into(),
            Value::Null,
        ),
        ("user_before_start", Method::GET, user.into(), Value::Null),
        (
            "overrides",
            Method::PUT,
            format!("{user}/overrides"),
            json!({"subscription": "premium", "install_source": "diet_campaign"}),
        ),
    ];
    for (name, method, path, body) in calls {
        let (status, answer) = app.call(method, &path, &qa, body).await;
        snapshot(&format!("debug_{name}"), &r, status, &answer);
    }
    let state = app
        .mobile(
            "qa-phone",
            "/v1/onboarding/start",
            json!({"attributes": {"install_source": "organic", "nickname": "ゆき", "birth_year": 1994}}),
        )
        .await;
    let answer = valid_answer(&state["scene"]);
    app.mobile(
        "qa-phone",
        "/v1/onboarding/answers",
        json!({"scene_id": state["scene"]["id"], "answer": answer}),
    )
    .await;
    let calls: Vec<(&str, Method, String, Value)> = vec![
        ("user", Method::GET, user.into(), Value::Null),
        (
            "variant",
            Method::PUT,
            format!("{user}/variants"),
            json!({"step": "intro", "scene": "intro_friendly"}),
        ),
        (
            "variant_unknown",
            Method::PUT,
            format!("{user}/variants"),
            json!({"step": "intro", "scene": "nope"}),
        ),
        (
            "jump",
            Method::POST,
            format!("{user}/jump"),
            json!({"step": "goal"}),
        ),
        (
            "jump_unknown",
            Method::POST,
            format!("{user}/jump"),
            json!({"step": "nope"}),
        ),
        (
            "simulate",
            Method::POST,
            "/debug/simulate".into(),
            json!({"user_id": "sim", "attributes": {"install_source": "diet_campaign"},
                   "answers": {"goal": "lose_weight"}}),
        ),
        (
            "simulate_unknown_version",
            Method::POST,
            "/debug/simulate".into(),
            json!({"version": "000000000000", "attributes": {}}),
        ),
        ("reset", Method::POST, format!("{user}/reset"), Value::Null),
        ("user_after_reset", Method::GET, user.into(), Value::Null),
        (
            "remove_tester",
            Method::DELETE,
            "/debug/testers/qa-phone".into(),
            Value::Null,
        ),
    ];
    for (name, method, path, body) in calls {
        let (status, answer) = app.call(method, &path, &qa, body).await;
        snapshot(&format!("debug_{name}"), &r, status, &answer);
    }
}
