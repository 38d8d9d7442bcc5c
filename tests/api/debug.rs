//! The QA debug API: testers, overrides, forced variants, jump, reset,
//! simulate, and every refusal.

use reqwest::{Method, StatusCode};
use sceneflow::auth::Role;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, book, spawn_app_with, valid_answer};

on_both_backends!(
    debug_calls_are_refused_to_low_roles_and_non_testers,
    testers_get_staging_and_overrides_change_the_scene,
    qa_reproduces_a_premium_diet_user_on_variant_b_at_goal,
    simulate_matches_a_real_run,
    a_forced_variant_outlives_a_reset,
);

async fn debug_calls_are_refused_to_low_roles_and_non_testers(backend: Backend) {
    let app = spawn_app_with(backend.clone(), |s| s.sample = true).await;
    let (operator, qa) = (app.token(Role::Operator).await, app.token(Role::Qa).await);
    let calls = [
        (Method::PUT, "/debug/testers/someone", json!(null)),
        (Method::DELETE, "/debug/testers/someone", json!(null)),
        (Method::GET, "/debug/users/someone", json!(null)),
        (
            Method::PUT,
            "/debug/users/someone/overrides",
            json!({"subscription": "premium"}),
        ),
        (
            Method::PUT,
            "/debug/users/someone/variants",
            json!({"step": "intro", "scene": "intro_coach"}),
        ),
        (
            Method::POST,
            "/debug/users/someone/jump",
            json!({"step": "goal"}),
        ),
        (Method::POST, "/debug/users/someone/reset", json!(null)),
        (Method::POST, "/debug/simulate", json!({})),
    ];
    for (method, path, body) in &calls {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        let (status, body) = app
            .call(method.clone(), path, &operator, body.clone())
            .await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::FORBIDDEN, json!("forbidden")),
            "{method} {path}"
        );
    }
    // A QA token still cannot touch a user who is not a tester.
    for (method, path, body) in &calls[1..7] {
        let (status, body) = app.call(method.clone(), path, &qa, body.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].clone()),
            (StatusCode::FORBIDDEN, json!("not_a_tester")),
            "{method} {path}"
        );
    }
    assert_eq!(app.count("overrides").await, 0);

    // Disabled: the routes are not there at all.
    let off = spawn_app_with(backend, |s| {
        s.sample = true;
        s.debug = false;
    })
    .await;
    let qa = off.token(Role::Qa).await;
    let (status, _) = off
        .call(Method::PUT, "/debug/testers/someone", &qa, Value::Null)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn testers_get_staging_and_overrides_change_the_scene(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let (operator, qa) = (app.token(Role::Operator).await, app.token(Role::Qa).await);
    let uploaded: Value = app
        .upload(&operator, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = uploaded["version"]["id"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        "/admin/api/channels/staging",
        &operator,
        json!({"version": v2}),
    )
    .await;

    let (status, _) = app
        .call(Method::PUT, "/debug/testers/qa-phone", &qa, Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let tester = app
        .mobile(
            "qa-phone",
            "/v1/onboarding/start",
            json!({"attributes": {}}),
        )
        .await;
    assert_eq!(tester["version"], v2.as_str(), "testers are served staging");
    let user = app
        .mobile(
            "ordinary",
            "/v1/onboarding/start",
            json!({"attributes": {}}),
        )
        .await;
    assert_ne!(user["version"], v2.as_str(), "everybody else production");

    // Back to the sample on staging; overrides beat start attributes.
    let sample = user["version"].as_str().unwrap().to_owned();
    app.call(
        Method::PUT,
        "/admin/api/channels/staging",
        &operator,
        json!({"version": sample}),
    )
    .await;
    app.call(
        Method::POST,
        "/debug/users/qa-phone/reset",
        &qa,
        Value::Null,
    )
    .await;
    let state = app
        .mobile(
            "qa-phone",
            "/v1/onboarding/start",
            json!({"attributes": {"install_source": "organic"}}),
        )
        .await;
    assert_eq!(state["scene"]["key"], "welcome_default");
    let (status, view) = app
        .call(
            Method::PUT,
            "/debug/users/qa-phone/overrides",
            &qa,
            json!({"install_source": "diet_campaign"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["attributes"]["start"]["install_source"], "organic");
    assert_eq!(
        view["attributes"]["effective"]["install_source"],
        "diet_campaign"
    );
    let diet = view["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "from_diet_campaign")
        .unwrap();
    assert_eq!(diet["matches"], true);

    // Reset forgets the run; the overrides stay and choose the scene.
    let (_, reset) = app
        .call(
            Method::POST,
            "/debug/users/qa-phone/reset",
            &qa,
            Value::Null,
        )
        .await;
    assert_eq!(reset["run_forgotten"], true);
    let state = app
        .mobile(
            "qa-phone",
            "/v1/onboarding/start",
            json!({"attributes": {"install_source": "organic"}}),
        )
        .await;
    assert_eq!(state["scene"]["key"], "welcome_diet");

    let (_, audit) = app
        .call(Method::GET, "/admin/api/audit", &operator, Value::Null)
        .await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "qa-user")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for expected in ["debug_add_tester", "debug_overrides", "debug_reset"] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    let (status, _) = app
        .call(Method::DELETE, "/debug/testers/qa-phone", &qa, Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call(Method::GET, "/debug/users/qa-phone", &qa, Value::Null)
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::FORBIDDEN, json!("not_a_tester"))
    );
}

async fn qa_reproduces_a_premium_diet_user_on_variant_b_at_goal(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let qa = app.token(Role::Qa).await;
    app.call(Method::PUT, "/debug/testers/qa-b", &qa, Value::Null)
        .await;
    app.call(
        Method::PUT,
        "/debug/users/qa-b/overrides",
        &qa,
        json!({"subscription": "premium", "install_source": "diet_campaign"}),
    )
    .await;
    app.mobile("qa-b", "/v1/onboarding/start", json!({"attributes": {}}))
        .await;
    let (status, view) = app
        .call(
            Method::PUT,
            "/debug/users/qa-b/variants",
            &qa,
            json!({"step": "intro", "scene": "intro_friendly"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert!(
        view["variants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["scene"] == "intro_friendly" && v["source"] == "forced")
    );

    let (status, at_intro) = app
        .call(
            Method::POST,
            "/debug/users/qa-b/jump",
            &qa,
            json!({"step": "intro"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{at_intro}");
    assert_eq!(
        at_intro["scene"]["key"], "intro_friendly",
        "the forced variant is served"
    );
    let (_, at_goal) = app
        .call(
            Method::POST,
            "/debug/users/qa-b/jump",
            &qa,
            json!({"step": "goal"}),
        )
        .await;
    assert_eq!(at_goal["scene"]["key"], "goal_diet");
    let current = app
        .mobile("qa-b", "/v1/onboarding/current", Value::Null)
        .await;
    assert_eq!(current, at_goal, "the phone sees what QA set up");

    let (_, view) = app
        .call(Method::GET, "/debug/users/qa-b", &qa, Value::Null)
        .await;
    assert_eq!(view["run"]["step"], "goal");
    assert_eq!(view["channel"], "staging");
    let premium = view["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "premium_member")
        .unwrap();
    assert_eq!(premium["matches"], true);

    // Refusals name what is wrong.
    let (status, body) = app
        .call(
            Method::PUT,
            "/debug/users/qa-b/variants",
            &qa,
            json!({"step": "goal", "scene": "goal_diet"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_request")),
        "goal_diet is not an A/B group"
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/debug/users/qa-b/jump",
            &qa,
            json!({"step": "nowhere"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::NOT_FOUND, json!("not_found"))
    );
}

/// A QA reset forgets the run and keeps the tester's forced variants: the
/// next run serves them, whichever variant bucketing would pick (a start
/// reads the assignments of a user who has no run).
async fn a_forced_variant_outlives_a_reset(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let qa = app.token(Role::Qa).await;
    app.call(Method::PUT, "/debug/testers/qa-r", &qa, Value::Null)
        .await;
    let start = json!({"attributes": {}});
    for forced in ["intro_coach", "intro_friendly"] {
        app.mobile("qa-r", "/v1/onboarding/start", start.clone())
            .await;
        let (status, view) = app
            .call(
                Method::PUT,
                "/debug/users/qa-r/variants",
                &qa,
                json!({"step": "intro", "scene": forced}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        let (status, reset) = app
            .call(Method::POST, "/debug/users/qa-r/reset", &qa, Value::Null)
            .await;
        assert_eq!(
            (status, &reset["run_forgotten"]),
            (StatusCode::OK, &json!(true))
        );
        let state = app
            .mobile("qa-r", "/v1/onboarding/start", start.clone())
            .await;
        let scene = &state["scene"];
        let body = json!({"scene_id": scene["id"], "answer": valid_answer(scene)});
        let next = app.mobile("qa-r", "/v1/onboarding/answers", body).await;
        assert_eq!(next["scene"]["key"], forced, "{next}");
    }
}

async fn simulate_matches_a_real_run(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let qa = app.token(Role::Qa).await;
    let attributes = json!({"install_source": "sleep_campaign", "birth_year": 1990});
    // A real run through the mobile API, answering each scene validly.
    let mut state = app
        .mobile(
            "real-user",
            "/v1/onboarding/start",
            json!({"attributes": attributes}),
        )
        .await;
    let mut real = vec![];
    let mut answers = serde_json::Map::new();
    while state["status"] == "in_progress" {
        let scene = state["scene"].clone();
        real.push(scene["key"].as_str().unwrap().to_owned());
        let answer = match scene["key"].as_str().unwrap() {
            "goal_default" => json!("sleep_better"),
            _ => valid_answer(&scene),
        };
        answers.insert(scene["step"].as_str().unwrap().to_owned(), answer.clone());
        state = app
            .mobile(
                "real-user",
                "/v1/onboarding/answers",
                json!({"scene_id": scene["id"], "answer": answer}),
            )
            .await;
    }
    let runs_before = app.count("runs").await;
    let events_before = app.count("events").await;
    let (status, sim) = app
        .call(
            Method::POST,
            "/debug/simulate",
            &qa,
            json!({"user_id": "real-user", "attributes": attributes, "answers": answers}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sim}");
    assert_eq!(sim["outcome"], "completed");
    let simulated: Vec<String> = sim["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["scene"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(simulated, real);
    let welcome = &sim["path"][0];
    assert_eq!(welcome["condition"], "from_sleep_campaign");
    assert!(
        welcome["why"]
            .as_str()
            .unwrap()
            .contains("from_sleep_campaign matched first")
    );
    assert!(
        sim["path"][1]["why"]
            .as_str()
            .unwrap()
            .contains("A/B group intro:pass_through")
    );
    assert_eq!(
        app.count("runs").await,
        runs_before,
        "simulate writes no run"
    );
    assert_eq!(
        app.count("events").await,
        events_before,
        "simulate records no event"
    );

    // Without enough answers the path stops where one is needed.
    let (_, partial) = app
        .call(
            Method::POST,
            "/debug/simulate",
            &qa,
            json!({"attributes": {}}),
        )
        .await;
    assert_eq!(partial["outcome"], "waiting_for_answer");
    let last = partial["path"].as_array().unwrap().last().unwrap();
    assert_eq!(last["scene"], "nickname_ask");
}
