//! The memo behind the hot paths (`store/memo.rs`) never outlives a change: revoking an
//! API token, disabling a user, disconnecting a credential or deleting a connection holds
//! at once on the replica that made the change and within one second on every other
//! (each replica here has its own store handle, as separate processes do). On both backends.

use lakegate::accounts::Role;
use lakegate::auth::Scope;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Sent, TestApp, TestDb, http};
use crate::shared_identities::send;
use crate::world::{Setup, setup_on};

mod replicas {
    use super::*;

    async fn a_change_holds_at_once_here_and_within_a_second_on_every_replica(db: &TestDb) {
        super::changes_reach_every_replica(db).await;
    }

    crate::on_both_backends!(a_change_holds_at_once_here_and_within_a_second_on_every_replica);
}

/// Vends a token of `conn` on `app` with `token`: the status.
async fn vend(app: &TestApp, token: &str, conn: &str) -> StatusCode {
    http()
        .post(app.url(&format!("/api/v1/connections/{conn}/access-token")))
        .bearer_auth(token)
        .sent()
        .await
        .status()
}

/// Both replicas vend (so both remember the rows), `change` happens through the first,
/// then the first refuses at once and the second once a second has passed.
async fn holds_everywhere<F: AsyncFnOnce()>(
    s: &Setup,
    second: &TestApp,
    token: &str,
    conn: &str,
    refused: StatusCode,
    change: F,
) {
    for app in [&s.app, second] {
        assert_eq!(vend(app, token, conn).await, StatusCode::OK, "before");
        assert_eq!(vend(app, token, conn).await, StatusCode::OK, "remembered");
    }
    change().await;
    assert_eq!(
        vend(&s.app, token, conn).await,
        refused,
        "on the replica that changed it"
    );
    s.advance(1);
    assert_eq!(
        vend(second, token, conn).await,
        refused,
        "one second later elsewhere"
    );
}

async fn changes_reach_every_replica(db: &TestDb) {
    let s = setup_on(db, warehouse_emulator::TokenPolicy::default()).await;
    let second = TestApp::spawn_replica_on(db, &s.app).await;
    let admin = s.user("admin@acme.test", Role::Admin).await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let scopes = [Scope::TokensVend];
    let conn = s.connection(&ed, false).await;
    s.sign_in(&ed, &conn, "alice@example.com", "alice").await;

    // Revoking the API token.
    let (token, id) = s.app.token(&user, &scopes).await;
    holds_everywhere(
        &s,
        &second,
        &token,
        &conn,
        StatusCode::UNAUTHORIZED,
        async || {
            let (status, _) = send(
                &ed,
                Method::DELETE,
                &format!("/api/v1/tokens/{id}"),
                json!({}),
            )
            .await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        },
    )
    .await;

    // Disconnecting the credential.
    let (token, _) = s.app.token(&user, &scopes).await;
    let path = format!("/api/v1/connections/{conn}/credential");
    holds_everywhere(
        &s,
        &second,
        &token,
        &conn,
        StatusCode::CONFLICT,
        async || {
            let (status, _) = send(&ed, Method::DELETE, &path, json!({})).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        },
    )
    .await;

    // Deleting the connection.
    s.sign_in(&ed, &conn, "alice@example.com", "alice").await;
    let path = format!("/api/v1/connections/{conn}");
    holds_everywhere(
        &s,
        &second,
        &token,
        &conn,
        StatusCode::NOT_FOUND,
        async || {
            let (status, _) = send(&ed, Method::DELETE, &path, json!({})).await;
            assert_eq!(status, StatusCode::NO_CONTENT);
        },
    )
    .await;

    // Disabling the user.
    let conn = s.connection(&ed, false).await;
    s.sign_in(&ed, &conn, "alice@example.com", "alice").await;
    let path = format!("/api/v1/users/{}", user.id);
    holds_everywhere(
        &s,
        &second,
        &token,
        &conn,
        StatusCode::UNAUTHORIZED,
        async || {
            let (status, _) = send(&admin, Method::PATCH, &path, json!({"disabled": true})).await;
            assert_eq!(status, StatusCode::OK);
        },
    )
    .await;
}
