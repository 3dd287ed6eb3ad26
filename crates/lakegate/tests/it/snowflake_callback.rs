//! The Snowflake callback's checks, each on a live flow (so a removed check fails the
//! test): another browser (which ends the flow: its state is single-use), a replay, a
//! tampered `state`, and Snowflake's `access_denied`. None of them redeems a code or
//! stores anything. On both
//! backends.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Browser, Sent, anonymous, query_param};
use crate::snowflake_connect::{
    authorize_url, configured, post, snowflake_consent, snowflake_decide,
};
use crate::world::Setup;

crate::on_each_backend!(
    a_callback_in_another_browser_or_replayed_stores_nothing,
    a_tampered_state_or_a_denied_consent_stores_nothing,
);

const ALICE: (&str, &str) = ("alice@example.com", "alice");

/// An editor's new Snowflake connection and the authorize URL of its sign-in.
async fn started(s: &Setup) -> (Browser, String, String) {
    let ed = configured(s).await;
    let (_, conn) = post(
        &ed,
        "/api/v1/connections",
        json!({"name": "Snow", "provider": "snowflake", "auth": "oauth"}),
    )
    .await;
    let id = conn["id"].as_str().unwrap().to_owned();
    let authorize = authorize_url(&ed, &id).await;
    (ed, id, authorize)
}

async fn stored(s: &Setup, conn: &str) -> bool {
    let ed = s.app.find_user(&s.org.id, "ed@acme.test").await;
    s.app
        .store
        .credential(conn, &ed.id)
        .await
        .unwrap()
        .is_some()
}

fn code_exchanges(s: &Setup) -> u64 {
    s.token_calls()
}

async fn a_callback_in_another_browser_or_replayed_stores_nothing() {
    let s = crate::world::setup().await;
    let (ed, conn, authorize) = started(&s).await;
    let callback = snowflake_consent(&s, &authorize, ALICE, "ANALYST").await;

    // A browser that did not start the flow (a link sent to someone else).
    let elsewhere = anonymous().get(&callback).sent().await;
    assert_eq!(elsewhere.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code_exchanges(&s), 0, "the code was not redeemed");
    assert!(!stored(&s, &conn).await);

    // The flow ended at its first callback: the browser that started it starts again.
    let after = ed.client.get(&callback).sent().await;
    assert_eq!(after.status(), StatusCode::BAD_REQUEST);
    assert!(after.text().await.unwrap().contains("Start"));
    assert_eq!(code_exchanges(&s), 0, "the code was never redeemed");

    let authorize = authorize_url(&ed, &conn).await;
    let callback = snowflake_consent(&s, &authorize, ALICE, "ANALYST").await;
    let done = ed.client.get(&callback).sent().await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert!(stored(&s, &conn).await);
    let replay = ed.client.get(&callback).sent().await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST, "a flow ends once");
    assert_eq!(code_exchanges(&s), 1, "one code redeemed, once");
}

async fn a_tampered_state_or_a_denied_consent_stores_nothing() {
    let s = crate::world::setup().await;
    let (ed, conn, authorize) = started(&s).await;
    let callback = snowflake_consent(&s, &authorize, ALICE, "ANALYST").await;
    let state = query_param(&callback, "state").unwrap();
    let forged = callback.replace(&state, &format!("{state}x"));
    assert_eq!(
        ed.client.get(&forged).sent().await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(code_exchanges(&s), 0);
    assert!(!stored(&s, &conn).await);

    let authorize = authorize_url(&ed, &conn).await;
    let denied = snowflake_decide(&s, &authorize, ALICE, "ANALYST", "deny").await;
    assert!(denied.contains("error=access_denied"), "{denied}");
    let back = ed.client.get(&denied).sent().await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let page = ed
        .client
        .get(ed.url(back.headers()["location"].to_str().unwrap()))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Sign-in cancelled: Snowflake access was not granted"),
        "the page says so in Snowflake's name"
    );
    assert_eq!(code_exchanges(&s), 0);
    assert!(!stored(&s, &conn).await);
}
