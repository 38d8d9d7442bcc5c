use reqwest::StatusCode;
use sceneflow::auth::Role;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, book, spawn_app, spawn_app_with};

on_both_backends!(
    upload_stores_a_version_once,
    invalid_upload_stores_nothing,
    multipart_upload_keeps_the_file_name,
    tokens_are_checked,
    failure_mid_import_leaves_nothing,
    import_from_the_store_inbox,
    oversized_upload_is_refused,
    bad_requests_get_json_errors,
    conditions_are_listed,
    a_stored_file_that_no_longer_matches_is_never_served,
);

async fn upload_stores_a_version_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token(Role::Operator).await;
    let bytes = book::valid().bytes();

    let first = app.upload(&token, bytes.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let body: Value = first.json().await.unwrap();
    let id = body["version"]["id"].as_str().unwrap().to_owned();
    let sha = sceneflow::auth::sha256_hex(&bytes);
    assert_eq!(id, sha[..12]);
    assert_eq!(body["report"]["valid"], true);
    assert_eq!(body["version"]["scene_count"], 4);

    let again = app.upload(&token, bytes.clone()).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["version"]["id"], id.as_str());
    assert_eq!(app.count("versions").await, 1);

    assert_eq!(app.stored_files(), vec![format!("versions/{sha}.xlsx")]);

    let list: Value = app
        .get(&token, "/admin/api/versions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["versions"].as_array().unwrap().len(), 1);

    let one: Value = app
        .get(&token, &format!("/admin/api/versions/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        one["steps"],
        serde_json::json!(["welcome", "goal", "name", "done"])
    );
    assert_eq!(one["scenes"][2]["input"], "text");
    assert_eq!(one["scenes"][2]["max"], 20.0);
    assert_eq!(one["choices"][1]["next_step"], "done");
    assert_eq!(one["choices"][0]["value"], "lose_weight");
    assert_eq!(one["report"]["valid"], true);

    let file = app
        .get(&token, &format!("/admin/api/versions/{id}/workbook"))
        .await;
    assert_eq!(file.status(), StatusCode::OK);
    assert!(
        file.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("spreadsheetml")
    );
    assert_eq!(file.bytes().await.unwrap().to_vec(), bytes);

    let audit: Value = app
        .get(&token, "/admin/api/audit")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["entries"][0]["action"], "upload");
    assert_eq!(audit["entries"][0]["actor"], "operator-user");
    assert_eq!(audit["entries"][0]["version_to"], id.as_str());

    let missing = app.get(&token, "/admin/api/versions/000000000000").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let missing: Value = missing.json().await.unwrap();
    assert_eq!(missing["error"]["code"], "not_found");
}

async fn invalid_upload_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token(Role::Operator).await;
    let bad = book::valid()
        .set("choices", 2, "scene", "goal_questio")
        .set("scenes", 3, "condition", "femal");
    let response = app.upload(&token, bad.bytes()).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_workbook");
    let errors = body["report"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["code"], "unknown_condition");
    assert_eq!(errors[1]["code"], "unknown_scene");
    assert_eq!(errors[1]["suggestion"], "goal_question");
    assert_eq!(app.count("versions").await, 0);
    assert_eq!(app.count("scenes").await, 0);
    assert!(app.stored_files().is_empty());

    let garbage = app
        .upload(&token, b"%PDF-1.7 not a workbook".to_vec())
        .await;
    assert_eq!(garbage.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = garbage.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unreadable_workbook");
    assert_eq!(body["report"]["errors"][0]["code"], "unreadable_workbook");
    assert!(app.stored_files().is_empty());
}

async fn multipart_upload_keeps_the_file_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token(Role::Admin).await;
    let part =
        reqwest::multipart::Part::bytes(book::valid().bytes()).file_name("オンボーディング.xlsx");
    let form = reqwest::multipart::Form::new()
        .text("note", "first try")
        .part("workbook", part);
    let response = app
        .client
        .post(app.url("/admin/api/versions"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["version"]["file_name"], "オンボーディング.xlsx");
    assert_eq!(body["version"]["uploaded_by"], "admin-user");
    // Downloaded under the operator's own name (RFC 8187), with an ASCII
    // fallback for clients that read only `filename`.
    let id = body["version"]["id"].as_str().unwrap();
    let download = app
        .get(&token, &format!("/admin/api/versions/{id}/workbook"))
        .await;
    let disposition = download.headers()["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"_"),
        "{disposition}"
    );
    assert!(
        disposition.contains("filename*=UTF-8''%E3%82%AA%E3%83%B3"),
        "{disposition}"
    );

    let form = reqwest::multipart::Form::new().text("other", "x");
    let response = app
        .client
        .post(app.url("/admin/api/versions"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
}

async fn tokens_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let bytes = book::valid().bytes();

    let none = app
        .client
        .post(app.url("/admin/api/versions"))
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");

    let bad = app.upload("sfa_0000", bytes.clone()).await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);

    // A token that expired a minute ago.
    let token = format!("sfa_{}", sceneflow::auth::random_hex(32));
    let hash = sceneflow::auth::sha256_hex(token.as_bytes());
    app.db
        .run(move |c| {
            let now = sceneflow::store::now();
            sceneflow::store::tokens::insert(
                c,
                &sceneflow::store::tokens::TokenRow {
                    token_hash: hash,
                    name: "old".into(),
                    role: sceneflow::auth::Role::Admin,
                    created_at: now - chrono::Duration::days(2),
                    expires_at: Some(now - chrono::Duration::minutes(1)),
                },
            )
        })
        .await
        .unwrap();
    let expired = app.upload(&token, bytes.clone()).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let body: Value = expired.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    assert_eq!(app.count("versions").await, 0);
}

/// A database trigger fails the insert of choices, after versions, steps,
/// scenes and messages went in: the transaction must leave nothing behind.
async fn failure_mid_import_leaves_nothing(backend: Backend) {
    let app = spawn_app(backend.clone()).await;
    match backend {
        Backend::Sqlite => {
            app.exec("CREATE TRIGGER fail_choices BEFORE INSERT ON choices BEGIN SELECT RAISE(ABORT, 'forced failure'); END;").await
        }
        Backend::Postgres(_) => {
            app.exec(
                "CREATE FUNCTION fail_choices() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'forced failure'; END $$ LANGUAGE plpgsql;
                 CREATE TRIGGER fail_choices BEFORE INSERT ON choices FOR EACH ROW EXECUTE FUNCTION fail_choices();",
            )
            .await
        }
    }
    let token = app.token(Role::Operator).await;
    let response = app.upload(&token, book::valid().bytes()).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert!(
        !body.to_string().contains("forced failure"),
        "the cause is not sent to clients"
    );
    for table in ["versions", "steps", "scenes", "scene_messages", "choices"] {
        assert_eq!(app.count(table).await, 0, "{table} is empty");
    }
    assert_eq!(app.count("audit_log").await, 0);

    match app.backend {
        Backend::Sqlite => app.exec("DROP TRIGGER fail_choices").await,
        Backend::Postgres(_) => app.exec("DROP TRIGGER fail_choices ON choices").await,
    }
    let retry = app.upload(&token, book::valid().bytes()).await;
    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(app.count("choices").await, 2);
}

async fn import_from_the_store_inbox(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token(Role::Operator).await;
    std::fs::create_dir_all(app.store_dir.join("inbox")).unwrap();
    std::fs::write(
        app.store_dir.join("inbox/フロー.xlsx"),
        book::valid().bytes(),
    )
    .unwrap();

    let post = |key: &str| {
        app.client
            .post(app.url("/admin/api/versions/import"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"key": key}))
            .send()
    };
    let response = post("inbox/フロー.xlsx").await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["version"]["file_name"], "フロー.xlsx");
    assert_eq!(
        post("inbox/フロー.xlsx").await.unwrap().status(),
        StatusCode::OK
    );

    let missing = post("inbox/none.xlsx").await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    for bad in ["versions/x.xlsx", "inbox/../secret.xlsx", "/etc/passwd"] {
        let response = post(bad).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
    }
}

async fn oversized_upload_is_refused(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.max_upload_bytes = 1024 * 1024).await;
    let token = app.token(Role::Operator).await;
    let response = app.upload(&token, vec![b'x'; 3 * 1024 * 1024]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["report"]["errors"][0]["code"], "unreadable_workbook");
    assert!(
        body["report"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 MB")
    );
    assert!(app.stored_files().is_empty());
}

async fn bad_requests_get_json_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token(Role::Operator).await;
    let cases = [
        app.client
            .post(app.url("/admin/api/versions/import"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{not json"),
        app.client
            .post(app.url("/admin/api/versions/import"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"path": "inbox/x.xlsx"})),
        app.client
            .post(app.url("/admin/api/versions/import"))
            .bearer_auth(&token)
            .body("key=inbox/x.xlsx"),
    ];
    for request in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    }
    let unknown = app
        .client
        .get(app.url("/admin/api/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}

async fn conditions_are_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token(Role::Operator).await;
    let body: Value = app
        .get(&token, "/admin/api/conditions")
        .await
        .json()
        .await
        .unwrap();
    let list = body["conditions"].as_array().unwrap();
    let organic = list.iter().find(|c| c["name"] == "from_organic").unwrap();
    assert_eq!(organic["attributes"], serde_json::json!(["install_source"]));
    assert!(
        organic["description"]
            .as_str()
            .unwrap()
            .contains("install_source")
    );
}

/// The store's file of a version replaced behind the service's back: the
/// download refuses it with a clear code instead of serving another file.
async fn a_stored_file_that_no_longer_matches_is_never_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&token, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let id = body["version"]["id"].as_str().unwrap();
    let key = body["version"]["store_key"].as_str().unwrap();
    std::fs::write(app.store_dir.join(key), book::valid().bytes().repeat(2)).unwrap();
    let file = app
        .get(&token, &format!("/admin/api/versions/{id}/workbook"))
        .await;
    assert_eq!(file.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let error: Value = file.json().await.unwrap();
    assert_eq!(error["error"]["code"], "stored_file_mismatch");
}
