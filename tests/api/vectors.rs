//! The conformance vectors pin the server: a sample of every vector family
//! (each bundle of `conformance/`) is played through `/v1/onboarding/*`
//! and must give the committed states and refusals, so the JavaScript
//! player, sync and the phones' server are held to the same cases.

use std::collections::{BTreeMap, HashSet};

use reqwest::{Method, StatusCode};
use sceneflow::auth::{Role, mint_user_token};
use sceneflow::flow::ExperimentId;
use sceneflow::flow::conformance::{expected, flow_of, parse_time};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app_with};

on_both_backends!(a_sample_of_every_vector_family_plays_the_same_through_http);

/// Cases played per bundle.
const PER_BUNDLE: usize = 5;

fn committed() -> (BTreeMap<String, Value>, Vec<Value>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    let cases: Vec<Value> = std::fs::read_to_string(dir.join("cases.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut bundles = BTreeMap::new();
    for c in &cases {
        let name = c["bundle"].as_str().unwrap().to_owned();
        bundles.entry(name.clone()).or_insert_with(|| {
            let text = std::fs::read_to_string(dir.join("bundles").join(format!("{name}.json")));
            serde_json::from_str(&text.unwrap()).unwrap()
        });
    }
    (bundles, cases)
}

/// The case with its times moved to now: a case whose states do not
/// change with the date can be played by a server that answers at now.
fn at_now(case: &Value) -> Value {
    let started = parse_time(case["started_at"].as_str().unwrap()).unwrap();
    let shift = chrono::Utc::now().naive_utc() - started - chrono::Duration::hours(1);
    let text = |t: chrono::NaiveDateTime| (t + shift).format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mut moved = case.clone();
    moved["started_at"] = json!(text(started));
    for step in moved["script"].as_array_mut().unwrap() {
        let at = parse_time(step["at"].as_str().unwrap()).unwrap();
        step["at"] = json!(text(at));
    }
    moved
}

/// A state with what differs by server masked: the version id (a hash of
/// the workbook, not the bundle's name) and the scene id (a random run id).
fn masked(mut state: Value) -> Value {
    if state.get("version").is_some() {
        state["version"] = json!("V");
    }
    if state["scene"].is_object() {
        state["scene"]["id"] = json!("ID");
    }
    state
}

/// What the server answered, in the vectors' shape.
fn outcome(status: StatusCode, body: &Value) -> Value {
    if status == StatusCode::OK {
        return json!({"state": masked(body.clone())});
    }
    let error = &body["error"];
    match error["code"].as_str() {
        Some("invalid_answer") => {
            json!({"error": {"code": "invalid_answer", "details": error["details"]}})
        }
        code => json!({"error": {"code": code}}),
    }
}

fn expected_masked(case: &Value) -> (Value, Vec<Value>) {
    let exp = &case["expected"];
    let steps = exp["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s.get("state") {
            Some(state) => json!({"state": masked(state.clone())}),
            None => s.clone(),
        })
        .collect();
    (masked(exp["start"].clone()), steps)
}

fn languages(case: &Value) -> Option<String> {
    match &case["languages"] {
        Value::String(header) => Some(header.clone()),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

async fn post(
    app: &TestApp,
    user: &str,
    path: &str,
    body: Value,
    language: &Option<String>,
) -> (StatusCode, Value) {
    let token = mint_user_token(&app.settings.jwt_secret, user, 1);
    let mut req = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(l) = language {
        req = req.header("accept-language", l);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

/// Make `user` the tester the case describes: its overrides and stored
/// assignments (forced variants are stored unexposed, as the case's are).
async fn as_tester(app: &TestApp, qa: &str, case: &Value) {
    let user = case["user_id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/debug/testers/{user}"),
            qa,
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let overrides = case["overrides"].clone();
    if overrides.as_object().is_some_and(|o| !o.is_empty()) {
        let path = format!("/debug/users/{user}/overrides");
        let (status, body) = app.call(Method::PUT, &path, qa, overrides).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for a in case["assignments"].as_array().into_iter().flatten() {
        let path = format!("/debug/users/{user}/variants");
        let body = json!({"step": a["step"], "scene": a["scene"]});
        let (status, body) = app.call(Method::PUT, &path, qa, body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

async fn a_sample_of_every_vector_family_plays_the_same_through_http(backend: Backend) {
    // No aggregator: its transactions would only contend with the releases
    // on SQLite's one writer.
    let app = spawn_app_with(backend, |s| {
        s.analytics.interval = std::time::Duration::ZERO
    })
    .await;
    let admin = app.token(Role::Admin).await;
    let qa = app.token(Role::Qa).await;
    let (bundles, cases) = committed();
    let mut users = HashSet::new();
    let mut played = BTreeMap::new();
    let mut refused = Vec::new();
    for (name, doc) in &bundles {
        let flow = flow_of(doc).unwrap();
        let book = sceneflow::master_data::export::to_xlsx(&flow.def).unwrap();
        let res = app.upload(&admin, book).await;
        let status = res.status();
        let upload: Value = res.json().await.unwrap();
        let version = if status == StatusCode::UNPROCESSABLE_ENTITY {
            // Random flows carry templates the importer refuses on purpose
            // (players must survive them): stored as they are, served alike.
            refused.push(name.clone());
            store_unchecked(&app, name, &flow.def).await
        } else {
            assert_eq!(status, StatusCode::CREATED, "bundle {name}: {upload:#}");
            upload["version"]["id"].as_str().unwrap().to_owned()
        };
        app.release(&version).await;
        let mut count = 0;
        for case in cases.iter().filter(|c| c["bundle"] == json!(name)) {
            let user = case["user_id"].as_str().unwrap().to_owned();
            // Assignments the server can store: scenes of their flow's groups.
            let storable = case["assignments"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|a| {
                    let x = ExperimentId::new(
                        a["step"].as_str().unwrap(),
                        a["condition"].as_str().unwrap(),
                    );
                    flow.group(&x)
                        .is_some_and(|g| g.variants.iter().any(|(s, _)| a["scene"] == json!(s)))
                });
            // A case whose states move with the date is left to the engine's test.
            let dateless = expected(&flow, &at_now(case)).unwrap() == case["expected"];
            // A user id a token can carry (1-255 bytes), new to this server.
            if count == PER_BUNDLE
                || !storable
                || !dateless
                || user.is_empty()
                || !users.insert(user.clone())
            {
                continue;
            }
            count += 1;
            let tester = !case["assignments"].as_array().is_none_or(Vec::is_empty)
                || case["overrides"].as_object().is_some_and(|o| !o.is_empty());
            if tester {
                as_tester(&app, &qa, case).await;
            }
            let language = languages(case);
            let (want_start, want_steps) = expected_masked(case);
            let start = json!({"attributes": case["attributes"]});
            let (status, state) = post(&app, &user, "/v1/onboarding/start", start, &language).await;
            assert_eq!(status, StatusCode::OK, "case {}: {state}", case["id"]);
            assert_eq!(
                masked(state.clone()),
                want_start,
                "case {} start",
                case["id"]
            );
            let mut scene_id = state["scene"]["id"].as_str().unwrap_or("done").to_owned();
            for (i, step) in case["script"].as_array().unwrap().iter().enumerate() {
                let body = json!({"scene_id": scene_id, "answer": step["answer"]});
                let (status, got) =
                    post(&app, &user, "/v1/onboarding/answers", body, &language).await;
                assert_eq!(
                    outcome(status, &got),
                    want_steps[i],
                    "case {} step {i}",
                    case["id"]
                );
                if status == StatusCode::OK {
                    scene_id = got["scene"]["id"].as_str().unwrap_or("done").to_owned();
                }
            }
        }
        played.insert(name.clone(), count);
    }
    for (name, count) in &played {
        assert!(*count >= 2, "bundle {name}: only {count} cases played");
    }
    assert_eq!(played.len(), bundles.len(), "every bundle is played");
    assert!(played.values().sum::<usize>() >= 60, "{played:?}");
    assert!(!refused.contains(&"sample".to_owned()));
}

/// A version holding `def` as it is, stored as an import would store it but
/// without its checks (the release pipeline then moves it as any other).
async fn store_unchecked(app: &TestApp, name: &str, def: &sceneflow::flow::FlowDef) -> String {
    use sha2::Digest;
    let id = hex::encode(sha2::Sha256::digest(name.as_bytes()))[..12].to_owned();
    let row = sceneflow::store::versions::VersionRow {
        id: id.clone(),
        sha256: hex::encode(sha2::Sha256::digest(name.as_bytes())),
        file_name: Some(format!("{name}.xlsx")),
        format: "xlsx".into(),
        store_key: format!("vectors/{name}.xlsx"),
        size_bytes: 1,
        uploaded_by: "vectors".into(),
        created_at: chrono::Utc::now().naive_utc(),
        report: sceneflow::store::column::Json(sceneflow::master_data::Report::from_problems(
            vec![],
        )),
        step_count: def.steps.len() as i32,
        scene_count: def.scenes.len() as i32,
        choice_count: def.choices.len() as i32,
        warning_count: 0,
    };
    let def = def.clone();
    app.db
        .run(move |c| sceneflow::store::versions::insert(c, &row, &def, "vectors"))
        .await
        .unwrap();
    id
}
