//! The admin's part of BigQuery: the integration form shows Google Cloud's steps and the
//! redirect URI, takes only a client (no host: Google's endpoints are fixed) checked with
//! Google, and a default billing project new connections start with. On both backends.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::GoogleClientConfig;

use crate::bigquery_connect::{CLIENT_ID, SECRET};
use crate::harness::Sent;
use crate::snowflake_connect::post;
use crate::world::setup;

crate::on_each_backend!(the_admin_page_shows_googles_steps_and_saves_only_a_client);

async fn the_admin_page_shows_googles_steps_and_saves_only_a_client() {
    let s = setup().await;
    s.ws.emu.register_google_client(GoogleClientConfig {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![s.app.url("/connections/oauth/bigquery/callback")],
        testing: false,
    });
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let path = "/settings/advanced/integrations/bigquery-oauth";
    let page = admin.page(path).await;
    assert!(
        page.contains(&s.app.url("/connections/oauth/bigquery/callback")),
        "the redirect URI to copy"
    );
    assert!(
        page.contains("Testing") && page.contains("7 days"),
        "the publishing-status warning"
    );
    assert!(
        !page.contains("name=\"host\""),
        "no host: Google's endpoints are fixed"
    );
    let form = |secret: &'static str| {
        let req = admin.client.post(admin.url(path)).form(&[
            ("csrf_token", admin.csrf.as_str()),
            ("client_id", CLIENT_ID),
            ("client_secret", secret),
        ]);
        async move { req.sent().await }
    };
    let refused = form("wrong").await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Google answered invalid_client")
    );
    let saved = form(SECRET).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let view = admin.get_json("/api/v1/integrations/bigquery-oauth").await;
    assert_eq!(
        (view["configured"].as_bool(), view["client_id"].as_str()),
        (Some(true), Some(CLIENT_ID))
    );
    assert!(
        !admin.page(path).await.contains(SECRET),
        "the secret is never shown"
    );
    // A default billing project: new connections start with it; other providers refuse it.
    let resp = admin
        .client
        .put(admin.url("/api/v1/integrations/bigquery-oauth"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"client_id": CLIENT_ID, "default_project": "lakegate-samples"}))
        .sent()
        .await;
    let view: Value = resp.json().await.unwrap();
    assert_eq!(view["default_project"], "lakegate-samples", "{view}");
    let (_, conn) = post(
        &admin,
        "/api/v1/connections",
        json!({"name": "D", "provider": "bigquery", "auth": "oauth"}),
    )
    .await;
    assert_eq!(conn["warehouse_id"], "lakegate-samples", "{conn}");
    assert!(
        admin
            .page(path)
            .await
            .contains("value=\"lakegate-samples\""),
        "the form shows it"
    );
    let resp = admin
        .client
        .put(admin.url("/api/v1/integrations/snowflake-oauth"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"host": "acct", "client_id": "c", "default_project": "p"}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // An empty secret is a mistake, not "keep the stored one" (leaving it out is).
    let resp = admin
        .client
        .put(admin.url("/api/v1/integrations/bigquery-oauth"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"client_id": CLIENT_ID, "client_secret": " "}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // An admin cannot point BigQuery anywhere else.
    let resp = admin
        .client
        .put(admin.url("/api/v1/integrations/bigquery-oauth"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"host": "evil.example", "client_id": CLIENT_ID}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
