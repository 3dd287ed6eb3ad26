//! Webhooks: endpoints created by admins (the secret shown once), deliveries signed per
//! Standard Webhooks from the outbox written with the audit event, retried with backoff,
//! taken over from a replica that died holding one, listed when failed and replayed with the
//! same id, and refused for receivers on private addresses unless `[webhooks]` allows them.
//!
//! A replica "dies" here by taking a delivery's lease and never finishing (in process): the
//! lease is what another replica must wait out, whatever killed the first.

use lakegate::accounts::Role;
use lakegate::egress::{Egress, Policy};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use warehouse_emulator::TokenPolicy;

use crate::harness::{TestApp, TestDb, Workspace};
use crate::shared_identities::send;
use crate::webhook_receiver::{Receiver, deliver, fresh_session, subscribe, verify, world};

crate::on_both_backends!(
    events_are_delivered_signed_once_the_receiver_is_back,
    a_replica_that_dies_holding_a_delivery_is_replaced,
    failed_deliveries_are_listed_and_replayed_with_the_same_id,
    a_rotated_secret_signs_next_to_the_old_one_for_a_day,
);

async fn events_are_delivered_signed_once_the_receiver_is_back(db: &TestDb) {
    let mut receiver = Receiver::start().await;
    let (s, admin) = world(db, &receiver).await;
    let (id, secret) = subscribe(
        &admin,
        &receiver.url(),
        &["connection.created", "connection.deleted"],
    )
    .await;
    // The secret is write-only: never read back.
    let listed = admin.get_json("/api/v1/webhooks").await;
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(!listed.to_string().contains(&secret));
    assert!(
        !admin
            .get_json(&format!("/api/v1/webhooks/{id}"))
            .await
            .to_string()
            .contains(&secret)
    );

    // The receiver is down when the event happens.
    receiver.down().await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&ed, false).await;
    assert_eq!(deliver(&s.app).await, 0);
    let pending = admin
        .get_json(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await;
    assert_eq!(pending[0]["status"], "pending");
    assert_eq!(pending[0]["attempts"], 1);
    let message_id = pending[0]["message_id"].as_str().unwrap().to_owned();
    assert!(
        pending[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{pending}"
    );
    // Not due before the backoff has passed, even with the receiver back.
    receiver.up().await;
    assert_eq!(deliver(&s.app).await, 0);
    s.advance(5);
    // Disabling the endpoint pauses its deliveries; enabling it resumes them.
    let path = format!("/api/v1/webhooks/{id}");
    let (status, _) = send(&admin, Method::PATCH, &path, json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deliver(&s.app).await, 0);
    send(&admin, Method::PATCH, &path, json!({"enabled": true})).await;
    assert_eq!(deliver(&s.app).await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, message_id);
    assert_eq!(got[0].timestamp, lakegate::clock::Clock::now(&s.app.clock));
    verify(&secret, &got[0]);
    let body: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["type"], "connection.created");
    assert_eq!(body["data"]["connection_id"], conn.as_str());
    assert_eq!(body["data"]["org_id"], s.org.id.as_str());
    // Delivered once: later passes send nothing more.
    s.advance(600);
    assert_eq!(deliver(&s.app).await, 0);

    let (status, _) = send(
        &ed,
        Method::DELETE,
        &format!("/api/v1/connections/{conn}"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(deliver(&s.app).await, 1);
    let got = receiver.got();
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(body["type"], "connection.deleted");
    assert_ne!(got[1].id, message_id);
    verify(&secret, &got[1]);
    assert!(!crate::harness::captured_logs().contains(&secret));
}

async fn a_replica_that_dies_holding_a_delivery_is_replaced(db: &TestDb) {
    let receiver = Receiver::start().await;
    let (s, admin) = world(db, &receiver).await;
    subscribe(&admin, &receiver.url(), &["connection.created"]).await;
    let other = TestApp::spawn_replica_on(db, &s.app).await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    s.connection(&ed, false).await;

    // The first replica takes the delivery, then dies before sending it.
    let now = lakegate::clock::Clock::now(&s.app.clock);
    let due = s.app.store.due_webhook_deliveries(now, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(
        s.app
            .state
            .services
            .webhooks
            .claim(&due[0], now)
            .await
            .unwrap()
    );
    // The other replica waits while the lease is live, then delivers.
    assert_eq!(deliver(&other).await, 0);
    s.advance(lakegate::webhooks::LEASE_SECONDS + 1);
    assert_eq!(deliver(&other).await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, due[0].message_id);
}

async fn failed_deliveries_are_listed_and_replayed_with_the_same_id(db: &TestDb) {
    let receiver = Receiver::start().await;
    *receiver.status.lock().unwrap() = 500;
    let (s, admin) = world(db, &receiver).await;
    let (id, secret) = subscribe(&admin, &receiver.url(), &["connection.created"]).await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    s.connection(&ed, false).await;
    // Every attempt of the schedule fails, each after its wait.
    let mut attempts = 0;
    loop {
        assert_eq!(deliver(&s.app).await, 0);
        attempts += 1;
        match lakegate::webhooks::retry_after(attempts) {
            Some(wait) => s.advance(wait),
            None => break,
        }
    }
    assert_eq!(receiver.got().len(), 8);
    s.advance(86_400);
    assert_eq!(
        deliver(&s.app).await,
        0,
        "a failed delivery waits for a replay"
    );
    // A day and more has passed: new sessions.
    let admin = fresh_session(&s, "admin@acme.test").await;
    let ed = fresh_session(&s, "ed@acme.test").await;
    let failed = admin
        .get_json(&format!("/api/v1/webhooks/{id}/deliveries?status=failed"))
        .await;
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["attempts"], 8);
    assert_eq!(failed[0]["last_status"], 500);
    let message_id = failed[0]["message_id"].as_str().unwrap().to_owned();
    let swept = s
        .app
        .store
        .delete_delivered_webhooks(i64::MAX)
        .await
        .unwrap();
    assert_eq!(swept, 0, "a failed delivery is never swept");
    // Admins see it on the health page and on the webhooks page, with a replay button.
    let health = admin.get("/settings/health").await.text().await.unwrap();
    assert!(health.contains("1 webhook delivery failed"), "{health}");
    let page = admin
        .get("/settings/advanced/webhooks")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("/deliveries/{message_id}/replay")),
        "{page}"
    );
    // So does `lakegate doctor`; and with the receivers' policy tightened since the
    // endpoint was saved, it fails the endpoint's line.
    let lines = |findings: Vec<lakegate::doctor::Finding>| -> Vec<String> {
        findings
            .iter()
            .map(lakegate::doctor::Finding::line)
            .collect()
    };
    let allowed = lines(lakegate::doctor::webhooks(&s.app.store, &receiver.allowing()).await);
    assert!(
        allowed[0].starts_with("ok    acme/webhook http://127.0.0.1:"),
        "{allowed:#?}"
    );
    assert!(
        allowed[1].starts_with("warn  acme/webhooks: deliveries — 1 failed"),
        "{allowed:#?}"
    );
    let strict = Egress::new(Policy::default(), None).unwrap();
    let tightened = lines(lakegate::doctor::webhooks(&s.app.store, &strict).await);
    assert!(
        tightened[0].starts_with("FAIL  acme/webhook"),
        "{tightened:#?}"
    );

    // Back, answering 200 with a long body (more than Lakegate reads): its status counts.
    *receiver.status.lock().unwrap() = 200;
    *receiver.body_bytes.lock().unwrap() = 200_000;
    let path = format!("/api/v1/webhooks/{id}/deliveries/{message_id}/replay");
    let (status, _) = send(&ed, Method::POST, &path, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "admins only");
    let (status, _) = send(&admin, Method::POST, &path, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(deliver(&s.app).await, 1);
    let got = receiver.got();
    assert_eq!(got.len(), 9);
    assert_eq!(got[8].id, message_id);
    verify(&secret, &got[8]);
    // Delivered ones are swept once they are old enough.
    let now = lakegate::clock::Clock::now(&s.app.clock);
    assert_eq!(s.app.store.delete_delivered_webhooks(now).await.unwrap(), 0);
    assert_eq!(
        s.app
            .store
            .delete_delivered_webhooks(now + 1)
            .await
            .unwrap(),
        1
    );
    // A delivered one replays too; a pending or unknown one is 404.
    let (status, _) = send(
        &admin,
        Method::POST,
        &format!("/api/v1/webhooks/{id}/deliveries/msg_nope/replay"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit = admin.get_json("/api/v1/audit?action=webhook.replay").await;
    assert!(audit.to_string().contains(&message_id), "{audit}");
}

/// With the default `[webhooks]` policy a receiver on a private address is refused: an IP
/// literal when the endpoint is saved, a name when it resolves at delivery (nothing is
/// sent, and the attempt says why).
#[tokio::test]
async fn receivers_on_private_addresses_are_refused_unless_allowed() {
    let receiver = Receiver::start().await;
    let db = TestDb::current().await;
    let strict = Egress::new(Policy::default(), None).unwrap();
    let s = crate::world::setup_delivering(
        &db,
        TokenPolicy::default(),
        Workspace::start().await,
        lakegate::testkit::random_keyring(),
        Some(strict),
    )
    .await;
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let port = receiver.addr.port();
    for url in [
        receiver.url(),
        format!("https://127.0.0.1:{port}/hook"),
        format!("https://[::1]:{port}/hook"),
    ] {
        let (status, body) = send(
            &admin,
            Method::POST,
            "/api/v1/webhooks",
            json!({"url": url, "events": ["connection.created"]}),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("webhooks."),
            "{body}"
        );
    }
    assert_eq!(admin.get_json("/api/v1/webhooks").await, json!([]));
    let (id, _) = subscribe(
        &admin,
        &format!("https://localhost:{port}/hook"),
        &["connection.created"],
    )
    .await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    s.connection(&ed, false).await;
    assert_eq!(deliver(&s.app).await, 0);
    let tried = admin
        .get_json(&format!("/api/v1/webhooks/{id}/deliveries"))
        .await;
    assert!(
        tried[0]["last_error"].as_str().unwrap().contains("not"),
        "{tried}"
    );
    assert!(
        receiver.got().is_empty(),
        "nothing reached the private address"
    );
}

/// Rotating an endpoint's secret: the new one is shown once; for a day deliveries carry a
/// signature with each secret, then with the new one only.
async fn a_rotated_secret_signs_next_to_the_old_one_for_a_day(db: &TestDb) {
    let receiver = Receiver::start().await;
    let (s, admin) = world(db, &receiver).await;
    let (id, old) = subscribe(&admin, &receiver.url(), &["connection.created"]).await;
    let path = format!("/api/v1/webhooks/{id}/rotate-secret");
    let (status, body) = send(&admin, Method::POST, &path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new = body["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let start = lakegate::clock::Clock::now(&s.app.clock);
    assert_eq!(body["previous_secret_until"], start + 86_400);
    let listed = admin.get_json(&format!("/api/v1/webhooks/{id}")).await;
    assert!(!listed.to_string().contains(&new) && !listed.to_string().contains(&old));

    let ed = s.user("ed@acme.test", Role::Editor).await;
    s.connection(&ed, false).await;
    assert_eq!(deliver(&s.app).await, 1);
    let during = &receiver.got()[0];
    assert_eq!(
        during.signature.split(' ').count(),
        2,
        "{}",
        during.signature
    );
    verify(&new, during);
    verify(&old, during);

    s.advance(86_400);
    let ed = fresh_session(&s, "ed@acme.test").await;
    s.connection(&ed, false).await;
    assert_eq!(deliver(&s.app).await, 1);
    let after = &receiver.got()[1];
    assert_eq!(after.signature.split(' ').count(), 1, "{}", after.signature);
    verify(&new, after);
    let admin = fresh_session(&s, "admin@acme.test").await;
    let audit = admin
        .get_json("/api/v1/audit?action=webhook.rotate_secret")
        .await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");
    assert!(!crate::harness::captured_logs().contains(&new));
}
