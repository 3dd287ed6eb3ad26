//! Connect sessions: a platform's backend opens a one-time link for one of its end users;
//! the browser that opens it signs that user in to Databricks and lands back on the
//! platform's allowed `return_url` with the outcome. Single use, short-lived, bound to its
//! end user, its browser and its return URL; nothing else is ever a redirect target.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Browser, Sent, cookie_browser as end_user_browser, http, query_param};
use crate::world::{Setup, setup};

crate::on_each_backend!(
    a_connect_session_signs_the_end_user_in_and_returns_to_the_platform,
    a_denial_or_failure_reaches_the_platform_as_its_status,
    return_urls_off_the_allow_list_are_refused_and_change_nothing,
    a_session_is_single_use_short_lived_and_bound_to_its_browser,
    sessions_reach_only_the_keys_org_its_live_users_and_their_connections,
    an_origin_removed_meanwhile_keeps_the_browser_on_lakegate,
);

const ORIGIN: &str = "https://app.example.com";

/// The platform: an admin session, allowed origins, a key and an end user `cust-7`.
struct Platform {
    s: Setup,
    admin: Browser,
    key: String,
}

async fn platform() -> Platform {
    let s = setup().await;
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let resp = admin
        .client
        .patch(admin.url("/api/v1/org"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"allowed_return_origins": [ORIGIN, "http://127.0.0.1:9"]}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let key = key_with(
        &admin,
        &["users:write", "connect:write", "connections:read"],
    )
    .await;
    let p = Platform { s, admin, key };
    p.end_user("cust-7", "editor").await;
    p
}

async fn key_with(admin: &Browser, scopes: &[&str]) -> String {
    let created: Value = admin
        .client
        .post(admin.url("/api/v1/service-keys"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"name": "Platform backend", "scopes": scopes}))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    created["key"].as_str().unwrap().to_owned()
}

impl Platform {
    async fn end_user(&self, ext: &str, role: &str) -> Value {
        let resp = http()
            .put(
                self.s
                    .app
                    .url(&format!("/api/v1/users/by-external-id/{ext}")),
            )
            .bearer_auth(&self.key)
            .json(&json!({"email": format!("{ext}@customer.example"), "role": role}))
            .sent()
            .await;
        assert!(resp.status().is_success());
        resp.json().await.unwrap()
    }

    async fn open(&self, key: &str, body: Value) -> (StatusCode, Value) {
        let resp = http()
            .post(self.s.app.url("/api/v1/connect-sessions"))
            .bearer_auth(key)
            .json(&body)
            .sent()
            .await;
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }

    /// A session for `cust-7` on a new connection returning to `return_url`.
    async fn session(&self, return_url: &str) -> Value {
        let (status, link) = self
            .open(
                &self.key,
                json!({
                    "external_user_id": "cust-7",
                    "connection": {"name": "Warehouse", "provider": "databricks", "auth": "oauth-u2m"},
                    "return_url": return_url,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{link}");
        link
    }

    /// Opens the link in `browser`: the Databricks authorize URL.
    async fn authorize(&self, browser: &reqwest::Client, link: &Value) -> url::Url {
        let resp = browser.get(link["url"].as_str().unwrap()).sent().await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// Consents (or not) and follows the callback in `browser`: where it sends the browser.
    async fn finish(&self, browser: &reqwest::Client, link: &Value, allow: bool) -> String {
        let authorize = self.authorize(browser, link).await;
        let callback = self
            .s
            .consent(&authorize, "alice@example.com", "alice", allow)
            .await;
        let resp = browser.get(&callback).sent().await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    async fn count(&self, table: &'static str) -> i64 {
        self.s.app.count(table).await
    }
}

async fn a_connect_session_signs_the_end_user_in_and_returns_to_the_platform() {
    let p = platform().await;
    let link = p
        .session(&format!("{ORIGIN}/integrations/done?tab=2"))
        .await;
    let conn = link["connection_id"].as_str().unwrap().to_owned();
    let expires = time::OffsetDateTime::parse(
        link["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(expires.unix_timestamp(), p.s.app.clock_now() + 600);

    let browser = end_user_browser();
    let landed = p.finish(&browser, &link, true).await;
    assert_eq!(
        landed,
        format!("{ORIGIN}/integrations/done?tab=2&connection_id={conn}&status=connected")
    );

    // The credential is the end user's: the key, acting for them, sees it connected.
    let status: Value = http()
        .get(
            p.s.app
                .url(&format!("/api/v1/connections/{conn}/credential")),
        )
        .bearer_auth(&p.key)
        .header("lakegate-user", "cust-7")
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "active", "{status}");
    assert_eq!(status["databricks_user_name"], "alice@example.com");
    let audit = p
        .admin
        .get_json("/api/v1/audit?action=connect_session.create")
        .await;
    assert_eq!(
        audit["events"][0]["actor"], "service:Platform backend",
        "{audit}"
    );
    assert_eq!(audit["events"][0]["target"], conn.as_str());
}

async fn a_denial_or_failure_reaches_the_platform_as_its_status() {
    let p = platform().await;
    let link = p.session(&format!("{ORIGIN}/back")).await;
    let landed = p.finish(&end_user_browser(), &link, false).await;
    assert!(
        landed.starts_with(&format!("{ORIGIN}/back?connection_id=")),
        "{landed}"
    );
    assert_eq!(query_param(&landed, "status").as_deref(), Some("denied"));
    assert_eq!(query_param(&landed, "reason").as_deref(), Some("cancelled"));

    // The workspace refuses the code (here, one it never issued): a failure, with its reason.
    let link = p.session(&format!("{ORIGIN}/back")).await;
    let browser = end_user_browser();
    let authorize = p.authorize(&browser, &link).await;
    let mut callback = url::Url::parse(
        &p.s.consent(&authorize, "alice@example.com", "alice", true)
            .await,
    )
    .unwrap();
    let forged: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" {
                "not-a-code".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(forged);
    let resp = browser.get(callback.as_str()).sent().await;
    let landed = resp.headers()["location"].to_str().unwrap();
    assert_eq!(
        query_param(landed, "status").as_deref(),
        Some("failed"),
        "{landed}"
    );
    assert_eq!(
        query_param(landed, "reason").as_deref(),
        Some("invalid_grant")
    );
    assert_eq!(p.count("credentials").await, 0);
}

async fn return_urls_off_the_allow_list_are_refused_and_change_nothing() {
    let p = platform().await;
    let (connections, tickets) = (
        p.count("connections").await,
        p.count("sign_in_tickets").await,
    );
    for bad in [
        "https://app.example.com.evil.test/back",
        "https://evil.test/?next=https://app.example.com",
        "http://app.example.com/back",
        "https://app.example.com:8443/back",
        "https://user@app.example.com/back",
        "https://app.example.com/back#fragment",
        "javascript:alert(1)",
        "/back",
    ] {
        let (status, body) = p
            .open(
                &p.key,
                json!({
                    "external_user_id": "cust-7",
                    "connection": {"name": "W", "provider": "databricks", "auth": "oauth-u2m"},
                    "return_url": bad,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(p.count("connections").await, connections);
    assert_eq!(p.count("sign_in_tickets").await, tickets);

    // Origins themselves are checked: no paths, no plain http beyond loopback.
    for bad in [
        "https://app.example.com/path",
        "http://app.example.com",
        "*",
    ] {
        let resp = p
            .admin
            .client
            .patch(p.admin.url("/api/v1/org"))
            .header("x-csrf-token", &p.admin.csrf)
            .json(&json!({"allowed_return_origins": [bad]}))
            .sent()
            .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let org = p.admin.get_json("/api/v1/org").await;
    assert_eq!(
        org["allowed_return_origins"],
        json!([ORIGIN, "http://127.0.0.1:9"])
    );
}

async fn a_session_is_single_use_short_lived_and_bound_to_its_browser() {
    let p = platform().await;
    // Used once; a second opening is refused.
    let link = p.session(&format!("{ORIGIN}/back")).await;
    let browser = end_user_browser();
    p.authorize(&browser, &link).await;
    let again = browser.get(link["url"].as_str().unwrap()).sent().await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);

    // Expired after ten minutes, unopened.
    let link = p.session(&format!("{ORIGIN}/back")).await;
    p.s.advance(601);
    let late = end_user_browser()
        .get(link["url"].as_str().unwrap())
        .sent()
        .await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);

    // Opened in one browser, its callback in another: refused, and nothing is stored.
    let link = p.session(&format!("{ORIGIN}/back")).await;
    let authorize = p.authorize(&end_user_browser(), &link).await;
    let callback =
        p.s.consent(&authorize, "alice@example.com", "alice", true)
            .await;
    let elsewhere = end_user_browser().get(&callback).sent().await;
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    assert!(elsewhere.headers().get("location").is_none());
    assert_eq!(p.count("credentials").await, 0);

    // A browser signed in to Lakegate as someone else cannot finish the end user's session.
    let link = p.session(&format!("{ORIGIN}/back")).await;
    let authorize = p.authorize(&p.admin.client, &link).await;
    let callback =
        p.s.consent(&authorize, "alice@example.com", "alice", true)
            .await;
    let resp = p.admin.client.get(&callback).sent().await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(p.count("credentials").await, 0);
}

async fn sessions_reach_only_the_keys_org_its_live_users_and_their_connections() {
    let p = platform().await;
    let body = |ext: &str, conn: Value| {
        let mut b = json!({"external_user_id": ext, "return_url": format!("{ORIGIN}/back")});
        b.as_object_mut()
            .unwrap()
            .extend(conn.as_object().unwrap().clone());
        b
    };
    let new_conn =
        json!({"connection": {"name": "W", "provider": "databricks", "auth": "oauth-u2m"}});

    // Another org's end user is unknown to this key.
    let other = p.s.app.org("other").await;
    let actor = lakegate::audit::Actor::cli(Some(other.id.clone()));
    let input = lakegate::accounts::service::ExternalUser {
        email: Some("x@other.example".into()),
        display_name: None,
        role: None,
    };
    p.s.app
        .state
        .services
        .accounts
        .upsert_external(&actor, &other, "cust-other", input)
        .await
        .unwrap();
    let (status, _) = p.open(&p.key, body("cust-other", new_conn.clone())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Someone else's private connection is "not found" for this end user.
    let ed = p.s.user("ed@acme.test", Role::Editor).await;
    let private = p.s.connection(&ed, false).await;
    let (status, _) = p
        .open(&p.key, body("cust-7", json!({"connection_id": private})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A shared one is theirs to use.
    let shared = p.s.connection(&ed, true).await;
    let (status, link) = p
        .open(&p.key, body("cust-7", json!({"connection_id": shared})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    assert_eq!(link["connection_id"], shared.as_str());

    // Neither or both, a viewer creating, a disabled user, a key without the scope.
    let (status, _) = p.open(&p.key, body("cust-7", json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let both = json!({"connection_id": shared, "connection": new_conn["connection"]});
    assert_eq!(
        p.open(&p.key, body("cust-7", both)).await.0,
        StatusCode::BAD_REQUEST
    );
    p.end_user("cust-viewer", "viewer").await;
    let (status, _) = p.open(&p.key, body("cust-viewer", new_conn.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let disabled =
        p.s.app
            .find_user(&p.s.org.id, "cust-viewer@customer.example")
            .await;
    let resp = p
        .admin
        .client
        .patch(p.admin.url(&format!("/api/v1/users/{}", disabled.id)))
        .header("x-csrf-token", &p.admin.csrf)
        .json(&json!({"disabled": true}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, _) = p
        .open(
            &p.key,
            body("cust-viewer", json!({"connection_id": shared})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let narrow = key_with(&p.admin, &["users:write"]).await;
    let (status, _) = p.open(&narrow, body("cust-7", new_conn)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn an_origin_removed_meanwhile_keeps_the_browser_on_lakegate() {
    let p = platform().await;
    let link = p.session(&format!("{ORIGIN}/back")).await;
    let resp = p
        .admin
        .client
        .patch(p.admin.url("/api/v1/org"))
        .header("x-csrf-token", &p.admin.csrf)
        .json(&json!({"allowed_return_origins": []}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let landed = p.finish(&end_user_browser(), &link, true).await;
    let conn = link["connection_id"].as_str().unwrap();
    assert_eq!(landed, format!("/connections/{conn}?signin=ok"));
}
