//! Shared identities — Databricks OAuth M2M (a service principal) and personal access
//! tokens: proven before they are stored, shown as the identity queries run as, renewed
//! once per expiry across replicas, flagged with the vendor's words when refused, healed by
//! a new secret or token that replaces the old one only once it works; their tokens are
//! vended only where an administrator allowed it; and a U2M connection falls back to one
//! only when a request asks, always saying so. On both backends.

use lakegate::accounts::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Browser, Sent, TestDb};
use crate::world::{Setup, setup};

crate::on_each_backend!(
    an_m2m_connection_runs_everyones_queries_as_its_principal,
    a_refused_secret_or_token_stores_nothing,
    a_rejected_secret_flags_the_connection_until_a_new_one_is_saved,
    a_personal_access_token_runs_as_its_owner_until_it_is_revoked,
    a_shared_identitys_tokens_are_vended_only_once_an_admin_allows_it,
    a_fallback_runs_only_when_asked_and_always_says_so,
    shared_identity_secrets_never_reach_logs_responses_pages_or_rows,
);

mod stress {
    use super::*;

    async fn m2m_tokens_renew_once_per_expiry_across_three_replicas(db: &TestDb) {
        super::storm(db).await;
    }

    crate::on_both_backends!(m2m_tokens_renew_once_per_expiry_across_three_replicas);
}

const WH: &str = "abcdef1234567890";

pub(crate) async fn send(
    b: &Browser,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = b
        .client
        .request(method, b.url(path))
        .header("x-csrf-token", &b.csrf)
        .json(&body)
        .sent()
        .await;
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

/// Creates an M2M connection of `b` on the workspace: its id.
pub(crate) async fn m2m(
    s: &Setup,
    b: &Browser,
    client_id: &str,
    secret: &str,
    shared: bool,
) -> String {
    let (status, body) = send(
        b,
        Method::POST,
        "/api/v1/connections",
        json!({"name": "Reporting", "provider": "databricks", "auth": "oauth-m2m",
               "host": s.ws.host(), "client_id": client_id, "client_secret": secret,
               "shared": shared}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn query(b: &Browser, conn: &str, extra: Value) -> (StatusCode, Value) {
    let mut body = json!({"statement": "SELECT current_user()", "warehouse_id": WH});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    send(
        b,
        Method::POST,
        &format!("/api/v1/connections/{conn}/queries"),
        body,
    )
    .await
}

/// The org's audit actions, oldest first.
async fn audit_actions(s: &Setup) -> Vec<String> {
    let filter = lakegate::store::AuditFilter {
        limit: 1000,
        ..Default::default()
    };
    let rows = s.app.store.list_audit(&s.org.id, &filter).await.unwrap();
    rows.into_iter().map(|r| r.action).collect()
}

/// Who the workspace says a token belongs to (SCIM `Me`).
async fn scim_me(s: &Setup, token: &str) -> Value {
    s.ws.browser()
        .get(s.ws.emu.base_url.clone() + "/api/2.0/preview/scim/v2/Me")
        .bearer_auth(token)
        .sent()
        .await
        .json()
        .await
        .unwrap()
}

/// The one cell a `SELECT current_user()` answered.
fn who(answer: &Value) -> &str {
    answer["rows"][0][0].as_str().unwrap_or_default()
}

async fn an_m2m_connection_runs_everyones_queries_as_its_principal() {
    let s = setup().await;
    let (app_id, secret) = s.ws.emu.create_service_principal("reporting");
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let conn = m2m(&s, &ed, &app_id, &secret, true).await;

    let view = ed.get_json(&format!("/api/v1/connections/{conn}")).await;
    assert_eq!(view["auth"], "oauth-m2m");
    assert_eq!(view["credential"]["status"], "active");
    assert_eq!(view["credential"]["shared_identity"], true);
    assert_eq!(view["credential"]["databricks_user_name"], app_id.as_str());
    let page = ed.page(&format!("/connections/{conn}")).await;
    let runs_as = page.split("id=\"runs-as\"").nth(1).unwrap_or_default();
    assert!(
        runs_as.contains(&app_id) && runs_as.contains("not as you"),
        "the page says whose identity runs the queries"
    );

    // Another editor of the org uses the shared connection: as the principal too.
    let fay = s.user("fay@acme.test", Role::Editor).await;
    for b in [&ed, &fay] {
        let (status, answer) = query(b, &conn, json!({})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(who(&answer), app_id);
        assert_eq!(answer["ran_as"]["identity"], app_id.as_str());
        assert_eq!(answer["ran_as"]["fallback"], false);
    }
    // The history records who asked, and the warehouse's history names the Lakegate user.
    let fay_id = s.app.find_user(&s.org.id, "fay@acme.test").await.id;
    let history = fay.get_json("/api/v1/queries").await;
    assert_eq!(history["queries"].as_array().unwrap().len(), 1);
    assert_eq!(history["queries"][0]["connection_id"], conn.as_str());
    assert!(
        s.ws.emu
            .statement_texts()
            .iter()
            .any(|t| t.contains(&format!("user={fay_id}"))),
        "the provenance tag names the Lakegate user"
    );
    // Nobody signs in to a shared identity.
    let (status, body) = send(
        &fay,
        Method::POST,
        &format!("/api/v1/connections/{conn}/sign-in"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn a_refused_secret_or_token_stores_nothing() {
    let s = setup().await;
    let (app_id, _) = s.ws.emu.create_service_principal("reporting");
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let before = (
        s.app.count("connections").await,
        s.app.count("integrations").await,
    );
    let (status, body) = send(
        &ed,
        Method::POST,
        "/api/v1/connections",
        json!({"name": "R", "provider": "databricks", "auth": "oauth-m2m",
               "host": s.ws.host(), "client_id": app_id, "client_secret": "wrong"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "credentials_rejected");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid_client"),
        "Databricks' reason: {body}"
    );
    let (status, body) = send(
        &ed,
        Method::POST,
        "/api/v1/connections",
        json!({"name": "P", "provider": "databricks", "auth": "pat",
               "host": s.ws.host(), "token": "dapi-not-a-token"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A secret with a U2M connection, or a PAT connection without a token: 400.
    for bad in [
        json!({"name": "U", "provider": "databricks", "auth": "oauth-u2m", "token": "dapi1"}),
        json!({"name": "P", "provider": "databricks", "auth": "pat", "host": s.ws.host()}),
    ] {
        let (status, body) = send(&ed, Method::POST, "/api/v1/connections", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_eq!(
        (
            s.app.count("connections").await,
            s.app.count("integrations").await
        ),
        before,
        "nothing stored"
    );
    assert_eq!(s.app.count("credentials").await, 0);
}

async fn a_rejected_secret_flags_the_connection_until_a_new_one_is_saved() {
    let s = setup().await;
    let (app_id, secret) = s.ws.emu.create_service_principal("reporting");
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let conn = m2m(&s, &ed, &app_id, &secret, false).await;

    // A wrong new secret is refused and the old one keeps working.
    let path = format!("/api/v1/connections/{conn}");
    let (status, body) = send(&ed, Method::PATCH, &path, json!({"client_secret": "wrong"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(query(&ed, &conn, json!({})).await.0, StatusCode::OK);

    // The secret is deleted in the account: the next renewal is refused as invalid_client.
    assert!(s.ws.emu.delete_principal_secrets(&app_id));
    s.advance(3_570);
    let (status, body) = query(&ed, &conn, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let cred = ed.get_json(&format!("{path}/credential")).await;
    assert_eq!(cred["status"], "reauth_required");
    assert!(
        cred["reason"]
            .as_str()
            .unwrap()
            .contains("rejected the service principal's secret — update it"),
        "{cred}"
    );
    // No storm against a refused secret: further uses make no token call.
    let calls = s.ws.emu.counters().token_calls_other;
    assert_eq!(query(&ed, &conn, json!({})).await.0, StatusCode::CONFLICT);
    assert_eq!(s.ws.emu.counters().token_calls_other, calls);

    let fresh_secret = s.ws.emu.add_principal_secret(&app_id);
    let (status, body) = send(
        &ed,
        Method::PATCH,
        &path,
        json!({"client_secret": fresh_secret}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credential"]["status"], "active");
    let (status, answer) = query(&ed, &conn, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(who(&answer), app_id);
    let events = audit_actions(&s).await;
    assert!(
        events.contains(&"connection.secret_replace".to_owned()),
        "{events:?}"
    );
}

async fn a_personal_access_token_runs_as_its_owner_until_it_is_revoked() {
    let s = crate::queries::slow_start().await;
    let (token, token_id) = s.ws.emu.create_pat("alice@example.com", None);
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let (status, body) = send(
        &ed,
        Method::POST,
        "/api/v1/connections",
        json!({"name": "Alice's token", "provider": "databricks", "auth": "pat",
               "host": s.ws.host(), "token": token, "warehouse_id": WH}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let conn = body["id"].as_str().unwrap().to_owned();
    assert!(!body.to_string().contains(&token), "write-only");
    let (_, test) = send(
        &ed,
        Method::POST,
        &format!("/api/v1/connections/{conn}/test"),
        json!({}),
    )
    .await;
    assert_eq!(test["identity"]["user_name"], "alice@example.com", "{test}");
    let (status, answer) = query(&ed, &conn, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(who(&answer), "alice@example.com");

    // Revoked in the workspace mid-query (the statement waits for its warehouse to
    // start): following it up is refused, and the connection says why.
    crate::queries::stop_warehouse(&s).await;
    let (status, pending) = query(&ed, &conn, json!({"wait": false})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    assert!(s.ws.emu.delete_pat(&token_id));
    let poll = pending["poll"].as_str().unwrap();
    let resp = ed.get(poll).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "reauth_required");
    s.advance(301);
    let cred = ed
        .get_json(&format!("/api/v1/connections/{conn}/credential"))
        .await;
    assert_eq!(cred["status"], "reauth_required");
    assert!(
        cred["reason"]
            .as_str()
            .unwrap()
            .contains("expired or was revoked — paste a new one"),
        "{cred}"
    );
    let (token2, _) = s.ws.emu.create_pat("alice@example.com", Some(86_400));
    let (status, body) = send(
        &ed,
        Method::PATCH,
        &format!("/api/v1/connections/{conn}"),
        json!({"token": token2}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(query(&ed, &conn, json!({})).await.0, StatusCode::OK);
    assert!(
        !crate::harness::captured_logs().contains(&token2),
        "never logged"
    );
}

async fn a_shared_identitys_tokens_are_vended_only_once_an_admin_allows_it() {
    let s = setup().await;
    let (app_id, secret) = s.ws.emu.create_service_principal("reporting");
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let conn = m2m(&s, &ed, &app_id, &secret, true).await;
    let vend = format!("/api/v1/connections/{conn}/access-token");
    let (status, body) = send(&ed, Method::POST, &vend, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "token_vending_off");

    let path = format!("/api/v1/connections/{conn}");
    let (status, _) = send(&ed, Method::PATCH, &path, json!({"token_vending": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the owner is not enough");
    let admin = s.user("root@acme.test", Role::Admin).await;
    let (status, body) = send(&admin, Method::PATCH, &path, json!({"token_vending": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_vending"], true);

    let (status, body) = send(&ed, Method::POST, &vend, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ran_as"]["identity"], app_id.as_str());
    // The vended token is the principal's.
    let me = scim_me(&s, body["access_token"].as_str().unwrap()).await;
    assert_eq!(me["userName"], app_id.as_str());
    let events = audit_actions(&s).await;
    assert!(
        events.contains(&"connection.update".to_owned()),
        "{events:?}"
    );
}

async fn a_fallback_runs_only_when_asked_and_always_says_so() {
    let s = setup().await;
    let (app_id, secret) = s.ws.emu.create_service_principal("nightly");
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let u2m = s.connection(&ed, true).await;
    let fallback = m2m(&s, &ed, &app_id, &secret, false).await;
    let (token, _) = s.ws.emu.create_pat("alice@example.com", None);
    let (_, pat) = send(
        &ed,
        Method::POST,
        "/api/v1/connections",
        json!({"name": "T", "provider": "databricks", "auth": "pat", "host": s.ws.host(), "token": token}),
    )
    .await;
    let path = format!("/api/v1/connections/{u2m}");
    // Only a service principal of the same workspace may be a fallback.
    let (status, _) = send(
        &ed,
        Method::PATCH,
        &path,
        json!({"fallback_connection_id": pat["id"]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = send(
        &ed,
        Method::PATCH,
        &path,
        json!({"fallback_connection_id": fallback}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fallback_connection_id"], fallback.as_str());

    // Fay never signed in to the U2M connection: without the flag, nothing falls back.
    let fay = s.user("fay@acme.test", Role::Editor).await;
    let (status, body) = query(&fay, &u2m, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "not_signed_in");
    let (status, answer) = query(&fay, &u2m, json!({"allow_fallback": true})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(who(&answer), app_id);
    assert_eq!(answer["ran_as"]["fallback"], true);
    assert_eq!(answer["ran_as"]["connection_id"], fallback.as_str());
    let history = fay.get_json("/api/v1/queries").await;
    assert_eq!(history["queries"][0]["fallback"], true);
    let events = audit_actions(&s).await;
    assert!(
        events.contains(&"connection.fallback".to_owned()),
        "{events:?}"
    );

    // Vending falls back the same way, once an admin allows the principal's tokens out.
    let vend = format!("/api/v1/connections/{u2m}/access-token");
    let (status, body) = send(&fay, Method::POST, &vend, json!({"allow_fallback": true})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "token_vending_off");
    let admin = s.user("root@acme.test", Role::Admin).await;
    let on = json!({"token_vending": true});
    let (status, _) = send(
        &admin,
        Method::PATCH,
        &format!("/api/v1/connections/{fallback}"),
        on,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(&fay, Method::POST, &vend, json!({"allow_fallback": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ran_as"]["fallback"], true);
    assert_eq!(body["ran_as"]["identity"], app_id.as_str());
    let (status, _) = send(&fay, Method::POST, &vend, json!({})).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "without the flag, nothing falls back"
    );

    // Signed in, the user's own identity runs it even with the flag.
    s.sign_in(&fay, &u2m, "bob@example.com", "bob").await;
    let (status, answer) = query(&fay, &u2m, json!({"allow_fallback": true})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(who(&answer), "bob@example.com");
    assert_eq!(answer["ran_as"]["fallback"], false);
}

/// Three replicas, 90 callers, many expiries of the principal's hour-long tokens: exactly
/// one `client_credentials` call each.
async fn storm(db: &TestDb) {
    let s = crate::world::setup_on(db, warehouse_emulator::TokenPolicy::default()).await;
    let (app_id, secret) = s.ws.emu.create_service_principal("reporting");
    let ed = s.app.user(&s.org, "ed@acme.test", Role::Editor).await;
    let browser = s.app.browser(&s.org, "ed@acme.test").await;
    let conn = m2m(&s, &browser, &app_id, &secret, true).await;
    let org_id = s.org.id.clone();
    let replicas = crate::storm::replicas(db, &s).await;
    let before = s.ws.emu.counters().token_calls_other;
    for round in 1..=crate::storm::rounds(10) {
        s.advance(3_570);
        crate::storm::crowd(&replicas, (&conn, &ed.id, &org_id), 90, round).await;
        assert_eq!(
            s.ws.emu.counters().token_calls_other - before,
            round,
            "round {round}: one token call per expiry"
        );
    }
}

/// The canary of shared identities: a principal's secrets (refused, first, replacement), a
/// personal access token and the principal's access token pass through creation, a refused
/// save, a replacement, the pages, Test and vending — and appear in no log line, no stored
/// row, and no response but the vending answer that hands the access token out by design.
async fn shared_identity_secrets_never_reach_logs_responses_pages_or_rows() {
    let s = setup().await;
    let (app_id, first) = s.ws.emu.create_service_principal("canary");
    let (pat, _) = s.ws.emu.create_pat("alice@example.com", None);
    let second = s.ws.emu.add_principal_secret(&app_id);
    let wrong = "dose-CANARY-WRONG-5f1c".to_owned();
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let admin = s.user("root@acme.test", Role::Admin).await;
    let mut responses: Vec<(String, String, Option<String>)> = vec![];
    let mut keep = |what: &str, body: Value, handed_out: Option<String>| {
        responses.push((what.to_owned(), body.to_string(), handed_out));
    };
    let create = |secret: &str| {
        json!({"name": "C", "provider": "databricks", "auth": "oauth-m2m", "host": s.ws.host(),
               "client_id": app_id, "client_secret": secret, "shared": true, "warehouse_id": WH})
    };
    let (_, body) = send(&ed, Method::POST, "/api/v1/connections", create(&wrong)).await;
    keep("refused create", body, None);
    let (_, body) = send(&ed, Method::POST, "/api/v1/connections", create(&first)).await;
    let conn = body["id"].as_str().unwrap().to_owned();
    keep("create", body, None);
    let pat_body = json!({"name": "P", "provider": "databricks", "auth": "pat", "host": s.ws.host(), "token": pat});
    let (_, body) = send(&ed, Method::POST, "/api/v1/connections", pat_body).await;
    keep("PAT create", body, None);
    let path = format!("/api/v1/connections/{conn}");
    let (_, body) = send(&ed, Method::PATCH, &path, json!({"client_secret": wrong})).await;
    keep("refused replacement", body, None);
    let (_, body) = send(&ed, Method::PATCH, &path, json!({"client_secret": second})).await;
    keep("replacement", body, None);
    let (_, body) = send(&ed, Method::POST, &format!("{path}/test"), json!({})).await;
    keep("test", body, None);
    keep("query", query(&ed, &conn, json!({})).await.1, None);
    send(&admin, Method::PATCH, &path, json!({"token_vending": true})).await;
    let (_, vended) = send(
        &ed,
        Method::POST,
        &format!("{path}/access-token"),
        json!({}),
    )
    .await;
    let access_token = vended["access_token"].as_str().unwrap().to_owned();
    keep("vend", vended, Some(access_token.clone()));
    for page in [
        "/connections",
        &format!("/connections/{conn}"),
        "/settings/activity",
    ] {
        keep(page, Value::String(admin.page(page).await), None);
    }
    let (_, audit) = send(&admin, Method::GET, "/api/v1/audit?limit=1000", json!({})).await;
    keep("audit", audit, None);

    let secrets = vec![
        ("principal's first secret", first),
        ("principal's second secret", second),
        ("refused secret", wrong),
        ("personal access token", pat),
        ("principal's access token", access_token),
    ];
    let stored = crate::canary::every_stored_value(&s.app).await;
    let logs = crate::harness::captured_logs();
    crate::canary::assert_absent(&secrets, &logs, &stored, &responses);
}
