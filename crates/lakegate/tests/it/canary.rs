//! Canary: secrets passed through every code path (login, user creation over API and
//! form, token creation and use, bad requests around them) never appear in logs, in
//! responses other than the one that hands a new token out, or in stored rows.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Sent, TestApp, hidden_field};

crate::on_each_backend!(secrets_never_reach_logs_responses_or_stored_rows,);

const CANARY_PW: &str = "CANARY-PW-7d1e4c";
const CANARY_BAD_TOKEN: &str = "lgp_CANARY-TOKEN-91b2";

async fn secrets_never_reach_logs_responses_or_stored_rows() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let a = app.session_for(&admin).await;
    let mut responses = String::new();
    let mut keep =
        |status: StatusCode, body: String| responses.push_str(&format!("{status} {body}\n"));

    // User creation through the API, the form, and a malformed request around the secret.
    let r = a
        .client
        .post(a.url("/api/v1/users"))
        .header("x-csrf-token", &a.csrf)
        .json(&json!({"email": "c1@acme.test", "role": "editor", "password": CANARY_PW}))
        .sent()
        .await;
    keep(r.status(), r.text().await.unwrap());
    let r = a
        .client
        .post(a.url("/settings/users"))
        .form(&[
            ("email", "c2@acme.test"),
            ("role", "editor"),
            ("password", CANARY_PW),
            ("csrf_token", &a.csrf),
        ])
        .sent()
        .await;
    keep(r.status(), r.text().await.unwrap());
    let r = a
        .client
        .post(a.url("/api/v1/users"))
        .header("x-csrf-token", &a.csrf)
        .json(&json!({"email": "c3@acme.test", "role": "editor", "password": CANARY_PW, "bogus": true}))
        .sent().await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    keep(r.status(), r.text().await.unwrap());

    // Sign-in with the secret: wrong, then right.
    for password in ["wrong-password", CANARY_PW] {
        let client = crate::harness::anonymous();
        let page = client.get(app.url("/login")).sent().await;
        let cookie = page.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let csrf = hidden_field(&page.text().await.unwrap(), "csrf_token");
        let r = client
            .post(app.url("/login"))
            .header("cookie", cookie)
            .form(&[
                ("org", "acme"),
                ("email", "c1@acme.test"),
                ("password", password),
                ("csrf_token", &csrf),
            ])
            .sent()
            .await;
        keep(r.status(), r.text().await.unwrap());
    }

    // A token: created (the one response allowed to carry it), used, and a fake one refused.
    let created: serde_json::Value = a
        .client
        .post(a.url("/api/v1/tokens"))
        .header("x-csrf-token", &a.csrf)
        .json(&json!({"name": "canary", "scopes": ["admin"]}))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    for bearer in [token.as_str(), CANARY_BAD_TOKEN] {
        for path in [
            "/api/v1/me",
            "/api/v1/users",
            "/api/v1/audit",
            "/api/v1/tokens",
        ] {
            let r = crate::harness::http()
                .get(app.url(path))
                .bearer_auth(bearer)
                .sent()
                .await;
            keep(r.status(), r.text().await.unwrap());
        }
    }
    let r = a.client.get(a.url("/settings/activity")).sent().await;
    let last_request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    keep(r.status(), r.text().await.unwrap());

    // Every text column of every table.
    let pool = app.pool();
    let mut stored = String::new();
    for (table, cols) in [
        (
            "users",
            "email || display_name || COALESCE(password_hash, '')",
        ),
        ("sessions", "id_hash || csrf_token"),
        ("api_tokens", "name || token_hash || prefix || scopes"),
        (
            "audit_events",
            "actor || action || COALESCE(target, '') || outcome || details",
        ),
    ] {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {cols} FROM {table}"));
        for (row,) in sqlx::query_as::<_, (String,)>(sql)
            .fetch_all(&pool)
            .await
            .unwrap()
        {
            stored.push_str(&row);
            stored.push('\n');
        }
    }

    let logs = crate::harness::captured_logs();
    assert!(
        logs.contains(&last_request_id),
        "the capture holds this test's requests"
    );
    for secret in [CANARY_PW, CANARY_BAD_TOKEN, token.as_str()] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
        assert!(
            !responses.contains(secret),
            "{secret} leaked into a response"
        );
        assert!(!stored.contains(secret), "{secret} stored in clear");
    }
    assert!(
        responses.contains("303 See Other"),
        "the right password signed in"
    );
}
