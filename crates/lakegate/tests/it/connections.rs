//! User connections via Databricks OAuth U2M: the sign-in journey against the emulator
//! over HTTPS, every way a callback can be wrong (the emulator's counters prove no token
//! request was made), per-user identities on shared connections, reconnect, replicas.

use lakegate::accounts::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::{Fault, Target};

use crate::harness::{PASSWORD, Sent, TestApp, TestDb};
use crate::world::{Setup, setup};

crate::on_each_backend!(
    a_user_signs_in_sees_their_identity_picks_a_warehouse_and_the_test_is_green,
    bad_callbacks_are_refused_without_any_token_request,
    cancelling_consent_says_sign_in_cancelled,
    two_users_on_a_shared_connection_each_use_their_own_identity,
    private_connections_are_invisible_to_others_and_other_orgs,
    reconnecting_as_another_databricks_user_is_flagged,
    a_flow_started_on_one_replica_finishes_on_another,
    token_endpoint_failures_become_actionable_messages,
    integration_changes_and_user_offboarding_void_credentials,
    new_connection_page_asks_for_an_admin_when_unconfigured,
);

fn callback_path(query: &str) -> String {
    format!("/connections/oauth/databricks/callback?{query}")
}

fn state_of(authorize: &url::Url) -> String {
    authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

async fn a_user_signs_in_sees_their_identity_picks_a_warehouse_and_the_test_is_green() {
    let s = setup().await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    let authorize = s.start(&b, &conn).await;
    let q: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(
        authorize.origin().ascii_serialization(),
        format!("https://{}", s.ws.host())
    );
    assert_eq!(
        q["redirect_uri"],
        format!("{}/connections/oauth/databricks/callback", s.app.base)
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "all-apis offline_access");
    assert!(q["state"].len() >= 43, "at least 256 bits of state");
    let callback = s
        .consent(&authorize, "alice@example.com", "alice", true)
        .await;
    let resp = b.client.get(&callback).sent().await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(
        resp.headers()["location"],
        format!("/connections/{conn}?signin=ok")
    );

    let page = b.page(&format!("/connections/{conn}?signin=ok")).await;
    assert!(
        page.contains("Signed in as <strong id=\"databricks-identity\">alice@example.com</strong>"),
        "{page}"
    );
    assert!(page.contains("renews automatically"));
    assert!(
        page.contains("Starter Warehouse"),
        "the warehouse picker lists what alice sees"
    );

    let settings = b
        .post_form(
            &format!("/connections/{conn}/settings"),
            &[
                ("warehouse_id", "abcdef1234567890"),
                ("catalog", "samples"),
                ("schema", ""),
                ("csrf_token", &b.csrf),
            ],
        )
        .await;
    assert_eq!(settings.status(), StatusCode::SEE_OTHER);
    let tested = b
        .post_form(
            &format!("/connections/{conn}/test"),
            &[("csrf_token", &b.csrf)],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(
        tested.contains("Connection works: signed in as alice@example.com"),
        "{tested}"
    );

    let cred: Value = b
        .get_json(&format!("/api/v1/connections/{conn}/credential"))
        .await;
    assert_eq!(cred["status"], "active");
    assert_eq!(cred["databricks_user_name"], "alice@example.com");
    assert!(cred.get("access_token").is_none() && !cred.to_string().contains("doau"));
    let row = s
        .app
        .store
        .credential(&conn, &s.app.find_user(&s.org.id, "ed@acme.test").await.id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&row.refresh_token_enc).contains("doau"),
        "tokens are encrypted at rest"
    );
    let catalogs: Value = b
        .get_json(&format!("/api/v1/connections/{conn}/catalogs"))
        .await;
    assert_eq!(catalogs["names"], json!(["main", "samples"]));
    let tables: Value = b
        .get_json(&format!(
            "/api/v1/connections/{conn}/catalogs/samples/schemas/tpch/tables"
        ))
        .await;
    assert_eq!(
        tables["tables"].as_array().unwrap().len(),
        4,
        "every page followed"
    );
    assert_eq!(s.token_calls(), 1);
}

async fn bad_callbacks_are_refused_without_any_token_request() {
    let s = setup().await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    let callback = |q: &str| format!("{}{}", s.app.base, callback_path(q));

    // Unknown, missing and duplicated parameters: an error page, nothing else.
    for q in [
        "code=x&state=unknown",
        "code=x",
        "",
        "code=a&code=b&state=s",
    ] {
        let resp = b.get(&callback_path(q)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }

    // A valid state presented by another browser.
    let authorize = s.start(&b, &conn).await;
    let state = state_of(&authorize);
    let other = crate::harness::anonymous();
    let stolen = other
        .get(callback(&format!("code=whatever&state={state}")))
        .sent()
        .await;
    assert_eq!(stolen.status(), StatusCode::BAD_REQUEST);
    assert!(stolen.text().await.unwrap().contains("another browser"));
    let replay = b
        .get(&callback_path(&format!("code=whatever&state={state}")))
        .await;
    assert_eq!(
        replay.status(),
        StatusCode::BAD_REQUEST,
        "the flow was consumed by the first attempt"
    );

    // Both code and error, a foreign issuer, an expired flow.
    let a = s.start(&b, &conn).await;
    let both = b
        .get(&callback_path(&format!(
            "code=c&error=access_denied&state={}",
            state_of(&a)
        )))
        .await;
    assert!(
        both.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("signin=malformed")
    );
    let a = s.start(&b, &conn).await;
    let iss = b
        .get(&callback_path(&format!(
            "code=c&state={}&iss=https%3A%2F%2Fevil.example%2Foidc",
            state_of(&a)
        )))
        .await;
    assert!(
        iss.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with("signin=issuer_mismatch")
    );
    let a = s.start(&b, &conn).await;
    s.app.clock.advance(601);
    let late = b
        .get(&callback_path(&format!("code=c&state={}", state_of(&a))))
        .await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);

    assert_eq!(s.token_calls(), 0, "not one token request");
    assert!(
        s.app
            .store
            .credential(&conn, &s.app.find_user(&s.org.id, "ed@acme.test").await.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn cancelling_consent_says_sign_in_cancelled() {
    let s = setup().await;
    let (b, conn, callback) = s.at_callback(false).await;
    let resp = b.client.get(&callback).sent().await;
    assert_eq!(
        resp.headers()["location"],
        format!("/connections/{conn}?signin=cancelled")
    );
    let page = b
        .page(&format!("/connections/{conn}?signin=cancelled"))
        .await;
    assert!(page.contains("Sign-in cancelled"));
    assert_eq!(s.token_calls(), 0);
    let events: Value = s.admin_audit().await;
    assert!(events.to_string().contains("\"reason\":\"cancelled\""));
}

impl Setup {
    async fn admin_audit(&self) -> Value {
        let admin = self
            .app
            .user_with(
                &self.org,
                &format!("audit{}@acme.test", uuid::Uuid::new_v4().simple()),
                Role::Admin,
                false,
            )
            .await;
        let a = self.app.session_for(&admin).await;
        a.get_json("/api/v1/audit?action=connection.sign_in").await
    }
}

async fn two_users_on_a_shared_connection_each_use_their_own_identity() {
    let s = setup().await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let vi = s.user("vi@acme.test", Role::Viewer).await;
    let conn = s.connection(&ed, true).await;
    s.sign_in(&ed, &conn, "alice@example.com", "alice").await;
    s.sign_in(&vi, &conn, "bob@example.com", "bob").await;
    let alice: Value = ed
        .get_json(&format!("/api/v1/connections/{conn}/catalogs"))
        .await;
    let bob: Value = vi
        .get_json(&format!("/api/v1/connections/{conn}/catalogs"))
        .await;
    assert_eq!(alice["names"], json!(["main", "samples"]));
    assert_eq!(
        bob["names"],
        json!(["samples"]),
        "bob's grants, not alice's"
    );
    assert_eq!(
        vi.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["databricks_user_name"],
        "bob@example.com"
    );
    // Viewers use shared connections but cannot create or share them.
    let create = vi
        .client
        .post(vi.url("/api/v1/connections"))
        .header("x-csrf-token", &vi.csrf)
        .json(&json!({"name": "x", "provider": "databricks", "auth": "oauth-u2m"}))
        .sent()
        .await;
    assert_eq!(create.status(), StatusCode::FORBIDDEN);
    // Disconnecting one user leaves the other's credential alone.
    let d = vi
        .client
        .delete(vi.url(&format!("/api/v1/connections/{conn}/credential")))
        .header("x-csrf-token", &vi.csrf)
        .sent()
        .await;
    assert_eq!(d.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        vi.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["status"],
        "not_signed_in"
    );
    assert_eq!(
        ed.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["status"],
        "active"
    );
}

async fn private_connections_are_invisible_to_others_and_other_orgs() {
    let s = setup().await;
    let ed = s.user("ed@acme.test", Role::Editor).await;
    let other = s.user("ed2@acme.test", Role::Editor).await;
    let conn = s.connection(&ed, false).await;
    assert_eq!(
        other.status(&format!("/api/v1/connections/{conn}")).await,
        StatusCode::NOT_FOUND
    );
    let list: Value = other.get_json("/api/v1/connections").await;
    assert_eq!(list, json!([]));
    let org_b = s.app.org("beta").await;
    s.app.user(&org_b, "admin@beta.test", Role::Admin).await;
    let foreign = s.app.browser(&org_b, "admin@beta.test").await;
    assert_eq!(
        foreign.status(&format!("/api/v1/connections/{conn}")).await,
        StatusCode::NOT_FOUND
    );
    let sign_in = foreign
        .client
        .post(foreign.url(&format!("/api/v1/connections/{conn}/sign-in")))
        .header("x-csrf-token", &foreign.csrf)
        .sent()
        .await;
    assert_eq!(sign_in.status(), StatusCode::NOT_FOUND);
}

async fn reconnecting_as_another_databricks_user_is_flagged() {
    let s = setup().await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    assert_eq!(
        s.sign_in(&b, &conn, "alice@example.com", "alice").await,
        format!("/connections/{conn}?signin=ok")
    );
    let again = s.sign_in(&b, &conn, "bob@example.com", "bob").await;
    assert_eq!(again, format!("/connections/{conn}?signin=ok&changed=1"));
    assert!(
        b.page(&again)
            .await
            .contains("as a different Databricks user")
    );
    assert_eq!(
        b.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["databricks_user_name"],
        "bob@example.com"
    );
}

async fn a_flow_started_on_one_replica_finishes_on_another() {
    let s = setup().await;
    let replica = TestApp::spawn_replica(&s.app).await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    let authorize = s.start(&b, &conn).await;
    let callback = s
        .consent(&authorize, "alice@example.com", "alice", true)
        .await;
    let on_replica = callback.replace(&s.app.base, &replica.base);
    assert_ne!(on_replica, callback);
    let resp = b.client.get(&on_replica).sent().await;
    assert_eq!(
        resp.headers()["location"],
        format!("/connections/{conn}?signin=ok")
    );
    assert_eq!(
        b.get_json(&format!("/api/v1/connections/{conn}/credential"))
            .await["status"],
        "active"
    );
}

async fn token_endpoint_failures_become_actionable_messages() {
    let s = setup().await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    for (fault, code) in [
        (Fault::malformed(Target::Token), "invalid_response"),
        (Fault::status(Target::Token, 503), "temporarily_unavailable"),
        (Fault::status(Target::Token, 500), "server_error"),
        (Fault::reset(Target::Token), "unreachable"),
        (Fault::omit_refresh_token(), "no_refresh_token"),
    ] {
        s.ws.emu.fault(fault);
        let authorize = s.start(&b, &conn).await;
        let callback = s
            .consent(&authorize, "alice@example.com", "alice", true)
            .await;
        let resp = b.client.get(&callback).sent().await;
        assert_eq!(
            resp.headers()["location"],
            format!("/connections/{conn}?signin={code}"),
            "{code}"
        );
    }
    // The secret was rotated in Databricks behind Lakegate's back: the admin must update
    // the integration.
    s.ws.emu.rotate_app_secret(&s.ws.client_id).unwrap();
    let authorize = s.start(&b, &conn).await;
    let callback = s
        .consent(&authorize, "alice@example.com", "alice", true)
        .await;
    let resp = b.client.get(&callback).sent().await;
    let to = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(to.ends_with("signin=invalid_client"), "{to}");
    assert!(b.page(&to).await.contains(
        "the client secret was rejected — ask your administrator to update the integration"
    ));
}

async fn integration_changes_and_user_offboarding_void_credentials() {
    let s = setup().await;
    let b = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&b, false).await;
    s.sign_in(&b, &conn, "alice@example.com", "alice").await;
    // A new client id: credentials under the old pair are void.
    let actor = lakegate::audit::Actor::cli(Some(s.org.id.clone()));
    s.save_integration("another-client", None, None).await;
    let cred = b
        .get_json(&format!("/api/v1/connections/{conn}/credential"))
        .await;
    assert_eq!(cred["status"], "reauth_required");
    assert_eq!(
        cred["reason"],
        "the administrator changed the Databricks integration"
    );
    let use_it = b
        .status(&format!("/api/v1/connections/{conn}/warehouses"))
        .await;
    assert_eq!(use_it, StatusCode::CONFLICT, "the old token is never sent");

    // Deleting the integration purges credentials; disabling a user too.
    s.ws.configure(&s.app, &s.org).await;
    s.sign_in(&b, &conn, "alice@example.com", "alice").await;
    s.app
        .state
        .services
        .integrations
        .delete(crate::harness::databricks(), &actor, &s.org.id)
        .await
        .unwrap();
    assert_eq!(s.app.count("credentials").await, 0);
    s.ws.configure(&s.app, &s.org).await;
    s.sign_in(&b, &conn, "alice@example.com", "alice").await;
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let patch = lakegate::accounts::service::UserPatch {
        disabled: Some(true),
        ..Default::default()
    };
    s.app
        .state
        .services
        .accounts
        .update_user(&actor, &s.org.id, &user.id, patch)
        .await
        .unwrap();
    assert_eq!(s.app.count("credentials").await, 0);
    let _ = PASSWORD;
}

async fn new_connection_page_asks_for_an_admin_when_unconfigured() {
    let db = TestDb::current().await;
    let app = TestApp::spawn(&db).await;
    let org = app.org("acme").await;
    app.user(&org, "ed@acme.test", Role::Editor).await;
    let b = app.browser(&org, "ed@acme.test").await;
    let page = b.page("/connections/new").await;
    assert!(page.contains("ask an administrator") || page.contains("Ask an administrator"));
    let create = b
        .client
        .post(b.url("/api/v1/connections"))
        .header("x-csrf-token", &b.csrf)
        .json(&json!({"name": "x", "provider": "databricks", "auth": "oauth-u2m"}))
        .sent()
        .await;
    assert_eq!(create.status(), StatusCode::CONFLICT);
    assert_eq!(
        create.json::<Value>().await.unwrap()["error"]["code"],
        "integration_not_configured"
    );
}
