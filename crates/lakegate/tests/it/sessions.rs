//! Sessions: cookie attributes, idle and absolute expiry on the injected clock, logout,
//! rotation at login, and what is stored (hashes, never the values).

use lakegate::accounts::Role;
use lakegate::crypto::random::token_hash;
use reqwest::StatusCode;

use crate::harness::{LIFE, PASSWORD, Sent, TestApp, hidden_field};

crate::on_each_backend!(
    login_sets_an_httponly_lax_cookie_and_stores_only_its_hash,
    https_public_urls_get_host_prefixed_secure_cookies,
    idle_sessions_expire,
    active_sessions_still_end_at_the_absolute_limit,
    logout_ends_the_session_server_side,
    each_login_makes_a_new_session,
    disabling_a_user_ends_their_sessions_and_tokens,
    wrong_password_and_unknown_user_get_the_same_answer_and_logins_are_throttled,
);

async fn me_status(b: &crate::harness::Browser) -> StatusCode {
    b.status("/api/v1/me").await
}

async fn login_sets_an_httponly_lax_cookie_and_stores_only_its_hash() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "a@acme.test", Role::Editor).await;
    let client = crate::harness::anonymous();
    let login = client.get(app.url("/login")).sent().await;
    let login_cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = hidden_field(&login.text().await.unwrap(), "csrf_token");
    let resp = client
        .post(app.url("/login"))
        .header("cookie", login_cookie)
        .form(&[
            ("org", "acme"),
            ("email", "A@acme.test"),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
            ("next", "/settings/api-tokens"),
        ])
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/settings/api-tokens");
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("lakegate_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("lakegate_session=");
    let (stored,): (String,) = sqlx::query_as("SELECT id_hash FROM sessions")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    assert_ne!(stored, value);
    assert_eq!(stored, token_hash(value));
}

async fn https_public_urls_get_host_prefixed_secure_cookies() {
    let web = lakegate::app::WebSettings::new("https://lakegate.example".parse().unwrap(), LIFE);
    assert_eq!(web.session_cookie(), "__Host-lakegate_session");
    assert!(web.secure_cookies());
    let plain = lakegate::app::WebSettings::new("http://127.0.0.1:8080".parse().unwrap(), LIFE);
    assert_eq!(plain.session_cookie(), "lakegate_session");
}

async fn idle_sessions_expire() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let user = app
        .user_with(&org, "a@acme.test", Role::Editor, false)
        .await;
    let b = app.session_for(&user).await;
    app.clock.advance(LIFE.idle_seconds - 10);
    assert_eq!(
        me_status(&b).await,
        StatusCode::OK,
        "activity within the idle window"
    );
    app.clock.advance(LIFE.idle_seconds - 10);
    assert_eq!(
        me_status(&b).await,
        StatusCode::OK,
        "the last request renewed the idle window"
    );
    app.clock.advance(LIFE.idle_seconds);
    assert_eq!(me_status(&b).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.count("sessions").await,
        0,
        "the dead session was removed"
    );
}

async fn active_sessions_still_end_at_the_absolute_limit() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let user = app
        .user_with(&org, "a@acme.test", Role::Editor, false)
        .await;
    let b = app.session_for(&user).await;
    let step = LIFE.idle_seconds / 2;
    let mut elapsed = 0;
    while elapsed + step < LIFE.absolute_seconds {
        app.clock.advance(step);
        elapsed += step;
        assert_eq!(me_status(&b).await, StatusCode::OK, "at {elapsed}s");
    }
    app.clock.advance(LIFE.absolute_seconds - elapsed);
    assert_eq!(me_status(&b).await, StatusCode::UNAUTHORIZED);
}

async fn logout_ends_the_session_server_side() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "a@acme.test", Role::Editor).await;
    let b = app.browser(&org, "a@acme.test").await;
    let resp = b
        .client
        .post(b.url("/logout"))
        .form(&[("csrf_token", &b.csrf)])
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(me_status(&b).await, StatusCode::UNAUTHORIZED);
}

async fn each_login_makes_a_new_session() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "a@acme.test", Role::Editor).await;
    let b1 = app.browser(&org, "a@acme.test").await;
    let b2 = app.browser(&org, "a@acme.test").await;
    assert_ne!(b1.csrf, b2.csrf);
    assert_eq!(app.count("sessions").await, 2);
}

async fn disabling_a_user_ends_their_sessions_and_tokens() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let user = app
        .user_with(&org, "u@acme.test", Role::Editor, false)
        .await;
    let session = app.session_for(&user).await;
    let (token, _) = app
        .token(&user, &[lakegate::auth::Scope::ConnectionsRead])
        .await;
    let a = app.session_for(&admin).await;
    let resp = a
        .client
        .patch(a.url(&format!("/api/v1/users/{}", user.id)))
        .header("x-csrf-token", &a.csrf)
        .json(&serde_json::json!({"disabled": true}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(me_status(&session).await, StatusCode::UNAUTHORIZED);
    let with_token = crate::harness::anonymous()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .sent()
        .await;
    assert_eq!(with_token.status(), StatusCode::UNAUTHORIZED);
}

async fn wrong_password_and_unknown_user_get_the_same_answer_and_logins_are_throttled() {
    let db = crate::harness::TestDb::current().await;
    let app = TestApp::spawn(&db).await;
    // A second replica with its own store handle: the counts are shared through the store.
    let other = TestApp::spawn_replica_on(&db, &app).await;
    let org = app.org("acme").await;
    app.user(&org, "a@acme.test", Role::Editor).await;
    let wrong = app
        .browser_with_password(&org, "a@acme.test", "wrong-password")
        .await
        .err();
    let unknown = app
        .browser_with_password(&org, "nobody@acme.test", PASSWORD)
        .await
        .err();
    assert_eq!(wrong, Some(StatusCode::UNAUTHORIZED));
    assert_eq!(unknown, wrong);
    // The account allows five failures per window, on whichever replicas they happen, then
    // refuses even the right password everywhere.
    for replica in [&other, &app, &other, &app] {
        let _ = replica
            .browser_with_password(&org, "a@acme.test", "wrong-password")
            .await;
    }
    let locked = other
        .browser_with_password(&org, "a@acme.test", PASSWORD)
        .await
        .err();
    assert_eq!(locked, Some(StatusCode::TOO_MANY_REQUESTS));
    let locked_here = app
        .browser_with_password(&org, "a@acme.test", PASSWORD)
        .await
        .err();
    assert_eq!(locked_here, Some(StatusCode::TOO_MANY_REQUESTS));
    app.clock.advance(15 * 60);
    assert!(
        app.browser_with_password(&org, "a@acme.test", PASSWORD)
            .await
            .is_ok(),
        "the window passed"
    );
}
