//! Languages offline (docs/src/offline.md "Languages offline"): the JavaScript player
//! negotiates the language of a translated bundle as the server does, and a
//! run played offline in a language is stored in it, as online.

use reqwest::StatusCode;
use sceneflow::auth::mint_user_token;
use serde_json::{Value, json};

use crate::languages::publish;
use crate::offline::{get_bundle, play_in_node, post_sync, rows};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app, valid_answer};

on_both_backends!(
    the_player_serves_a_translated_bundle_as_the_server,
    a_run_played_offline_in_a_language_is_stored_in_it,
);

/// A mobile call with an `Accept-Language` header (none when blank).
async fn call(app: &TestApp, user: &str, path: &str, language: &str, body: Value) -> Value {
    let token = mint_user_token(&app.settings.jwt_secret, user, 1);
    let mut req = app.client.post(app.url(path)).json(&body);
    if !language.is_empty() {
        req = req.header("accept-language", language);
    }
    let res = req.bearer_auth(token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// `user` plays online with `header` on every request (the player's policy:
/// the first choice, the lower bound, "ゆき"); every state.
async fn play_online(app: &TestApp, user: &str, attributes: &Value, header: &str) -> Vec<Value> {
    let body = json!({"attributes": attributes});
    let mut state = call(app, user, "/v1/onboarding/start", header, body).await;
    let mut states = vec![state.clone()];
    while state["status"] == "in_progress" {
        let body =
            json!({"scene_id": state["scene"]["id"], "answer": valid_answer(&state["scene"])});
        state = call(app, user, "/v1/onboarding/answers", header, body).await;
        states.push(state.clone());
    }
    states
}

/// `user` plays offline in node from their signed bundle; `{"states", "sync"}`.
async fn play_offline(app: &TestApp, user: &str, attributes: &Value, languages: &Value) -> Value {
    let envelope: Value = get_bundle(app, user, None).await.json().await.unwrap();
    let key = sceneflow::offline::BundleKey::from_seed(&app.settings.bundle_seed());
    play_in_node(&json!({
        "envelope": envelope, "public_key": key.public_key_hex(), "attributes": attributes,
        "languages": languages, "started_at": crate::support::an_hour_ago(), "sync_id": format!("{user}-sync"),
    }))
}

fn without_id(mut state: Value) -> Value {
    if state["scene"].is_object() {
        state["scene"]["id"] = Value::Null;
    }
    state
}

/// The states stored with a user's answers (what an answer retry and
/// `/current`'s cache replay), ids left out.
async fn stored_states(app: &TestApp, user: &str) -> Vec<Value> {
    let sql = format!(
        "SELECT a.response AS row FROM run_answers a JOIN runs r ON r.id = a.run_id \
         WHERE r.user_id = '{user}' ORDER BY a.created_at, a.scene_key"
    );
    rows(app, &sql)
        .await
        .iter()
        .map(|r| without_id(serde_json::from_str(r.as_str().unwrap()).unwrap()))
        .collect()
}

/// Each way of asking for a language: (start attributes, the app's
/// languages for the player, the same as an `Accept-Language` header,
/// the locale served).
fn asks() -> Vec<(Value, Value, &'static str, Value)> {
    vec![
        // en-GB falls back to en; q-values rank.
        (
            json!({}),
            json!("fr;q=0.1, en-GB, ja;q=0.5"),
            "fr;q=0.1, en-GB, ja;q=0.5",
            json!("en"),
        ),
        (json!({}), json!(["de", "en-US"]), "de, en-US", json!("en")),
        // The attribute wins over the languages: en_US → en; fr-CA → default.
        (json!({"locale": "en_US"}), json!(["ja"]), "ja", json!("en")),
        (json!({"locale": "fr-CA"}), json!(["en"]), "en", Value::Null),
        // Nothing asked: the default.
        (json!({}), json!([]), "", Value::Null),
    ]
}

async fn the_player_serves_a_translated_bundle_as_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, book::translated().bytes()).await;
    let envelope: Value = get_bundle(&app, "reader", None).await.json().await.unwrap();
    let bundle: Value = serde_json::from_str(envelope["payload"].as_str().unwrap()).unwrap();
    assert_eq!(bundle["locales"], json!(["en"]));
    let welcome = &bundle["scenes"][0];
    assert_eq!(
        welcome["translations"]["en"],
        json!({"messages": ["Welcome!", "Let's start"], "placeholder": null})
    );
    for (i, (attributes, languages, header, locale)) in asks().into_iter().enumerate() {
        let online = play_online(&app, &format!("online-{i}"), &attributes, header).await;
        let offline = play_offline(&app, &format!("offline-{i}"), &attributes, &languages).await;
        let offline = offline["states"].as_array().unwrap();
        assert_eq!(online.len(), offline.len(), "{header}");
        for (on, off) in online.iter().zip(offline) {
            assert_eq!(without_id(on.clone()), without_id(off.clone()), "{header}");
            assert_eq!(off["locale"], locale, "{header}");
        }
    }
    // Templates in the translation: "{{nickname}}, your goal?".
    let played = play_offline(&app, "templates", &json!({}), &json!(["en"])).await;
    let texts: Vec<&Value> = played["states"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["scene"]["messages"].as_array().into_iter().flatten())
        .map(|m| &m["text"])
        .collect();
    assert!(texts.contains(&&json!("ゆき, your goal?")), "{texts:?}");
}

async fn a_run_played_offline_in_a_language_is_stored_in_it(backend: Backend) {
    let app = spawn_app(backend).await;
    publish(&app, book::translated().bytes()).await;
    for (i, (attributes, languages, header, locale)) in asks().into_iter().enumerate() {
        play_online(&app, &format!("online-{i}"), &attributes, header).await;
        let user = format!("offline-{i}");
        let played = play_offline(&app, &user, &attributes, &languages).await;
        // Sent without Accept-Language: the body's languages decide.
        let (status, synced) = post_sync(&app, &user, &played["sync"]).await;
        assert_eq!(status, StatusCode::OK, "{synced}");
        assert_eq!(synced["state"]["locale"], locale, "{header}");
        let (online, offline) = (
            stored_states(&app, &format!("online-{i}")).await,
            stored_states(&app, &user).await,
        );
        assert!(!offline.is_empty());
        assert_eq!(online, offline, "{header}");
    }

    // The online run is kept (a tie): its state, in the languages of the sync.
    let played = play_offline(&app, "online-4", &json!({}), &json!(["en"])).await;
    let (status, kept) = post_sync(&app, "online-4", &played["sync"]).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["outcome"], "online_kept");
    assert_eq!(kept["state"]["locale"], "en", "{kept}");

    // An app that sends no languages: the sync request's Accept-Language.
    let played = play_offline(&app, "header-only", &json!({}), &json!(["en"])).await;
    let mut body = played["sync"].clone();
    body.as_object_mut().unwrap().remove("languages");
    let token = mint_user_token(&app.settings.jwt_secret, "header-only", 1);
    let res = app
        .client
        .post(app.url("/v1/onboarding/sync"))
        .bearer_auth(token)
        .header("accept-language", "en-AU")
        .json(&body)
        .send()
        .await
        .unwrap();
    let synced: Value = res.json().await.unwrap();
    assert_eq!(synced["state"]["locale"], "en", "{synced}");
    assert!(
        stored_states(&app, "header-only")
            .await
            .iter()
            .all(|s| s["locale"] == "en")
    );

    // More languages than Accept-Language is read for: refused, nothing stored.
    let played = play_offline(&app, "too-many", &json!({}), &json!([])).await;
    let mut body = played["sync"].clone();
    body["languages"] = json!(vec!["en"; 33]);
    let (status, error) = post_sync(&app, "too-many", &body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["code"], "invalid_request", "{error}");
    assert!(stored_states(&app, "too-many").await.is_empty());
}
