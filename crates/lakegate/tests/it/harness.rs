//! Test fixtures: a store per test (SQLite file, or a PostgreSQL schema when
//! `LAKEGATE_TEST_DATABASE_URL` is set), a running app on port 0 with a manual clock,
//! and small helpers to make orgs, users, browsers and API tokens.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use warehouse_emulator::{Emulator, EmulatorConfig};

use lakegate::accounts::{Org, Role, User};
use lakegate::app::{AppState, WebSettings};
use lakegate::audit::Actor;
use lakegate::auth::Scope;
use lakegate::auth::api_token::NewToken;
use lakegate::auth::session::Lifetimes;
use lakegate::clock::ManualClock;
use lakegate::egress::{Egress, Policy};

use lakegate::store::Store;
use lakegate::testkit;

pub use crate::test_db::TestDb;

pub const PASSWORD: &str = "correct-horse-battery";
pub const START: i64 = 1_800_000_000;
pub const LIFE: Lifetimes = Lifetimes {
    idle_seconds: 3600,
    absolute_seconds: 8 * 3600,
};

/// Log output of the whole test binary, at trace level for Lakegate and its HTTP and
/// database layers (the canary test searches it). Installed once, globally: scoped
/// subscribers miss events from callsites other tests registered first.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();

fn install_log_capture() -> &'static Captured {
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let filter = tracing_subscriber::EnvFilter::new(
            "lakegate=trace,tower_http=trace,sqlx=trace,axum=trace,info",
        );
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(captured.clone())
            .with_ansi(false)
            .init();
        captured
    })
}

/// Everything logged so far by any test in this binary.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&install_log_capture().0.lock().unwrap()).into_owned()
}

/// A running Lakegate on 127.0.0.1:<random port>.
pub struct TestApp {
    pub base: String,
    pub clock: ManualClock,
    pub state: AppState,
    pub store: Store,
    /// Owned when the app made its own database (`TestApp::start`).
    _db: Option<TestDb>,
}

impl TestApp {
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(db, None).await
    }

    /// An app whose egress may reach `ws` (and only loopback addresses besides public ones).
    pub async fn spawn_with(db: &TestDb, ws: Option<&Workspace>) -> TestApp {
        Self::spawn_keyed(db, ws, testkit::random_keyring()).await
    }

    /// The same with a given key ring (shared with processes started from its master key).
    pub async fn spawn_keyed(
        db: &TestDb,
        ws: Option<&Workspace>,
        keyring: Arc<lakegate::crypto::envelope::Keyring>,
    ) -> TestApp {
        Self::spawn_delivering(db, ws, keyring, None).await
    }

    /// The same delivering webhooks through `webhooks` (none: no webhook is delivered).
    pub async fn spawn_delivering(
        db: &TestDb,
        ws: Option<&Workspace>,
        keyring: Arc<lakegate::crypto::envelope::Keyring>,
        webhooks: Option<Egress>,
    ) -> TestApp {
        let egress = match ws {
            Some(ws) => ws.egress(),
            None => Egress::new(Policy::default(), None).unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::spawn_serving(db, listener, egress, keyring, webhooks).await
    }

    /// An app on `listener` (bound earlier, so others know its URL) with its own egress
    /// client (an identity provider's host, say).
    pub async fn spawn_on(
        db: &TestDb,
        listener: tokio::net::TcpListener,
        egress: Egress,
    ) -> TestApp {
        Self::spawn_full(db, listener, egress, testkit::random_keyring()).await
    }

    async fn spawn_full(
        db: &TestDb,
        listener: tokio::net::TcpListener,
        egress: Egress,
        keyring: Arc<lakegate::crypto::envelope::Keyring>,
    ) -> TestApp {
        Self::spawn_serving(db, listener, egress, keyring, None).await
    }

    async fn spawn_serving(
        db: &TestDb,
        listener: tokio::net::TcpListener,
        egress: Egress,
        keyring: Arc<lakegate::crypto::envelope::Keyring>,
        webhooks: Option<Egress>,
    ) -> TestApp {
        install_log_capture();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clock = ManualClock::new(START);
        let mut state = testkit::app_state(
            db.store.clone(),
            Arc::new(clock.clone()),
            &base,
            LIFE,
            keyring,
            egress,
        );
        if let Some(webhooks) = webhooks {
            state = state.with_webhooks(webhooks);
        }
        testkit::serve(listener, state.clone());
        TestApp {
            base,
            clock,
            store: db.store.clone(),
            state,
            _db: None,
        }
    }

    /// A replica with its own connection pool on `db` (as a separate process would have),
    /// the same master key, egress and public URL, and its own port.
    pub async fn spawn_replica_on(db: &TestDb, first: &TestApp) -> TestApp {
        Self::replica(
            Store::connect(&db.url).await.unwrap(),
            first,
            first.clock.clone(),
        )
        .await
    }

    /// The same with a clock of its own (a replica whose time differs).
    pub async fn spawn_replica_with_clock(
        db: &TestDb,
        first: &TestApp,
        clock: ManualClock,
    ) -> TestApp {
        Self::replica(Store::connect(&db.url).await.unwrap(), first, clock).await
    }

    /// A replica on `store` (say, a restored copy), with the same master key, egress, public
    /// URL and clock as `first`.
    pub async fn spawn_replica_on_store(store: Store, first: &TestApp) -> TestApp {
        Self::replica(store, first, first.clock.clone()).await
    }

    /// A second replica: same store, same master key and egress, same public URL, its own port.
    pub async fn spawn_replica(first: &TestApp) -> TestApp {
        Self::replica(first.store.clone(), first, first.clock.clone()).await
    }

    /// A replica on its own pool with a key ring of its own (restarted with other keys).
    pub async fn spawn_replica_keyed(
        db: &TestDb,
        first: &TestApp,
        keyring: Arc<lakegate::crypto::envelope::Keyring>,
    ) -> TestApp {
        let store = Store::connect(&db.url).await.unwrap();
        Self::replica_keyed(store, first, first.clock.clone(), keyring).await
    }

    async fn replica(store: Store, first: &TestApp, clock: ManualClock) -> TestApp {
        Self::replica_keyed(store, first, clock, first.state.keyring.clone()).await
    }

    async fn replica_keyed(
        store: Store,
        first: &TestApp,
        clock: ManualClock,
        keyring: Arc<lakegate::crypto::envelope::Keyring>,
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let web = WebSettings::new(first.base.parse().unwrap(), LIFE);
        let mut state = AppState::new(
            store.clone(),
            Arc::new(clock.clone()),
            web,
            keyring,
            first.state.services.tokens.egress().clone(),
        );
        if let Some(webhooks) = first.state.services.webhooks.egress() {
            state = state.with_webhooks(webhooks.clone());
        }
        let serving = state.clone();
        tokio::spawn(async move {
            lakegate::app::serve(listener, serving, std::future::pending())
                .await
                .unwrap();
        });
        TestApp {
            base,
            clock,
            store,
            state,
            _db: None,
        }
    }

    /// An app on a fresh store of the running test's backend.
    pub async fn start() -> TestApp {
        let db = TestDb::current().await;
        let mut app = Self::spawn(&db).await;
        app._db = Some(db);
        app
    }

    /// A browser holding a session created directly in the store (no login round trip,
    /// no login throttling): for tests about what a session may do, not how it starts.
    pub async fn session_for(&self, user: &User) -> Browser {
        let (cookie, csrf) = self.stored_session(user).await;
        let mut headers = reqwest::header::HeaderMap::new();
        let value = format!("{}={cookie}", self.state.web.session_cookie());
        headers.insert(reqwest::header::COOKIE, value.parse().unwrap());
        let client = http_builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            csrf,
            base: self.base.clone(),
        }
    }

    /// The same as a full browser (a cookie store, so flows can set their binding cookie),
    /// with the session cookie's value (for tests that look for it elsewhere).
    pub async fn session_with_cookie(&self, user: &User) -> (Browser, String) {
        let (cookie, csrf) = self.stored_session(user).await;
        let jar = Arc::new(reqwest::cookie::Jar::default());
        jar.add_cookie_str(
            &format!("{}={cookie}; Path=/", self.state.web.session_cookie()),
            &self.base.parse().unwrap(),
        );
        let client = http_builder()
            .cookie_provider(jar)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let browser = Browser {
            client,
            csrf,
            base: self.base.clone(),
        };
        (browser, cookie)
    }

    /// A session row for `user`: its cookie value and CSRF token.
    async fn stored_session(&self, user: &User) -> (String, String) {
        let (cookie, row) = lakegate::auth::session::new_session(&user.id, self.clock_now(), LIFE);
        self.store.create_session(&row).await.unwrap();
        (cookie.expose().to_owned(), row.csrf_token)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn org(&self, slug: &str) -> Org {
        testkit::org(&self.store, START, slug).await
    }

    /// A user with `PASSWORD`, or without any password when `with_password` is false (cheap).
    pub async fn user_with(&self, org: &Org, email: &str, role: Role, with_password: bool) -> User {
        let password = with_password.then_some(PASSWORD);
        testkit::user(&self.store, START, org, email, role, password).await
    }

    /// The user of `org_id` with `email` (who must exist).
    pub async fn find_user(&self, org_id: &str, email: &str) -> User {
        self.store
            .user_by_email(org_id, email)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no user {email}"))
    }

    pub async fn user(&self, org: &Org, email: &str, role: Role) -> User {
        self.user_with(org, email, role, true).await
    }

    pub async fn token(&self, user: &User, scopes: &[Scope]) -> (String, String) {
        let req = NewToken {
            name: "test",
            scopes: scopes.to_vec(),
            ttl_days: Some(30),
        };
        let (secret, row) = self
            .state
            .services
            .api_tokens
            .create(&Actor::cli(Some(user.org_id.clone())), user, req)
            .await
            .unwrap();
        (secret.expose().to_owned(), row.id)
    }

    pub fn clock_now(&self) -> i64 {
        lakegate::clock::Clock::now(&self.clock)
    }

    /// Replaces the egress client of this app's services (the running server keeps its
    /// own; tests that change egress call the services directly).
    pub fn set_egress(&mut self, egress: Egress) {
        self.state = AppState::new(
            self.store.clone(),
            self.state.clock.clone(),
            (*self.state.web).clone(),
            self.state.keyring.clone(),
            egress,
        );
    }

    /// Saves `org_id`'s Databricks integration as an admin would (through the service).
    pub async fn save_integration(
        &self,
        org_id: &str,
        input: lakegate::integrations::SaveInput,
    ) -> Result<lakegate::store::IntegrationRow, lakegate::integrations::IntegrationError> {
        let actor = Actor::cli(Some(org_id.to_owned()));
        self.state
            .services
            .integrations
            .save(databricks(), &actor, org_id, input)
            .await
    }

    /// The user's token on `conn` with at least `min` seconds left (the one entry point).
    pub async fn fresh(
        &self,
        conn: &str,
        user_id: &str,
        org_id: &str,
        min: i64,
    ) -> Result<lakegate::tokens::Fresh, lakegate::connections::ConnectionError> {
        fresh_on(&self.state, conn, user_id, org_id, min).await
    }

    /// One pass of the background refresher with the default limits.
    pub async fn refresh_due(&self, keepalive_seconds: i64) -> usize {
        lakegate::jobs::refresher::Refresher::new(
            self.store.clone(),
            self.state.clock.clone(),
            self.state.services.tokens.clone(),
            lakegate::jobs::refresher::Limits::default(),
        )
        .pass(keepalive_seconds)
        .await
    }

    /// One pass of the re-consent warnings.
    pub async fn warn_due(&self, warning_seconds: i64) -> usize {
        lakegate::jobs::reconsent::warn_due(&self.store, self.clock_now(), warning_seconds).await
    }

    /// One pass of the follow-up of queries nobody polls.
    pub async fn sweep_queries(&self) -> usize {
        self.state.services.queries.sweep_unfinished(100).await
    }

    /// Signs in through the login form and returns a browser holding the session.
    pub async fn browser(&self, org: &Org, email: &str) -> Browser {
        self.browser_with_password(org, email, PASSWORD)
            .await
            .expect("login failed")
    }

    pub async fn browser_with_password(
        &self,
        org: &Org,
        email: &str,
        password: &str,
    ) -> Result<Browser, reqwest::StatusCode> {
        let client = cookie_browser();
        let csrf = self.log_in(&client, org, email, password).await?;
        Ok(Browser {
            client,
            csrf,
            base: self.base.clone(),
        })
    }

    /// Signs in through the login form in `client` (a browser with a cookie store, maybe
    /// already holding someone's session) and returns the new session's CSRF token.
    pub async fn log_in(
        &self,
        client: &reqwest::Client,
        org: &Org,
        email: &str,
        password: &str,
    ) -> Result<String, reqwest::StatusCode> {
        let page = client
            .get(self.url("/login"))
            .sent()
            .await
            .text()
            .await
            .unwrap();
        let login_csrf = hidden_field(&page, "csrf_token");
        let resp = client
            .post(self.url("/login"))
            .form(&[
                ("org", org.slug.as_str()),
                ("email", email),
                ("password", password),
                ("csrf_token", &login_csrf),
            ])
            .sent()
            .await;
        if resp.status() != reqwest::StatusCode::SEE_OTHER {
            return Err(resp.status());
        }
        let me: serde_json::Value = client
            .get(self.url("/api/v1/me"))
            .sent()
            .await
            .json()
            .await
            .unwrap();
        Ok(me["csrf_token"].as_str().unwrap().to_owned())
    }

    pub async fn count(&self, table: &'static str) -> i64 {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&self.pool()).await.unwrap();
        n
    }

    /// A raw connection pool to the same database, for assertions on stored rows.
    pub fn pool(&self) -> sqlx::AnyPool {
        self.store.raw_pool_for_tests()
    }
}

/// An emulated Databricks workspace over HTTPS (its own CA) with one confidential app,
/// reachable as `localhost:<port>`: the fixture world's workspace, with what only the
/// tests need (a browser for its pages, a runtime of its own).
pub struct Workspace {
    inner: testkit::Workspace,
}

impl std::ops::Deref for Workspace {
    type Target = testkit::Workspace;
    fn deref(&self) -> &testkit::Workspace {
        &self.inner
    }
}

impl std::ops::DerefMut for Workspace {
    fn deref_mut(&mut self) -> &mut testkit::Workspace {
        &mut self.inner
    }
}

/// Where the first app's redirect URL points before a test registers its own.
const NOWHERE: &str = "http://127.0.0.1";

impl Workspace {
    pub async fn start() -> Workspace {
        Self::start_with(EmulatorConfig::for_tests()).await
    }

    pub async fn start_with(config: EmulatorConfig) -> Workspace {
        Workspace {
            inner: testkit::Workspace::start(Self::over_tls(config), NOWHERE).await,
        }
    }

    /// The same, served from threads of its own (a runtime on a separate thread), so its
    /// allocations are not counted by the allocation meter of the test's thread.
    pub async fn start_isolated(config: EmulatorConfig) -> Workspace {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let config = EmulatorConfig {
            advertise_host: Some("localhost".into()),
            ..Self::over_tls(config)
        };
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let _ = tx.send(Emulator::start(config).await.unwrap());
                // Serve until the process ends.
                std::future::pending::<()>().await;
            });
        });
        Workspace {
            inner: testkit::Workspace::around(rx.await.unwrap(), NOWHERE),
        }
    }

    fn over_tls(config: EmulatorConfig) -> EmulatorConfig {
        EmulatorConfig {
            tls: true,
            ..config
        }
    }

    /// Registers a fresh app whose only redirect URL is `app`'s callback, and uses it.
    pub fn register_for(&mut self, app: &TestApp) {
        self.register_for_with(app, warehouse_emulator::TokenPolicy::default());
    }

    /// The same, with a token policy (rotation, lifetimes).
    pub fn register_for_with(&mut self, app: &TestApp, policy: warehouse_emulator::TokenPolicy) {
        self.inner.register(&app.base, policy);
    }

    /// Saves this workspace as `org`'s Databricks integration in `app`.
    pub async fn configure(&self, app: &TestApp, org: &Org) {
        self.inner.configure(&app.state, &org.id).await;
    }

    /// Another workspace of the same account (the emulator's sibling), with the same app
    /// connection registered.
    pub async fn sibling(&self) -> Workspace {
        let emu = self.emu.start_sibling().await.unwrap();
        Workspace {
            inner: testkit::Workspace {
                emu,
                client_id: self.client_id.clone(),
                client_secret: self.client_secret.clone(),
            },
        }
    }

    /// An egress client that may reach each of `all` (trusting each one's CA).
    pub fn egress_for(all: &[&Workspace]) -> Egress {
        let hosts: Vec<_> = all
            .iter()
            .map(|w| lakegate::egress::HostPort::parse(&w.host()).unwrap())
            .collect();
        let policy = Policy {
            extra_allowed_hosts: hosts,
            allowed_cidrs: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            ..Policy::default()
        };
        let cas: String = all.iter().filter_map(|w| w.emu.ca_pem.clone()).collect();
        Egress::new(policy, Some(cas.as_bytes())).unwrap()
    }

    /// Signs in on this workspace's pages; returns the callback URL it redirects to.
    pub async fn consent(
        &self,
        authorize: &url::Url,
        email: &str,
        password: &str,
        allow: bool,
    ) -> String {
        let emu = self.browser();
        let page = emu
            .get(authorize.as_str())
            .sent()
            .await
            .text()
            .await
            .unwrap();
        let request = hidden_field(&page, "request");
        let login = emu
            .post(self.emu.base_url.clone() + "/oidc/v1/authorize/login")
            .form(&[
                ("request", request.as_str()),
                ("email", email),
                ("password", password),
            ])
            .sent()
            .await;
        assert_eq!(login.status(), reqwest::StatusCode::OK);
        let decision = if allow { "allow" } else { "deny" };
        let done = emu
            .post(self.emu.base_url.clone() + "/oidc/v1/authorize/consent")
            .form(&[("request", request.as_str()), ("decision", decision)])
            .sent()
            .await;
        done.headers()["location"].to_str().unwrap().to_owned()
    }

    /// A browser for the emulator's own pages (trusts its CA, follows no redirects).
    pub fn browser(&self) -> reqwest::Client {
        let ca =
            reqwest::Certificate::from_pem(self.emu.ca_pem.as_deref().unwrap().as_bytes()).unwrap();
        http_builder()
            .tls_certs_merge([ca])
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }
}

/// A signed-in browser: its cookie jar and its session's CSRF token.
pub struct Browser {
    pub client: reqwest::Client,
    pub csrf: String,
    pub base: String,
}

impl Browser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).sent().await
    }

    /// GET `path` and return the body as text.
    pub async fn page(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// GET `path` and return the body as JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.unwrap()
    }

    /// GET `path` and return only the status.
    pub async fn status(&self, path: &str) -> reqwest::StatusCode {
        self.get(path).await.status()
    }

    /// POST a form to `path` (the caller adds `csrf_token` when it wants one).
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client.post(self.url(path)).form(form).sent().await
    }
}

/// The value of `<input type="hidden" name="NAME" value="...">` in a page.
/// The value of query parameter `name` in `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub fn hidden_field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in page"))
        + marker.len();
    page[start..].split('"').next().unwrap().to_owned()
}

/// A reqwest builder. The workspace unifies reqwest's features, so rustls needs its crypto
/// provider installed before any client is built.
pub fn http_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A default client.
pub fn http() -> reqwest::Client {
    http_builder().build().unwrap()
}

/// A browser: its own cookies, no redirects followed.
pub fn cookie_browser() -> reqwest::Client {
    http_builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client without cookies or redirects.
pub fn anonymous() -> reqwest::Client {
    http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The Databricks OAuth U2M provider, which the suites exercise.
pub fn databricks() -> &'static dyn lakegate::providers::Provider {
    &lakegate::providers::databricks::U2M
}

/// The user's token on `conn` from a given replica's state.
pub async fn fresh_on(
    state: &AppState,
    conn: &str,
    user_id: &str,
    org_id: &str,
    min: i64,
) -> Result<lakegate::tokens::Fresh, lakegate::connections::ConnectionError> {
    let holder = lakegate::tokens::Holder {
        connection_id: conn.to_owned(),
        user_id: user_id.to_owned(),
        org_id: org_id.to_owned(),
    };
    state.services.tokens.fresh(&holder, min).await
}

/// `send().await.unwrap()` in one step: a request that cannot be sent fails the test.
pub trait Sent {
    fn sent(self) -> impl std::future::Future<Output = reqwest::Response>;
}

impl Sent for reqwest::RequestBuilder {
    async fn sent(self) -> reqwest::Response {
        self.send().await.unwrap()
    }
}
