//! Going back as operators and QA see it (docs/src/mobile-api.md "Going back",
//! docs/src/qa.md, docs/src/analytics.md): the funnel's `came_back`, the debug view's backs, the
//! preview page's Back button, and `simulate` with `back` in the script.

use reqwest::{Method, StatusCode};
use sceneflow::auth::Role;
use serde_json::{Value, json};

use crate::dashboard::{add_user, no_redirects, sign_in};
use crate::going_back::{Phone, branching, key};
use crate::languages::publish;
use crate::on_both_backends;
use crate::support::{Backend, TestApp, TestDb, spawn_app};

on_both_backends!(
    the_funnel_counts_users_who_came_back_to_a_step,
    the_debug_view_lists_the_backs,
    the_preview_goes_back_through_the_real_run,
    simulate_goes_back_like_a_real_run,
    the_upgrade_counts_backs_folded_before,
    the_tester_page_says_when_the_run_is_on_an_older_version,
);

/// A GET of aggregate figures once the aggregator has folded every event.
async fn settled(app: &TestApp, token: &str, path: &str) -> Value {
    for _ in 0..400 {
        let body: Value = app.get(token, path).await.json().await.unwrap();
        if body["pending_events"] == 0 {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{path}: the aggregator did not catch up within 10 s")
}

fn came_back(funnel: &Value) -> Vec<(String, i64)> {
    funnel["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["came_back"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn the_funnel_counts_users_who_came_back_to_a_step(backend: Backend) {
    let app = spawn_app(backend).await;
    let version = publish(&app, branching().bytes()).await;
    // One user goes back to the goal twice (counted once), from two branches.
    let one = Phone::new(&app, "came-back-1");
    let goal = one.answer(&one.start().await, Value::Null).await;
    let intro = one.answer(&goal, json!("lose_weight")).await;
    let weight = one.answer(&intro, Value::Null).await;
    let (status, goal) = one.back(&weight).await;
    assert_eq!((status, key(&goal)), (StatusCode::OK, "goal_question"));
    let intro = one.answer(&goal, json!("sleep_better")).await;
    let sleep = one.answer(&intro, Value::Null).await;
    let (_, goal) = one.back(&sleep).await;
    assert_eq!(key(&goal), "goal_question");
    // Another goes back from the plan to the hours of sleep.
    let two = Phone::new(&app, "came-back-2");
    let goal = two.answer(&two.start().await, Value::Null).await;
    let intro = two.answer(&goal, json!("sleep_better")).await;
    let sleep = two.answer(&intro, Value::Null).await;
    let plan = two.answer(&sleep, json!(7)).await;
    let (_, sleep) = two.back(&plan).await;
    assert_eq!(key(&sleep), "sleep_ask");

    let token = app.token(Role::Operator).await;
    let funnel = settled(
        &app,
        &token,
        &format!("/admin/api/versions/{version}/funnel"),
    )
    .await;
    let expected: Vec<(String, i64)> = [
        ("welcome", 0),
        ("goal", 1),
        ("intro", 0),
        ("weight", 0),
        ("sleep", 1),
        ("plan", 0),
        ("done", 0),
    ]
    .map(|(s, n)| (s.to_owned(), n))
    .to_vec();
    assert_eq!(came_back(&funnel), expected, "{funnel}");
    // The fields that were there before are unchanged.
    let goal = &funnel["steps"][1];
    assert_eq!(
        (&goal["reached"], &goal["answered"]),
        (&json!(2), &json!(2))
    );

    // The dashboard's funnel page has the column.
    add_user(&app, "olive", Role::Operator).await;
    let (cookie, _) = sign_in(&app, "olive").await;
    let page = no_redirects()
        .get(app.url(&format!("/admin/versions/{version}/funnel")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(">Came back</th>"), "{page}");
    let row = |step: &str| {
        let start = page
            .find(&format!("<tr><td><code>{step}</code>"))
            .unwrap_or_else(|| panic!("a row for {step}"));
        let end = start + page[start..].find("</tr>").unwrap();
        page[start..end].to_owned()
    };
    assert!(row("goal").ends_with("<td>1</td>"), "{}", row("goal"));
    assert!(row("weight").ends_with("<td>0</td>"), "{}", row("weight"));
}

/// Register `user` as a tester (served staging).
async fn tester(app: &TestApp, user: &str) {
    let qa = app.token(Role::Qa).await;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/debug/testers/{user}"),
            &qa,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn the_debug_view_lists_the_backs(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, branching().bytes()).await;
    tester(&app, "qa-back").await;
    let phone = Phone::new(&app, "qa-back");
    let goal = phone.answer(&phone.start().await, Value::Null).await;
    let intro = phone.answer(&goal, json!("lose_weight")).await;
    let weight = phone.answer(&intro, Value::Null).await;
    let (_, goal) = phone.back(&weight).await;
    let qa = app.token(Role::Qa).await;
    let (status, view) = app
        .call(Method::GET, "/debug/users/qa-back", &qa, Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let backs = view["backs"].as_array().unwrap();
    assert_eq!(backs.len(), 1, "{view}");
    assert_eq!(backs[0]["scene_id"], weight["scene"]["id"]);
    assert_eq!(
        (
            &backs[0]["from_step"],
            &backs[0]["to_step"],
            &backs[0]["to_scene"]
        ),
        (&json!("weight"), &json!("goal"), &json!("goal_question"))
    );
    assert!(backs[0]["at"].is_string());
    // The withdrawn answers are out of the history; the state offers the old one.
    let history: Vec<&str> = view["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["scene"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["welcome"]);
    assert_eq!(view["state"]["scene"]["id"], goal["scene"]["id"]);
    assert_eq!(view["state"]["scene"]["input"]["previous"], "lose_weight");
}

async fn page(app: &TestApp, cookie: &str, path: &str) -> String {
    no_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn press_back(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    scene_id: &Value,
) -> (StatusCode, String) {
    let res = no_redirects()
        .post(app.url("/admin/qa/users/qa-preview/back"))
        .header("cookie", cookie)
        .form(&[("csrf", csrf), ("scene_id", scene_id.as_str().unwrap())])
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn the_preview_goes_back_through_the_real_run(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, branching().bytes()).await;
    tester(&app, "qa-preview").await;
    add_user(&app, "quinn", Role::Qa).await;
    let (cookie, csrf) = sign_in(&app, "quinn").await;
    let preview = "/admin/qa/users/qa-preview/preview";
    let phone = Phone::new(&app, "qa-preview");
    let welcome = phone.start().await;
    assert!(
        !page(&app, &cookie, preview).await.contains("back-form"),
        "nothing to go back to yet"
    );
    let goal = phone.answer(&welcome, Value::Null).await;
    let intro = phone.answer(&goal, json!("lose_weight")).await;
    let weight = phone.answer(&intro, Value::Null).await;
    let html = page(&app, &cookie, preview).await;
    assert!(html.contains("← Back to goal_question"), "{html}");

    let (status, _) = press_back(&app, &cookie, &csrf, &weight["scene"]["id"]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let current = app
        .mobile("qa-preview", "/v1/onboarding/current", json!(null))
        .await;
    assert_eq!(key(&current), "goal_question", "the real run went back");
    let html = page(&app, &cookie, preview).await;
    assert!(html.contains("Earlier answer: lose_weight"), "{html}");
    assert!(
        html.contains("went back from weight to goal (goal_question)"),
        "{html}"
    );
    // Pressed again from the same page: the same back, not another one.
    let (status, _) = press_back(&app, &cookie, &csrf, &weight["scene"]["id"]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let again = app
        .mobile("qa-preview", "/v1/onboarding/current", json!(null))
        .await;
    assert_eq!(again["scene"]["id"], current["scene"]["id"]);
    // A refusal is shown on the page, in words.
    let (status, html) = press_back(&app, &cookie, &csrf, &current["scene"]["id"]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(
        html.contains("Could not go back: there is no earlier answered scene"),
        "{html}"
    );

    // Past the plan (back = no) the button is off, with the reason.
    let intro = phone.answer(&current, json!("sleep_better")).await;
    let sleep = phone.answer(&intro, Value::Null).await;
    let plan = phone.answer(&sleep, json!(8)).await;
    let done = phone.answer(&plan, json!("basic")).await;
    assert_eq!(key(&done), "done");
    let html = page(&app, &cookie, preview).await;
    assert!(html.contains("id=\"back-refused\""), "{html}");
    assert!(
        html.contains("scene plan_pick cannot be changed any more"),
        "{html}"
    );
    let (status, html) = press_back(&app, &cookie, &csrf, &done["scene"]["id"]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{html}");
    assert!(html.contains("id=\"notice\""), "{html}");
    assert!(html.contains("Could not go back"), "{html}");
    assert!(html.contains("plan_pick"), "{html}");
    let current = app
        .mobile("qa-preview", "/v1/onboarding/current", json!(null))
        .await;
    assert_eq!(
        current["scene"]["id"], done["scene"]["id"],
        "the run stayed"
    );
}

async fn simulate_goes_back_like_a_real_run(backend: Backend) {
    let app = spawn_app(backend).await;
    let version = publish(&app, branching().bytes()).await;
    // A real run: the goal, the weight, back twice, then the other branch.
    let phone = Phone::new(&app, "sim-back");
    let mut real = Vec::new();
    let mut state = phone.start().await;
    real.push(key(&state).to_owned());
    let mut go = |state: &Value| real.push(key(state).to_owned());
    for step in [
        json!({"answer": null}),
        json!({"answer": "lose_weight"}),
        json!({"answer": null}),
        json!({"answer": 70}),
        json!({"back": true}),
        json!({"back": true}),
        json!({"answer": "sleep_better"}),
        json!({"answer": null}),
        json!({"answer": 7}),
        json!({"answer": "basic"}),
        json!({"answer": null}),
    ] {
        state = if step.get("back").is_some() {
            let (status, next) = phone.back(&state).await;
            assert_eq!(status, StatusCode::OK, "{next}");
            next
        } else {
            phone.answer(&state, step["answer"].clone()).await
        };
        if state["status"] == "in_progress" {
            go(&state);
        }
    }
    assert_eq!(state["status"], "completed");

    let qa = app.token(Role::Qa).await;
    let script = json!([
        {"step": "goal", "answer": "lose_weight"},
        {"step": "weight", "answer": 70},
        {"back": true},
        {"back": true},
        {"step": "goal", "answer": "sleep_better"},
        {"step": "sleep", "answer": 7},
        {"step": "plan", "answer": "basic"},
    ]);
    let (status, sim) = app
        .call(
            Method::POST,
            "/debug/simulate",
            &qa,
            json!({"version": version, "user_id": "sim-back", "answers": script}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    assert_eq!(sim["outcome"], "completed", "{sim}");
    let path = sim["path"].as_array().unwrap();
    let simulated: Vec<&str> = path.iter().map(|s| s["scene"].as_str().unwrap()).collect();
    assert_eq!(simulated, real);
    let went_back: Vec<usize> = (0..path.len())
        .filter(|&i| path[i]["went_back"] == true)
        .collect();
    assert_eq!(went_back, [4, 5], "{sim}");
    assert_eq!(
        sim["attributes"],
        json!({"goal": "sleep_better", "sleep_hours": 7, "plan": "basic"})
    );

    // Past the plan (back = no): refused, as the real run refuses it.
    let script = json!([
        {"step": "goal", "answer": "lose_weight"},
        {"step": "weight", "answer": 70},
        {"step": "plan", "answer": "basic"},
        {"back": true},
    ]);
    let (_, sim) = app
        .call(
            Method::POST,
            "/debug/simulate",
            &qa,
            json!({"answers": script}),
        )
        .await;
    assert_eq!(sim["outcome"], "back_not_allowed", "{sim}");

    // A script step that is neither an answer nor a back.
    let (status, body) = app
        .call(
            Method::POST,
            "/debug/simulate",
            &qa,
            json!({"answers": [{"step": "goal", "answer": "x"}, {"back": "yes"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answers[1]"),
        "{body}"
    );
}

/// A deployment that folded `went_back` events before the funnel counted
/// them: the migration that adds the column counts them, and the
/// aggregator goes on from there without counting them twice.
async fn the_upgrade_counts_backs_folded_before(backend: Backend) {
    use diesel::connection::SimpleConnection;
    use sceneflow::analytics::{self, aggregator, oracle};
    use sceneflow::store::{Db, aggregates};

    let dir = tempfile::tempdir().unwrap();
    let test_db = TestDb::create(&backend, dir.path());
    let db = Db::new(&test_db.url, 1).unwrap();
    db.migrate().unwrap();
    let mut conn = db.conn().unwrap();
    let v = "00000000000c";
    conn.batch_execute(&format!(
        "INSERT INTO versions (id, sha256, format, store_key, size_bytes, uploaded_by, \
         created_at, report, step_count, scene_count, choice_count, warning_count) \
         VALUES ('{v}', '{v}{}', 'xlsx', 'k', 1, 'test', CURRENT_TIMESTAMP, '{{}}', 1, 1, 0, 0)",
        "0".repeat(52)
    ))
    .unwrap();
    let event = |user: &str, kind: &str, step: &str, at: &str| {
        format!(
            "INSERT INTO events (kind, occurred_at, user_id, run_id, version_id, channel, step_key) \
             VALUES ('{kind}', '2026-11-01 00:00:{at}', '{user}', 'run-{user}', '{v}', 'production', '{step}');"
        )
    };
    let before = [
        event("a", "went_back", "goal", "02"),
        event("a", "went_back", "goal", "03"),
        event("b", "went_back", "goal", "04"),
        event("b", "went_back", "sleep", "05"),
    ]
    .concat();
    conn.batch_execute(&before).unwrap();
    // As an aggregator that did not count backs left it: the cursor past them.
    let last = aggregates::last_event_id(&mut conn).unwrap();
    aggregates::set_cursor(&mut conn, aggregates::AGGREGATES, last, None).unwrap();
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres(_) => "postgres",
    };
    let up = std::fs::read_to_string(format!(
        "{}/migrations/{folder}/2026-11-30-000016_came_back/up.sql",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    // Undo what the migration did at start (nothing then), and run it again.
    conn.batch_execute(
        "DELETE FROM analytics_members WHERE kind = 'went_back'; \
                        DELETE FROM analytics_counts WHERE kind = 'went_back';",
    )
    .unwrap();
    conn.batch_execute(&up).unwrap();
    let steps: Vec<String> = ["goal", "sleep"].map(String::from).to_vec();
    let funnel = analytics::funnel_of(&mut conn, &steps, v, "production").unwrap();
    let counted: Vec<i64> = funnel.steps.iter().map(|s| s.came_back).collect();
    assert_eq!(counted, [2, 1]);
    // Later backs are the aggregator's; earlier users are not counted twice.
    let after = [
        event("a", "went_back", "sleep", "06"),
        event("b", "went_back", "goal", "07"),
        event("c", "went_back", "goal", "08"),
    ]
    .concat();
    conn.batch_execute(&after).unwrap();
    aggregator::catch_up(&mut conn, 2).unwrap();
    let funnel = analytics::funnel_of(&mut conn, &steps, v, "production").unwrap();
    let counted: Vec<i64> = funnel.steps.iter().map(|s| s.came_back).collect();
    assert_eq!(counted, [3, 2]);
    assert_eq!(
        funnel.steps,
        oracle::funnel(&mut conn, &steps, v, "production")
            .unwrap()
            .steps
    );
}

/// Runs are pinned: after a new deploy to staging, a tester's run is still
/// on the version it started on, and the tester page says so (approving
/// staging's version would approve what QA never saw).
async fn the_tester_page_says_when_the_run_is_on_an_older_version(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, branching().bytes()).await;
    tester(&app, "qa-pin").await;
    add_user(&app, "quinn", Role::Qa).await;
    let (cookie, _) = sign_in(&app, "quinn").await;
    let phone = Phone::new(&app, "qa-pin");
    let started = phone.start().await;
    let path = "/admin/qa/users/qa-pin";
    assert!(!page(&app, &cookie, path).await.contains("id=\"pinned\""));

    let operator = app.token(Role::Operator).await;
    let upload: Value = app
        .upload(&operator, crate::support::book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let newer = upload["version"]["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::PUT,
            "/admin/api/channels/staging",
            &operator,
            json!({"version": newer}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let html = page(&app, &cookie, path).await;
    assert!(html.contains("id=\"pinned\""), "{html}");
    assert!(html.contains(newer) && html.contains(started["version"].as_str().unwrap()));
}
