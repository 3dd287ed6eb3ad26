//! The control API: faults, revocation, counters — and that it is off unless enabled.

use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::{EmulatorConfig, TokenPolicy};

use crate::harness::{Sent, Ws};

async fn fault(ws: &Ws, body: Value) {
    let resp = ws
        .http
        .post(ws.url("/emulator/control/faults"))
        .json(&body)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn token_faults_hit_the_next_n_calls_then_stop() {
    let ws = Ws::start().await;
    let rt = ws
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    fault(
        &ws,
        json!({"target": "token", "kind": "status", "status": 429, "retry_after": 7, "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let r = ws.refresh(&rt).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "7");
    }
    fault(
        &ws,
        json!({"target": "token", "kind": "status", "status": 503}),
    )
    .await;
    assert_eq!(
        ws.refresh(&rt).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    fault(&ws, json!({"target": "token", "kind": "malformed"})).await;
    let r = ws.refresh(&rt).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.json::<Value>().await.is_err(), "the body is not JSON");
    fault(&ws, json!({"target": "token", "kind": "reset"})).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
        ("client_id", &ws.client_id),
        ("client_secret", &ws.client_secret),
    ];
    let dropped = match ws
        .http
        .post(ws.url("/oidc/v1/token"))
        .form(&form)
        .send()
        .await
    {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(dropped, "the connection drops mid-response");
    assert_eq!(
        ws.refresh(&rt).await.status(),
        StatusCode::OK,
        "faults are used up"
    );
}

#[tokio::test]
async fn rest_faults_and_delays_apply_to_api_calls() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    fault(
        &ws,
        json!({"target": "rest", "kind": "status", "status": 500}),
    )
    .await;
    assert_eq!(
        ws.get(&at, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    fault(&ws, json!({"target": "rest", "kind": "delay", "ms": 1})).await;
    assert_eq!(
        ws.get(&at, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::OK
    );
    // A status fault can carry Databricks' own words, e.g. a 403 about the token.
    fault(
        &ws,
        json!({"target": "rest", "kind": "status", "status": 403, "error_code": "403", "message": "Invalid access token."}),
    )
    .await;
    let resp = ws.get(&at, "/api/2.0/preview/scim/v2/Me").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error_code": "403", "message": "Invalid access token."})
    );
}

#[tokio::test]
async fn revoking_a_user_kills_their_tokens_and_counters_add_up() {
    let ws = Ws::start().await;
    let t = ws
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await;
    let bob = ws.bob().await;
    let resp = ws
        .http
        .post(ws.url("/emulator/control/users/alice@example.com/revoke-tokens"))
        .sent()
        .await;
    assert_eq!(resp.json::<Value>().await.unwrap()["revoked_sessions"], 1);
    assert_eq!(
        ws.get(
            t["access_token"].as_str().unwrap(),
            "/api/2.0/preview/scim/v2/Me"
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ws.refresh(t["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        ws.get(&bob, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::OK,
        "other users keep theirs"
    );
    let c: Value = ws
        .http
        .get(ws.url("/emulator/control/counters"))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["token_calls_authorization_code"], 2);
    assert_eq!(c["token_calls_refresh_token"], 1);
    assert_eq!(c["codes_redeemed"], 2);
}

#[tokio::test]
async fn one_refresh_token_can_be_killed_and_the_clock_advanced() {
    let ws = Ws::start().await;
    let rt = ws
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let kill = ws
        .http
        .post(ws.url("/emulator/control/refresh-tokens/kill"))
        .json(&json!({"refresh_token": rt}))
        .sent()
        .await;
    assert_eq!(kill.status(), StatusCode::NO_CONTENT);
    assert_eq!(ws.refresh(&rt).await.status(), StatusCode::UNAUTHORIZED);
    let before: Value = ws
        .http
        .post(ws.url("/emulator/control/clock/advance"))
        .json(&json!({"seconds": 0}))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let after: Value = ws
        .http
        .post(ws.url("/emulator/control/clock/advance"))
        .json(&json!({"seconds": 100}))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert!(after["now"].as_i64().unwrap() - before["now"].as_i64().unwrap() >= 100);
}

#[tokio::test]
async fn the_control_api_is_off_unless_enabled() {
    let config = EmulatorConfig {
        control: false,
        ..EmulatorConfig::for_tests()
    };
    let ws = Ws::with(config, TokenPolicy::default(), &["all-apis"]).await;
    let resp = ws
        .http
        .get(ws.url("/emulator/control/counters"))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
