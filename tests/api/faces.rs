//! The two faces over one application layer: the dashboard and the JSON API
//! read an upload the same way, and a request-body error gets the face of
//! its route (the dashboard's page, or the JSON error body).

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use sceneflow::auth::Role;
use serde_json::Value;

use crate::dashboard::{add_user, no_redirects, sign_in};
use crate::support::{Backend, TestApp, spawn_app_with};

fn is_html(res: &reqwest::Response) -> bool {
    res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html")
}

/// The dashboard's upload form and the API's multipart upload, same body.
async fn both(
    app: &TestApp,
    form: impl Fn(&str) -> Form,
) -> (StatusCode, String, StatusCode, Value) {
    let (cookie, csrf) = sign_in(app, "olive").await;
    let page = no_redirects()
        .post(app.url("/admin/upload"))
        .header("cookie", &cookie)
        .multipart(form(&csrf))
        .send()
        .await
        .unwrap();
    let page = (page.status(), page.text().await.unwrap());
    let token = app.token(Role::Operator).await;
    let api = app
        .client
        .post(app.url("/admin/api/versions"))
        .bearer_auth(&token)
        .multipart(form(&csrf))
        .send()
        .await
        .unwrap();
    let api = (api.status(), api.json::<Value>().await.unwrap());
    (page.0, page.1, api.0, api.1)
}

/// Too large, no workbook field, an empty file: the page answers as the API
/// does (the page used to say 400 "choose a workbook file" for an empty
/// file, and word the size limit its own way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_refuses_as_the_api_does() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.max_upload_bytes = 2 * 1024 * 1024).await;
    add_user(&app, "olive", Role::Operator).await;
    let workbook = |bytes: Vec<u8>| Part::bytes(bytes).file_name("flow.xlsx");

    let (status, page, api_status, api) = both(&app, |csrf| {
        Form::new()
            .text("csrf", csrf.to_owned())
            .part("workbook", workbook(vec![b'x'; 3 * 1024 * 1024]))
    })
    .await;
    assert_eq!(
        (status, api_status),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY
        )
    );
    assert_eq!(api["error"]["code"], "unreadable_workbook");
    let message = api["report"]["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("larger than the upload limit"),
        "{message}"
    );
    assert!(page.contains(message), "{page}");

    let (status, page, api_status, api) = both(&app, |csrf| {
        Form::new()
            .text("csrf", csrf.to_owned())
            .part("workbook", workbook(Vec::new()))
    })
    .await;
    assert_eq!(
        (status, api_status),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY
        )
    );
    let message = api["report"]["errors"][0]["message"].as_str().unwrap();
    assert!(page.contains(message), "{message} in {page}");

    let (status, page, api_status, api) =
        both(&app, |csrf| Form::new().text("csrf", csrf.to_owned())).await;
    assert_eq!(
        (status, api_status),
        (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST)
    );
    let message = api["error"]["message"].as_str().unwrap();
    assert!(page.contains(message), "{message} in {page}");
    assert_eq!(app.count("versions").await, 0);
}

/// Request-body errors raised before any handler: on a page the
/// dashboard's error page, on the API the JSON error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_errors_get_the_face_of_their_route() {
    let app = spawn_app_with(Backend::Sqlite, |s| s.debug = true).await;
    add_user(&app, "quinn", Role::Qa).await;

    // A NUL in a form field (refused at the request boundary).
    let res = no_redirects()
        .post(app.url("/admin/login"))
        .form(&[("name", "a\0b"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let html = is_html(&res);
    let text = res.text().await.unwrap();
    assert!(html && text.contains("NUL character"), "{text}");

    // A form body over the form extractor's limit.
    let (cookie, csrf) = sign_in(&app, "quinn").await;
    let big = format!("csrf={csrf}&extra={}", "a".repeat(300 * 1024));
    let res = no_redirects()
        .post(app.url("/admin/qa/users/someone/overrides"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(is_html(&res));
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("the request body is too large")
    );

    // The JSON API keeps its JSON body for the same NUL.
    let token = app.token(Role::Qa).await;
    let res = app
        .client
        .put(app.url("/debug/users/someone/overrides"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"a": "x\u{0}y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_request");
}
