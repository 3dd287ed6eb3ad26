//! A replica dies mid-delivery: a real `lakegate serve` process takes a webhook delivery's
//! lease and is killed with SIGKILL before sending it (paused at the `webhook:claimed`
//! failpoint); a second process delivers it once the lease has lapsed, with the same
//! `webhook-id`, and the receiver gets it once. On the test run's backend (PostgreSQL, or
//! one SQLite file shared by both processes).

use std::sync::Arc;

use lakegate::audit::{self, Actor, Event};
use lakegate::crypto::envelope::Keyring;

use crate::harness::{START, TestApp, TestDb, Workspace};
use crate::processes::{Cluster, until};

const CLAIMED: &str = "webhook:claimed";

#[tokio::test]
async fn a_delivery_held_by_a_killed_process_is_sent_by_another_once() {
    let receiver = crate::webhook_receiver::Receiver::start().await;
    let db = TestDb::current().await;
    let (master_key, key) = crate::processes::master_key();
    let ws = Workspace::start().await;
    // The receiver allowed as the processes' `[webhooks]` allows it below. This app only
    // sets the world up: nothing runs its deliveries.
    let allowing = receiver.allowing();
    let setup =
        TestApp::spawn_delivering(&db, None, Arc::new(Keyring::new(key)), Some(allowing)).await;
    let org = setup.org("acme").await;
    let actor = Actor::cli(Some(org.id.clone()));
    setup
        .state
        .services
        .webhooks
        .create(
            &actor,
            &org.id,
            &receiver.url(),
            &["connection.created".into()],
        )
        .await
        .unwrap();
    audit::record(
        &setup.store,
        &actor,
        START,
        Event::success("connection.create", "c1".to_owned()),
    )
    .await
    .unwrap();

    let mut cluster = Cluster::new(&db, &ws, &master_key, START + 10);
    cluster
        .env
        .push(("LAKEGATE_WEBHOOKS_ALLOWED_CIDRS", "127.0.0.0/8".into()));
    cluster.env.push((
        "LAKEGATE_WEBHOOKS_INSECURE_HTTP_HOSTS",
        receiver.addr.to_string(),
    ));
    // The first process takes the lease, then dies before sending.
    let mut first = cluster.start("first", &[CLAIMED]).await;
    cluster.reached(CLAIMED).await;
    first.kill9();
    assert!(receiver.got().is_empty());
    let held = setup
        .store
        .webhook_deliveries(&org.id, None, Some("pending"), 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].attempts, 0, "the attempt never finished");

    // Once the lease has lapsed, a second process delivers it. (That a live lease is
    // waited for is `webhooks.rs`'s in-process test: here it would need a wait for nothing.)
    cluster.set_clock(START + 10 + lakegate::webhooks::LEASE_SECONDS + 1);
    let second = cluster.start("second", &[]).await;
    until("the second process to deliver", async || {
        !receiver.got().is_empty()
    })
    .await;
    let delivered = setup
        .store
        .webhook_deliveries(&org.id, None, Some("delivered"), 10)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
    let got: Vec<String> = receiver.got().into_iter().map(|g| g.id).collect();
    assert_eq!(got, [held[0].message_id.clone()]);
    drop(second);
}
