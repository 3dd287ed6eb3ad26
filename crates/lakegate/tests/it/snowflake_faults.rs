//! A Snowflake account that is busy or down: the token endpoint's 503 backs off while the
//! current token is served (no new sign-in asked for), and the SQL API's 429 and 5xx on a
//! submission or a poll are retried — a submission carries its `requestId`, so one whose
//! answer was lost runs once. On both backends.

use reqwest::StatusCode;
use serde_json::json;
use warehouse_emulator::{Fault, Target};

use crate::snowflake_refresh::signed_in;

crate::on_each_backend!(
    a_token_endpoint_outage_backs_off_and_keeps_serving_the_current_token,
    a_busy_sql_api_is_retried_and_runs_each_statement_once,
    a_rotated_client_secret_flags_the_integration_not_the_users,
);

async fn a_token_endpoint_outage_backs_off_and_keeps_serving_the_current_token() {
    let s = crate::world::setup().await;
    let (ed, conn, _) = signed_in(&s, false).await;
    let path = format!("/api/v1/connections/{conn}/queries");
    let query =
        || crate::snowflake_connect::post(&ed, &path, json!({"statement": "SELECT 1 AS one"}));
    // (Saving the integration made one refresh call: the client check.)
    let before = s.ws.emu.counters().token_calls_refresh_token;
    s.ws.emu
        .fault(Fault::status(Target::Token, 503).retry_after(40));
    // Ten-minute tokens: 50 s left, short of the minute one call asks for.
    s.advance(550);
    let (status, body) = query().await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the current token still works: {body}"
    );
    let (status, _) = query().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.ws.emu.counters().token_calls_refresh_token - before,
        0,
        "one refused refresh, and none again before Retry-After (40 s) ends"
    );
    let cred = ed
        .get_json(&format!("/api/v1/connections/{conn}/credential"))
        .await;
    assert_eq!(
        cred["status"], "active",
        "an outage never asks for a new sign-in"
    );
    s.advance(45);
    let (status, _) = query().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        s.ws.emu.counters().token_calls_refresh_token - before,
        1,
        "retried after the backoff, and renewed"
    );
}

async fn a_busy_sql_api_is_retried_and_runs_each_statement_once() {
    let s = crate::world::setup().await;
    let (ed, conn, _) = signed_in(&s, false).await;
    let path = format!("/api/v1/connections/{conn}/queries");
    let run =
        |sql: &'static str| crate::snowflake_connect::post(&ed, &path, json!({"statement": sql}));
    // The sign-in's identity statement ran already.
    let ran = || s.ws.emu.snowflake_statements() - 1;

    // Turned away on submission (429), then on the first poll (503).
    s.ws.emu
        .fault(Fault::status(Target::Rest, 429).retry_after(1));
    let (status, body) = run("SELECT 1 AS one").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rows"], json!([[1]]));
    assert_eq!(ran(), 1);

    s.ws.emu.fault(Fault::status(Target::Rest, 503));
    let (status, body) = run("SELECT 2 AS two").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ran(), 2);

    // A submission whose connection drops is sent again with the same requestId.
    s.ws.emu.fault(Fault::reset(Target::Rest));
    let (status, body) = run("SELECT 3 AS three").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ran(), 3, "each statement ran once");

    // A warehouse that stays busy is a clear error, not a hang.
    s.ws.emu.fault(Fault::status(Target::Rest, 429).times(50));
    let (status, body) = run("SELECT 4 AS four").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "warehouse_busy");
    assert_eq!(ran(), 3, "nothing ran");
}

/// An admin rotated the integration's secret in Snowflake (`ALTER SECURITY INTEGRATION …
/// REFRESH OAUTH_CLIENT_SECRET`) without telling Lakegate: refreshes are refused as
/// `invalid_client`, which is the admin's problem — the integration is flagged, and the
/// users' credentials stay as they are (no storm of sign-in requests).
async fn a_rotated_client_secret_flags_the_integration_not_the_users() {
    let s = crate::world::setup().await;
    let (ed, conn, _) = signed_in(&s, false).await;
    s.ws.emu
        .register_snowflake_integration(warehouse_emulator::SnowflakeIntegrationConfig {
            name: "LAKEGATE".into(),
            client_id: "aB+c/dEf=".into(),
            client_secret: "rotated/secret==".into(),
            redirect_uri: s.app.url("/connections/oauth/snowflake/callback"),
            refresh_token_validity_seconds: 86_400,
            single_use_refresh_tokens: false,
            pre_authorized_roles: vec![],
            blocked_roles: vec![],
        });
    s.advance(601);
    let (status, body) = crate::snowflake_connect::post(
        &ed,
        &format!("/api/v1/connections/{conn}/queries"),
        json!({"statement": "SELECT 1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("administrator must update the client secret"),
        "{body}"
    );
    let integration = s
        .app
        .store
        .integration(&s.org.id, "snowflake-oauth")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(integration.status.as_str(), "client_rejected");
    let cred = ed
        .get_json(&format!("/api/v1/connections/{conn}/credential"))
        .await;
    assert_eq!(
        cred["status"], "active",
        "the users' credentials are not the problem"
    );
}
