//! Wiring: the shared state every handler sees, and the running server.

use std::sync::Arc;

use tokio::net::TcpListener;
use url::Url;

use crate::auth::login_limit::{Limits, LoginLimiter};
use crate::auth::session::Lifetimes;
use crate::clock::Clock;
use crate::crypto::envelope::Keyring;
use crate::egress::Egress;
use crate::metrics::Metrics;
use crate::store::Store;

/// Settings the HTTP layer derives from the config.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Base of every absolute URL Lakegate emits.
    pub public_url: Url,
    pub sessions: Lifetimes,
    pub login_limits: Limits,
}

impl WebSettings {
    pub fn new(public_url: Url, sessions: Lifetimes) -> Self {
        WebSettings {
            public_url,
            sessions,
            login_limits: Limits::default(),
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

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub web: Arc<WebSettings>,
    pub limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    pub keyring: Arc<Keyring>,
    pub egress: Egress,
    /// Identifies this process in refresh leases.
    pub instance_id: Arc<str>,
    pub refresh_flight: Arc<crate::connections::refresh::SingleFlight>,
    /// Token vending per user: 600 a minute.
    pub vend_limiter: Arc<crate::auth::login_limit::RateLimiter>,
    /// Crash points for tests (never armed in production).
    pub failpoints: Arc<crate::failpoint::Failpoints>,
}

impl AppState {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        web: WebSettings,
        keyring: Arc<Keyring>,
        egress: Egress,
    ) -> Self {
        let limiter = Arc::new(LoginLimiter::new(web.login_limits));
        AppState {
            store,
            clock,
            web: Arc::new(web),
            limiter,
            metrics: Arc::new(Metrics::default()),
            keyring,
            egress,
            instance_id: Arc::from(uuid::Uuid::new_v4().to_string()),
            refresh_flight: Arc::default(),
            vend_limiter: Arc::new(crate::auth::login_limit::RateLimiter::new(60, 600)),
            failpoints: Arc::default(),
        }
    }

    /// The integration service's dependencies.
    pub fn integration_deps(&self) -> crate::integrations::service::Deps<'_> {
        crate::integrations::service::Deps {
            store: &self.store,
            keyring: &self.keyring,
            egress: &self.egress,
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// Serves `state` on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (router, _) = crate::http::router(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
