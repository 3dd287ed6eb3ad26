//! The token lifecycle: refresh before expiry, one refresh per expiry across tasks and
//! replicas, rotated refresh tokens persisted, and the error taxonomy (dead refresh token,
//! rejected client, transient trouble) — against the emulator's strict rotation.

use lakegate::accounts::Role;
use lakegate::auth::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::{Fault, Target, TokenPolicy};

use crate::harness::{Browser, Sent, TestApp, fresh_on};
use crate::world::{Setup, setup, setup_with};

crate::on_each_backend!(
    expiring_tokens_are_refreshed_and_rotated_tokens_persisted,
    concurrent_callers_in_two_replicas_share_one_refresh,
    a_refresh_without_a_refresh_token_keeps_the_old_one,
    a_dead_refresh_token_asks_the_user_to_sign_in_again_once,
    rejected_client_credentials_flag_the_integration_not_the_users,
    an_expired_token_the_provider_cannot_renew_yet_is_503_with_retry_after,
    transient_failures_back_off_and_keep_serving_the_current_token,
    the_background_refresher_renews_due_tokens_and_never_deleted_ones,
    tokens_are_vended_only_from_the_callers_own_credential,
    a_vend_minimum_longer_than_issued_tokens_does_not_refresh_on_every_call,
    a_hundred_concurrent_callers_make_one_token_call,
    refreshes_token_calls_and_credentials_show_in_metrics,
);

fn strict_rotation() -> TokenPolicy {
    TokenPolicy {
        enable_single_use_refresh_tokens: true,
        ..TokenPolicy::default()
    }
}

async fn signed_in(s: &Setup) -> (Browser, String) {
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    s.sign_in(&b, &conn, "alice@example.com", "alice").await;
    (b, conn)
}

/// The entry point every caller uses: a token with at least a minute left.
async fn fresh(
    s: &Setup,
    conn: &str,
    user_id: &str,
    org_id: &str,
) -> Result<lakegate::tokens::Fresh, lakegate::connections::ConnectionError> {
    s.app.fresh(conn, user_id, org_id, 60).await
}

async fn ids(s: &Setup) -> (String, String) {
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    (user.id, s.org.id.clone())
}

async fn expiring_tokens_are_refreshed_and_rotated_tokens_persisted() {
    let s = setup_with(strict_rotation()).await;
    let (b, conn) = signed_in(&s).await;
    for round in 1..=3u64 {
        s.advance(3600 - 200);
        assert_eq!(
            uses_warehouses(&b, &conn).await,
            StatusCode::OK,
            "round {round}"
        );
        let c = s.ws.emu.counters();
        assert_eq!(
            (
                c.token_calls_refresh_token,
                c.refresh_rotations,
                c.reuse_detections
            ),
            (round, round, 0),
            "round {round}"
        );
    }
    // A token with plenty of time left is not refreshed again.
    assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::OK);
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 3);
    // A refresh never asks for more than was granted: it sends no scope at all.
    assert_eq!(s.ws.emu.counters().refresh_requests_with_scope, 0);
}

async fn concurrent_callers_in_two_replicas_share_one_refresh() {
    let s = setup_with(strict_rotation()).await;
    let (_b, conn) = signed_in(&s).await;
    let replica = TestApp::spawn_replica(&s.app).await;
    let (user_id, org_id) = ids(&s).await;
    s.advance(3600 - 120);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let state = if i % 2 == 0 {
            s.app.state.clone()
        } else {
            replica.state.clone()
        };
        let (conn, user_id, org_id) = (conn.clone(), user_id.clone(), org_id.clone());
        tasks.spawn(async move {
            fresh_on(&state, &conn, &user_id, &org_id, 60)
                .await
                .map(|f| f.token.expose().to_owned())
        });
    }
    let mut tokens = Vec::new();
    while let Some(r) = tasks.join_next().await {
        tokens.push(r.unwrap().expect("every caller gets a token"));
    }
    tokens.dedup();
    assert_eq!(tokens.len(), 1, "everyone got the same, new access token");
    let c = s.ws.emu.counters();
    assert_eq!(
        (c.token_calls_refresh_token, c.reuse_detections),
        (1, 0),
        "one refresh, no reuse of a rotated token"
    );
}

async fn a_refresh_without_a_refresh_token_keeps_the_old_one() {
    let s = setup().await;
    let (b, conn) = signed_in(&s).await;
    s.ws.emu.fault(Fault::omit_refresh_token());
    for _ in 0..2 {
        s.advance(3600 - 200);
        assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::OK);
    }
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 2);
}

pub(crate) async fn dead_token(s: &Setup) -> (Browser, String) {
    let (b, conn) = signed_in(s).await;
    let (user_id, _) = ids(s).await;
    // Kill the stored refresh token at the emulator, as if it had expired or been revoked.
    let cred = s
        .app
        .store
        .credential(&conn, &user_id)
        .await
        .unwrap()
        .unwrap();
    let rt = s
        .app
        .state
        .keyring
        .open(
            &s.app.store,
            lakegate::connections::credential_binding(&cred.org_id, &cred.id, "refresh_token"),
            &cred.refresh_token_enc,
        )
        .await
        .unwrap();
    let kill =
        s.ws.browser()
            .post(s.ws.emu.base_url.clone() + "/emulator/control/refresh-tokens/kill")
            .json(&json!({"refresh_token": String::from_utf8(rt.to_vec()).unwrap()}))
            .sent()
            .await;
    assert_eq!(kill.status(), StatusCode::NO_CONTENT);
    (b, conn)
}

async fn a_dead_refresh_token_asks_the_user_to_sign_in_again_once() {
    let s = setup().await;
    let (b, conn) = dead_token(&s).await;
    s.advance(3600 - 200);
    let resp = b
        .client
        .get(b.url(&format!("/api/v1/connections/{conn}/warehouses")))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"]["code"],
        "reauth_required"
    );
    let cred = b
        .get_json(&format!("/api/v1/connections/{conn}/credential"))
        .await;
    assert_eq!(cred["status"], "reauth_required");
    assert!(
        cred["reason"]
            .as_str()
            .unwrap()
            .contains("Refresh token is invalid"),
        "{cred}"
    );
    // No more attempts: later uses do not call the token endpoint again.
    for _ in 0..3 {
        assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::CONFLICT);
    }
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 1);
    let page = b.page(&format!("/connections/{conn}")).await;
    assert!(page.contains("sign in again"), "the page says so");
    let admin = s
        .app
        .user_with(&s.org, "admin@acme.test", Role::Admin, false)
        .await;
    let a = s.app.session_for(&admin).await;
    let events = a
        .get_json("/api/v1/audit?action=credential.reauth_required")
        .await;
    assert_eq!(
        events["events"].as_array().unwrap().len(),
        1,
        "one notification"
    );
    // Reconnect fixes it.
    assert!(
        s.sign_in(&b, &conn, "alice@example.com", "alice")
            .await
            .ends_with("signin=ok")
    );
    assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::OK);
}

async fn rejected_client_credentials_flag_the_integration_not_the_users() {
    let s = setup().await;
    let (b, conn) = signed_in(&s).await;
    // Rotated in Databricks behind Lakegate's back.
    s.ws.emu.rotate_app_secret(&s.ws.client_id).unwrap();
    s.advance(3600 - 200);
    assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::CONFLICT);
    let integration = s
        .app
        .store
        .integration(&s.org.id, "databricks-oauth-u2m")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(integration.status.as_str(), "client_rejected");
    assert_eq!(
        b.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["status"],
        "active",
        "no re-auth storm"
    );
}

async fn an_expired_token_the_provider_cannot_renew_yet_is_503_with_retry_after() {
    let s = setup().await;
    let (b, conn) = signed_in(&s).await;
    // The token endpoint stays down while the access token runs out.
    s.ws.emu
        .fault(Fault::status(Target::Token, 503).retry_after(120).times(50));
    s.advance(3600 - 10);
    let resp = b
        .get(&format!("/api/v1/connections/{conn}/warehouses"))
        .await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let retry: i64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        retry, 120,
        "the backoff is announced: the provider's Retry-After"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert_eq!(
        b.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["status"],
        "active",
        "a provider outage never asks the user to sign in again"
    );
}

async fn transient_failures_back_off_and_keep_serving_the_current_token() {
    let s = setup().await;
    let (b, conn) = signed_in(&s).await;
    s.ws.emu
        .fault(Fault::status(Target::Token, 503).retry_after(40));
    s.advance(3600 - 200);
    assert_eq!(
        uses_warehouses(&b, &conn).await,
        StatusCode::OK,
        "the current token still works"
    );
    // (The emulator counts only token calls that got past its fault injection.)
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 0);
    assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::OK);
    assert_eq!(
        s.ws.emu.counters().token_calls_refresh_token,
        0,
        "no retry before the backoff (Retry-After 40 s) ends"
    );
    assert_eq!(
        b.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["status"],
        "active",
        "not marked broken"
    );
    s.advance(60);
    assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::OK);
    assert_eq!(
        s.ws.emu.counters().token_calls_refresh_token,
        1,
        "retried after the backoff, and succeeded"
    );
}

async fn the_background_refresher_renews_due_tokens_and_never_deleted_ones() {
    let s = setup().await;
    let (b, conn) = signed_in(&s).await;
    let gone = s.connection(&b, false).await;
    s.sign_in(&b, &gone, "alice@example.com", "alice").await;
    let d = b
        .client
        .delete(b.url(&format!("/api/v1/connections/{gone}")))
        .header("x-csrf-token", &b.csrf)
        .sent()
        .await;
    assert_eq!(d.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.app.refresh_due(86_400).await, 0, "nothing is due yet");
    s.advance(3600 - 100);
    assert_eq!(s.app.refresh_due(86_400).await, 1);
    assert_eq!(
        s.ws.emu.counters().token_calls_refresh_token,
        1,
        "the deleted connection's credential went with it"
    );
    let _ = conn;
}

async fn tokens_are_vended_only_from_the_callers_own_credential() {
    let s = setup().await;
    let (b, conn) = signed_in(&s).await;
    let editor = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let (vend, _) = s.app.token(&editor, &[Scope::TokensVend]).await;
    let (read_only, _) = s.app.token(&editor, &[Scope::ConnectionsRead]).await;
    let http = crate::harness::http();
    let url = format!("{}/api/v1/connections/{conn}/access-token", s.app.base);
    let got: Value = http
        .post(&url)
        .bearer_auth(&vend)
        .json(&json!({"min_remaining_seconds": 600}))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert!(got.get("error").is_none(), "{got}");
    assert_eq!(got["token_type"], "Bearer");
    assert_eq!(got["host"], s.ws.host());
    let me =
        s.ws.browser()
            .get(s.ws.emu.base_url.clone() + "/api/2.0/preview/scim/v2/Me")
            .bearer_auth(got["access_token"].as_str().unwrap())
            .sent()
            .await;
    assert_eq!(
        me.json::<Value>().await.unwrap()["userName"],
        "alice@example.com"
    );
    assert_eq!(
        http.post(&url)
            .bearer_auth(&read_only)
            .sent()
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let other = s
        .app
        .user_with(&s.org, "ed2@acme.test", Role::Editor, false)
        .await;
    let (other_vend, _) = s.app.token(&other, &[Scope::TokensVend]).await;
    assert_eq!(
        http.post(&url)
            .bearer_auth(&other_vend)
            .sent()
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "a private connection of someone else"
    );
    let bad = http
        .post(&url)
        .bearer_auth(&vend)
        .json(&json!({"min_remaining_seconds": 99999}))
        .sent()
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let _ = b;
}

/// Databricks issues shorter tokens than a vend request asks for: the answer says so
/// (503 token_unavailable) without a refresh on every call — a refresh cannot do better.
async fn a_vend_minimum_longer_than_issued_tokens_does_not_refresh_on_every_call() {
    let s = setup_with(TokenPolicy {
        access_token_ttl_in_minutes: 30,
        ..TokenPolicy::default()
    })
    .await;
    let (_b, conn) = signed_in(&s).await;
    let editor = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let (vend, _) = s.app.token(&editor, &[Scope::TokensVend]).await;
    let url = format!("{}/api/v1/connections/{conn}/access-token", s.app.base);
    let ask = |min: i64| {
        crate::harness::http()
            .post(&url)
            .bearer_auth(&vend)
            .json(&json!({ "min_remaining_seconds": min }))
            .sent()
    };
    for _ in 0..3 {
        let resp = ask(3000).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "token_unavailable");
    }
    assert_eq!(
        s.ws.emu.counters().token_calls_refresh_token,
        0,
        "a fresh 30-minute token is the best Databricks issues: nothing to refresh"
    );
    // Once the token is older than a refresh would be by more than the lead time, one
    // refresh renews it — and only one.
    s.advance(400);
    for _ in 0..3 {
        assert_eq!(ask(3000).await.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 1);
    // A minimum the issued tokens can satisfy is answered with a token.
    let ok = ask(1200).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 1);
}

mod stress {
    use super::*;
    use crate::harness::TestDb;

    crate::on_both_backends!(three_replicas_many_callers_many_rounds_one_refresh_per_expiry);

    /// Three replicas, each with its own connection pool on one store, 50 callers each, many
    /// expiries: exactly one token call per expiry, no reuse of a rotated token, nothing lost.
    async fn three_replicas_many_callers_many_rounds_one_refresh_per_expiry(db: &TestDb) {
        let s = crate::world::setup_on(db, strict_rotation()).await;
        let (_b, conn) = signed_in(&s).await;
        let (user_id, org_id) = ids(&s).await;
        let replicas = crate::storm::replicas(db, &s).await;
        let rounds = crate::storm::rounds(200);
        for round in 1..=rounds {
            s.advance(3600 - 120);
            crate::storm::crowd(&replicas, (&conn, &user_id, &org_id), 150, round).await;
            let c = s.ws.emu.counters();
            assert_eq!(
                (c.token_calls_refresh_token, c.reuse_detections),
                (round, 0),
                "round {round}"
            );
        }
        let cred = s
            .app
            .store
            .credential(&conn, &user_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cred.status.as_str(), "active", "no credential lost");
        eprintln!(
            "stress: {rounds} rounds x 150 callers on 3 replicas ({:?}): 1.00 token calls per expiry, 0 reuse",
            db.backend
        );
    }
}

async fn a_hundred_concurrent_callers_make_one_token_call() {
    let s = setup_with(strict_rotation()).await;
    let (_b, conn) = signed_in(&s).await;
    let (user_id, org_id) = ids(&s).await;
    s.advance(3600);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let state = s.app.state.clone();
        let (conn, user_id, org_id) = (conn.clone(), user_id.clone(), org_id.clone());
        tasks.spawn(async move {
            fresh_on(&state, &conn, &user_id, &org_id, 60)
                .await
                .map(|f| f.token.expose().to_owned())
        });
    }
    let mut tokens = std::collections::HashSet::new();
    while let Some(r) = tasks.join_next().await {
        tokens.insert(r.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1, "all got the same token");
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, 1);
}

async fn refreshes_token_calls_and_credentials_show_in_metrics() {
    let s = setup_with(strict_rotation()).await;
    let (b, conn) = signed_in(&s).await;
    s.advance(3600 - 200);
    assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::OK);
    let metrics = crate::harness::http()
        .get(s.app.url("/metrics"))
        .sent()
        .await
        .text()
        .await
        .unwrap();
    for line in [
        "lakegate_token_refreshes_total{outcome=\"success\",reason=\"rotated\"} 1".to_owned(),
        format!("lakegate_token_calls_total{{host=\"{}\"}} 2", s.ws.host()),
        "lakegate_credentials{status=\"active\"} 1".to_owned(),
        "lakegate_token_time_to_fresh_seconds_count 1".to_owned(),
    ] {
        assert!(metrics.contains(&line), "missing {line:?} in\n{metrics}");
    }
    assert!(!metrics.contains("doau"), "no token in metrics");
}

mod lifecycle {
    use super::*;

    crate::on_each_backend!(
        an_idle_credential_is_kept_alive_across_three_days,
        the_absolute_lifetime_warns_once_then_requires_sign_in,
        no_transient_fault_ever_requires_a_new_sign_in,
        a_crash_after_the_token_response_ends_in_reauth_never_active_but_dead,
        with_a_grace_window_a_crash_after_the_token_response_recovers,
        a_crash_after_the_commit_leaves_a_working_credential,
    );

    const HOUR: i64 = 3600;

    async fn status(b: &Browser, conn: &str) -> String {
        b.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// A browser session started now (days of simulated time outlive any session).
    async fn browser_now(s: &Setup) -> Browser {
        let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
        s.app.session_for(&user).await
    }

    async fn an_idle_credential_is_kept_alive_across_three_days() {
        // Refresh tokens that die after one idle day; Lakegate refreshes idle credentials every 12 h.
        let s = setup_with(TokenPolicy {
            refresh_token_ttl_in_minutes: 1440,
            ..strict_rotation()
        })
        .await;
        let (_b, conn) = signed_in(&s).await;
        for _ in 0..12 {
            s.advance(6 * HOUR);
            s.app.refresh_due(12 * HOUR).await;
        }
        assert_eq!(
            s.ws.emu.counters().token_calls_refresh_token,
            6,
            "one keep-alive every 12 hours"
        );
        let b = browser_now(&s).await;
        assert_eq!(
            uses_warehouses(&b, &conn).await,
            StatusCode::OK,
            "alive after 3 days"
        );
        // Control: without keep-alive, the refresh token dies after a day of idleness.
        s.advance(25 * HOUR);
        let b = browser_now(&s).await;
        assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::CONFLICT);
        assert_eq!(status(&b, &conn).await, "reauth_required");
    }

    async fn the_absolute_lifetime_warns_once_then_requires_sign_in() {
        let policy = TokenPolicy {
            refresh_token_ttl_in_minutes: 1440,
            absolute_session_lifetime_in_minutes: Some(4320),
            ..strict_rotation()
        };
        let s = setup_with(policy).await;
        // The admin copies the app connection's lifetimes into the integration.
        let lifetimes = lakegate::integrations::TokenLifetimes {
            refresh_ttl_minutes: 1440,
            absolute_lifetime_minutes: Some(4320),
        };
        s.save_integration(&s.ws.client_id, None, Some(lifetimes))
            .await;
        let (b, conn) = signed_in(&s).await;
        let cred = b
            .get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await;
        assert!(cred["sign_in_needed_by"].is_string());
        let mut warnings = 0;
        for hour in (6..=66).step_by(6) {
            s.advance(6 * HOUR);
            s.app.refresh_due(12 * HOUR).await;
            warnings += s.app.warn_due(12 * HOUR).await;
            assert_eq!(warnings, usize::from(hour >= 60), "hour {hour}");
        }
        let b = browser_now(&s).await;
        assert_eq!(status(&b, &conn).await, "active");
        let page = b.page(&format!("/connections/{conn}")).await;
        assert!(
            page.contains("reconsent-warning"),
            "a banner on the connection page"
        );
        let admin = s
            .app
            .user_with(&s.org, "admin@acme.test", Role::Admin, false)
            .await;
        let events = s
            .app
            .session_for(&admin)
            .await
            .get_json("/api/v1/audit?action=credential.reauth_soon")
            .await;
        assert_eq!(
            events["events"].as_array().unwrap().len(),
            1,
            "one audit event"
        );
        s.advance(7 * HOUR);
        let b = browser_now(&s).await;
        assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::CONFLICT);
        assert_eq!(
            status(&b, &conn).await,
            "reauth_required",
            "after the absolute lifetime"
        );
    }

    async fn no_transient_fault_ever_requires_a_new_sign_in() {
        let s = setup_with(strict_rotation()).await;
        let (b, conn) = signed_in(&s).await;
        let (user_id, org_id) = ids(&s).await;
        for fault in [
            Fault::status(Target::Token, 429).retry_after(5),
            Fault::status(Target::Token, 500),
            Fault::status(Target::Token, 502),
            Fault::status(Target::Token, 503),
            Fault::malformed(Target::Token),
            Fault::reset(Target::Token),
        ] {
            let described = format!("{fault:?}");
            s.ws.emu.fault(fault);
            s.advance(3600 - 200);
            let _ = s.app.fresh(&conn, &user_id, &org_id, 60).await;
            assert_eq!(status(&b, &conn).await, "active", "{described}");
            // Past any backoff; then a clean refresh renews the token.
            s.advance(150);
            fresh(&s, &conn, &user_id, &org_id)
                .await
                .unwrap_or_else(|e| panic!("{described}: {e}"));
        }
        assert_eq!(s.ws.emu.counters().reuse_detections, 0);
    }

    async fn a_crash_after_the_token_response_ends_in_reauth_never_active_but_dead() {
        let s = setup_with(strict_rotation()).await;
        let (b, conn) = signed_in(&s).await;
        let (user_id, org_id) = ids(&s).await;
        s.advance(3600 - 200);
        s.app.state.failpoints.arm("refresh:after_token_response");
        assert!(fresh(&s, &conn, &user_id, &org_id).await.is_err());
        // The rotated refresh token was lost with the "process"; the old one is now a reuse.
        s.advance(31);
        let next = fresh(&s, &conn, &user_id, &org_id).await;
        assert!(next.is_err());
        assert_eq!(
            status(&b, &conn).await,
            "reauth_required",
            "it says so instead of pretending to work"
        );
    }

    async fn with_a_grace_window_a_crash_after_the_token_response_recovers() {
        let s = setup_with(TokenPolicy {
            reuse_grace_seconds: 120,
            ..strict_rotation()
        })
        .await;
        let (b, conn) = signed_in(&s).await;
        let (user_id, org_id) = ids(&s).await;
        s.advance(3600 - 200);
        s.app.state.failpoints.arm("refresh:after_token_response");
        assert!(fresh(&s, &conn, &user_id, &org_id).await.is_err());
        s.advance(31);
        fresh(&s, &conn, &user_id, &org_id).await.unwrap();
        assert_eq!(status(&b, &conn).await, "active");
    }

    async fn a_crash_after_the_commit_leaves_a_working_credential() {
        let s = setup_with(strict_rotation()).await;
        let (b, conn) = signed_in(&s).await;
        let (user_id, org_id) = ids(&s).await;
        s.advance(3600 - 200);
        s.app.state.failpoints.arm("refresh:after_commit");
        assert!(fresh(&s, &conn, &user_id, &org_id).await.is_err());
        assert_eq!(uses_warehouses(&b, &conn).await, StatusCode::OK);
        assert_eq!(
            s.ws.emu.counters().token_calls_refresh_token,
            1,
            "the stored pair is used, no second refresh"
        );
    }
}

/// The status of listing warehouses with the browser's own credential: a call that needs a
/// usable access token.
pub(crate) async fn uses_warehouses(b: &Browser, conn: &str) -> StatusCode {
    b.status(&format!("/api/v1/connections/{conn}/warehouses"))
        .await
}
