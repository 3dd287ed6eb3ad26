//! Several workspaces per app connection: an admin adds another workspace of the account
//! to the Databricks integration (checked like the first); a connection picks one of the
//! integration's workspaces — never a host only a user typed — and signs in, refreshes and
//! queries there alone: a workspace never sees another's tokens. Removing a workspace
//! removes the credentials issued there. On both backends.

use lakegate::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use warehouse_emulator::TokenPolicy;

use crate::harness::{Browser, Sent, TestApp, TestDb, Workspace};
use crate::shared_identities::send;

crate::on_each_backend!(a_connection_lives_on_the_workspace_it_picked);

const WH: &str = "abcdef1234567890";

/// Signs `b` in on `conn` at `ws`; the authorize URL must be that workspace's.
async fn sign_in(b: &Browser, ws: &Workspace, conn: &str) {
    let (_, link) = send(
        b,
        Method::POST,
        &format!("/api/v1/connections/{conn}/sign-in"),
        json!({}),
    )
    .await;
    let start = b
        .client
        .get(link["sign_in_url"].as_str().unwrap())
        .sent()
        .await;
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let authorize = url::Url::parse(start.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        authorize.as_str().starts_with(&ws.emu.base_url),
        "signed in at the connection's workspace: {authorize}"
    );
    let callback = ws
        .consent(&authorize, "alice@example.com", "alice", true)
        .await;
    let back = b.client.get(&callback).sent().await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
}

async fn runs(b: &Browser, conn: &str) -> Value {
    let (status, answer) = send(
        b,
        Method::POST,
        &format!("/api/v1/connections/{conn}/queries"),
        json!({"statement": "SELECT current_user()", "warehouse_id": WH}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn a_connection_lives_on_the_workspace_it_picked() {
    let db = TestDb::current().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut a = Workspace::start().await;
    a.register(&base, TokenPolicy::default());
    let b = a.sibling().await;
    let app = TestApp::spawn_on(&db, listener, Workspace::egress_for(&[&a, &b])).await;
    let org = app.org("acme").await;
    a.configure(&app, &org).await;
    app.user(&org, "root@acme.test", Role::Admin).await;
    let admin = app.browser(&org, "root@acme.test").await;
    let hosts = "/api/v1/integrations/databricks-oauth-u2m/hosts";

    // The admin adds workspace B; a host that is not a workspace is refused.
    let (status, body) = send(&admin, Method::POST, hosts, json!({"host": b.host()})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = send(&admin, Method::POST, hosts, json!({"host": b.host()})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "already on the list");
    let view = admin
        .get_json("/api/v1/integrations/databricks-oauth-u2m")
        .await;
    assert_eq!(view["additional_hosts"], json!([b.host()]));
    // The integration page lists it, with a way to remove it.
    let page = admin
        .page("/settings/advanced/integrations/databricks-oauth-u2m")
        .await;
    let removal = format!(
        "<input type=\"hidden\" name=\"host\" value=\"{}\">",
        b.host()
    );
    assert!(page.contains(&removal), "{page}");

    // A connection picks one of the integration's workspaces, never a typed host.
    app.user(&org, "ed@acme.test", Role::Editor).await;
    let ed = app.browser(&org, "ed@acme.test").await;
    let create = |host: String| json!({"name": "W", "provider": "databricks", "auth": "oauth-u2m", "host": host});
    let (status, body) = send(
        &ed,
        Method::POST,
        "/api/v1/connections",
        create("evil.example.com".into()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(app.count("connections").await, 0);
    let (_, on_b) = send(&ed, Method::POST, "/api/v1/connections", create(b.host())).await;
    let (_, on_a) = send(
        &ed,
        Method::POST,
        "/api/v1/connections",
        create(String::new()),
    )
    .await;
    let (on_a, on_b) = (on_a["id"].as_str().unwrap(), on_b["id"].as_str().unwrap());
    assert_eq!(
        ed.get_json(&format!("/api/v1/connections/{on_b}")).await["host"],
        b.host()
    );
    assert_eq!(
        ed.get_json(&format!("/api/v1/connections/{on_a}")).await["host"],
        a.host()
    );

    // Each signs in, refreshes and queries at its own workspace only.
    let (a_before, b_before) = (a.emu.counters(), b.emu.counters());
    sign_in(&ed, &b, on_b).await;
    assert_eq!(runs(&ed, on_b).await["rows"][0][0], "alice@example.com");
    let a_now = a.emu.counters();
    assert_eq!(
        (a_now.rest_calls, a_now.token_calls_authorization_code),
        (a_before.rest_calls, a_before.token_calls_authorization_code),
        "workspace A saw nothing of B's connection"
    );
    sign_in(&ed, &a, on_a).await;
    app.clock.advance(3_570);
    a.emu.advance_clock(3_570);
    b.emu.advance_clock(3_570);
    let b_mid = b.emu.counters();
    runs(&ed, on_a).await;
    let b_now = b.emu.counters();
    assert_eq!(
        (b_now.rest_calls, b_now.token_calls_refresh_token),
        (b_mid.rest_calls, b_mid.token_calls_refresh_token),
        "workspace B never saw A's tokens"
    );
    runs(&ed, on_b).await;
    assert_eq!(
        b.emu.counters().token_calls_refresh_token - b_before.token_calls_refresh_token,
        1,
        "B's credential refreshed at B"
    );

    // Removing B removes the credentials issued there; its connection cannot sign in.
    let path = format!("{hosts}/{}", b.host());
    let (status, _) = send(&admin, Method::DELETE, &path, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let cred = ed
        .get_json(&format!("/api/v1/connections/{on_b}/credential"))
        .await;
    assert_eq!(cred["status"], "not_signed_in");
    let (_, link) = send(
        &ed,
        Method::POST,
        &format!("/api/v1/connections/{on_b}/sign-in"),
        json!({}),
    )
    .await;
    let start = ed
        .client
        .get(link["sign_in_url"].as_str().unwrap())
        .sent()
        .await;
    assert_ne!(
        start.status(),
        StatusCode::SEE_OTHER,
        "no sign-in at a removed workspace"
    );
    assert_eq!(runs(&ed, on_a).await["rows"][0][0], "alice@example.com");
}
