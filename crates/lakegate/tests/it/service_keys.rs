//! Service keys: a platform's backend acts for the org's users (`Lakegate-User`), with each
//! user's own credentials and rights bounded by the key's scopes; keys are shown once,
//! stored hashed, audited, and a revocation holds at once on the replica that made it and
//! within one second on every other.

use lakegate::accounts::Role;
use lakegate::crypto::random::token_hash;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Browser, Sent, TestApp, TestDb, http};
use crate::world::setup_on;

crate::on_each_backend!(
    admins_create_list_and_revoke_keys_shown_once_and_stored_hashed,
    a_key_acts_for_a_user_with_their_credential_within_its_scopes,
    a_key_never_reaches_another_orgs_user_nor_a_disabled_one,
    a_revoked_or_expired_key_is_refused_here_at_once_and_within_a_second_elsewhere,
    a_platform_manages_its_end_users_by_external_id_and_acts_for_them,
    the_service_keys_page_shows_a_new_key_once_to_admins_only,
);

async fn create_key(admin: &Browser, scopes: &[&str]) -> (StatusCode, Value) {
    let resp = admin
        .client
        .post(admin.url("/api/v1/service-keys"))
        .header("x-csrf-token", &admin.csrf)
        .json(&json!({"name": "Platform backend", "scopes": scopes, "expires_in_days": 30}))
        .sent()
        .await;
    (resp.status(), resp.json().await.unwrap())
}

/// A new key's secret.
async fn new_key(admin: &Browser, scopes: &[&str]) -> String {
    let (status, created) = create_key(admin, scopes).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["key"].as_str().unwrap().to_owned()
}

/// An app with orgs `acme` and `other`, and a session of acme's admin.
async fn two_orgs() -> (
    TestApp,
    lakegate::accounts::Org,
    lakegate::accounts::Org,
    Browser,
) {
    let app = TestApp::start().await;
    let acme = app.org("acme").await;
    let other = app.org("other").await;
    let admin = app
        .user_with(&acme, "admin@acme.test", Role::Admin, false)
        .await;
    let a = app.session_for(&admin).await;
    (app, acme, other, a)
}

/// A call with `key` for `user` (`Lakegate-User: user:<id>`, when given).
fn as_key(key: &str, user: Option<&str>, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    let req = req.bearer_auth(key);
    match user {
        Some(id) => req.header("lakegate-user", format!("user:{id}")),
        None => req,
    }
}

async fn admins_create_list_and_revoke_keys_shown_once_and_stored_hashed() {
    let app = TestApp::start().await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let editor = app
        .user_with(&org, "ed@acme.test", Role::Editor, false)
        .await;
    let a = app.session_for(&admin).await;

    let (status, created) = create_key(&a, &["tokens:vend", "queries:run"]).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("lgk_"));
    assert_eq!(created["scopes"], json!(["queries:run", "tokens:vend"]));
    let (stored,): (String,) = sqlx::query_as("SELECT key_hash FROM service_keys")
        .fetch_one(&app.pool())
        .await
        .unwrap();
    assert_eq!(stored, token_hash(&key), "stored as its hash only");
    let listed = a.get_json("/api/v1/service-keys").await;
    assert!(
        !listed.to_string().contains(&key),
        "the secret is shown once"
    );
    assert_eq!(listed[0]["status"], "active");

    // A key never holds admin; editors do not manage keys.
    let (status, refused) = create_key(&a, &["admin"]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let e = app.session_for(&editor).await;
    assert_eq!(
        create_key(&e, &["queries:run"]).await.0,
        StatusCode::FORBIDDEN
    );

    let id = created["id"].as_str().unwrap();
    let resp = a
        .client
        .delete(a.url(&format!("/api/v1/service-keys/{id}")))
        .header("x-csrf-token", &a.csrf)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        a.get_json("/api/v1/service-keys").await[0]["status"],
        "revoked"
    );
    let audit = a.get_json("/api/v1/audit?action=service_key.create").await;
    assert_eq!(audit["events"].as_array().unwrap().len(), 1, "{audit}");
}

async fn a_key_acts_for_a_user_with_their_credential_within_its_scopes() {
    let db = TestDb::current().await;
    let s = setup_on(&db, warehouse_emulator::TokenPolicy::default()).await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&ed, false).await;
    s.sign_in(&ed, &conn, "alice@example.com", "alice").await;
    let ed_id = s.app.find_user(&s.org.id, "ed@acme.test").await.id;
    s.app.user(&s.org, "vi@acme.test", Role::Editor).await;
    let vi_id = s.app.find_user(&s.org.id, "vi@acme.test").await.id;
    let admin = s
        .app
        .user_with(&s.org, "admin@acme.test", Role::Admin, false)
        .await;
    let a = s.app.session_for(&admin).await;
    let key = new_key(&a, &["tokens:vend", "connections:write"]).await;
    let vend = |user: Option<&str>| {
        as_key(
            &key,
            user,
            http().post(
                s.app
                    .url(&format!("/api/v1/connections/{conn}/access-token")),
            ),
        )
    };

    // For ed: ed's own token from ed's credential.
    let resp = vend(Some(&ed_id)).sent().await;
    assert_eq!(resp.status(), StatusCode::OK);
    let token: Value = resp.json().await.unwrap();
    assert!(token["access_token"].as_str().unwrap().len() > 20);
    // No user named: refused with what to send. Vi cannot see ed's private connection.
    let resp = vend(None).sent().await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("Lakegate-User"));
    assert_eq!(
        vend(Some(&vi_id)).sent().await.status(),
        StatusCode::NOT_FOUND
    );

    // Bounded by the key's scopes, never on the user's account, never as an admin.
    let run = as_key(
        &key,
        Some(&ed_id),
        http().post(s.app.url(&format!("/api/v1/connections/{conn}/queries"))),
    );
    let resp = run.json(&json!({"statement": "SELECT 1"})).sent().await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN, "no queries:run");
    for (method, path) in [
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/users"),
    ] {
        let req = http().request(method.parse().unwrap(), s.app.url(path));
        let resp = as_key(&key, Some(&ed_id), req)
            .json(&json!({}))
            .sent()
            .await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{method} {path}");
    }

    // Every change is audited as the key acting for the user.
    let rename = as_key(
        &key,
        Some(&ed_id),
        http().patch(s.app.url(&format!("/api/v1/connections/{conn}"))),
    );
    let resp = rename.json(&json!({"name": "Renamed"})).sent().await;
    assert_eq!(resp.status(), StatusCode::OK);
    let audit = a.get_json("/api/v1/audit?action=connection.update").await;
    assert_eq!(
        audit["events"][0]["actor"],
        format!("service:Platform backend for user:{ed_id}")
    );
}

async fn a_key_never_reaches_another_orgs_user_nor_a_disabled_one() {
    let (app, acme, other, a) = two_orgs().await;
    let stranger = app
        .user_with(&other, "x@other.test", Role::Editor, false)
        .await;
    let quitter = app
        .user_with(&acme, "q@acme.test", Role::Editor, false)
        .await;
    let key = new_key(&a, &["connections:read"]).await;
    let list = |user: &str| as_key(&key, Some(user), http().get(app.url("/api/v1/connections")));
    assert_eq!(list(&quitter.id).sent().await.status(), StatusCode::OK);
    assert_eq!(
        list(&stranger.id).sent().await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        list("no-such-user").sent().await.status(),
        StatusCode::NOT_FOUND
    );
    let resp = a
        .client
        .patch(a.url(&format!("/api/v1/users/{}", quitter.id)))
        .header("x-csrf-token", &a.csrf)
        .json(&json!({"disabled": true}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        list(&quitter.id).sent().await.status(),
        StatusCode::FORBIDDEN
    );
}

async fn a_revoked_or_expired_key_is_refused_here_at_once_and_within_a_second_elsewhere() {
    let db = TestDb::current().await;
    let first = TestApp::spawn(&db).await;
    let second = TestApp::spawn_replica_on(&db, &first).await;
    let org = first.org("acme").await;
    let admin = first
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let a = first.session_for(&admin).await;
    let created = create_key(&a, &["connections:read"]).await.1;
    let key = created["key"].as_str().unwrap().to_owned();
    let call = |app: &TestApp| {
        as_key(
            &key,
            Some(&admin.id),
            http().get(app.url("/api/v1/connections")),
        )
    };
    assert_eq!(call(&second).sent().await.status(), StatusCode::OK);
    let id = created["id"].as_str().unwrap();
    let resp = a
        .client
        .delete(a.url(&format!("/api/v1/service-keys/{id}")))
        .header("x-csrf-token", &a.csrf)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(call(&first).sent().await.status(), StatusCode::UNAUTHORIZED);
    // The other replica read the key within this second; it reads it again in the next.
    first.clock.advance(1);
    assert_eq!(
        call(&second).sent().await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A live key stops working when it expires (30 days here).
    let live = new_key(&a, &["connections:read"]).await;
    let call = |app: &TestApp| {
        as_key(
            &live,
            Some(&admin.id),
            http().get(app.url("/api/v1/connections")),
        )
    };
    assert_eq!(call(&second).sent().await.status(), StatusCode::OK);
    first.clock.advance(30 * 86_400);
    assert_eq!(
        call(&second).sent().await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn a_platform_manages_its_end_users_by_external_id_and_acts_for_them() {
    let (app, _, other, a) = two_orgs().await;
    let other_admin = app
        .user_with(&other, "admin@other.test", Role::Admin, false)
        .await;
    let key = new_key(&a, &["users:write", "connections:read"]).await;
    let user_url = |ext: &str| app.url(&format!("/api/v1/users/by-external-id/{ext}"));
    let put = |ext: &str, body: Value| http().put(user_url(ext)).bearer_auth(&key).json(&body);

    let resp = put(
        "cust-42",
        json!({"email": "Ana@Customer.example", "display_name": "Ana"}),
    )
    .sent()
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: Value = resp.json().await.unwrap();
    assert_eq!(
        (&created["external_id"], &created["email"], &created["role"]),
        (
            &json!("cust-42"),
            &json!("ana@customer.example"),
            &json!("editor")
        )
    );
    let resp = put(
        "cust-42",
        json!({"email": "ana@customer.example", "role": "viewer"}),
    )
    .sent()
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["role"], "viewer");
    let resp = put("cust-42", json!({"email": "someone@else.example"}))
        .sent()
        .await;
    assert_eq!(
        resp.status(),
        StatusCode::CONFLICT,
        "an existing user's email stays"
    );
    // Without an email: an existing user is updated, a new one cannot be created.
    let resp = put("cust-42", json!({"display_name": "Ana B."}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["display_name"],
        "Ana B."
    );
    assert_eq!(
        put("cust-43", json!({"role": "viewer"}))
            .sent()
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put("a:b", json!({"email": "x@y.z"})).sent().await.status(),
        StatusCode::BAD_REQUEST
    );
    let got: Value = http()
        .get(user_url("cust-42"))
        .bearer_auth(&key)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], created["id"]);

    // They have no password: Lakegate's pages stay closed to them.
    let user_id = created["id"].as_str().unwrap();
    let no_password: Option<(Option<String>,)> =
        sqlx::query_as("SELECT password_hash FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&app.pool())
            .await
            .unwrap();
    assert_eq!(no_password, Some((None,)));

    // The key acts for them by their external id.
    let list = || {
        http()
            .get(app.url("/api/v1/connections"))
            .bearer_auth(&key)
            .header("lakegate-user", "cust-42")
    };
    assert_eq!(list().sent().await.status(), StatusCode::OK);

    // Another org's admin and a key without users:write get nowhere.
    let b = app.session_for(&other_admin).await;
    assert_eq!(
        b.status("/api/v1/users/by-external-id/cust-42").await,
        StatusCode::NOT_FOUND
    );
    let reader = new_key(&a, &["connections:read"]).await;
    let resp = http()
        .get(user_url("cust-42"))
        .bearer_auth(&reader)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Changes are audited as the key; deleting removes the user and their access.
    let audit = a.get_json("/api/v1/audit?action=user.create").await;
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "service:Platform backend"),
        "{audit}"
    );
    let resp = http()
        .delete(user_url("cust-42"))
        .bearer_auth(&key)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = http()
        .get(user_url("cust-42"))
        .bearer_auth(&key)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(list().sent().await.status(), StatusCode::NOT_FOUND);
}

async fn the_service_keys_page_shows_a_new_key_once_to_admins_only() {
    let (app, acme, _, a) = two_orgs().await;
    let editor = app
        .user_with(&acme, "ed@acme.test", Role::Editor, false)
        .await;
    let resp = a
        .client
        .post(a.url("/settings/service-keys"))
        .form(&[
            ("name", "backend"),
            ("scope", "tokens:vend"),
            ("scope", "users:write"),
            ("expires_in_days", "30"),
            ("csrf_token", &a.csrf),
        ])
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let html = resp.text().await.unwrap();
    let start = html.find("lgk_").unwrap();
    let key: String = html[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let resp = http()
        .get(app.url("/api/v1/users/by-external-id/nobody"))
        .bearer_auth(&key)
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND, "the key works");
    let again = a.page("/settings/service-keys").await;
    assert!(!again.contains(&key) && again.contains("backend"));
    let refused = a
        .client
        .post(a.url("/settings/service-keys"))
        .form(&[("name", "x"), ("scope", "admin"), ("csrf_token", &a.csrf)])
        .sent()
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let e = app.session_for(&editor).await;
    assert_eq!(
        e.status("/settings/service-keys").await,
        StatusCode::FORBIDDEN
    );
    assert!(
        !e.page("/settings/api-tokens")
            .await
            .contains("/settings/service-keys")
    );
}
