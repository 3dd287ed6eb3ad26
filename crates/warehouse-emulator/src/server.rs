//! Starting the emulator: build the shared state, bind, serve HTTP or HTTPS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::databricks::account::{self, AppRequest};
use crate::databricks::warehouses::Warehouse;
use crate::engine::authz::{App, OAuthState};
use crate::engine::clock::EmuClock;
use crate::engine::faults::Faults;
use crate::engine::jwt::Signer;
use crate::engine::sql::Engine;
use crate::state::{Shared, User, lock};

/// The emulator, started.
pub struct Emulator;

/// A running emulator: its base URL, its CA (with TLS), and a way to stop it.
pub struct EmulatorHandle {
    pub base_url: String,
    /// The CA certificate to trust (PEM), when serving HTTPS.
    pub ca_pem: Option<String>,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

fn router(shared: Arc<Shared>) -> Router {
    let mut r = Router::new()
        .merge(crate::databricks::oauth::router())
        .merge(crate::databricks::rest::router(shared.clone()))
        .merge(crate::databricks::storage::router())
        .merge(crate::snowflake::oauth::router())
        .merge(crate::snowflake::sql_api::router())
        .merge(crate::google::oauth::router())
        .merge(crate::google::bigquery::router())
        .merge(account::router(shared.clone()));
    if shared.config.control {
        r = r.merge(crate::control::router());
    }
    r.fallback(|| async {
        crate::databricks::errors::not_found("ENDPOINT_NOT_FOUND", "No API found for this path.")
    })
    .layer(axum::middleware::map_response_with_state(
        shared.clone(),
        dated,
    ))
    .with_state(shared)
}

/// Every answer's `Date` is the emulator's clock, as a server's `Date` is its own clock
/// (so a client can compare clocks with it, and a test can move it).
async fn dated(
    axum::extract::State(s): axum::extract::State<Arc<Shared>>,
    mut resp: axum::response::Response,
) -> axum::response::Response {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(s.clock.now().max(0) as u64);
    if let Ok(v) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(at)) {
        resp.headers_mut().insert(axum::http::header::DATE, v);
    }
    resp
}

impl Emulator {
    /// Builds the workspace from `config` and serves it until the handle is stopped.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<EmulatorHandle> {
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if config.tls { "https" } else { "http" };
        let base_url = match (&config.public_url, &config.advertise_host) {
            (Some(url), _) => url.trim_end_matches('/').to_owned(),
            (None, Some(host)) => format!("{scheme}://{host}:{}", addr.port()),
            (None, None) => format!("{scheme}://{addr}"),
        };
        let nyctaxi_rows = config.nyctaxi_rows;
        let engine = tokio::task::spawn_blocking(move || Engine::new(nyctaxi_rows)).await??;
        let users = config
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| User {
                scim_id: format!("{}", 7_000_000_000_000_000u64 + i as u64 + 1),
                config: u.clone(),
            })
            .collect();
        let mut oauth = OAuthState::default();
        for app in &config.apps {
            oauth.add_app(App::from_config(app));
        }
        let mut snowflake = HashMap::new();
        for i in &config.snowflake_integrations {
            oauth.add_app(crate::snowflake::integration::app(i));
            snowflake.insert(i.client_id.clone(), i.clone());
        }
        for c in &config.google_clients {
            oauth.add_app(crate::google::client::app(c));
        }
        let warehouses = config
            .warehouses
            .iter()
            .map(Warehouse::from_config)
            .collect();
        let tls = if config.tls {
            let host = url::Url::parse(&base_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            let tls = crate::engine::tls::generate(host.as_deref())?;
            if let Some(path) = &config.tls_ca_out {
                std::fs::write(path, &tls.ca_pem).map_err(|e| {
                    anyhow::anyhow!("cannot write the CA certificate to {path}: {e}")
                })?;
            }
            Some(tls)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            config,
            base_url: base_url.clone(),
            clock: EmuClock::default(),
            signer: Signer::generate()?,
            users,
            engine,
            oauth: Mutex::new(oauth),
            pending: Mutex::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            warehouses: Mutex::new(warehouses),
            statements: Mutex::new(HashMap::new()),
            snowflake: Mutex::new(snowflake),
            sf_statements: Mutex::new(HashMap::new()),
            sf_requests: Mutex::new(HashMap::new()),
            principals: Mutex::new(Default::default()),
            google: Mutex::new(crate::google::GoogleState::default()),
            bq_jobs: Mutex::new(HashMap::new()),
        });
        let app = router(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let ca_pem = tls.as_ref().map(|t| t.ca_pem.clone());
        let task = match tls {
            Some(tls) => {
                let listener = crate::engine::tls::TlsListener {
                    tcp: listener,
                    acceptor: tls.acceptor,
                };
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                    {
                        tracing::error!(error = %e, "emulator stopped");
                    }
                })
            }
            None => tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::error!(error = %e, "emulator stopped");
                }
            }),
        };
        Ok(EmulatorHandle {
            base_url,
            ca_pem,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

impl EmulatorHandle {
    /// Another workspace of the same Databricks account, on a port of its own: the same
    /// users, warehouses and sample data, and the account's app connections as registered
    /// now (an app connection serves every workspace of its account). Tokens stay with the
    /// workspace that issued them: one from here is refused there, and the other way round.
    pub async fn start_sibling(&self) -> anyhow::Result<EmulatorHandle> {
        let config = EmulatorConfig {
            listen: "127.0.0.1:0".into(),
            public_url: None,
            // Its CA is its own: the caller trusts it from the handle (`ca_pem`).
            tls_ca_out: None,
            ..self.shared.config.clone()
        };
        let sibling = Emulator::start(config).await?;
        let apps: Vec<App> = lock(&self.shared.oauth).apps.values().cloned().collect();
        let mut oauth = lock(&sibling.shared.oauth);
        for app in apps {
            oauth.add_app(app);
        }
        drop(oauth);
        Ok(sibling)
    }

    /// The status an unknown or dead refresh token is answered with.
    pub fn config_invalid_refresh_status(&self) -> u16 {
        self.shared.config.invalid_refresh_status
    }

    /// The host name (and port) clients use, as an admin would paste it.
    pub fn host(&self) -> String {
        self.base_url
            .split("://")
            .nth(1)
            .unwrap_or(&self.base_url)
            .to_owned()
    }

    /// Registers an app connection, as the account console would; returns it with its secret.
    pub fn register_app(&self, req: AppRequest) -> Result<App, String> {
        account::register(&self.shared, req)
    }

    /// Creates a Snowflake security integration, as `CREATE SECURITY INTEGRATION` would.
    pub fn register_snowflake_integration(&self, i: crate::config::SnowflakeIntegrationConfig) {
        lock(&self.shared.oauth).add_app(crate::snowflake::integration::app(&i));
        lock(&self.shared.snowflake).insert(i.client_id.clone(), i);
    }

    /// Gives an app connection a new secret (an admin rotated it): the old one stops working.
    pub fn rotate_app_secret(&self, client_id: &str) -> Option<String> {
        let secret = format!("dose{}", crate::engine::authz::random_id(24));
        let mut o = lock(&self.shared.oauth);
        let app = o.apps.get_mut(client_id)?;
        app.client_secret = Some(secret.clone());
        Some(secret)
    }

    /// Creates a service principal with one OAuth secret, as the account API does:
    /// (application id, secret).
    pub fn create_service_principal(&self, display_name: &str) -> (String, String) {
        let sp = crate::databricks::principals::create(&self.shared, display_name);
        let (_, secret) =
            crate::databricks::principals::add_secret(&self.shared, &sp.id).unwrap_or_default();
        (sp.application_id, secret)
    }

    /// The text of every Databricks statement submitted so far.
    pub fn statement_texts(&self) -> Vec<String> {
        crate::databricks::statements::texts(&self.shared)
    }

    /// Adds an OAuth secret to a service principal: the secret (empty if there is no such principal).
    pub fn add_principal_secret(&self, application_id: &str) -> String {
        let id = lock(&self.shared.principals)
            .by_app
            .get(application_id)
            .map(|p| p.id.clone());
        id.and_then(|id| crate::databricks::principals::add_secret(&self.shared, &id))
            .map(|(_, secret)| secret)
            .unwrap_or_default()
    }

    /// Deletes every OAuth secret of a service principal, as the account console does.
    pub fn delete_principal_secrets(&self, application_id: &str) -> bool {
        lock(&self.shared.principals)
            .by_app
            .get_mut(application_id)
            .map(|p| p.secrets.clear())
            .is_some()
    }

    /// Creates a personal access token for `email`, as `POST /api/2.0/token/create` does
    /// for them: (token value, token id).
    pub fn create_pat(&self, email: &str, lifetime_seconds: Option<i64>) -> (String, String) {
        crate::databricks::principals::create_pat_for(&self.shared, email, lifetime_seconds)
    }

    /// Deletes a personal access token by id, as `POST /api/2.0/token/delete` does.
    pub fn delete_pat(&self, token_id: &str) -> bool {
        let mut p = lock(&self.shared.principals);
        let before = p.pats.len();
        p.pats.retain(|_, t| t.id != token_id);
        p.pats.len() != before
    }

    /// Grants a service principal reading `pattern` (`catalog.schema.table`, `*` for any).
    pub fn grant_principal(&self, application_id: &str, pattern: &str) {
        if let Some(sp) = lock(&self.shared.principals).by_app.get_mut(application_id) {
            sp.grants.push(pattern.to_owned());
        }
    }

    /// Registers a Google OAuth client, as creating one in the Cloud Console does.
    pub fn register_google_client(&self, c: crate::config::GoogleClientConfig) {
        lock(&self.shared.oauth).add_app(crate::google::client::app(&c));
    }

    /// Makes the next ID token wrong in one way (tests of what a client checks).
    pub fn tamper_next_id_token(&self, t: crate::google::Tamper) {
        lock(&self.shared.google).tamper = Some(t);
    }

    /// Makes `email`'s next refreshes answer `invalid_rapt` (an admin's session control).
    pub fn require_google_reauth(&self, email: &str) {
        lock(&self.shared.google)
            .reauth_required
            .insert(email.to_lowercase());
    }

    /// A user's default Snowflake role (their first), for tests that mint tokens.
    pub fn user_default_role(&self, email: &str) -> String {
        self.shared
            .user(email)
            .and_then(|u| u.config.snowflake_roles.first().cloned())
            .unwrap_or_else(|| "PUBLIC".into())
    }

    /// Issues tokens for `email` on `client_id` without the browser dance (benchmarks and
    /// load tools that need many signed-in users).
    pub fn mint_tokens(
        &self,
        client_id: &str,
        email: &str,
        scope: &str,
    ) -> Result<crate::engine::authz::TokenSet, String> {
        let s = &self.shared;
        let now = s.clock.now();
        let verifier = "benchmark-verifier-benchmark-verifier-benchmark-verifier";
        let challenge = crate::engine::authz::s256(verifier);
        let mut o = lock(&s.oauth);
        let app = o.apps.get(client_id).cloned().ok_or("unknown client")?;
        let redirect = app.redirect_urls.first().cloned().unwrap_or_default();
        let scopes = scope.split_whitespace().map(str::to_owned).collect();
        let code = o.issue_code(
            client_id,
            &redirect,
            email,
            scopes,
            &challenge,
            now,
            s.config.code_ttl_seconds,
        );
        o.redeem_code(
            &app,
            &code,
            Some(&redirect),
            Some(verifier),
            now,
            &s.signer,
            &s.issuer(),
            |e| s.user_facts(e),
        )
        .map_err(|e| format!("{e:?}"))
    }

    /// Queues a fault, as `POST /emulator/control/faults` does.
    pub fn fault(&self, f: crate::engine::faults::FaultRequest) {
        lock(&self.shared.faults).push(f);
    }

    /// How many statements the Snowflake SQL API has started (a resubmission with a known
    /// `requestId` starts none).
    pub fn snowflake_statements(&self) -> usize {
        lock(&self.shared.sf_statements).len()
    }

    /// Sets the emulator's clock to read `now` (and tick on from there): a test whose
    /// client checks the emulator's timestamps (ID tokens) aligns the two clocks.
    pub fn set_clock(&self, now: i64) {
        self.shared.clock.set(now);
    }

    /// Kills one refresh token, as `POST /emulator/control/refresh-tokens/kill` does.
    pub fn kill_refresh_token(&self, refresh_token: &str) -> bool {
        lock(&self.shared.oauth).kill_refresh_token(refresh_token)
    }

    /// How many BigQuery jobs have started (a request with a known `requestId` starts none).
    pub fn bigquery_jobs(&self) -> usize {
        lock(&self.shared.bq_jobs).len()
    }

    /// Moves the emulator's clock forward.
    pub fn advance_clock(&self, seconds: i64) {
        self.shared.clock.advance(seconds);
    }

    /// The control counters.
    pub fn counters(&self) -> crate::engine::authz::Counters {
        lock(&self.shared.oauth).counters.clone()
    }

    /// Stops serving and waits for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}
