//! BigQuery sign-ins whose ID token is wrong in one way each — another audience, another
//! issuer, expired, another sign-in's nonce or none, a forged payload, an unverified email
//! — are refused and store nothing; refresh tokens that never rotate, shared by three
//! replicas and a crowd of callers, make one token call per expiry; and a refresh Google
//! refuses under an admin's session control (`invalid_rapt`) asks for a new sign-in with
//! Google's words. On both backends.

use reqwest::StatusCode;
use serde_json::json;
use warehouse_emulator::google::Tamper;

use crate::bigquery_connect::{configured, google_consent, started};
use crate::harness::{Sent, TestDb};
use crate::snowflake_connect::post;
use crate::world::{Setup, setup};

crate::on_each_backend!(
    an_id_token_that_fails_any_check_stores_nothing,
    invalid_rapt_asks_for_a_new_sign_in_with_googles_words,
    every_connection_of_a_google_account_uses_its_newest_grant,
);

mod stress {
    use super::*;

    async fn unrotated_tokens_refresh_once_per_expiry_across_three_replicas(db: &TestDb) {
        super::storm(db).await;
    }

    crate::on_both_backends!(unrotated_tokens_refresh_once_per_expiry_across_three_replicas);
}

const BQ: &str = "https://www.googleapis.com/auth/bigquery";

fn body() -> serde_json::Value {
    json!({"name": "BQ", "provider": "bigquery", "auth": "oauth", "project": "lakegate-samples"})
}

/// A BigQuery connection of ed, signed in as `email`: (browser, connection, ed's user id).
async fn signed_in(s: &Setup, email: &str) -> (crate::harness::Browser, String, String) {
    let ed = configured(s).await;
    let (id, authorize) = started(&ed, body()).await;
    let callback = google_consent(s, &authorize, email, &[BQ]).await;
    assert_eq!(
        ed.client.get(&callback).sent().await.status(),
        StatusCode::SEE_OTHER
    );
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    (ed, id, user.id)
}

async fn an_id_token_that_fails_any_check_stores_nothing() {
    let s = setup().await;
    let ed = configured(&s).await;
    let (id, _) = started(&ed, body()).await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    for tamper in [
        Tamper::WrongAudience,
        Tamper::WrongIssuer,
        Tamper::Expired,
        Tamper::WrongNonce,
        Tamper::NoNonce,
        Tamper::BadSignature,
        Tamper::UnverifiedEmail,
    ] {
        let authorize = crate::snowflake_connect::authorize_url(&ed, &id).await;
        let callback = google_consent(&s, &authorize, "alice@example.com", &[BQ]).await;
        s.ws.emu.tamper_next_id_token(tamper);
        let back = ed.client.get(&callback).sent().await;
        let location = back.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            location.ends_with("signin=id_token_refused"),
            "{tamper:?}: {location}"
        );
        assert!(
            s.app
                .store
                .credential(&id, &user.id)
                .await
                .unwrap()
                .is_none(),
            "{tamper:?} reached the store"
        );
    }
    // The same flow with an honest token works: the refusals were the checks.
    let authorize = crate::snowflake_connect::authorize_url(&ed, &id).await;
    let callback = google_consent(&s, &authorize, "alice@example.com", &[BQ]).await;
    let back = ed.client.get(&callback).sent().await;
    assert!(
        back.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("signin=ok")
    );
}

async fn invalid_rapt_asks_for_a_new_sign_in_with_googles_words() {
    let s = setup().await;
    let (ed, conn, _) = signed_in(&s, "bob@example.com").await;
    s.ws.emu.require_google_reauth("bob@example.com");
    s.advance(3_400);
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
        cred["reason"].as_str().unwrap().contains("invalid_rapt"),
        "Google's words: {cred}"
    );
}

/// Three replicas, 90 callers, many expiries: exactly one refresh call each, each with the
/// sign-in's refresh token (Google sends none back, so Lakegate keeps it).
async fn storm(db: &TestDb) {
    let s = crate::world::setup_on(db, warehouse_emulator::TokenPolicy::default()).await;
    let (_ed, conn, user_id) = signed_in(&s, "alice@example.com").await;
    let org_id = s.org.id.clone();
    let replicas = crate::storm::replicas(db, &s).await;
    let before = s.ws.emu.counters().token_calls_refresh_token;
    for round in 1..=crate::storm::rounds(10) {
        // Hour-long tokens: 30 seconds left, under the minute every caller asks for.
        s.advance(3_570);
        crate::storm::crowd(&replicas, (&conn, &user_id, &org_id), 90, round).await;
        assert_eq!(
            s.ws.emu.counters().token_calls_refresh_token - before,
            round,
            "round {round}: one refresh per expiry"
        );
    }
    let last = s
        .app
        .store
        .credential(&conn, &user_id)
        .await
        .unwrap()
        .unwrap();
    // Every refresh presented the one refresh token of the sign-in (a lost one would be
    // refused as "expired or revoked" and fail a caller above).
    assert_eq!(last.status.as_str(), "active");
}

/// Google keeps 100 grants per account and client and drops the oldest: a new sign-in's
/// grant goes to every connection of that user and Google account, so none keeps using a
/// grant Google may drop — and another Google account's connection keeps its own.
async fn every_connection_of_a_google_account_uses_its_newest_grant() {
    let s = setup().await;
    let ed = configured(&s).await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let sign_in = |email: &'static str| {
        let (s, ed) = (&s, &ed);
        async move {
            let (id, authorize) = started(ed, body()).await;
            let callback = google_consent(s, &authorize, email, &[BQ]).await;
            assert_eq!(
                ed.client.get(&callback).sent().await.status(),
                StatusCode::SEE_OTHER
            );
            id
        }
    };
    let tokens = |conn: String| {
        let (s, org, user) = (&s, s.org.id.clone(), user.id.clone());
        async move { crate::canary::credential_tokens(&s.app, &org, &conn, &user).await }
    };
    let a = sign_in("alice@example.com").await;
    let [_, first] = tokens(a.clone()).await;
    let bob = sign_in("bob@example.com").await;
    let b = sign_in("alice@example.com").await;
    let [_, newest] = tokens(b.clone()).await;
    assert_ne!(first, newest, "each sign-in is a new grant");
    assert_eq!(
        tokens(a.clone()).await[1],
        newest,
        "A moved to the newest grant"
    );
    assert_ne!(
        tokens(bob).await[1],
        newest,
        "another Google account keeps its own"
    );
    // Google drops A's first grant: A does not notice.
    assert!(s.ws.emu.kill_refresh_token(&first));
    s.advance(3_400);
    let (status, body) = post(
        &ed,
        &format!("/api/v1/connections/{a}/queries"),
        json!({"statement": "SELECT 1"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
