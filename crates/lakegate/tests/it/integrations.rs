//! Settings › Advanced › Integrations: the Databricks OAuth U2M app, against the emulator
//! over HTTPS, and every way saving it can go wrong.

const DATABRICKS_U2M: &str = "databricks-oauth-u2m";
use lakegate::accounts::{Org, Role};
use lakegate::egress::{Egress, HostPort, Policy};

use lakegate::integrations::service;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Browser, Sent, TestApp, TestDb, Workspace, hidden_field};

const PATH: &str = "/api/v1/integrations/databricks-oauth-u2m";

struct Setup {
    app: TestApp,
    ws: Workspace,
    org: Org,
    admin: Browser,
    _db: TestDb,
}

async fn setup() -> Setup {
    let db = TestDb::current().await;
    let mut ws = Workspace::start().await;
    let app = TestApp::spawn_with(&db, Some(&ws)).await;
    // The app connection knows this deployment's redirect URL (saving checks it).
    ws.register_for(&app);
    let org = app.org("acme").await;
    let admin_user = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let admin = app.session_for(&admin_user).await;
    Setup {
        app,
        ws,
        org,
        admin,
        _db: db,
    }
}

/// The org's stored integration row.
async fn stored(s: &Setup, org_id: &str) -> lakegate::store::IntegrationRow {
    s.app
        .store
        .integration(org_id, DATABRICKS_U2M)
        .await
        .unwrap()
        .unwrap()
}

async fn put(b: &Browser, body: Value) -> reqwest::Response {
    b.client
        .put(b.url(PATH))
        .header("x-csrf-token", &b.csrf)
        .json(&body)
        .sent()
        .await
}

async fn audit_actions(s: &Setup) -> Vec<Value> {
    let body: Value = s.admin.get_json("/api/v1/audit?limit=1000").await;
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("integration."))
        .cloned()
        .collect()
}

async fn an_admin_saves_the_integration_against_the_emulator_over_https() {
    let s = setup().await;
    let resp = put(&s.admin, json!({"host": format!("https://{}/?o=123", s.ws.host()), "client_id": s.ws.client_id, "client_secret": s.ws.client_secret})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(
        !text.contains(&s.ws.client_secret),
        "the secret is write-only"
    );
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["configured"], true);
    assert_eq!(view["host"], s.ws.host());
    assert_eq!(view["client_secret_set"], true);
    assert!(view.get("client_secret").is_none());
    assert_eq!(view["scopes"], "all-apis offline_access");
    assert_eq!(
        view["redirect_url"],
        format!("{}/connections/oauth/databricks/callback", s.app.base)
    );

    let row = stored(&s, &s.org.id).await;
    assert_eq!(
        row.token_endpoint,
        format!("https://{}/oidc/v1/token", s.ws.host())
    );
    assert!(!String::from_utf8_lossy(&row.client_secret_enc).contains(&s.ws.client_secret));
    let secret = service::client_secret(&s.app.store, &s.app.state.keyring, &row)
        .await
        .unwrap();
    assert_eq!(secret.expose(), s.ws.client_secret);

    let listed: Value = s.admin.get_json("/api/v1/integrations").await;
    assert_eq!(listed[0]["kind"], "databricks-oauth-u2m");
    assert_eq!(listed[0]["configured"], true);
    let events = audit_actions(&s).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["action"], "integration.create");
    assert!(!events[0].to_string().contains(&s.ws.client_secret));
    let c = s.ws.emu.counters();
    assert_eq!(
        (
            c.token_calls_authorization_code,
            c.codes_redeemed,
            c.token_calls_refresh_token,
            c.token_calls_other
        ),
        (1, 0, 0, 0),
        "saving makes one token call, the client check with a made-up code, and redeems nothing"
    );
}

async fn the_first_save_needs_a_secret_and_later_edits_keep_it() {
    let s = setup().await;
    let no_secret = put(
        &s.admin,
        json!({"host": s.ws.host(), "client_id": s.ws.client_id}),
    )
    .await;
    assert_eq!(no_secret.status(), StatusCode::BAD_REQUEST);
    assert!(
        s.app
            .store
            .integration(&s.org.id, DATABRICKS_U2M)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(put(&s.admin, json!({"host": s.ws.host(), "client_id": s.ws.client_id, "client_secret": s.ws.client_secret})).await.status(), StatusCode::OK);
    let before = stored(&s, &s.org.id).await;

    s.app.clock.advance(60);
    let edit = put(&s.admin, json!({"host": s.ws.host(), "client_id": s.ws.client_id, "scopes": "sql offline_access openid"})).await;
    assert_eq!(edit.status(), StatusCode::OK);
    let after = stored(&s, &s.org.id).await;
    assert_eq!(
        after.client_secret_enc, before.client_secret_enc,
        "the secret was kept"
    );
    assert_eq!(after.secret_updated_at, before.secret_updated_at);
    assert_eq!(
        after.generation, before.generation,
        "credentials stay valid"
    );
    assert_eq!(after.scopes, "sql offline_access openid");

    // A new secret only: credentials stay valid too.
    let new_secret = s.ws.emu.rotate_app_secret(&s.ws.client_id).unwrap();
    let wrong = put(&s.admin, json!({"host": s.ws.host(), "client_id": s.ws.client_id, "client_secret": "not-the-secret"})).await;
    assert_eq!(
        wrong.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Databricks rejects it: nothing is stored"
    );
    assert_eq!(
        put(
            &s.admin,
            json!({"host": s.ws.host(), "client_id": s.ws.client_id, "client_secret": new_secret})
        )
        .await
        .status(),
        StatusCode::OK
    );
    let rotated = stored(&s, &s.org.id).await;
    assert_eq!(rotated.generation, before.generation);
    assert_eq!(
        service::client_secret(&s.app.store, &s.app.state.keyring, &rotated)
            .await
            .unwrap()
            .expose(),
        new_secret
    );

    // A new client id voids every credential issued under the old one.
    assert_eq!(
        put(
            &s.admin,
            json!({"host": s.ws.host(), "client_id": "another-client"})
        )
        .await
        .status(),
        StatusCode::OK
    );
    let moved = stored(&s, &s.org.id).await;
    assert_eq!(moved.generation, before.generation + 1);

    let events = audit_actions(&s).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "integration.update",
            "integration.update",
            "integration.update",
            "integration.create"
        ]
    );
    assert_eq!(events[2]["details"]["changed"], json!(["scopes"]));
    assert_eq!(events[1]["details"]["changed"], json!(["client_secret"]));
    assert_eq!(events[0]["details"]["changed"], json!(["client_id"]));
    assert_eq!(events[0]["details"]["credentials_invalidated"], true);
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("rotated-secret")
    );
}

async fn a_new_host_is_only_asked_for_discovery_never_sent_credentials() {
    let db = TestDb::current().await;
    let mut first = Workspace::start().await;
    let mut second = Workspace::start().await;
    let cas = format!(
        "{}{}",
        first.emu.ca_pem.clone().unwrap(),
        second.emu.ca_pem.clone().unwrap()
    );
    let policy = Policy {
        extra_allowed_hosts: vec![
            HostPort::parse(&first.host()).unwrap(),
            HostPort::parse(&second.host()).unwrap(),
        ],
        allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        insecure_http_hosts: vec![],
        ..Policy::default()
    };
    let mut app = TestApp::spawn_with(&db, Some(&first)).await;
    app.set_egress(Egress::new(policy, Some(cas.as_bytes())).unwrap());
    first.register_for(&app);
    second.register_for(&app);
    let org = app.org("acme").await;
    // Each workspace knows its own app connection (saving checks the client there).
    let save = |ws: &Workspace, secret: Option<&str>| lakegate::integrations::SaveInput {
        host: ws.host(),
        client_id: ws.client_id.clone(),
        client_secret: secret.map(lakegate::secret::Secret::new),
        scopes: None,
        lifetimes: None,
        default_compute: None,
    };
    app.save_integration(&org.id, save(&first, Some(&first.client_secret)))
        .await
        .unwrap();
    let without_secret = app
        .save_integration(&org.id, save(&second, None))
        .await
        .unwrap_err();
    assert!(
        without_secret
            .to_string()
            .contains("enter the client secret again"),
        "{without_secret}"
    );
    let moved = app
        .save_integration(&org.id, save(&second, Some(&second.client_secret)))
        .await
        .unwrap();
    assert_eq!(
        moved.generation, 2,
        "credentials under the old host are void"
    );
    assert_eq!(
        moved.token_endpoint,
        format!("https://{}/oidc/v1/token", second.host())
    );
    for ws in [&first, &second] {
        let c = ws.emu.counters();
        assert_eq!(
            c.codes_redeemed + c.token_calls_refresh_token + c.token_calls_other + c.rest_calls,
            0,
            "only the client check with a made-up code reached each host"
        );
    }
}

/// A plain-http server on loopback that answers discovery with `response`.
async fn fake_workspace(response: axum::response::Response<axum::body::Body>) -> u16 {
    let shared = std::sync::Arc::new(std::sync::Mutex::new(Some(response)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().fallback(move || {
        let shared = shared.clone();
        async move {
            shared
                .lock()
                .unwrap()
                .take()
                .unwrap_or_else(|| axum::http::StatusCode::GONE.into_response())
        }
    });
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    port
}

use axum::response::IntoResponse;

crate::on_each_backend!(
    an_admin_saves_the_integration_against_the_emulator_over_https,
    the_first_save_needs_a_secret_and_later_edits_keep_it,
    a_new_host_is_only_asked_for_discovery_never_sent_credentials,
    discovery_failures_explain_themselves_and_save_nothing,
    host_inputs_are_validated_and_refusals_change_nothing,
    a_secret_moved_to_another_org_does_not_decrypt,
    the_admin_page_walks_the_seed_steps,
    non_admins_see_no_integrations_menu,
);

fn metadata(
    port: u16,
    issuer: Option<String>,
    token: Option<String>,
    methods: &[&str],
) -> axum::response::Response<axum::body::Body> {
    let base = format!("http://localhost:{port}");
    axum::Json(json!({
        "issuer": issuer.unwrap_or(format!("{base}/oidc")),
        "authorization_endpoint": format!("{base}/oidc/v1/authorize"),
        "token_endpoint": token.unwrap_or(format!("{base}/oidc/v1/token")),
        "code_challenge_methods_supported": methods,
    }))
    .into_response()
}

async fn discovery_failures_explain_themselves_and_save_nothing() {
    let db = TestDb::current().await;
    let mut app = TestApp::spawn(&db).await;
    let org = app.org("acme").await;
    let admin = app
        .user_with(&org, "admin@acme.test", Role::Admin, false)
        .await;
    let b = app.session_for(&admin).await;

    // Each case gets its own fake workspace; its port is only known once it listens.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cases: Vec<(u16, StatusCode, &str)> = vec![(
        closed,
        StatusCode::UNPROCESSABLE_ENTITY,
        "could not reach the host",
    )];
    let p = fake_workspace(StatusCode::NOT_FOUND.into_response()).await;
    cases.push((
        p,
        StatusCode::UNPROCESSABLE_ENTITY,
        "OAuth is not enabled for this host",
    ));
    let p = fake_workspace(StatusCode::INTERNAL_SERVER_ERROR.into_response()).await;
    cases.push((p, StatusCode::UNPROCESSABLE_ENTITY, "answered 500"));
    let p = fake_workspace(
        (
            StatusCode::FOUND,
            [(axum::http::header::LOCATION, "http://169.254.169.254/")],
        )
            .into_response(),
    )
    .await;
    cases.push((p, StatusCode::UNPROCESSABLE_ENTITY, "answered 302"));
    let p = fake_workspace("<html>Sign in</html>".into_response()).await;
    cases.push((p, StatusCode::UNPROCESSABLE_ENTITY, "not valid JSON"));
    let p = fake_workspace("x".repeat(200 * 1024).into_response()).await;
    cases.push((p, StatusCode::UNPROCESSABLE_ENTITY, "not valid JSON"));
    for (issuer, token, methods, expected) in [
        (
            Some("https://evil.example/oidc".to_owned()),
            None,
            vec!["S256"],
            "the issuer does not match",
        ),
        (
            None,
            Some("https://evil.example/token".to_owned()),
            vec!["S256"],
            "token endpoint",
        ),
        (None, None, vec!["plain"], "S256"),
    ] {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(None::<u16>));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        *shared.lock().unwrap() = Some(port);
        let (issuer, token, methods) = (issuer.clone(), token.clone(), methods.clone());
        let router = axum::Router::new().fallback(move || {
            let (issuer, token, methods) = (issuer.clone(), token.clone(), methods.clone());
            async move { metadata(port, issuer, token, &methods) }
        });
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        cases.push((port, StatusCode::UNPROCESSABLE_ENTITY, expected));
    }
    let ports: Vec<String> = cases
        .iter()
        .map(|(p, _, _)| format!("localhost:{p}"))
        .collect();
    let hosts: Vec<HostPort> = ports.iter().map(|h| HostPort::parse(h).unwrap()).collect();
    app.set_egress(
        Egress::new(
            Policy {
                extra_allowed_hosts: hosts.clone(),
                insecure_http_hosts: hosts,
                allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
                ..Policy::default()
            },
            None,
        )
        .unwrap(),
    );
    // The running server holds its own state; use the service directly with the new egress.
    let audit_before = app.count("audit_events").await;
    for (port, status, expected) in &cases {
        let input = lakegate::integrations::SaveInput {
            host: format!("http://localhost:{port}"),
            client_id: "client".into(),
            client_secret: Some(lakegate::secret::Secret::new("secret")),
            scopes: None,
            lifetimes: None,
            default_compute: None,
        };
        let err = app.save_integration(&org.id, input).await.unwrap_err();
        let api = lakegate::http::error::ApiError::from(err);
        assert_eq!(api.status, *status, "port {port}: {}", api.message);
        assert!(
            api.message.contains(expected),
            "port {port}: {:?} should say {expected:?}",
            api.message
        );
    }
    assert!(
        app.store
            .integration(&org.id, DATABRICKS_U2M)
            .await
            .unwrap()
            .is_none(),
        "nothing saved"
    );
    assert_eq!(
        app.count("audit_events").await,
        audit_before,
        "nothing audited"
    );
    drop(b);
}

async fn host_inputs_are_validated_and_refusals_change_nothing() {
    let s = setup().await;
    for (host, expected) in [
        ("52.1.2.3", "IP addresses"),
        (
            "https://dbc-1.cloud.databricks.com/sql/1.0/warehouses/x",
            "path",
        ),
        (
            "dbc-1.cloud.databricks.com.evil.net",
            "not a Databricks workspace host",
        ),
        (
            "https://user:pw@dbc-1.cloud.databricks.com",
            "user name or password",
        ),
        ("dbc-1.cloud.databricks.com:8443", "ports are not accepted"),
    ] {
        let resp = put(
            &s.admin,
            json!({"host": host, "client_id": "c", "client_secret": "s"}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{host}");
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{host}: {body}"
        );
    }
    let bad_scopes = put(
        &s.admin,
        json!({"host": s.ws.host(), "client_id": "c", "client_secret": "s", "scopes": "all-apis"}),
    )
    .await;
    assert!(bad_scopes.text().await.unwrap().contains("offline_access"));
    assert!(
        s.app
            .store
            .integration(&s.org.id, DATABRICKS_U2M)
            .await
            .unwrap()
            .is_none()
    );
    assert!(audit_actions(&s).await.is_empty());
}

async fn a_secret_moved_to_another_org_does_not_decrypt() {
    let s = setup().await;
    let other = s.app.org("other").await;
    // The same secret for both (saving checks it with the workspace): sealed per org row.
    for org in [&s.org, &other] {
        let input = lakegate::integrations::SaveInput {
            host: s.ws.host(),
            client_id: s.ws.client_id.clone(),
            client_secret: Some(lakegate::secret::Secret::new(s.ws.client_secret.clone())),
            scopes: None,
            lifetimes: None,
            default_compute: None,
        };
        s.app.save_integration(&org.id, input).await.unwrap();
    }
    let a = stored(&s, &s.org.id).await;
    let mut b = stored(&s, &other.id).await;
    assert_eq!(
        service::client_secret(&s.app.store, &s.app.state.keyring, &b)
            .await
            .unwrap()
            .expose(),
        s.ws.client_secret
    );
    // Copy org A's ciphertext into org B's row, as someone with database access might.
    sqlx::query("UPDATE integrations SET client_secret_enc = $1 WHERE org_id = $2")
        .bind(a.client_secret_enc.clone())
        .bind(&other.id)
        .execute(&s.app.pool())
        .await
        .unwrap();
    b = stored(&s, &other.id).await;
    assert!(
        service::client_secret(&s.app.store, &s.app.state.keyring, &b)
            .await
            .is_err(),
        "the AAD binds it to org A's row"
    );

    // And within one org: a ciphertext bound to one row or column does not open as another.
    use lakegate::crypto::envelope::Binding;
    let bind = |row: &'static str, column: &'static str| Binding {
        org_id: &s.org.id,
        table: "integrations",
        row_id: row,
        column,
    };
    let blob = s
        .app
        .state
        .keyring
        .seal(&s.app.store, bind("row-1", "client_secret"), b"value", 1)
        .await
        .unwrap();
    assert_eq!(
        s.app
            .state
            .keyring
            .open(&s.app.store, bind("row-1", "client_secret"), &blob)
            .await
            .unwrap()
            .as_slice(),
        b"value"
    );
    assert!(
        s.app
            .state
            .keyring
            .open(&s.app.store, bind("row-2", "client_secret"), &blob)
            .await
            .is_err()
    );
    assert!(
        s.app
            .state
            .keyring
            .open(&s.app.store, bind("row-1", "refresh_token"), &blob)
            .await
            .is_err()
    );
}

async fn the_admin_page_walks_the_seed_steps() {
    let s = setup().await;
    let list = s.admin.page("/settings/advanced/integrations").await;
    assert!(list.contains("OAuth U2M connections to Databricks"));
    assert!(list.contains(">Add</a>"));
    let form = s
        .admin
        .page("/settings/advanced/integrations/databricks-oauth-u2m")
        .await;
    let redirect = format!("{}/connections/oauth/databricks/callback", s.app.base);
    assert!(
        form.contains(&format!(
            "<code id=\"redirect-url\" class=\"copyable\">{redirect}</code>"
        )),
        "the exact redirect URL is shown"
    );
    assert!(
        form.contains("data-copy=\"redirect-url\""),
        "with a copy button"
    );
    assert!(form.contains("App connections"));

    // A mistake re-renders the form with the message, the entered values, never the secret.
    let csrf = hidden_field(&form, "csrf_token");
    let bad = s
        .admin
        .client
        .post(
            s.admin
                .url("/settings/advanced/integrations/databricks-oauth-u2m"),
        )
        .form(&[
            ("client_id", s.ws.client_id.as_str()),
            ("client_secret", "CANARY-INTEGRATION-SECRET"),
            ("host", "10.0.0.1"),
            ("scopes", "all-apis offline_access"),
            ("csrf_token", &csrf),
        ])
        .sent()
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let page = bad.text().await.unwrap();
    assert!(page.contains("IP addresses are not accepted"));
    assert!(page.contains(&s.ws.client_id));
    assert!(!page.contains("CANARY-INTEGRATION-SECRET"));

    let ok = s
        .admin
        .client
        .post(
            s.admin
                .url("/settings/advanced/integrations/databricks-oauth-u2m"),
        )
        .form(&[
            ("client_id", s.ws.client_id.as_str()),
            ("client_secret", s.ws.client_secret.as_str()),
            ("host", &s.ws.host()),
            ("scopes", "all-apis offline_access"),
            ("csrf_token", &csrf),
        ])
        .sent()
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        ok.headers()["location"],
        "/settings/advanced/integrations?ok=saved"
    );
    let list = s
        .admin
        .page("/settings/advanced/integrations?ok=saved")
        .await;
    assert!(list.contains("Configured"));
    assert!(list.contains(">Edit</a>"));
    let edit = s
        .admin
        .page("/settings/advanced/integrations/databricks-oauth-u2m")
        .await;
    assert!(
        !edit.contains(&s.ws.client_secret),
        "the stored secret is never shown"
    );
    assert!(edit.contains("Leave empty to keep it"));

    let del = s
        .admin
        .client
        .post(
            s.admin
                .url("/settings/advanced/integrations/databricks-oauth-u2m/delete"),
        )
        .form(&[("csrf_token", csrf.as_str())])
        .sent()
        .await;
    assert_eq!(del.status(), StatusCode::SEE_OTHER);
    assert!(
        s.app
            .store
            .integration(&s.org.id, DATABRICKS_U2M)
            .await
            .unwrap()
            .is_none()
    );
    let actions: Vec<String> = audit_actions(&s)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["integration.delete", "integration.create"]);
    assert!(!crate::harness::captured_logs().contains("CANARY-INTEGRATION-SECRET"));
    assert!(!crate::harness::captured_logs().contains(&s.ws.client_secret));
}

async fn non_admins_see_no_integrations_menu() {
    let s = setup().await;
    let editor = s
        .app
        .user_with(&s.org, "ed@acme.test", Role::Editor, false)
        .await;
    let e = s.app.session_for(&editor).await;
    let home = e.page("/").await;
    assert!(!home.contains("/settings/advanced/integrations"));
    assert_eq!(
        e.status("/settings/advanced/integrations").await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(e.status(PATH).await, StatusCode::FORBIDDEN);
    let admin_home = s.admin.page("/").await;
    assert!(admin_home.contains("/settings/advanced/integrations"));
}
