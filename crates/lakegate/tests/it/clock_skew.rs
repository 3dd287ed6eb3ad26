//! Leases are judged on each replica's clock, so a replica whose clock is too far from the
//! database's takes none: it refreshes nothing, says why, and reports not ready, while a
//! replica on time refreshes as usual.

use lakegate::accounts::Role;
use lakegate::clock::ManualClock;
use lakegate::clock_skew::{ClockSkew, MAX_SKEW_SECONDS};
use lakegate::jobs::check_clock;
use reqwest::StatusCode;
use warehouse_emulator::TokenPolicy;

use crate::harness::{Sent, TestApp, TestDb, anonymous, fresh_on};
use crate::world::setup_on;

crate::on_each_backend!(a_replica_whose_clock_runs_ahead_takes_no_lease_and_says_why);

fn real_now() -> i64 {
    // The database's clock is the real one; the replicas are set against it.
    lakegate::clock::Clock::now(&lakegate::clock::SystemClock)
}

async fn a_replica_whose_clock_runs_ahead_takes_no_lease_and_says_why() {
    let db = TestDb::current().await;
    let policy = TokenPolicy {
        enable_single_use_refresh_tokens: true,
        ..TokenPolicy::default()
    };
    let s = setup_on(&db, policy).await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    s.sign_in(&b, &conn, "alice@example.com", "alice").await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;

    // Replica A on the database's time, replica B a minute ahead; the access token has
    // just expired, so using the connection needs a refresh.
    s.app.clock.advance(real_now() - s.app.clock_now());
    sqlx::query("UPDATE credentials SET access_expires_at = $1")
        .bind(real_now() - 10)
        .execute(&s.app.pool())
        .await
        .unwrap();
    let ahead = ManualClock::new(real_now() + 60);
    let b_app = TestApp::spawn_replica_with_clock(&db, &s.app, ahead.clone()).await;
    let a_guard = s.app.state.services.tokens.skew();
    let b_guard = b_app.state.services.tokens.skew();
    assert_eq!(
        check_clock(&s.app.store, &s.app.clock, a_guard).await,
        Ok(())
    );
    let skew = check_clock(&b_app.store, &ahead, b_guard)
        .await
        .unwrap_err();
    assert!((-61..=-59).contains(&skew.seconds), "{skew:?}");
    assert!(skew.seconds.abs() > MAX_SKEW_SECONDS);

    // B refreshes nothing and says why; its readiness says so too.
    let refused = fresh_on(&b_app.state, &conn, &user.id, &s.org.id, 60).await;
    assert!(
        matches!(
            refused,
            Err(lakegate::connections::ConnectionError::ClockSkew(
                ClockSkew { .. }
            ))
        ),
        "{:?}",
        refused.err()
    );
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 0);
    let ready = anonymous().get(b_app.url("/readyz")).sent().await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let why: serde_json::Value = ready.json().await.unwrap();
    assert!(why["message"].as_str().unwrap().contains("clock"), "{why}");
    // A, on time, refreshes as usual: one token call.
    let fresh = fresh_on(&s.app.state, &conn, &user.id, &s.org.id, 60).await;
    assert!(fresh.is_ok(), "{:?}", fresh.err());
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 1);
    assert_eq!(
        anonymous().get(s.app.url("/readyz")).sent().await.status(),
        StatusCode::OK
    );

    // Once B's clock is fixed, its next check lets it take part again.
    ahead.advance(-60);
    assert_eq!(check_clock(&b_app.store, &ahead, b_guard).await, Ok(()));
    assert!(
        fresh_on(&b_app.state, &conn, &user.id, &s.org.id, 60)
            .await
            .is_ok()
    );
}
