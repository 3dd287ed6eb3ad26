//! Accounts, API tokens, audit and the service endpoints, through HTTP.

use lakegate::accounts::Role;
use lakegate::auth::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Sent, TestApp};

crate::on_each_backend!(
    every_admin_action_writes_exactly_one_audit_event,
    api_tokens_are_shown_once_stored_hashed_scoped_and_revocable,
    passwords_are_stored_as_argon2id_hashes,
    service_endpoints_answer,
    readiness_fails_when_migrations_are_pending,
    client_request_ids_are_kept_only_when_well_formed,
    admin_pages_render_and_viewers_see_no_admin_menu,
    the_token_page_shows_a_new_token_once,
);

async fn audit_actions(app: &TestApp, token: &str) -> Vec<String> {
    let body: Value = crate::harness::http()
        .get(app.url("/api/v1/audit?limit=1000"))
        .bearer_auth(token)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn every_admin_action_writes_exactly_one_audit_event() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let (token, _) = app.token(&admin, &[Scope::Admin]).await;
    let c = crate::harness::http();
    let before = audit_actions(&app, &token).await.len();

    let created: Value = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"email": "Bob@Acme.test", "role": "viewer", "password": "long-enough-pw", "display_name": "Bob"}))
        .sent().await
        .json()
        .await
        .unwrap();
    assert_eq!(
        created["email"], "bob@acme.test",
        "emails are stored lower-case"
    );
    assert!(created.get("password_hash").is_none());
    let id = created["id"].as_str().unwrap();
    let patched = c
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&token)
        .json(&json!({"role": "editor"}))
        .sent()
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let dup = c
        .post(app.url("/api/v1/users"))
        .bearer_auth(&token)
        .json(&json!({"email": "bob@acme.test", "role": "viewer", "password": "long-enough-pw"}))
        .sent()
        .await;
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    let deleted = c
        .delete(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(&token)
        .sent()
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let actions = audit_actions(&app, &token).await;
    assert_eq!(actions.len() - before, 3, "{actions:?}");
    assert_eq!(&actions[..3], ["user.delete", "user.update", "user.create"]);
    let body: Value = c
        .get(app.url("/api/v1/audit?action=user.update"))
        .bearer_auth(&token)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let event = &body["events"][0];
    assert_eq!(event["details"]["role"], "editor");
    assert_eq!(event["client_ip"], "127.0.0.1");
    assert!(event["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(
        event["actor"]
            .as_str()
            .unwrap()
            .starts_with(&format!("user:{}", admin.id))
    );
}

async fn api_tokens_are_shown_once_stored_hashed_scoped_and_revocable() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let editor = app
        .user_with(&org, "ed@acme.test", Role::Editor, false)
        .await;
    let b = app.session_for(&editor).await;
    let created: Value = b
        .client
        .post(b.url("/api/v1/tokens"))
        .header("x-csrf-token", &b.csrf)
        .json(&json!({"name": "ci", "scopes": ["connections:read"], "expires_in_days": 7}))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("lgp_"));
    assert_eq!(created["scopes"], json!(["connections:read"]));
    let (hash, prefix): (String, String) =
        sqlx::query_as("SELECT token_hash, prefix FROM api_tokens")
            .fetch_one(&app.pool())
            .await
            .unwrap();
    assert_ne!(hash, secret);
    assert!(secret.starts_with(&prefix) && prefix.len() < 16);

    let listed: Value = b.get_json("/api/v1/tokens").await;
    assert!(
        listed[0].get("token").is_none(),
        "listing never shows the secret"
    );
    assert_eq!(listed[0]["last_used_at"], Value::Null);

    // The token works, records its use, and cannot mint a broader token.
    let c = crate::harness::http();
    assert_eq!(
        c.get(app.url("/api/v1/me"))
            .bearer_auth(&secret)
            .sent()
            .await
            .status(),
        StatusCode::OK
    );
    let listed: Value = b.get_json("/api/v1/tokens").await;
    assert!(listed[0]["last_used_at"].is_string());
    let escalate = c
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&secret)
        .json(&json!({"name": "x", "scopes": ["queries:run"]}))
        .sent()
        .await;
    assert_eq!(escalate.status(), StatusCode::FORBIDDEN);
    // A viewer-level role cannot be given an admin scope at all.
    let too_much = b
        .client
        .post(b.url("/api/v1/tokens"))
        .header("x-csrf-token", &b.csrf)
        .json(&json!({"name": "x", "scopes": ["admin"]}))
        .sent()
        .await;
    assert_eq!(too_much.status(), StatusCode::BAD_REQUEST);

    let id = created["id"].as_str().unwrap();
    let revoked = b
        .client
        .delete(b.url(&format!("/api/v1/tokens/{id}")))
        .header("x-csrf-token", &b.csrf)
        .sent()
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        c.get(app.url("/api/v1/me"))
            .bearer_auth(&secret)
            .sent()
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Expiry follows the injected clock.
    let (short, _) = app.token(&editor, &[Scope::ConnectionsRead]).await;
    app.clock.advance(31 * 86_400);
    assert_eq!(
        c.get(app.url("/api/v1/me"))
            .bearer_auth(&short)
            .sent()
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn passwords_are_stored_as_argon2id_hashes() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    app.user(&org, "a@acme.test", Role::Viewer).await;
    let (hash,): (String,) = sqlx::query_as("SELECT password_hash FROM users")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(crate::harness::PASSWORD));
}

async fn service_endpoints_answer() {
    let app = TestApp::start().await;
    let c = crate::harness::anonymous();
    assert_eq!(
        c.get(app.url("/healthz")).sent().await.status(),
        StatusCode::OK
    );
    let ready = c.get(app.url("/readyz")).sent().await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert!(ready.headers().contains_key("x-request-id"));
    let metrics = c
        .get(app.url("/metrics"))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "lakegate_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    let doc: Value = c
        .get(app.url("/api/openapi.json"))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(
        doc["paths"]["/api/v1/users/{id}"]["patch"]["security"]
            .to_string()
            .contains("admin")
    );
    assert!(doc["paths"]["/api/openapi.json"]["get"].is_object());
    // Request bodies are described by the schema of the type the handler reads.
    let body = &doc["paths"]["/api/v1/connections/{id}/queries"]["post"]["requestBody"];
    assert_eq!(body["required"], true);
    let schema = &body["content"]["application/json"]["schema"];
    assert_eq!(schema["required"], json!(["statement"]));
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema["properties"]["parameters"]["items"]["properties"]["name"].is_object());
    let role = &doc["paths"]["/api/v1/users"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"]["properties"]["role"];
    assert!(role.to_string().contains("viewer"), "{role}");
    assert!(
        !doc.to_string().contains("#/$defs"),
        "sub-schemas are inlined"
    );
    assert_eq!(
        doc["paths"]["/api/v1/connections/{id}/access-token"]["post"]["requestBody"]["required"],
        false
    );
    // Every operation declares its success answers with their schemas; 204s have no body.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let successes: Vec<&String> = responses.keys().filter(|k| k.starts_with('2')).collect();
            assert!(!successes.is_empty(), "{method} {path} declares no success");
            for status in successes {
                let content = &responses[status]["content"];
                if status == "204" {
                    assert!(content.is_null(), "{method} {path}: a 204 has no body");
                } else {
                    assert!(
                        content.is_object(),
                        "{method} {path} {status} has no schema"
                    );
                }
            }
            assert!(responses.contains_key("default"), "{method} {path}");
        }
    }
    let created = &doc["paths"]["/api/v1/users"]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"];
    assert!(created["properties"]["email"].is_object(), "{created}");
    let results = &doc["paths"]["/api/v1/queries/{id}"]["get"]["responses"];
    for media in ["application/json", "application/x-ndjson", "text/csv"] {
        assert!(results["200"]["content"][media].is_object(), "{media}");
    }
    assert!(
        results["202"]["content"]["application/json"]["schema"]["properties"]["poll"].is_object()
    );
    let audit_params = doc["paths"]["/api/v1/audit"]["get"]["parameters"].to_string();
    assert!(audit_params.contains("\"limit\""), "{audit_params}");
    let page = c.get(app.url("/login")).sent().await;
    let headers = page.headers();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

async fn readiness_fails_when_migrations_are_pending() {
    let db = crate::harness::TestDb::empty(lakegate::store::Backend::Sqlite)
        .await
        .unwrap();
    let app = TestApp::spawn(&db).await;
    let resp = crate::harness::http().get(app.url("/readyz")).sent().await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

async fn client_request_ids_are_kept_only_when_well_formed() {
    let app = TestApp::start().await;
    let c = crate::harness::http();
    let kept = c
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .sent()
        .await;
    assert_eq!(kept.headers()["x-request-id"], "abc-123");
    let replaced = c
        .get(app.url("/healthz"))
        .header("x-request-id", "evil\tlog line")
        .sent()
        .await;
    assert_ne!(replaced.headers()["x-request-id"], "evil\tlog line");
}

async fn admin_pages_render_and_viewers_see_no_admin_menu() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let viewer = app
        .user_with(&org, "viewer@acme.test", Role::Viewer, false)
        .await;
    let a = app.session_for(&admin).await;
    for path in [
        "/",
        "/settings/users",
        "/settings/api-tokens",
        "/settings/activity",
    ] {
        let resp = a.client.get(a.url(path)).sent().await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("href=\"/settings/users\""),
            "{path}: admin menu"
        );
    }
    let v = app.session_for(&viewer).await;
    let home = v.page("/").await;
    assert!(!home.contains("href=\"/settings/users\""));
    assert!(!home.contains("href=\"/settings/activity\""));
    assert_eq!(v.status("/settings/users").await, StatusCode::FORBIDDEN);
}

async fn the_token_page_shows_a_new_token_once() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let editor = app
        .user_with(&org, "ed@acme.test", Role::Editor, false)
        .await;
    let b = app.session_for(&editor).await;
    let resp = b
        .client
        .post(b.url("/settings/api-tokens"))
        .form(&[
            ("name", "svc"),
            ("scope", "queries:run"),
            ("expires_in_days", "30"),
            ("csrf_token", &b.csrf),
        ])
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let html = resp.text().await.unwrap();
    let start = html.find("lgp_").unwrap();
    let token: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert_eq!(
        crate::harness::http()
            .get(app.url("/api/v1/me"))
            .bearer_auth(&token)
            .sent()
            .await
            .status(),
        StatusCode::OK
    );
    let again = b.page("/settings/api-tokens").await;
    assert!(!again.contains(&token));
}
