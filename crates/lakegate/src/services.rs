//! The domain services and what they are built from. Each service holds exactly the
//! dependencies it uses (store, key ring, egress client, clock, metrics, …); nothing here
//! knows about HTTP. The web layer's `AppState` holds these services plus web settings.

use std::sync::Arc;

use url::Url;

use crate::accounts::service::AccountService;
use crate::auth::api_token::ApiTokenService;
use crate::auth::limits::{Limits, LoginLimiter};
use crate::auth::login::LoginService;
use crate::auth::service_key::ServiceKeyService;
use crate::auth::session::Lifetimes;
use crate::clock::Clock;
use crate::clock_skew::SkewGuard;
use crate::connections::{ConnectionService, SignInService};
use crate::crypto::envelope::Keyring;
use crate::egress::Egress;
use crate::failpoint::Failpoints;
use crate::integrations::IntegrationService;
use crate::metrics::Metrics;
use crate::queries::service::QueryService;
use crate::sso::SsoService;
use crate::store::Store;
use crate::tokens::TokenService;
use crate::webhooks::service::WebhookService;

/// The shared infrastructure the services are built from.
#[derive(Clone)]
pub struct Infra {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub keyring: Arc<Keyring>,
    pub egress: Egress,
    pub metrics: Arc<Metrics>,
    /// Crash points for tests (never armed in production).
    pub failpoints: Arc<Failpoints>,
    /// This process's clock against the store's (refresh leases depend on it).
    pub skew: Arc<SkewGuard>,
    /// The outbound client for webhook receivers, with its own policy (`[webhooks]`);
    /// without one this process delivers no webhooks.
    pub webhook_egress: Option<Egress>,
}

impl Infra {
    pub fn new(store: Store, clock: Arc<dyn Clock>, keyring: Arc<Keyring>, egress: Egress) -> Self {
        Infra {
            store,
            clock,
            keyring,
            egress,
            metrics: Arc::default(),
            failpoints: Arc::default(),
            skew: Arc::default(),
            webhook_egress: None,
        }
    }
}

/// Every domain service of one process. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub tokens: TokenService,
    pub connections: ConnectionService,
    pub sign_in: SignInService,
    pub queries: QueryService,
    pub integrations: IntegrationService,
    pub logins: LoginService,
    pub accounts: AccountService,
    pub api_tokens: ApiTokenService,
    pub service_keys: ServiceKeyService,
    pub sso: SsoService,
    pub webhooks: WebhookService,
}

impl Services {
    /// `public_url` is where users reach Lakegate (redirect URLs are built from it).
    pub fn new(infra: &Infra, public_url: Url, sessions: Lifetimes, limitss: Limits) -> Self {
        let i = infra;
        let tokens = TokenService::new(
            i.store.clone(),
            i.keyring.clone(),
            i.egress.clone(),
            i.clock.clone(),
            i.metrics.clone(),
            i.failpoints.clone(),
            i.skew.clone(),
        );
        let connections = ConnectionService::new(i.store.clone(), i.clock.clone(), tokens.clone());
        let accounts = AccountService::new(i.store.clone(), i.clock.clone());
        Services {
            sso: SsoService::new(i, accounts.clone(), sessions, public_url.clone()),
            sign_in: SignInService::new(
                i.store.clone(),
                i.keyring.clone(),
                i.egress.clone(),
                i.clock.clone(),
                i.metrics.clone(),
                public_url.clone(),
            ),
            queries: QueryService::new(
                i.store.clone(),
                i.clock.clone(),
                i.metrics.clone(),
                connections.clone(),
                tokens.clone(),
            ),
            integrations: IntegrationService::new(
                i.store.clone(),
                i.keyring.clone(),
                i.egress.clone(),
                i.clock.clone(),
                Some(public_url.clone()),
            ),
            logins: LoginService::new(
                i.store.clone(),
                i.clock.clone(),
                Arc::new(LoginLimiter::new(i.store.clone(), limitss)),
                sessions,
            ),
            accounts,
            api_tokens: ApiTokenService::new(i.store.clone(), i.clock.clone()),
            service_keys: ServiceKeyService::new(i.store.clone(), i.clock.clone()),
            webhooks: WebhookService::new(
                i.store.clone(),
                i.keyring.clone(),
                i.webhook_egress.clone(),
                i.clock.clone(),
                (i.metrics.clone(), i.failpoints.clone()),
            ),
            connections,
            tokens,
        }
    }
}
