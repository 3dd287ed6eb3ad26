//! A Snowflake connection end to end against the emulated account, on both backends: the
//! admin saves the integration through the API, an editor creates a connection, signs in
//! on Snowflake's pages with the role, and runs SQL and vends a token as themselves;
//! the token is renewed without rotation (Snowflake keeps its refresh token).

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::SnowflakeIntegrationConfig;

use crate::harness::{Browser, Sent, hidden_field};
use crate::world::{Setup, setup};

crate::on_each_backend!(
    an_editor_connects_to_snowflake_and_queries_as_themselves,
    a_connection_signs_in_with_its_own_role,
    the_new_connection_page_offers_snowflake_with_a_role,
    the_admin_page_shows_the_sql_to_run_and_saves_what_snowflake_gives_back,
);

const CLIENT_ID: &str = "aB+c/dEf=";
const SECRET: &str = "s3+cr/et==";

/// Signs in on the emulated account's pages and allows: where Snowflake sends the browser.
pub(crate) async fn snowflake_consent(
    s: &Setup,
    authorize: &str,
    who: (&str, &str),
    role: &str,
) -> String {
    snowflake_decide(s, authorize, who, role, "allow").await
}

/// Signs in on the emulated account's pages and answers the consent page with `decision`
/// (`allow` or `deny`): where Snowflake sends the browser.
pub(crate) async fn snowflake_decide(
    s: &Setup,
    authorize: &str,
    (email, password): (&str, &str),
    role: &str,
    decision: &str,
) -> String {
    let emu = s.ws.browser();
    let page = emu.get(authorize).sent().await.text().await.unwrap();
    let request = hidden_field(&page, "request");
    let base = s.ws.emu.base_url.clone();
    let login = emu
        .post(format!("{base}/oauth/authorize/login"))
        .form(&[
            ("request", request.as_str()),
            ("email", email),
            ("password", password),
        ])
        .sent()
        .await;
    let consent = login.text().await.unwrap();
    assert!(
        consent.contains(&format!("id=\"role\">{role}<")),
        "the consent page names the role {role}"
    );
    let done = emu
        .post(format!("{base}/oauth/authorize/consent"))
        .form(&[("request", request.as_str()), ("decision", decision)])
        .sent()
        .await;
    done.headers()["location"].to_str().unwrap().to_owned()
}

/// Opens the connection's one-time sign-in link in `b`: the authorize URL Snowflake gets.
pub(crate) async fn authorize_url(b: &Browser, conn: &str) -> String {
    let (_, link) = post(b, &format!("/api/v1/connections/{conn}/sign-in"), json!({})).await;
    let start = b
        .client
        .get(link["sign_in_url"].as_str().unwrap())
        .sent()
        .await;
    start.headers()["location"].to_str().unwrap().to_owned()
}

pub(crate) async fn post(b: &Browser, path: &str, body: Value) -> (StatusCode, Value) {
    let resp = b
        .client
        .post(b.url(path))
        .header("x-csrf-token", &b.csrf)
        .json(&body)
        .sent()
        .await;
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

/// The emulated account's security integration, redirecting to this app's callback.
fn register(s: &Setup) {
    register_with(s, false);
}

/// The same, in single-use refresh token mode when `single_use`.
pub(crate) fn register_with(s: &Setup, single_use: bool) {
    s.ws.emu
        .register_snowflake_integration(SnowflakeIntegrationConfig {
            name: "LAKEGATE".into(),
            client_id: CLIENT_ID.into(),
            client_secret: SECRET.into(),
            redirect_uri: s.app.url("/connections/oauth/snowflake/callback"),
            refresh_token_validity_seconds: 86_400,
            single_use_refresh_tokens: single_use,
            pre_authorized_roles: vec![],
            blocked_roles: vec![],
        });
}

async fn an_editor_connects_to_snowflake_and_queries_as_themselves() {
    let s = setup().await;
    register(&s);
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let resp = admin
        .client
        .put(admin.url("/api/v1/integrations/snowflake-oauth"))
        .header("x-csrf-token", &admin.csrf)
        .json(
            &json!({"host": s.ws.host(), "client_id": CLIENT_ID, "client_secret": SECRET,
                      "default_role": "ANALYST", "refresh_token_validity_seconds": 86_400}),
        )
        .sent()
        .await;
    let saved: Value = resp.json().await.unwrap();
    assert_eq!(
        saved["scopes"], "refresh_token session:role:ANALYST",
        "{saved}"
    );
    assert_eq!(saved["absolute_session_lifetime_minutes"], 1440);

    let ed = s.user("ed@acme.test", Role::Editor).await;
    let (status, conn) = post(&ed, "/api/v1/connections", json!({"name": "Snow", "provider": "snowflake",
        "auth": "oauth", "warehouse_id": "STARTER_WAREHOUSE", "catalog": "SAMPLES", "schema": "NYCTAXI"})).await;
    assert_eq!(status, StatusCode::CREATED, "{conn}");
    let id = conn["id"].as_str().unwrap().to_owned();
    let authorize = authorize_url(&ed, &id).await;
    assert!(authorize.contains("/oauth/authorize?"), "{authorize}");
    assert!(
        authorize.contains("scope=refresh_token+session%3Arole%3AANALYST"),
        "{authorize}"
    );
    assert!(!authorize.contains("offline_access"));
    assert!(
        authorize.contains("client_id=aB%2Bc%2FdEf%3D"),
        "percent-encoded: {authorize}"
    );
    let callback =
        snowflake_consent(&s, &authorize, ("alice@example.com", "alice"), "ANALYST").await;
    let back = ed.client.get(&callback).sent().await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert!(
        back.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("signin=ok")
    );

    let cred = ed
        .get_json(&format!("/api/v1/connections/{id}/credential"))
        .await;
    assert_eq!(cred["status"], "active", "{cred}");
    assert_eq!(cred["databricks_user_name"], "ALICE");

    // The pickers and Test run as the user, through SHOW commands and SELECT 1.
    let warehouses = ed
        .get_json(&format!("/api/v1/connections/{id}/warehouses"))
        .await;
    assert_eq!(
        warehouses["warehouses"][0]["id"], "STARTER_WAREHOUSE",
        "{warehouses}"
    );
    let catalogs = ed
        .get_json(&format!("/api/v1/connections/{id}/catalogs"))
        .await;
    assert!(catalogs.to_string().contains("SAMPLES"), "{catalogs}");
    let (status, test) = post(&ed, &format!("/api/v1/connections/{id}/test"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{test}");
    let query =
        json!({"statement": "SELECT trip_distance FROM trips ORDER BY trip_distance DESC LIMIT 3"});
    let (status, rows) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        query.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows["columns"][0]["name"], "TRIP_DISTANCE");
    assert!(rows["rows"][0][0].is_number(), "typed: {rows}");

    // CSV, as for any warehouse.
    let csv = ed
        .client
        .post(ed.url(&format!("/api/v1/connections/{id}/queries")))
        .header("x-csrf-token", &ed.csrf)
        .header("accept", "text/csv")
        .json(&json!({"statement": "SELECT trip_distance FROM trips ORDER BY trip_distance DESC LIMIT 2"}))
        .sent()
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert_eq!(text.lines().count(), 3, "a header and two rows: {text}");
    assert!(text.starts_with("TRIP_DISTANCE"));
    // A fresh Snowflake access token for a service that calls Snowflake itself.
    let (status, vended) = post(
        &ed,
        &format!("/api/v1/connections/{id}/access-token"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{vended}");
    assert_eq!(vended["token_type"], "Bearer");
    let token = vended["access_token"].as_str().unwrap();
    assert!(token.starts_with("ver:1-hint:"), "Snowflake's opaque token");
    // Ten-minute tokens: after one ends, the next query refreshes without rotation. (The
    // setup check counted one refresh call of its own.)
    let before = s.ws.emu.counters().token_calls_refresh_token;
    s.advance(601);
    let (status, _) = post(&ed, &format!("/api/v1/connections/{id}/queries"), query).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, before + 1);
    assert_eq!(s.ws.emu.counters().refresh_rotations, 0);
}

async fn the_admin_page_shows_the_sql_to_run_and_saves_what_snowflake_gives_back() {
    let s = setup().await;
    register(&s);
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let page = admin
        .page("/settings/advanced/integrations/snowflake-oauth")
        .await;
    let redirect = s.app.url("/connections/oauth/snowflake/callback");
    for part in [
        "CREATE SECURITY INTEGRATION LAKEGATE",
        "OAUTH_CLIENT_TYPE = &#39;CONFIDENTIAL&#39;",
        &format!("OAUTH_REDIRECT_URI = &#39;{redirect}&#39;"),
        "OAUTH_REFRESH_TOKEN_VALIDITY = 7776000;",
        "SYSTEM$SHOW_OAUTH_CLIENT_SECRETS(&#39;LAKEGATE&#39;)",
    ] {
        assert!(page.contains(part), "{part}");
    }
    let form = |secret: &str, validity: &str| {
        vec![
            ("csrf_token", admin.csrf.clone()),
            ("host", s.ws.host()),
            ("client_id", CLIENT_ID.to_owned()),
            ("client_secret", secret.to_owned()),
            ("default_role", "ANALYST".to_owned()),
            ("validity", validity.to_owned()),
        ]
    };
    let path = "/settings/advanced/integrations/snowflake-oauth";
    // Out of Snowflake's range, or a secret Snowflake refuses: the form again, nothing saved.
    let resp = admin
        .client
        .post(admin.url(path))
        .form(&form(SECRET, "60"))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = admin
        .client
        .post(admin.url(path))
        .form(&form("wrong", "86400"))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("refused"));
    let shown = admin.get_json("/api/v1/integrations/snowflake-oauth").await;
    assert_eq!(shown["configured"], false);
    let resp = admin
        .client
        .post(admin.url(path))
        .form(&form(SECRET, "86400"))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let shown = admin.get_json("/api/v1/integrations/snowflake-oauth").await;
    assert_eq!(
        (
            &shown["client_id"],
            &shown["scopes"],
            &shown["refresh_token_lifetime_minutes"]
        ),
        (
            &json!(CLIENT_ID),
            &json!("refresh_token session:role:ANALYST"),
            &json!(1440)
        )
    );
    assert!(
        !admin.page(path).await.contains(SECRET),
        "the secret is never shown"
    );
}

/// The admin's integration (default role ANALYST) and an editor's browser.
pub(crate) async fn configured(s: &Setup) -> Browser {
    configured_with(s, false).await
}

pub(crate) async fn configured_with(s: &Setup, single_use: bool) -> Browser {
    register_with(s, single_use);
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let resp = admin
        .client
        .put(admin.url("/api/v1/integrations/snowflake-oauth"))
        .header("x-csrf-token", &admin.csrf)
        .json(
            &json!({"host": s.ws.host(), "client_id": CLIENT_ID, "client_secret": SECRET,
                      "default_role": "ANALYST"}),
        )
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    s.user("ed@acme.test", Role::Editor).await
}

async fn a_connection_signs_in_with_its_own_role() {
    let s = setup().await;
    let ed = configured(&s).await;
    let (status, conn) = post(
        &ed,
        "/api/v1/connections",
        json!({"name": "Public", "provider": "snowflake", "auth": "oauth", "role": "PUBLIC",
        "warehouse": "STARTER_WAREHOUSE", "database": "SAMPLES", "schema": "NYCTAXI"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{conn}");
    assert_eq!(conn["role"], "PUBLIC");
    // Snowflake's words land in the places every provider shares.
    assert_eq!(
        (&conn["warehouse_id"], &conn["catalog"], &conn["schema"]),
        (
            &json!("STARTER_WAREHOUSE"),
            &json!("SAMPLES"),
            &json!("NYCTAXI")
        )
    );
    let id = conn["id"].as_str().unwrap().to_owned();
    let authorize = authorize_url(&ed, &id).await;
    assert!(
        authorize.contains("scope=refresh_token+session%3Arole%3APUBLIC"),
        "{authorize}"
    );
    let callback =
        snowflake_consent(&s, &authorize, ("alice@example.com", "alice"), "PUBLIC").await;
    assert_eq!(
        ed.client.get(&callback).sent().await.status(),
        StatusCode::SEE_OTHER
    );
    let (_, rows) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        json!({"statement": "SELECT CURRENT_ROLE() AS r"}),
    )
    .await;
    assert_eq!(
        rows["rows"],
        json!([["PUBLIC"]]),
        "the session runs as the connection's role"
    );
    let page = ed.page(&format!("/connections/{id}")).await;
    assert!(
        page.contains(">Warehouse</label>") && page.contains("Default database"),
        "the page speaks Snowflake's words"
    );
    let path = format!("/api/v1/connections/{id}");
    let patch = |body: Value| {
        let req = ed
            .client
            .patch(ed.url(&path))
            .header("x-csrf-token", &ed.csrf);
        async move { req.json(&body).sent().await }
    };
    let changed: Value = patch(json!({"database": "TPCH"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(changed["catalog"], "TPCH");
    let conflict = patch(json!({"database": "A", "catalog": "B"})).await;
    assert_eq!(conflict.status(), StatusCode::BAD_REQUEST);
    let body: Value = conflict.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("give one of them"),
        "{body}"
    );
    let unchanged: Value = ed.get_json(&path).await;
    assert_eq!(
        unchanged["catalog"], "TPCH",
        "a refused change changes nothing"
    );

    // Roles are Snowflake's: a Databricks connection has none.
    s.ws.configure(&s.app, &s.org).await;
    let (status, _) = post(
        &ed,
        "/api/v1/connections",
        json!({"name": "D", "provider": "databricks",
        "auth": "oauth-u2m", "role": "ANALYST"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = post(
        &ed,
        "/api/v1/connections",
        json!({"name": "D", "provider": "databricks", "auth": "oauth-u2m", "database": "X"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`database` is not a setting")
    );
}

async fn the_new_connection_page_offers_snowflake_with_a_role() {
    let s = setup().await;
    let ed = configured(&s).await;
    // Only Snowflake is configured here besides the default Databricks integration of the
    // world: the page lists both and says which one the form makes.
    let page = ed.page("/connections/new?kind=snowflake-oauth").await;
    assert!(page.contains("Snowflake › OAuth") && page.contains("name=\"role\""));
    assert!(page.contains("Sign in with Snowflake"));
    let databricks = ed.page("/connections/new?kind=databricks-oauth-u2m").await;
    assert!(databricks.contains("Databricks › OAuth U2M") && !databricks.contains("name=\"role\""));

    let resp = ed
        .client
        .post(ed.url("/connections/new"))
        .form(&[
            ("csrf_token", ed.csrf.as_str()),
            ("kind", "snowflake-oauth"),
            ("name", "From the page"),
            ("role", "PUBLIC"),
        ])
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let start = ed
        .client
        .get(resp.headers()["location"].to_str().unwrap())
        .sent()
        .await;
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.contains("session%3Arole%3APUBLIC"), "{authorize}");
    let listed: Value = ed.get_json("/api/v1/connections").await;
    let made = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "From the page")
        .unwrap();
    assert_eq!(
        (&made["provider"], &made["role"]),
        (&json!("snowflake"), &json!("PUBLIC"))
    );
}
