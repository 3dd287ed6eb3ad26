//! Bad input gets the documented 4xx with a clear message, and nothing is written.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{Sent, TestApp};

crate::on_each_backend!(
    bad_requests_get_clear_errors_and_write_nothing,
    invalid_bearer_tokens_are_401_with_a_clear_code,
);

struct Case {
    name: &'static str,
    method: reqwest::Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: StatusCode,
    code: &'static str,
    message_contains: &'static str,
}

fn case(
    name: &'static str,
    method: reqwest::Method,
    path: &str,
    body: &str,
    status: StatusCode,
    code: &'static str,
    msg: &'static str,
) -> Case {
    Case {
        name,
        method,
        path: path.into(),
        content_type: Some("application/json"),
        body: body.as_bytes().to_vec(),
        status,
        code,
        message_contains: msg,
    }
}

async fn bad_requests_get_clear_errors_and_write_nothing() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let (token, _) = app.token(&admin, &lakegate::auth::Scope::ALL).await;
    use reqwest::Method as Mth;
    let bad = StatusCode::BAD_REQUEST;
    let user_path = format!("/api/v1/users/{}", admin.id);
    let mut cases = vec![
        case(
            "malformed JSON",
            Mth::POST,
            "/api/v1/users",
            "{\"email\":",
            bad,
            "invalid_request",
            "invalid JSON",
        ),
        case(
            "wrong type",
            Mth::POST,
            "/api/v1/users",
            r#"{"email":"x@y.z","role":"viewer","password":42}"#,
            bad,
            "invalid_request",
            "password",
        ),
        case(
            "unknown role",
            Mth::POST,
            "/api/v1/users",
            r#"{"email":"x@y.z","role":"root","password":"long-enough-pw"}"#,
            bad,
            "invalid_request",
            "role",
        ),
        case(
            "missing field",
            Mth::POST,
            "/api/v1/users",
            r#"{"email":"x@y.z","role":"viewer"}"#,
            bad,
            "invalid_request",
            "password",
        ),
        case(
            "unknown field",
            Mth::POST,
            "/api/v1/users",
            r#"{"email":"x@y.z","role":"viewer","password":"long-enough-pw","org_id":"other"}"#,
            bad,
            "invalid_request",
            "org_id",
        ),
        case(
            "bad email",
            Mth::POST,
            "/api/v1/users",
            r#"{"email":"not-an-email","role":"viewer","password":"long-enough-pw"}"#,
            bad,
            "invalid_request",
            "email",
        ),
        case(
            "short password",
            Mth::POST,
            "/api/v1/users",
            r#"{"email":"x@y.z","role":"viewer","password":"short"}"#,
            bad,
            "invalid_request",
            "password",
        ),
        case(
            "empty patch",
            Mth::PATCH,
            &user_path,
            "{}",
            bad,
            "invalid_request",
            "nothing to change",
        ),
        case(
            "unknown user",
            Mth::PATCH,
            "/api/v1/users/does-not-exist",
            r#"{"role":"viewer"}"#,
            StatusCode::NOT_FOUND,
            "not_found",
            "user",
        ),
        case(
            "unknown user delete",
            Mth::DELETE,
            "/api/v1/users/does-not-exist",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
            "user",
        ),
        case(
            "unknown token",
            Mth::DELETE,
            "/api/v1/tokens/does-not-exist",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
            "token",
        ),
        case(
            "unknown scope",
            Mth::POST,
            "/api/v1/tokens",
            r#"{"name":"x","scopes":["root"]}"#,
            bad,
            "invalid_request",
            "scopes",
        ),
        case(
            "no scopes",
            Mth::POST,
            "/api/v1/tokens",
            r#"{"name":"x","scopes":[]}"#,
            bad,
            "invalid_request",
            "scope",
        ),
        case(
            "long expiry",
            Mth::POST,
            "/api/v1/tokens",
            r#"{"name":"x","scopes":["admin"],"expires_in_days":9999}"#,
            bad,
            "invalid_request",
            "expires_in_days",
        ),
        case(
            "demote the last admin",
            Mth::PATCH,
            &user_path,
            r#"{"role":"viewer"}"#,
            StatusCode::CONFLICT,
            "last_admin",
            "admin",
        ),
        case(
            "bad since",
            Mth::GET,
            "/api/v1/audit?since=yesterday",
            "",
            bad,
            "invalid_request",
            "RFC 3339",
        ),
        case(
            "bad limit",
            Mth::GET,
            "/api/v1/audit?limit=0",
            "",
            bad,
            "invalid_request",
            "limit",
        ),
        case(
            "unknown route",
            Mth::GET,
            "/api/v1/nothing-here",
            "",
            StatusCode::NOT_FOUND,
            "not_found",
            "route",
        ),
    ];
    cases.push(Case {
        content_type: Some("text/plain"),
        ..case(
            "not JSON content type",
            Mth::POST,
            "/api/v1/users",
            "{}",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "application/json",
        )
    });
    let huge = format!(
        r#"{{"email":"x@y.z","role":"viewer","password":"{}"}}"#,
        "x".repeat(100 * 1024)
    );
    cases.push(Case {
        body: huge.into_bytes(),
        ..case(
            "oversized body",
            Mth::POST,
            "/api/v1/users",
            "",
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "too large",
        )
    });

    let users = app.count("users").await;
    let audit = app.count("audit_events").await;
    let tokens = app.count("api_tokens").await;
    let client = crate::harness::http();
    for c in cases {
        let mut req = client
            .request(c.method, app.url(&c.path))
            .bearer_auth(&token);
        if let Some(ct) = c.content_type.filter(|_| !c.body.is_empty()) {
            req = req.header("content-type", ct);
        }
        let resp = req.body(c.body).sent().await;
        assert_eq!(resp.status(), c.status, "{}", c.name);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], c.code, "{}: {body}", c.name);
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(c.message_contains),
            "{}: {message:?} should mention {:?}",
            c.name,
            c.message_contains
        );
    }
    assert_eq!(app.count("users").await, users, "no user written");
    assert_eq!(app.count("api_tokens").await, tokens, "no token written");
    assert_eq!(app.count("audit_events").await, audit, "no event written");
}

async fn invalid_bearer_tokens_are_401_with_a_clear_code() {
    let app = TestApp::start().await;
    for value in [
        "Bearer lgp_nope",
        "Bearer ",
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "lgp_missing_scheme",
    ] {
        let resp = crate::harness::http()
            .get(app.url("/api/v1/me"))
            .header("authorization", value)
            .sent()
            .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{value}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]["code"] == "invalid_token" || body["error"]["code"] == "unauthenticated",
            "{body}"
        );
    }
}
