//! A BigQuery connection end to end against the emulated Google, on both backends: the
//! admin saves the integration (no host: Google's endpoints are fixed, moved to the
//! emulator only by the operator's egress setting), an editor signs in on Google's pages
//! (offline access, PKCE, a nonce; the ID token checked), and runs SQL, lists projects,
//! datasets and tables, tests and vends a token as themselves; a user who leaves BigQuery
//! unticked gets no credential and is told why; disconnecting revokes the grant at Google.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::GoogleClientConfig;

use crate::harness::{Browser, Sent, hidden_field, query_param};
use crate::snowflake_connect::post;
use crate::world::{Setup, setup};

crate::on_each_backend!(
    an_editor_connects_to_bigquery_and_queries_as_themselves,
    unticking_bigquery_stores_nothing_and_says_what_is_missing,
    disconnecting_revokes_the_grant_at_google,
    a_location_pins_where_queries_run,
    a_dry_run_estimates_without_running_and_other_warehouses_say_they_have_none,
);

pub(crate) const CLIENT_ID: &str = "123-abc.apps.googleusercontent.com";
pub(crate) const SECRET: &str = "GOCSPX-s3cr3t";
const BQ: &str = "https://www.googleapis.com/auth/bigquery";

/// The emulated Google knows this app's client, and the admin saved the integration.
pub(crate) async fn configured(s: &Setup) -> Browser {
    s.ws.emu.register_google_client(GoogleClientConfig {
        client_id: CLIENT_ID.into(),
        client_secret: SECRET.into(),
        redirect_uris: vec![s.app.url("/connections/oauth/bigquery/callback")],
        testing: false,
    });
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let resp = admin
        .client
        .put(admin.url("/api/v1/integrations/bigquery-oauth"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"client_id": CLIENT_ID, "client_secret": SECRET}))
        .sent()
        .await;
    let saved: Value = resp.json().await.unwrap();
    assert_eq!(saved["status"], "configured", "{saved}");
    assert_eq!(saved["scopes"], format!("openid email {BQ}"));
    s.user("ed@acme.test", Role::Editor).await
}

/// Signs in on Google's pages as `email`, ticking `ticked`: where Google sends the browser.
pub(crate) async fn google_consent(
    s: &Setup,
    authorize: &str,
    email: &str,
    ticked: &[&str],
) -> String {
    let g = s.ws.browser();
    let page = g.get(authorize).sent().await.text().await.unwrap();
    let request = hidden_field(&page, "request");
    let base = s.ws.emu.base_url.clone();
    let password = email.split('@').next().unwrap();
    let login = g
        .post(format!("{base}/o/oauth2/v2/auth/login"))
        .form(&[
            ("request", request.as_str()),
            ("email", email),
            ("password", password),
        ])
        .sent()
        .await;
    assert_eq!(
        login.status(),
        StatusCode::OK,
        "prompt=consent shows the consent page"
    );
    let mut form = vec![("request", request.as_str()), ("decision", "allow")];
    form.extend(ticked.iter().map(|t| ("scope", *t)));
    let done = g
        .post(format!("{base}/o/oauth2/v2/auth/consent"))
        .form(&form)
        .sent()
        .await;
    done.headers()["location"].to_str().unwrap().to_owned()
}

/// A new BigQuery connection of `b` and its authorize URL.
pub(crate) async fn started(b: &Browser, body: Value) -> (String, String) {
    let (status, conn) = post(b, "/api/v1/connections", body).await;
    assert_eq!(status, StatusCode::CREATED, "{conn}");
    let id = conn["id"].as_str().unwrap().to_owned();
    let authorize = crate::snowflake_connect::authorize_url(b, &id).await;
    (id, authorize)
}

fn new_connection() -> Value {
    json!({"name": "BQ", "provider": "bigquery", "auth": "oauth",
           "project": "lakegate-samples", "dataset": "nyctaxi"})
}

async fn an_editor_connects_to_bigquery_and_queries_as_themselves() {
    let s = setup().await;
    let ed = configured(&s).await;
    let (id, authorize) = started(&ed, new_connection()).await;
    for part in [
        "access_type=offline",
        "prompt=consent",
        "include_granted_scopes=true",
        "code_challenge_method=S256",
        "nonce=",
    ] {
        assert!(authorize.contains(part), "{part}: {authorize}");
    }
    assert!(!authorize.contains("offline_access"));
    let callback = google_consent(&s, &authorize, "alice@example.com", &[BQ]).await;
    let back = ed.client.get(&callback).sent().await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let location = back.headers()["location"].to_str().unwrap();
    assert!(location.ends_with("signin=ok"), "{location}");
    let cred = ed
        .get_json(&format!("/api/v1/connections/{id}/credential"))
        .await;
    assert_eq!(
        (
            cred["status"].as_str(),
            cred["databricks_user_name"].as_str()
        ),
        (Some("active"), Some("alice@example.com")),
        "{cred}"
    );

    let conn = ed.get_json(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(
        (conn["warehouse_id"].as_str(), conn["schema"].as_str()),
        (Some("lakegate-samples"), Some("nyctaxi"))
    );
    let warehouses = ed
        .get_json(&format!("/api/v1/connections/{id}/warehouses"))
        .await;
    assert_eq!(
        warehouses["warehouses"][0]["id"], "lakegate-samples",
        "{warehouses}"
    );
    let schemas = ed
        .get_json(&format!(
            "/api/v1/connections/{id}/catalogs/lakegate-samples/schemas"
        ))
        .await;
    assert!(schemas.to_string().contains("tpch"), "{schemas}");
    let tables = ed
        .get_json(&format!(
            "/api/v1/connections/{id}/catalogs/lakegate-samples/schemas/nyctaxi/tables"
        ))
        .await;
    assert!(
        tables.to_string().contains("trip_distance"),
        "tables with columns: {tables}"
    );
    let (status, test) = post(&ed, &format!("/api/v1/connections/{id}/test"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{test}");

    let (status, rows) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        json!({"statement": "SELECT SESSION_USER() AS who, tpep_pickup_datetime, trip_distance FROM trips ORDER BY tpep_pickup_datetime LIMIT 2"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(
        rows["rows"][0][0], "alice@example.com",
        "the query ran as the user"
    );
    assert!(
        rows["rows"][0][1].as_str().unwrap().ends_with('Z'),
        "TIMESTAMP as an instant: {rows}"
    );
    assert!(rows["rows"][0][2].is_number());

    // Two thousand rows over pages of 500 (the emulator's cap) come back whole.
    let (status, all) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        json!({"statement": "SELECT trip_distance FROM `lakegate-samples.nyctaxi.trips`"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        all["rows"].as_array().unwrap().len(),
        2000,
        "every page followed"
    );

    // Named parameters, typed for BigQuery.
    let (status, p) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        json!({"statement": "SELECT @n + 1 AS next", "parameters": [{"name": "n", "value": "41", "type": "BIGINT"}]}),
    )
    .await;
    assert_eq!(
        (status, &p["rows"]),
        (StatusCode::OK, &json!([[42]])),
        "{p}"
    );

    let (status, vended) = post(
        &ed,
        &format!("/api/v1/connections/{id}/access-token"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{vended}");
    assert!(
        vended["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ya29.")
    );

    // Near the end of its hour the token is renewed without rotation (Google sends none back).
    let before = s.ws.emu.counters().token_calls_refresh_token;
    s.advance(3_400);
    let (status, _) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        json!({"statement": "SELECT 1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, before + 1);
}

async fn unticking_bigquery_stores_nothing_and_says_what_is_missing() {
    let s = setup().await;
    let ed = configured(&s).await;
    let (id, authorize) = started(&ed, new_connection()).await;
    let callback = google_consent(&s, &authorize, "alice@example.com", &[]).await;
    assert!(!query_param(&callback, "scope").unwrap().contains(BQ));
    let back = ed.client.get(&callback).sent().await;
    let location = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with("signin=scope_not_granted"), "{location}");
    let page = ed.page(&location).await;
    assert!(
        page.contains("left unticked on the Google consent page"),
        "says what is missing"
    );
    let cred = ed
        .get_json(&format!("/api/v1/connections/{id}/credential"))
        .await;
    assert_eq!(cred["status"], "not_signed_in");
}

async fn disconnecting_revokes_the_grant_at_google() {
    let s = setup().await;
    let ed = configured(&s).await;
    let (id, authorize) = started(&ed, new_connection()).await;
    let callback = google_consent(&s, &authorize, "bob@example.com", &[BQ]).await;
    ed.client.get(&callback).sent().await;
    let (_, vended) = post(
        &ed,
        &format!("/api/v1/connections/{id}/access-token"),
        json!({}),
    )
    .await;
    let token = vended["access_token"].as_str().unwrap().to_owned();
    let userinfo = |t: String| {
        let req =
            s.ws.browser()
                .get(format!("{}/v1/userinfo", s.ws.emu.base_url))
                .bearer_auth(t);
        async move { req.sent().await.status() }
    };
    assert_eq!(userinfo(token.clone()).await, StatusCode::OK);
    let resp = ed
        .client
        .delete(ed.url(&format!("/api/v1/connections/{id}/credential")))
        .header("x-csrf-token", &ed.csrf)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        userinfo(token).await,
        StatusCode::UNAUTHORIZED,
        "the grant ended at Google"
    );
    let admin = s.app.find_user(&s.org.id, "admin@acme.test").await;
    let a = s.app.session_for(&admin).await;
    let events = a
        .get_json("/api/v1/audit?action=connection.disconnect")
        .await;
    assert_eq!(
        events["events"][0]["details"]["revoked_at_provider"], true,
        "{events}"
    );
}

async fn a_location_pins_where_queries_run() {
    let s = setup().await;
    let ed = configured(&s).await;
    let mut body = new_connection();
    body["location"] = json!("europe-west2");
    let (id, authorize) = started(&ed, body).await;
    let callback = google_consent(&s, &authorize, "alice@example.com", &[BQ]).await;
    ed.client.get(&callback).sent().await;
    let conn = ed.get_json(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(conn["location"], "europe-west2");
    let query = json!({"statement": "SELECT COUNT(*) AS n FROM trips"});
    let path = format!("/api/v1/connections/{id}/queries");
    let (status, _) = post(&ed, &path, query.clone()).await;
    assert_eq!(status, StatusCode::OK, "the data's own location");
    // Pinned elsewhere, BigQuery does not find the data there: the query says so.
    let changed = ed
        .client
        .patch(ed.url(&format!("/api/v1/connections/{id}")))
        .header("x-csrf-token", &ed.csrf)
        .json(&json!({"location": "EU"}))
        .sent()
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let (status, err) = post(&ed, &path, query).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("location EU"),
        "{err}"
    );

    // Other warehouses have no location, and a refused setting leaves no connection.
    let before = ed
        .get_json("/api/v1/connections")
        .await
        .as_array()
        .unwrap()
        .len();
    let (status, _) = post(
        &ed,
        "/api/v1/connections",
        json!({"name": "S", "provider": "bigquery", "auth": "oauth", "location": "-bad-"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let after = ed
        .get_json("/api/v1/connections")
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "nothing was created");
}

async fn a_dry_run_estimates_without_running_and_other_warehouses_say_they_have_none() {
    let s = setup().await;
    let ed = configured(&s).await;
    let (id, authorize) = started(&ed, new_connection()).await;
    let callback = google_consent(&s, &authorize, "alice@example.com", &[BQ]).await;
    ed.client.get(&callback).sent().await;
    let path = format!("/api/v1/connections/{id}/queries");
    let (status, estimate) = post(
        &ed,
        &path,
        json!({"statement": "SELECT * FROM `lakegate-samples.nyctaxi.trips`", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{estimate}");
    assert_eq!(estimate["dry_run"], true);
    assert!(
        estimate["bytes_processed"].as_u64().unwrap() > 0,
        "{estimate}"
    );
    let history = ed.get_json("/api/v1/queries").await;
    assert_eq!(
        history["queries"].as_array().map_or(0, Vec::len),
        0,
        "a dry run runs and records nothing: {history}"
    );
    let (status, bad) = post(
        &ed,
        &path,
        json!({"statement": "SELECT * FROM nyctaxi.nope", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    let page = ed.page(&format!("/connections/{id}")).await;
    assert!(page.contains("id=\"dry-run\""), "the console offers it");
    assert!(
        page.contains("<code>@name</code>"),
        "BigQuery's parameter markers"
    );

    // Databricks has no dry run: a clear 400, and no button.
    let d = s.connection(&ed, false).await;
    s.sign_in(&ed, &d, "alice@example.com", "alice").await;
    let (status, refused) = post(
        &ed,
        &format!("/api/v1/connections/{d}/queries"),
        json!({"statement": "SELECT 1", "warehouse_id": "abcdef1234567890", "dry_run": true}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Databricks offers no dry run")
    );
    assert!(
        !ed.page(&format!("/connections/{d}"))
            .await
            .contains("id=\"dry-run\"")
    );
}
