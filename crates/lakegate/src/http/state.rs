//! What every handler sees: the domain services and the web settings.

use std::sync::Arc;

use url::Url;

use crate::auth::limits::{Limits, SharedLimit};
use crate::auth::session::Lifetimes;
use crate::clock::Clock;
use crate::crypto::envelope::Keyring;
use crate::egress::Egress;
use crate::failpoint::Failpoints;
use crate::metrics::Metrics;
use crate::services::{Infra, Services};
use crate::store::Store;

/// Settings the HTTP layer derives from the config.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Base of every absolute URL Lakegate emits.
    pub public_url: Url,
    pub sessions: Lifetimes,
    pub limitss: Limits,
    /// Tokens one user may have vended per minute in each process; 0: no limit.
    pub vend_limit_per_minute: u32,
}

/// The default of `token_vend_limit_per_minute`.
pub const DEFAULT_VEND_LIMIT_PER_MINUTE: u32 = 600;

impl WebSettings {
    pub fn new(public_url: Url, sessions: Lifetimes) -> Self {
        WebSettings {
            public_url,
            sessions,
            limitss: Limits::default(),
            vend_limit_per_minute: DEFAULT_VEND_LIMIT_PER_MINUTE,
        }
    }
    /// Cookies are `Secure` and `__Host-` prefixed when Lakegate is served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
    pub fn session_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-lakegate_session"
        } else {
            "lakegate_session"
        }
    }
    pub fn login_csrf_cookie(&self) -> &'static str {
        if self.secure_cookies() {
            "__Host-lakegate_login"
        } else {
            "lakegate_login"
        }
    }
    /// `scheme://host[:port]`, compared against the `Origin` of state-changing requests.
    pub fn origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

/// Everything a handler needs: the domain services, the infrastructure for plain reads,
/// and the web settings. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Behind one `Arc`: the state is cloned for every handler and middleware of every
    /// request, and the services hold dozens of handles between them.
    pub services: Arc<Services>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub keyring: Arc<Keyring>,
    pub web: Arc<WebSettings>,
    /// Token vending per user: 600 a minute.
    pub vend_limiter: Arc<SharedLimit>,
    /// Crash points for tests (never armed in production).
    pub failpoints: Arc<Failpoints>,
}

impl AppState {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        web: WebSettings,
        keyring: Arc<Keyring>,
        egress: Egress,
    ) -> Self {
        let infra = Infra::new(store, clock, keyring, egress);
        AppState::from_infra(&infra, web)
    }

    /// The state over infrastructure built elsewhere (the binary's wiring).
    pub fn from_infra(infra: &Infra, web: WebSettings) -> Self {
        let services = Services::new(infra, web.public_url.clone(), web.sessions, web.limitss);
        // Shared by every replica through the store; 0 turns the limit off.
        let vend_limiter = Arc::new(SharedLimit::new(
            infra.store.clone(),
            "vend",
            60,
            web.vend_limit_per_minute,
        ));
        AppState {
            services: Arc::new(services),
            store: infra.store.clone(),
            clock: infra.clock.clone(),
            metrics: infra.metrics.clone(),
            keyring: infra.keyring.clone(),
            web: Arc::new(web),
            vend_limiter,
            failpoints: infra.failpoints.clone(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The same state delivering webhooks through `egress` (before it serves).
    pub fn with_webhooks(mut self, egress: Egress) -> Self {
        let mut services = (*self.services).clone();
        services.webhooks = crate::webhooks::service::WebhookService::new(
            self.store.clone(),
            self.keyring.clone(),
            Some(egress),
            self.clock.clone(),
            (self.metrics.clone(), self.failpoints.clone()),
        );
        self.services = Arc::new(services);
        self
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}
