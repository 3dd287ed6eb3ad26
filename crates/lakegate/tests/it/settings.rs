//! Operator settings reach the running service: the per-user vending limit is the one the
//! operator set (`token_vend_limit_per_minute`), shared by replicas, and 0 turns it off.

use lakegate::app::{AppState, WebSettings};

use crate::harness::{LIFE, TestApp};

fn state_with(app: &TestApp, vend_limit_per_minute: u32) -> AppState {
    let web = WebSettings {
        vend_limit_per_minute,
        ..WebSettings::new(app.base.parse().unwrap(), LIFE)
    };
    AppState::new(
        app.store.clone(),
        app.state.clock.clone(),
        web,
        app.state.keyring.clone(),
        app.state.services.tokens.egress().clone(),
    )
}

/// Whether `state` lets one more token be vended to `user` now.
async fn allowed(state: &AppState, user: &str, now: i64) -> bool {
    state.vend_limiter.check(user, now).await.unwrap().is_ok()
}

#[tokio::test]
async fn the_vend_limit_is_the_operators_and_zero_turns_it_off() {
    let app = TestApp::start().await;
    let now = app.state.now();
    let two = state_with(&app, 2);
    assert!(allowed(&two, "u", now).await);
    assert!(allowed(&two, "u", now).await);
    assert!(
        !allowed(&two, "u", now).await,
        "the third in a minute is refused"
    );
    assert!(allowed(&two, "v", now).await, "per user");
    // Another replica of the same store sees the count: the limit is shared.
    let twin = state_with(&app, 2);
    assert!(
        !allowed(&twin, "u", now).await,
        "counted by the other replica"
    );
    let off = state_with(&app, 0);
    for _ in 0..1_000 {
        assert!(allowed(&off, "w", now).await);
    }
    let default = state_with(&app, lakegate::http::state::DEFAULT_VEND_LIMIT_PER_MINUTE);
    for _ in 0..600 {
        assert!(allowed(&default, "x", now).await);
    }
    assert!(
        !allowed(&default, "x", now).await,
        "600 a minute by default"
    );
}
