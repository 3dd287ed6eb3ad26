//! Operator settings reach the running service: the per-user vending limit is the one the
//! operator set (`token_vend_limit_per_minute`), and 0 turns it off.

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

#[tokio::test]
async fn the_vend_limit_is_the_operators_and_zero_turns_it_off() {
    let app = TestApp::start().await;
    let now = app.state.now();
    let two = state_with(&app, 2);
    assert!(two.vend_limiter.check("u", now).is_ok());
    assert!(two.vend_limiter.check("u", now).is_ok());
    assert!(
        two.vend_limiter.check("u", now).is_err(),
        "the third in a minute is refused"
    );
    assert!(two.vend_limiter.check("v", now).is_ok(), "per user");
    let off = state_with(&app, 0);
    for _ in 0..1_000 {
        assert!(off.vend_limiter.check("u", now).is_ok());
    }
    let default = state_with(&app, lakegate::http::state::DEFAULT_VEND_LIMIT_PER_MINUTE);
    for _ in 0..600 {
        assert!(default.vend_limiter.check("u", now).is_ok());
    }
    assert!(
        default.vend_limiter.check("u", now).is_err(),
        "600 a minute by default"
    );
}
