//! The suites' world: a workspace, an app on a store, an org with the integration
//! configured, and the browser steps of a sign-in — built on `lakegate::testkit`.

use lakegate::accounts::{Org, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Browser, Sent, TestApp, TestDb, Workspace};

pub struct Setup {
    pub app: TestApp,
    pub ws: Workspace,
    pub org: Org,
    /// Code exchanges before the test began (saving the integration checks the client
    /// with one, made up).
    code_calls_at_setup: u64,
    _db: Option<TestDb>,
}

pub async fn setup() -> Setup {
    setup_with(warehouse_emulator::TokenPolicy::default()).await
}

pub async fn setup_with(policy: warehouse_emulator::TokenPolicy) -> Setup {
    let db = TestDb::current().await;
    let mut s = setup_on(&db, policy).await;
    s._db = Some(db);
    s
}

/// A workspace, an app on `db`, an org with the integration configured.
pub async fn setup_on(db: &TestDb, policy: warehouse_emulator::TokenPolicy) -> Setup {
    setup_on_workspace(db, policy, Workspace::start().await).await
}

/// The same on a workspace emulated with `config`.
pub async fn setup_emulating(config: warehouse_emulator::EmulatorConfig) -> Setup {
    let db = TestDb::current().await;
    let ws = Workspace::start_with(config).await;
    let mut s = setup_on_workspace(&db, warehouse_emulator::TokenPolicy::default(), ws).await;
    s._db = Some(db);
    s
}

pub async fn setup_on_workspace(
    db: &TestDb,
    policy: warehouse_emulator::TokenPolicy,
    ws: Workspace,
) -> Setup {
    setup_keyed(db, policy, ws, lakegate::testkit::random_keyring()).await
}

/// The same with an app over `keyring`.
pub async fn setup_keyed(
    db: &TestDb,
    policy: warehouse_emulator::TokenPolicy,
    ws: Workspace,
    keyring: std::sync::Arc<lakegate::crypto::envelope::Keyring>,
) -> Setup {
    setup_delivering(db, policy, ws, keyring, None).await
}

/// The same with an app delivering webhooks through `webhooks`.
pub async fn setup_delivering(
    db: &TestDb,
    policy: warehouse_emulator::TokenPolicy,
    mut ws: Workspace,
    keyring: std::sync::Arc<lakegate::crypto::envelope::Keyring>,
    webhooks: Option<lakegate::egress::Egress>,
) -> Setup {
    let app = TestApp::spawn_delivering(db, Some(&ws), keyring, webhooks).await;
    // One time for both, as in life: Lakegate checks the timestamps of Google's ID tokens.
    ws.emu.set_clock(crate::harness::START);
    ws.register_for_with(&app, policy);
    let org = app.org("acme").await;
    ws.configure(&app, &org).await;
    let code_calls_at_setup = ws.emu.counters().token_calls_authorization_code;
    Setup {
        app,
        ws,
        org,
        code_calls_at_setup,
        _db: None,
    }
}

impl Setup {
    /// Saves the org's integration on this workspace's host with `client_id`, an optional new
    /// secret and optional lifetimes, as an admin would.
    pub async fn save_integration(
        &self,
        client_id: &str,
        secret: Option<&str>,
        lifetimes: Option<lakegate::integrations::TokenLifetimes>,
    ) {
        let input = lakegate::integrations::SaveInput {
            host: self.ws.host(),
            client_id: client_id.to_owned(),
            client_secret: secret.map(lakegate::secret::Secret::new),
            scopes: None,
            lifetimes,
            default_compute: None,
        };
        self.app
            .save_integration(&self.org.id, input)
            .await
            .unwrap();
    }

    pub async fn user(&self, email: &str, role: Role) -> Browser {
        self.app.user(&self.org, email, role).await;
        self.app.browser(&self.org, email).await
    }

    pub async fn connection(&self, b: &Browser, shared: bool) -> String {
        let resp = b
            .client
            .post(b.url("/api/v1/connections"))
            .header("x-csrf-token", &b.csrf)
            .json(&json!({"name": "Sales", "provider": "databricks", "auth": "oauth-u2m", "shared": shared}))
            .sent().await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Asks for a sign-in link and opens it: returns the Databricks authorize URL.
    pub async fn start(&self, b: &Browser, conn: &str) -> url::Url {
        let link: Value = b
            .client
            .post(b.url(&format!("/api/v1/connections/{conn}/sign-in")))
            .header("x-csrf-token", &b.csrf)
            .sent()
            .await
            .json()
            .await
            .unwrap();
        let resp = b
            .client
            .get(link["sign_in_url"].as_str().unwrap())
            .sent()
            .await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
        url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap()
    }

    /// An editor with a private connection whose Databricks sign-in (as alice, allowed or
    /// denied) has reached the callback: the browser, the connection and the callback URL.
    pub async fn at_callback(&self, allow: bool) -> (Browser, String, String) {
        let b = self.user("ed@acme.test", Role::Editor).await;
        let conn = self.connection(&b, false).await;
        let authorize = self.start(&b, &conn).await;
        let callback = self
            .consent(&authorize, "alice@example.com", "alice", allow)
            .await;
        (b, conn, callback)
    }

    /// Signs in on the emulator's pages; returns the callback URL Databricks redirects to.
    pub async fn consent(
        &self,
        authorize: &url::Url,
        email: &str,
        password: &str,
        allow: bool,
    ) -> String {
        self.ws.consent(authorize, email, password, allow).await
    }

    /// The whole journey; returns where the callback sent the browser.
    pub async fn sign_in(&self, b: &Browser, conn: &str, email: &str, password: &str) -> String {
        let authorize = self.start(b, conn).await;
        let callback = self.consent(&authorize, email, password, true).await;
        let resp = b.client.get(&callback).sent().await;
        assert_eq!(
            resp.status(),
            StatusCode::SEE_OTHER,
            "{}",
            resp.text().await.unwrap_or_default()
        );
        resp.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Moves both clocks: Lakegate's (deciding when to refresh) and the emulator's (expiring
    /// tokens, starting warehouses).
    pub fn advance(&self, seconds: i64) {
        self.app.clock.advance(seconds);
        self.ws.emu.advance_clock(seconds);
    }

    /// Sends a control request to the emulator.
    pub async fn control(&self, path: &str, body: Value) {
        let resp = self
            .ws
            .browser()
            .post(self.ws.emu.base_url.clone() + path)
            .json(&body)
            .sent()
            .await;
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }

    /// Code exchanges since the setup (the client check while saving not counted).
    pub fn token_calls(&self) -> u64 {
        self.ws.emu.counters().token_calls_authorization_code - self.code_calls_at_setup
    }
}
