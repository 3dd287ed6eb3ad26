//! The one fixture world of the test suites and the benchmarks (feature `testkit`; never in
//! production builds): a random key ring, an emulated Databricks workspace with Lakegate's
//! app registered, the egress client that may reach it, an app state over a store, orgs
//! and users, the integration saved, and credentials minted straight at the emulator.
//! Faults are typed too: `warehouse_emulator::Fault`.

use std::sync::Arc;

use warehouse_emulator::{AppRequest, Emulator, EmulatorConfig, EmulatorHandle, TokenPolicy};

use crate::accounts::service::{self, NewUserInput};
use crate::accounts::{Org, Role, User};
use crate::app::{AppState, WebSettings};
use crate::audit::Actor;
use crate::auth::{Principal, Via};
use crate::clock::Clock;
use crate::connections::credential_binding;
use crate::credentials::{SignIn, signed_in};
use crate::crypto::envelope::Keyring;
use crate::crypto::master_key::{MasterKey, MasterKeySource};
use crate::egress::{Egress, HostPort, Policy};
use crate::integrations::SaveInput;
use crate::providers::{Provider, databricks};
use crate::secret::Secret;
use crate::store::{IntegrationRow, Store};

pub use warehouse_emulator::{Fault, Target};

pub mod process;

/// The Databricks OAuth U2M provider, which the fixtures configure.
pub fn provider() -> &'static dyn Provider {
    &databricks::U2M
}

/// A key ring over a fresh random master key.
pub fn random_keyring() -> Arc<Keyring> {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    Arc::new(Keyring::new(master_key(key)))
}

/// The master key of these bytes (a test that rotates keys needs each one twice).
pub fn master_key(bytes: [u8; 32]) -> MasterKey {
    let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes);
    MasterKeySource::Value(Secret::new(key))
        .load(false)
        .unwrap_or_else(|e| fail(e))
        .0
}

/// An app state over `store` at `public_url` with `clock`, reaching `egress`.
pub fn app_state(
    store: Store,
    clock: Arc<dyn Clock>,
    public_url: &str,
    sessions: crate::auth::session::Lifetimes,
    keyring: Arc<Keyring>,
    egress: Egress,
) -> AppState {
    let url = public_url.parse().unwrap_or_else(|e| fail(e));
    AppState::new(
        store,
        clock,
        WebSettings::new(url, sessions),
        keyring,
        egress,
    )
}

/// Serves `state` on `listener` until the process ends.
pub fn serve(listener: tokio::net::TcpListener, state: AppState) {
    tokio::spawn(async move {
        if let Err(e) = crate::app::serve(listener, state, std::future::pending()).await {
            fail(e)
        }
    });
}

/// An emulated workspace, reachable as `localhost:<port>`, with one confidential app.
pub struct Workspace {
    pub emu: EmulatorHandle,
    pub client_id: String,
    pub client_secret: String,
}

impl Workspace {
    /// Starts the emulator (over TLS with its own CA when `config.tls`) and registers an app
    /// whose redirect URL is Lakegate's callback at `public_url`.
    pub async fn start(config: EmulatorConfig, public_url: &str) -> Workspace {
        let emu = Emulator::start(EmulatorConfig {
            advertise_host: Some("localhost".into()),
            ..config
        })
        .await
        .unwrap_or_else(|e| fail(e));
        Workspace::around(emu, public_url)
    }

    /// Registers Lakegate's app on a running emulator.
    pub fn around(emu: EmulatorHandle, public_url: &str) -> Workspace {
        let mut ws = Workspace {
            emu,
            client_id: String::new(),
            client_secret: String::new(),
        };
        ws.register(public_url, TokenPolicy::default());
        ws
    }

    /// Registers a fresh app whose only redirect URL is Lakegate's callback at
    /// `public_url`, with `policy` (rotation, lifetimes), and uses it from now on.
    pub fn register(&mut self, public_url: &str, policy: TokenPolicy) {
        let callback = crate::providers::redirect_url(
            &public_url.parse().unwrap_or_else(|e| fail(e)),
            provider().info(),
        );
        let app = self
            .emu
            .register_app(AppRequest {
                name: Some("Lakegate".into()),
                redirect_urls: Some(vec![callback]),
                confidential: Some(true),
                scopes: Some(vec!["all-apis".into()]),
                token_access_policy: Some(policy),
                ..Default::default()
            })
            .unwrap_or_else(|e| fail(e));
        self.client_id = app.client_id;
        self.client_secret = app.client_secret.unwrap_or_default();
    }

    /// `localhost:<port>`, as an admin would paste it.
    pub fn host(&self) -> String {
        self.emu.host()
    }

    /// The host as an admin types it: plain http needs the scheme.
    pub fn typed_host(&self) -> String {
        match self.emu.ca_pem {
            Some(_) => self.host(),
            None => format!("http://{}", self.host()),
        }
    }

    /// An egress client that may reach this workspace on loopback (trusting its CA, or
    /// over plain http when it serves no TLS).
    pub fn egress(&self) -> Egress {
        let host = HostPort::parse(&self.host()).unwrap_or_else(|e| fail(e));
        let plain = self.emu.ca_pem.is_none();
        let policy = Policy {
            extra_allowed_hosts: vec![host.clone()],
            allowed_cidrs: vec![
                "127.0.0.0/8".parse().unwrap_or_else(|e| fail(e)),
                "::1/128".parse().unwrap_or_else(|e| fail(e)),
            ],
            insecure_http_hosts: if plain { vec![host] } else { vec![] },
            // The emulator is also Google, through the operator's setting.
            google_base_url: url::Url::parse(&self.emu.base_url).ok(),
        };
        Egress::new(policy, self.emu.ca_pem.as_deref().map(str::as_bytes))
            .unwrap_or_else(|e| fail(e))
    }

    /// Saves this workspace as `org_id`'s Databricks integration through the service.
    pub async fn configure(&self, state: &AppState, org_id: &str) -> IntegrationRow {
        let input = SaveInput {
            host: self.typed_host(),
            client_id: self.client_id.clone(),
            client_secret: Some(Secret::new(self.client_secret.clone())),
            scopes: None,
            lifetimes: None,
            default_compute: None,
        };
        state
            .services
            .integrations
            .save(
                provider(),
                &Actor::cli(Some(org_id.to_owned())),
                org_id,
                input,
            )
            .await
            .unwrap_or_else(|e| fail(e))
    }

    /// A credential for `user` on connection `connection_id`, with tokens minted straight at
    /// the emulator for `databricks_user` (no browser), stored as a sign-in would store it.
    /// Returns the refresh token.
    pub async fn mint_credential(
        &self,
        state: &AppState,
        user: &User,
        connection_id: &str,
        databricks_user: &str,
        expires_in: i64,
    ) -> String {
        let integration = state
            .store
            .integration(&user.org_id, provider().info().kind)
            .await
            .unwrap_or_else(|e| fail(e))
            .unwrap_or_else(|| fail("the integration is not configured"));
        let tokens = self
            .emu
            .mint_tokens(&self.client_id, databricks_user, "all-apis offline_access")
            .unwrap_or_else(|e| fail(e));
        let refresh = tokens.refresh_token.clone().unwrap_or_default();
        let now = state.now();
        let id = uuid::Uuid::now_v7().to_string();
        let seal = |column: &'static str, value: String| {
            let (state, org, id) = (state.clone(), user.org_id.clone(), id.clone());
            async move {
                state
                    .keyring
                    .seal(
                        &state.store,
                        credential_binding(&org, &id, column),
                        value.as_bytes(),
                        now,
                    )
                    .await
                    .unwrap_or_else(|e| fail(e))
            }
        };
        let cred = signed_in(
            SignIn {
                id: id.clone(),
                connection_id,
                user_id: &user.id,
                integration: &integration,
                access_token_enc: seal("access_token", tokens.access_token.clone()).await,
                refresh_token_enc: seal("refresh_token", refresh.clone()).await,
                scopes: tokens.scope.clone(),
                identity_id: databricks_user.to_owned(),
                identity_name: databricks_user.to_owned(),
                access_expires_at: now + expires_in,
            },
            now,
        );
        state
            .store
            .put_credential(&cred)
            .await
            .unwrap_or_else(|e| fail(e));
        refresh
    }
}

/// The accounts service on a clock stopped at `now`.
fn accounts_at(store: &Store, now: i64) -> service::AccountService {
    service::AccountService::new(store.clone(), Arc::new(crate::clock::ManualClock::new(now)))
}

/// An organization `slug` made through the accounts service.
pub async fn org(store: &Store, now: i64, slug: &str) -> Org {
    accounts_at(store, now)
        .create_org(&Actor::cli(None), slug, &format!("Org {slug}"))
        .await
        .unwrap_or_else(|e| fail(e))
}

/// A user of `org`, with `password` or none (cheap: no hashing).
pub async fn user(
    store: &Store,
    now: i64,
    org: &Org,
    email: &str,
    role: Role,
    password: Option<&str>,
) -> User {
    let input = NewUserInput {
        email: email.into(),
        display_name: None,
        role,
        password: password.map(Secret::new),
        external_id: None,
    };
    accounts_at(store, now)
        .create_user(&Actor::cli(Some(org.id.clone())), org, input)
        .await
        .unwrap_or_else(|e| fail(e))
}

/// `user` acting through a browser session (for calling services directly).
pub fn principal(user: &User, org: &Org) -> Principal {
    Principal {
        user: user.clone(),
        org: org.clone(),
        via: Via::Session {
            id_hash: String::new(),
            csrf_token: String::new(),
        },
    }
}

/// A connection of `owner` named `name`, made through the connection service.
pub async fn connection(
    state: &AppState,
    owner: &User,
    org: &Org,
    name: &str,
    shared: bool,
) -> String {
    state
        .services
        .connections
        .create(
            &principal(owner, org),
            &Actor::cli(Some(org.id.clone())),
            provider(),
            name,
            shared,
            None,
        )
        .await
        .unwrap_or_else(|e| fail(e))
        .id
}

/// Fixtures cannot go on when the world cannot be built.
#[track_caller]
#[allow(clippy::panic)]
fn fail(e: impl std::fmt::Display) -> ! {
    panic!("test fixture: {e}")
}
