//! Canaries: secrets passed through every code path never appear in the logs (captured at
//! trace level), in responses and pages other than the one that hands each out by design,
//! or in any text or binary column of any table. The first test covers passwords and API
//! tokens; the second every secret of a warehouse connection: the client secret, access
//! and refresh tokens (before and after a rotation), the authorization code, `state`, the
//! PKCE verifier, the session cookie, the sign-in ticket and query parameter values.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Sent, TestApp, hidden_field};

crate::on_each_backend!(
    secrets_never_reach_logs_responses_or_stored_rows,
    connection_secrets_never_reach_logs_responses_pages_or_rows,
);

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

    let stored = every_stored_value(&app).await;

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

/// Every text and binary value of every table (binary as lossy text: a secret stored in
/// clear inside a blob shows up too), so a new table or column is covered without editing
/// this test.
pub(crate) async fn every_stored_value(app: &TestApp) -> String {
    use sqlx::Row;
    let pool = app.pool();
    let tables = match app.store.backend() {
        lakegate::store::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        lakegate::store::Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let tables: Vec<(String,)> = sqlx::query_as(tables).fetch_all(&pool).await.unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    let mut out = String::new();
    for (table,) in tables.into_iter().filter(|(t,)| !t.starts_with("_sqlx")) {
        let sql = sqlx::AssertSqlSafe(format!("SELECT * FROM {table}"));
        for row in sqlx::query(sql).fetch_all(&pool).await.unwrap() {
            for (i, _) in row.columns().iter().enumerate() {
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    out.push_str(&text);
                } else if let Ok(Some(bytes)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
                out.push('\n');
            }
        }
    }
    out
}

const CANARY_PARAM: &str = "CANARY-PARAM-5e0a";

/// Opens an encrypted column of the store, as Lakegate would.
async fn open(
    app: &TestApp,
    org: &str,
    table: &str,
    row: &str,
    column: &str,
    blob: &[u8],
) -> String {
    let binding = lakegate::crypto::envelope::Binding {
        org_id: org,
        table,
        row_id: row,
        column,
    };
    let plain = app
        .state
        .keyring
        .open(&app.store, binding, blob)
        .await
        .unwrap();
    String::from_utf8(plain.to_vec()).unwrap()
}

pub(crate) async fn credential_tokens(
    app: &TestApp,
    org: &str,
    conn: &str,
    user: &str,
) -> [String; 2] {
    let c = app.store.credential(conn, user).await.unwrap().unwrap();
    [
        open(
            app,
            org,
            "credentials",
            &c.id,
            "access_token",
            &c.access_token_enc,
        )
        .await,
        open(
            app,
            org,
            "credentials",
            &c.id,
            "refresh_token",
            &c.refresh_token_enc,
        )
        .await,
    ]
}

async fn connection_secrets_never_reach_logs_responses_pages_or_rows() {
    let s = crate::world::setup_with(warehouse_emulator::TokenPolicy {
        enable_single_use_refresh_tokens: true,
        ..Default::default()
    })
    .await;
    let app = &s.app;
    let admin = app
        .user_with(&s.org, "admin@acme.test", Role::Admin, false)
        .await;
    let (a, admin_cookie) = app.session_with_cookie(&admin).await;
    let editor = app
        .user_with(&s.org, "ed@acme.test", Role::Editor, false)
        .await;
    let (b, editor_cookie) = app.session_with_cookie(&editor).await;
    let mut secrets: Vec<(&str, String)> = vec![
        ("client secret", s.ws.client_secret.clone()),
        ("admin session cookie", admin_cookie),
        ("editor session cookie", editor_cookie),
        ("query parameter value", CANARY_PARAM.to_owned()),
    ];
    // (what the response is, its status and body); some hand one secret out by design.
    let mut responses: Vec<(String, String, Option<String>)> = Vec::new();

    // The admin saves the client secret through the API, the form, and a bad request.
    let put = |body: serde_json::Value| {
        a.client
            .put(a.url("/api/v1/integrations/databricks-oauth-u2m"))
            .header("x-csrf-token", &a.csrf)
            .json(&body)
    };
    for body in [
        json!({"host": s.ws.host(), "client_id": s.ws.client_id, "client_secret": s.ws.client_secret}),
        json!({"host": s.ws.host(), "client_id": s.ws.client_id, "client_secret": s.ws.client_secret, "bogus": 1}),
        json!({"host": "evil.example", "client_id": s.ws.client_id, "client_secret": s.ws.client_secret}),
    ] {
        let r = put(body).sent().await;
        responses.push((
            "integration PUT".into(),
            format!("{} {}", r.status(), r.text().await.unwrap()),
            None,
        ));
    }
    let r = a
        .client
        .post(a.url("/settings/advanced/integrations/databricks-oauth-u2m"))
        .form(&[
            ("client_id", s.ws.client_id.as_str()),
            ("client_secret", s.ws.client_secret.as_str()),
            ("host", &s.ws.host()),
            ("scopes", "all-apis offline_access"),
            ("csrf_token", &a.csrf),
        ])
        .sent()
        .await;
    let status = r.status();
    let page = r.text().await.unwrap();
    assert_eq!(status, StatusCode::SEE_OTHER, "page: {page:?}");

    // The editor signs in to Databricks: ticket, state, verifier and code pass by.
    let conn = s.connection(&b, false).await;
    let link = b
        .client
        .post(b.url(&format!("/api/v1/connections/{conn}/sign-in")))
        .header("x-csrf-token", &b.csrf)
        .sent()
        .await
        .text()
        .await
        .unwrap();
    let sign_in_url = serde_json::from_str::<serde_json::Value>(&link).unwrap()["sign_in_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let ticket = url::Url::parse(&sign_in_url)
        .unwrap()
        .query_pairs()
        .map(|(_, v)| v.into_owned())
        .max_by_key(String::len)
        .unwrap();
    responses.push(("sign-in link".into(), link, Some(ticket.clone())));
    secrets.push(("sign-in ticket", ticket));
    let started = b.client.get(&sign_in_url).sent().await;
    let authorize = url::Url::parse(started.headers()["location"].to_str().unwrap()).unwrap();
    let state = crate::harness::query_param(authorize.as_str(), "state").unwrap();
    let (state_hash, verifier_enc): (String, Vec<u8>) =
        sqlx::query_as("SELECT state_hash, verifier_enc FROM oauth_flows")
            .fetch_one(&app.pool())
            .await
            .unwrap();
    secrets.push((
        "PKCE verifier",
        open(
            app,
            &s.org.id,
            "oauth_flows",
            &state_hash,
            "verifier",
            &verifier_enc,
        )
        .await,
    ));
    secrets.push(("state", state));
    let callback = s
        .consent(&authorize, "alice@example.com", "alice", true)
        .await;
    let code = crate::harness::query_param(&callback, "code").unwrap();
    secrets.push(("authorization code", code));
    let done = b.client.get(&callback).sent().await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let [access, refresh] = credential_tokens(app, &s.org.id, &conn, &editor.id).await;
    secrets.push(("access token", access.clone()));
    secrets.push(("refresh token", refresh));

    // The token is vended (the one response carrying it), then refreshed and rotated.
    let r = b
        .client
        .post(b.url(&format!("/api/v1/connections/{conn}/access-token")))
        .header("x-csrf-token", &b.csrf)
        .sent()
        .await;
    responses.push(("vend".into(), r.text().await.unwrap(), Some(access)));
    s.advance(3600 - 200);
    let r = b
        .client
        .get(b.url(&format!("/api/v1/connections/{conn}/warehouses")))
        .sent()
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    responses.push(("warehouses".into(), r.text().await.unwrap(), None));
    assert_eq!(s.ws.emu.counters().refresh_rotations, 1);
    let [access2, refresh2] = credential_tokens(app, &s.org.id, &conn, &editor.id).await;
    secrets.push(("rotated access token", access2));
    secrets.push(("rotated refresh token", refresh2));

    // A query whose parameter value is a secret (not echoed by the statement).
    let r = b
        .client
        .post(b.url(&format!("/api/v1/connections/{conn}/queries")))
        .header("x-csrf-token", &b.csrf)
        .json(&json!({
            "statement": "SELECT count(*) AS n FROM samples.nyctaxi.trips WHERE pickup_zip = :zip",
            "parameters": [{"name": "zip", "value": CANARY_PARAM}],
            "warehouse_id": "abcdef1234567890",
        }))
        .sent()
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    responses.push(("query".into(), r.text().await.unwrap(), None));

    // Every page and listing that shows these objects.
    let mut last_request_id = String::new();
    for (who, path) in [
        (&b, format!("/connections/{conn}")),
        (&b, "/connections".to_owned()),
        (&b, "/queries".to_owned()),
        (&b, "/api/v1/queries".to_owned()),
        (&b, format!("/api/v1/connections/{conn}")),
        (&b, format!("/api/v1/connections/{conn}/credential")),
        (&a, "/settings/advanced/integrations".to_owned()),
        (
            &a,
            "/settings/advanced/integrations/databricks-oauth-u2m".to_owned(),
        ),
        (&a, "/api/v1/integrations/databricks-oauth-u2m".to_owned()),
        (&a, "/settings/activity".to_owned()),
        (&a, "/api/v1/audit".to_owned()),
        (&a, "/metrics".to_owned()),
    ] {
        let r = who.client.get(who.url(&path)).sent().await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        last_request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        responses.push((path, r.text().await.unwrap(), None));
    }

    let stored = every_stored_value(app).await;
    let logs = crate::harness::captured_logs();
    assert!(
        logs.contains(&last_request_id),
        "the capture holds this test's requests"
    );
    assert_absent(&secrets, &logs, &stored, &responses);
}

/// Each secret (at least 8 characters, to be searchable) is absent from the logs, from the
/// stored rows, and from every response but the one that hands it out by design.
pub(crate) fn assert_absent(
    secrets: &[(&str, String)],
    logs: &str,
    stored: &str,
    responses: &[(String, String, Option<String>)],
) {
    for (what, secret) in secrets {
        assert!(
            secret.len() >= 8,
            "{what}: {secret:?} is too short to search for"
        );
        assert!(
            !logs.contains(secret.as_str()),
            "the {what} leaked into the logs"
        );
        assert!(
            !stored.contains(secret.as_str()),
            "the {what} is stored in clear"
        );
        for (response, body, handed_out) in responses {
            if handed_out.as_deref() != Some(secret.as_str()) {
                assert!(
                    !body.contains(secret.as_str()),
                    "the {what} leaked into the {response} response"
                );
            }
        }
    }
}
