//! Snowflake tokens that stay fresh: in single-use mode every refresh rotates the refresh
//! token and reusing an old one revokes the whole chain, so three replicas and a crowd of
//! callers must make exactly one token call per expiry; a dead refresh token asks for a
//! new sign-in with Snowflake's reason. On both backends.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Sent, TestDb};
use crate::snowflake_connect::{authorize_url, configured_with, post, snowflake_consent};
use crate::world::Setup;

crate::on_each_backend!(a_dead_snowflake_refresh_token_asks_for_a_new_sign_in);

mod stress {
    use super::*;

    async fn single_use_tokens_rotate_once_per_expiry_across_three_replicas(db: &TestDb) {
        super::storm(db).await;
    }

    crate::on_both_backends!(single_use_tokens_rotate_once_per_expiry_across_three_replicas);
}

/// A signed-in Snowflake connection of ed: (connection id, ed's user id).
pub(crate) async fn signed_in(
    s: &Setup,
    single_use: bool,
) -> (crate::harness::Browser, String, String) {
    let ed = configured_with(s, single_use).await;
    let (_, conn) = post(
        &ed,
        "/api/v1/connections",
        json!({"name": "Snow", "provider": "snowflake",
        "auth": "oauth", "warehouse_id": "STARTER_WAREHOUSE"}),
    )
    .await;
    let id = conn["id"].as_str().unwrap().to_owned();
    let authorize = authorize_url(&ed, &id).await;
    let callback =
        snowflake_consent(s, &authorize, ("alice@example.com", "alice"), "ANALYST").await;
    assert_eq!(
        ed.client.get(&callback).sent().await.status(),
        StatusCode::SEE_OTHER
    );
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    (ed, id, user.id)
}

/// Three replicas, 90 callers, many expiries: exactly one token call (one rotation) each.
async fn storm(db: &TestDb) {
    let s = crate::world::setup_on(db, warehouse_emulator::TokenPolicy::default()).await;
    let (_ed, conn, user_id) = signed_in(&s, true).await;
    let org_id = s.org.id.clone();
    let replicas = crate::storm::replicas(db, &s).await;
    let before = s.ws.emu.counters().token_calls_refresh_token;
    for round in 1..=crate::storm::rounds(30) {
        // Ten-minute tokens: 30 seconds left, under the minute every caller asks for.
        s.advance(570);
        crate::storm::crowd(&replicas, (&conn, &user_id, &org_id), 90, round).await;
        let c = s.ws.emu.counters();
        assert_eq!(
            (
                c.token_calls_refresh_token - before,
                c.refresh_rotations,
                c.reuse_detections
            ),
            (round, round, 0),
            "round {round}: one rotation per expiry, no rotated token ever reused"
        );
    }
    let cred = s
        .app
        .store
        .credential(&conn, &user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cred.status.as_str(), "active");
}

async fn a_dead_snowflake_refresh_token_asks_for_a_new_sign_in() {
    let s = crate::world::setup().await;
    let (ed, conn, _) = signed_in(&s, false).await;
    let revoke = s
        .ws
        .browser()
        .post(s.ws.emu.base_url.clone() + "/emulator/control/users/alice@example.com/revoke-tokens")
        .sent()
        .await;
    assert!(revoke.status().is_success());
    s.advance(601);
    let (status, body) = post(
        &ed,
        &format!("/api/v1/connections/{conn}/queries"),
        json!({"statement": "SELECT 1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "reauth_required");
    let cred = ed
        .get_json(&format!("/api/v1/connections/{conn}/credential"))
        .await;
    assert_eq!(cred["status"], "reauth_required");
    assert!(
        cred["reason"]
            .as_str()
            .unwrap()
            .contains("The provided grant or refresh token is invalid"),
        "Snowflake's own words (its `message` field): {cred}"
    );
    let admin = s.app.find_user(&s.org.id, "admin@acme.test").await;
    let a = s.app.session_for(&admin).await;
    let events = a
        .get_json("/api/v1/audit?action=credential.reauth_required")
        .await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
}
