//! The events a platform hears: a forced sign-in (who and why), a rejected OAuth client, a
//! coming forced sign-in (once, with when), and an end user's external id.

use reqwest::StatusCode;
use serde_json::Value;
use warehouse_emulator::TokenPolicy;

use crate::harness::TestDb;
use crate::webhook_receiver::{Receiver, deliver, subscribe, verify, world, world_with};

crate::on_both_backends!(
    a_forced_sign_in_and_a_rejected_client_are_announced,
    a_coming_forced_sign_in_is_announced_once,
);

/// The platform hears when a user must sign in again (with who and why) and when the
/// warehouse rejects the org's OAuth client.
async fn a_forced_sign_in_and_a_rejected_client_are_announced(db: &TestDb) {
    let receiver = Receiver::start().await;
    let (s, admin) = world(db, &receiver).await;
    let events = ["credential.reauth_required", "integration.client_rejected"];
    let (_, secret) = subscribe(&admin, &receiver.url(), &events).await;
    // ed's refresh token is dead at the warehouse; using the connection finds out.
    let (ed, conn) = crate::refresh::dead_token(&s).await;
    let ed_id = s.app.find_user(&s.org.id, "ed@acme.test").await.id;
    s.advance(3600 - 200);
    let used = crate::refresh::uses_warehouses(&ed, &conn).await;
    assert_eq!(used, StatusCode::CONFLICT);
    assert_eq!(deliver(&s.app).await, 1);
    let got = receiver.got();
    verify(&secret, &got[0]);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "credential.reauth_required");
    assert_eq!(body["data"]["connection_id"], conn.as_str());
    assert_eq!(body["data"]["user_id"], ed_id.as_str());
    assert!(
        body["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("Refresh token"),
        "{body}"
    );

    // vi signs in; then the client's secret is rotated at the warehouse behind Lakegate.
    let (vi, conn) = crate::queries::ready(&s, "vi@acme.test", "bob@example.com", "bob").await;
    s.ws.emu.rotate_app_secret(&s.ws.client_id).unwrap();
    s.advance(3600 - 200);
    let used = crate::refresh::uses_warehouses(&vi, &conn).await;
    assert_eq!(used, StatusCode::CONFLICT);
    assert_eq!(deliver(&s.app).await, 1);
    let got = receiver.got();
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(body["type"], "integration.client_rejected");
    assert_eq!(body["data"]["kind"], "databricks-oauth-u2m");
    assert!(body["data"]["integration_id"].is_string(), "{body}");
}

/// When the warehouse's absolute session lifetime will force a new sign-in within the
/// warning time, the platform is told once, with when.
async fn a_coming_forced_sign_in_is_announced_once(db: &TestDb) {
    let receiver = Receiver::start().await;
    let policy = TokenPolicy {
        refresh_token_ttl_in_minutes: 1440,
        absolute_session_lifetime_in_minutes: Some(4320),
        ..TokenPolicy::default()
    };
    let (s, admin) = world_with(db, &receiver, policy).await;
    let lifetimes = lakegate::integrations::TokenLifetimes {
        refresh_ttl_minutes: 1440,
        absolute_lifetime_minutes: Some(4320),
    };
    s.save_integration(&s.ws.client_id, None, Some(lifetimes))
        .await;
    subscribe(&admin, &receiver.url(), &["credential.reauth_soon"]).await;
    let (_ed, conn) = crate::queries::ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    s.advance(4320 * 60 - 3600);
    assert_eq!(s.app.warn_due(12 * 3600).await, 1);
    assert_eq!(s.app.warn_due(12 * 3600).await, 0, "once");
    assert_eq!(deliver(&s.app).await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "credential.reauth_soon");
    assert_eq!(body["data"]["connection_id"], conn.as_str());
    assert!(body["data"]["sign_in_needed_by"].is_string(), "{body}");
}

/// An embedding platform knows its users by its own ids: an event about an end user
/// carries their external id next to Lakegate's.
#[tokio::test]
async fn events_about_an_end_user_carry_their_external_id() {
    use lakegate::audit::{self, Actor, Event};
    let receiver = Receiver::start().await;
    let db = TestDb::current().await;
    let (s, admin) = world(&db, &receiver).await;
    subscribe(&admin, &receiver.url(), &["credential.reauth_required"]).await;
    let actor = Actor::cli(Some(s.org.id.clone()));
    let input = lakegate::accounts::service::ExternalUser {
        email: Some("ana@customer.test".into()),
        display_name: None,
        role: None,
    };
    let (ana, _) = s
        .app
        .state
        .services
        .accounts
        .upsert_external(&actor, &s.org, "cust-42", input)
        .await
        .unwrap();
    let event = Event::failure("credential.reauth_required", "conn-1".to_owned())
        .with("user_id", ana.id.clone());
    audit::record(&s.app.store, &actor, 0, event).await.unwrap();
    assert_eq!(deliver(&s.app).await, 1);
    let body: Value = serde_json::from_slice(&receiver.got()[0].body).unwrap();
    assert_eq!(body["data"]["user_id"], ana.id.as_str());
    assert_eq!(body["data"]["user_external_id"], "cust-42");
}
