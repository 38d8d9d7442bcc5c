//! The HTML dashboard's rules over HTTP: sign-in, session cookie, CSRF,
//! roles on every page and action, lockout after failed sign-ins.

use reqwest::StatusCode;
use sceneflow::auth::Role;
use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, book, spawn_app_with};

on_both_backends!(
    pages_need_a_session,
    actions_check_role_and_csrf,
    repeated_failed_sign_ins_lock_the_user_out,
);

pub(crate) const PASSWORD: &str = "correct-horse-battery";

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn add_user(app: &TestApp, name: &'static str, role: Role) {
    app.db
        .run(move |c| sceneflow::dashboard::session::add_user(c, name, role, PASSWORD))
        .await
        .unwrap();
}

/// Sign in; the session cookie (`name=value`) and its CSRF token.
pub(crate) async fn sign_in(app: &TestApp, name: &str) -> (String, String) {
    let client = no_redirects();
    let res = client
        .post(app.url("/admin/login"))
        .form(&[("name", name), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin"] {
        assert!(set_cookie.contains(flag), "{flag} in {set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let page = client
        .get(app.url("/admin"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the page")
        .to_owned();
    (cookie, csrf)
}

pub(crate) async fn post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    csrf: &str,
) -> (StatusCode, String) {
    let res = no_redirects()
        .post(app.url(path))
        .header("cookie", cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn pages_need_a_session(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let sample = &sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK)[..12];
    for path in [
        "/admin".to_owned(),
        "/admin/upload".to_owned(),
        "/admin/audit".to_owned(),
        "/admin/conditions".to_owned(),
        "/admin/rollback".to_owned(),
        format!("/admin/versions/{sample}"),
        format!("/admin/versions/{sample}/diff"),
        format!("/admin/versions/{sample}/workbook"),
        format!("/admin/versions/{sample}/confirm/publish"),
        format!("/admin/versions/{sample}/funnel"),
        "/admin/experiments".to_owned(),
        "/admin/qa".to_owned(),
    ] {
        let res = no_redirects().get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(res.headers()["location"], "/admin/login", "{path}");
    }
    let (status, _) = post(&app, "", &format!("/admin/versions/{sample}/publish"), "x").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    add_user(&app, "olive", Role::Operator).await;
    let (cookie, _) = sign_in(&app, "olive").await;
    let page = no_redirects()
        .get(app.url(&format!("/admin/versions/{sample}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("flow diagram") && html.contains("welcome_diet"));
    for (path, marker) in [
        (format!("/admin/versions/{sample}/funnel"), "funnel chart"),
        ("/admin/experiments".to_owned(), "A/B results"),
        ("/admin/conditions".to_owned(), "from_diet_campaign"),
    ] {
        let page = no_redirects()
            .get(app.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{path}");
        let text = page.text().await.unwrap();
        assert!(text.contains(marker), "{path}");
        // Figures from the aggregates say how fresh they are.
        assert_eq!(
            text.contains(r#"id="as-of""#),
            !path.contains("conditions"),
            "{path}"
        );
    }
    let css = no_redirects()
        .get(app.url("/admin/static/bootstrap.min.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
}

async fn actions_check_role_and_csrf(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sample = true).await;
    let token = app.token(Role::Operator).await;
    let body: Value = app
        .upload(&token, book::valid().bytes())
        .await
        .json()
        .await
        .unwrap();
    let v2 = body["version"]["id"].as_str().unwrap().to_owned();
    add_user(&app, "olive", Role::Operator).await;
    add_user(&app, "quinn", Role::Qa).await;
    add_user(&app, "ada", Role::Admin).await;
    let (olive, olive_csrf) = sign_in(&app, "olive").await;
    let (quinn, quinn_csrf) = sign_in(&app, "quinn").await;
    let (ada, ada_csrf) = sign_in(&app, "ada").await;

    // CSRF: a form without this session's token changes nothing.
    for bad in ["", "forged", quinn_csrf.as_str()] {
        let (status, html) = post(&app, &olive, &format!("/admin/versions/{v2}/deploy"), bad).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "csrf {bad:?}");
        assert!(html.contains("Form expired"));
    }
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM audit_log WHERE action = 'deploy'")
            .await,
        0
    );

    // Roles: each action refuses the roles below it, whatever the buttons show.
    let (status, _) = post(
        &app,
        &olive,
        &format!("/admin/versions/{v2}/approve"),
        &olive_csrf,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(
        &app,
        &quinn,
        &format!("/admin/versions/{v2}/publish"),
        &quinn_csrf,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = post(&app, &quinn, "/admin/rollback", &quinn_csrf).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _) = post(
        &app,
        &olive,
        &format!("/admin/versions/{v2}/deploy"),
        &olive_csrf,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, html) = post(
        &app,
        &ada,
        &format!("/admin/versions/{v2}/publish"),
        &ada_csrf,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "publishing needs approval first"
    );
    assert!(html.contains("not been approved"));
    let (status, _) = post(
        &app,
        &quinn,
        &format!("/admin/versions/{v2}/approve"),
        &quinn_csrf,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = post(
        &app,
        &ada,
        &format!("/admin/versions/{v2}/publish"),
        &ada_csrf,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = post(&app, &ada, "/admin/rollback", &ada_csrf).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let actors = app
        .count_sql(
            "SELECT COUNT(*) AS n FROM audit_log WHERE (action, actor) IN (('deploy', 'olive'), ('approve', 'quinn'), ('publish', 'ada'), ('rollback', 'ada'))",
        )
        .await;
    assert_eq!(actors, 4);

    // Signing out ends the session on the server.
    let (status, _) = post(&app, &olive, "/admin/logout", &olive_csrf).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let res = no_redirects()
        .get(app.url("/admin"))
        .header("cookie", &olive)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

async fn repeated_failed_sign_ins_lock_the_user_out(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    add_user(&app, "ada", Role::Admin).await;
    let client = no_redirects();
    let attempt = |password: &'static str| {
        client
            .post(app.url("/admin/login"))
            .form(&[("name", "ada"), ("password", password)])
            .send()
    };
    for _ in 0..5 {
        let res = attempt("wrong-password").await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.text().await.unwrap().contains("wrong"));
    }
    let res = attempt(PASSWORD).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("Wait a minute"));
}

/// A form that does not parse gets the dashboard's error page, not plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_form_renders_the_error_page() {
    let app = crate::support::spawn_app(Backend::Sqlite).await;
    let res = no_redirects()
        .post(app.url("/admin/login"))
        .form(&[("name", "olive")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = res.text().await.unwrap();
    assert!(
        page.contains("the form is not what this page takes"),
        "{page}"
    );
}

/// An unknown `channel` is refused on the page as in the JSON API, not
/// silently read as production.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_channel_is_refused_on_the_page_too() {
    let app = crate::support::spawn_app_with(Backend::Sqlite, |s| s.sample = true).await;
    add_user(&app, "olive", Role::Operator).await;
    let (cookie, _) = sign_in(&app, "olive").await;
    let sample =
        sceneflow::auth::sha256_hex(sceneflow::master_data::SAMPLE_WORKBOOK)[..12].to_owned();
    let token = app.token(Role::Operator).await;
    for (query, status) in [
        ("", StatusCode::OK),
        ("?channel=staging", StatusCode::OK),
        ("?channel=beta", StatusCode::BAD_REQUEST),
    ] {
        let page = no_redirects()
            .get(app.url(&format!("/admin/versions/{sample}/funnel{query}")))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let api = app
            .get(
                &token,
                &format!("/admin/api/versions/{sample}/funnel{query}"),
            )
            .await;
        assert_eq!((page.status(), api.status()), (status, status), "{query}");
    }
}

/// The upload page offers the template workbook and the condition
/// catalogue as a sheet; both are what they say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upload_page_offers_the_template_and_the_conditions_sheet() {
    use calamine::Reader;
    let app = crate::support::spawn_app_with(Backend::Sqlite, |s| s.sample = true).await;
    add_user(&app, "olive", Role::Operator).await;
    let (cookie, _) = sign_in(&app, "olive").await;
    let get = |path: &'static str| {
        let cookie = cookie.clone();
        let app = &app;
        async move {
            no_redirects()
                .get(app.url(path))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    };
    let page = get("/admin/upload").await.text().await.unwrap();
    assert!(page.contains("/admin/template.xlsx") && page.contains("/admin/conditions.xlsx"));
    let template = get("/admin/template.xlsx").await;
    assert_eq!(template.status(), StatusCode::OK);
    assert!(
        template.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("onboarding_template.xlsx")
    );
    let bytes = template.bytes().await.unwrap().to_vec();
    // A workbook the service takes as it is (the sample's own bytes).
    let operator = app.token(Role::Operator).await;
    assert_eq!(app.upload(&operator, bytes).await.status(), StatusCode::OK);
    let sheet = get("/admin/conditions.xlsx")
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(sheet)).unwrap();
    let range = book.worksheet_range("conditions").unwrap();
    let names: Vec<String> = range.rows().skip(1).map(|r| r[0].to_string()).collect();
    assert_eq!(names.len(), sceneflow::flow::catalogue().len());
    assert!(names.contains(&"pass_through".to_owned()), "{names:?}");
    // Signed out, neither is served.
    let res = no_redirects()
        .get(app.url("/admin/template.xlsx"))
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), StatusCode::OK);
}
