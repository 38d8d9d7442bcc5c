//! The admin-only People page: dashboard users and admin tokens over HTTP,
//! with the role and CSRF checks of every other dashboard form.

use reqwest::StatusCode;
use sceneflow::auth::Role;

use crate::dashboard::{PASSWORD, add_user, no_redirects, post, sign_in};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, spawn_app_with};

on_both_backends!(
    the_people_page_is_for_admins_only,
    admins_manage_users_and_tokens,
);

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let res = no_redirects()
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = no_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn users_named(app: &TestApp, name: &str) -> i64 {
    app.count_sql(format!(
        "SELECT COUNT(*) AS n FROM users WHERE name = '{name}'"
    ))
    .await
}

async fn the_people_page_is_for_admins_only(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    let res = no_redirects()
        .get(app.url("/admin/people"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    add_user(&app, "olive", Role::Operator).await;
    add_user(&app, "quinn", Role::Qa).await;
    add_user(&app, "ada", Role::Admin).await;
    let token = app.token(Role::Operator).await;
    let id = sceneflow::auth::sha256_hex(token.as_bytes())[..12].to_owned();

    for name in ["olive", "quinn"] {
        let (cookie, csrf) = sign_in(&app, name).await;
        let (status, _) = get(&app, &cookie, "/admin/people").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        let (_, overview) = get(&app, &cookie, "/admin").await;
        assert!(!overview.contains("/admin/people"), "{name} sees the link");
        let (status, _) = post_form(
            &app,
            &cookie,
            "/admin/people/users",
            &[
                ("csrf", &csrf),
                ("name", "mallory"),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        for path in [
            "/admin/people/users/ada/remove".to_owned(),
            format!("/admin/people/tokens/{id}/revoke"),
        ] {
            let (status, _) = post(&app, &cookie, &path, &csrf).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name} {path}");
        }
        let (status, _) = post_form(
            &app,
            &cookie,
            "/admin/people/users/ada/password",
            &[("csrf", &csrf), ("password", "taken-over-now")],
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
    }
    assert_eq!(users_named(&app, "mallory").await, 0);
    assert_eq!(users_named(&app, "ada").await, 1);
    assert_eq!(app.get(&token, "/admin/api/versions").await.status(), 200);
    sign_in(&app, "ada").await; // the password is unchanged

    let (cookie, _) = sign_in(&app, "ada").await;
    let (status, page) = get(&app, &cookie, "/admin/people").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("olive") && page.contains("quinn") && page.contains(&id));
    let (_, overview) = get(&app, &cookie, "/admin").await;
    assert!(overview.contains("/admin/people"));
}

async fn admins_manage_users_and_tokens(backend: Backend) {
    let app = spawn_app_with(backend, |_| {}).await;
    add_user(&app, "ada", Role::Admin).await;
    let (ada, csrf) = sign_in(&app, "ada").await;
    let add = [
        ("csrf", csrf.as_str()),
        ("name", "petra"),
        ("role", "operator"),
        ("password", PASSWORD),
    ];

    // CSRF: a form without this session's token changes nothing.
    let mut forged = add;
    forged[0].1 = "forged";
    let (status, _) = post_form(&app, &ada, "/admin/people/users", &forged).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(users_named(&app, "petra").await, 0);

    let (status, _) = post_form(&app, &ada, "/admin/people/users", &add).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (petra, _) = sign_in(&app, "petra").await;
    // Adding the same name again is refused; nothing is replaced.
    let mut again = add;
    again[2].1 = "admin";
    let (status, page) = post_form(&app, &ada, "/admin/people/users", &again).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("exists already"), "{page}");
    assert_eq!(
        app.count_sql("SELECT COUNT(*) AS n FROM users WHERE name = 'petra' AND role = 'operator'")
            .await,
        1
    );

    // A new password ends the user's sessions.
    let (status, _) = post_form(
        &app,
        &ada,
        "/admin/people/users/petra/password",
        &[("csrf", &csrf), ("password", "short")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&app, &petra, "/admin").await;
    assert_eq!(status, StatusCode::OK, "a refused change keeps the session");
    let (status, _) = post_form(
        &app,
        &ada,
        "/admin/people/users/petra/password",
        &[("csrf", &csrf), ("password", "a-brand-new-password")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = get(&app, &petra, "/admin").await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, _) = post(&app, &ada, "/admin/people/users/ada/remove", &csrf).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nobody removes themself");
    let (status, _) = post(&app, &ada, "/admin/people/users/petra/remove", &csrf).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(users_named(&app, "petra").await, 0);
    let (status, _) = post(&app, &ada, "/admin/people/users/petra/remove", &csrf).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Tokens: created once, shown once, revoked by id.
    let (status, page) = post_form(
        &app,
        &ada,
        "/admin/people/tokens",
        &[
            ("csrf", &csrf),
            ("name", "olive"),
            ("role", "operator"),
            ("days", "30"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = page
        .split("id=\"new-token\" class=\"user-select-all\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the new token on the page")
        .to_owned();
    assert!(token.starts_with("sfa_"), "{token}");
    assert_eq!(app.get(&token, "/admin/api/versions").await.status(), 200);
    let (_, page) = get(&app, &ada, "/admin/people").await;
    assert!(!page.contains(&token), "a token is shown only once");
    let id = sceneflow::auth::sha256_hex(token.as_bytes())[..12].to_owned();
    assert!(page.contains(&id));
    let (status, _) = post(
        &app,
        &ada,
        &format!("/admin/people/tokens/{id}/revoke"),
        "x",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.get(&token, "/admin/api/versions").await.status(), 200);
    let (status, _) = post(
        &app,
        &ada,
        &format!("/admin/people/tokens/{id}/revoke"),
        &csrf,
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(app.get(&token, "/admin/api/versions").await.status(), 401);

    let audited = app
        .count_sql(
            "SELECT COUNT(*) AS n FROM audit_log WHERE actor = 'ada' AND action IN ('user_add', 'user_password', 'user_remove', 'token_create', 'token_revoke')",
        )
        .await;
    assert_eq!(audited, 5);
}
