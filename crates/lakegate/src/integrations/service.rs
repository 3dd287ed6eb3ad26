//! Saving, showing and deleting an org's integration of a provider: validated, checked
//! by the provider (discovery) through the guarded client before anything is stored, the
//! secret encrypted, audited once.

use std::sync::Arc;

use crate::audit::{self, Actor, Event};
use crate::clock::Clock;
use crate::crypto::envelope::{Binding, CryptoError, Keyring};
use crate::egress::Egress;
use crate::providers::redirect_check::{self, RedirectCheck};
use crate::providers::{DiscoveryError, Provider, redirect_url};
use crate::secret::Secret;
use crate::store::{IntegrationRow, IntegrationStatus, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("{0}")]
    Invalid(String),
    #[error("the client secret is required when the integration is first saved")]
    SecretRequired,
    #[error("{0}")]
    Discovery(#[from] DiscoveryError),
    #[error("the integration is not configured")]
    NotConfigured,
    #[error("{0} is not one of the workspaces added to the integration")]
    UnknownHost(String),
    /// The vendor refused Lakegate's redirect URL for this client.
    #[error("This redirect URL is not registered with the {vendor} client: add {url}")]
    RedirectNotRegistered { vendor: &'static str, url: String },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an admin submits. A missing secret keeps the stored one.
pub struct SaveInput {
    pub host: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Option<String>,
    /// As configured on the Databricks app connection; `None` keeps what is stored.
    pub lifetimes: Option<TokenLifetimes>,
    /// The compute new connections start with (BigQuery's default billing project):
    /// `None` keeps what is stored, blank clears it.
    pub default_compute: Option<String>,
}

/// The refresh-token lifetime and absolute session lifetime of the provider's app
/// registration, which Lakegate cannot read from the provider and uses to show deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    pub refresh_ttl_minutes: i64,
    pub absolute_lifetime_minutes: Option<i64>,
}

/// A provider's default lifetimes, until an admin says what their registration configures.
pub fn default_lifetimes(provider: &dyn Provider) -> TokenLifetimes {
    let (refresh_ttl_minutes, absolute_lifetime_minutes) = provider.info().default_lifetimes;
    TokenLifetimes {
        refresh_ttl_minutes,
        absolute_lifetime_minutes,
    }
}

pub fn check_lifetimes(l: TokenLifetimes) -> Result<TokenLifetimes, IntegrationError> {
    if !(5..=129_600).contains(&l.refresh_ttl_minutes) {
        return Err(IntegrationError::Invalid(
            "the refresh token lifetime must be between 5 and 129600 minutes (90 days)".into(),
        ));
    }
    match l.absolute_lifetime_minutes {
        Some(a) if a < l.refresh_ttl_minutes => Err(IntegrationError::Invalid(
            "the absolute session lifetime must not be shorter than the refresh token lifetime"
                .into(),
        )),
        Some(a) if a > 5_256_000 => Err(IntegrationError::Invalid(
            "the absolute session lifetime is too long".into(),
        )),
        _ => Ok(l),
    }
}

/// Integrations, with everything they need.
#[derive(Clone)]
pub struct IntegrationService {
    store: Store,
    keyring: Arc<Keyring>,
    egress: Egress,
    clock: Arc<dyn Clock>,
    public_url: Option<url::Url>,
}

/// Where an integration's (or a shared identity's own) client secret belongs.
pub fn secret_binding<'a>(org_id: &'a str, row_id: &'a str) -> Binding<'a> {
    Binding {
        org_id,
        table: "integrations",
        row_id,
        column: "client_secret",
    }
}

fn check_client_id(id: &str) -> Result<String, IntegrationError> {
    let raw = id;
    let id = id.trim();
    if id.is_empty()
        || raw.chars().count() > 200
        || id.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(IntegrationError::Invalid(
            "the Client ID must be 1-200 characters without spaces".into(),
        ));
    }
    Ok(id.to_owned())
}

fn check_secret(s: &Secret) -> Result<(), IntegrationError> {
    let v = s.expose();
    if v.trim().is_empty() || v.chars().count() > 1000 || v.chars().any(char::is_control) {
        return Err(IntegrationError::Invalid(
            "the Client Secret must be 1-1000 printable characters".into(),
        ));
    }
    Ok(())
}

impl IntegrationService {
    /// `public_url` builds the redirect URL saves check with the vendor (`None`: a CLI
    /// without one, which cannot check it and says so).
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        egress: Egress,
        clock: Arc<dyn Clock>,
        public_url: Option<url::Url>,
    ) -> Self {
        IntegrationService {
            store,
            keyring,
            egress,
            clock,
            public_url,
        }
    }

    /// The org's integration of `provider`, if configured.
    pub async fn get(
        &self,
        provider: &dyn Provider,
        org_id: &str,
    ) -> Result<Option<IntegrationRow>, IntegrationError> {
        Ok(self.store.integration(org_id, provider.info().kind).await?)
    }

    /// Creates or updates the org's integration of `provider`. Nothing is stored unless the
    /// provider's check of the host (discovery) passes.
    pub async fn save(
        &self,
        provider: &dyn Provider,
        actor: &Actor,
        org_id: &str,
        input: SaveInput,
    ) -> Result<IntegrationRow, IntegrationError> {
        let now = self.clock.now();
        let info = provider.info();
        let host = provider
            .parse_host(&input.host, self.egress.policy())
            .map_err(IntegrationError::Invalid)?;
        let client_id = check_client_id(&input.client_id)?;
        if let Some(s) = &input.client_secret {
            check_secret(s)?;
        }
        let existing = self.store.integration(org_id, info.kind).await?;
        // Omitted scopes keep what is stored (or the default on first save).
        let requested = input.scopes.as_deref().filter(|s| !s.trim().is_empty());
        let scopes = provider
            .parse_scopes(
                requested
                    .or(existing.as_ref().map(|e| e.scopes.as_str()))
                    .unwrap_or(info.default_scopes),
            )
            .map_err(IntegrationError::Invalid)?;
        if existing.is_none() && input.client_secret.is_none() {
            return Err(IntegrationError::SecretRequired);
        }
        // A client secret is only ever sent to the host it was entered for.
        if existing.as_ref().is_some_and(|e| e.host != host.name) && input.client_secret.is_none() {
            return Err(IntegrationError::Invalid(
            "enter the client secret again when changing the host: a secret is never sent to a host it was not entered for".into(),
        ));
        }
        let lifetimes = match input.lifetimes {
            Some(l) => check_lifetimes(l)?,
            None => existing
                .as_ref()
                .map_or(default_lifetimes(provider), |e| TokenLifetimes {
                    refresh_ttl_minutes: e.refresh_ttl_minutes,
                    absolute_lifetime_minutes: e.absolute_lifetime_minutes,
                }),
        };
        let default_compute = match input.default_compute.as_deref().map(str::trim) {
            None => existing.as_ref().and_then(|e| e.default_compute.clone()),
            Some("") => None,
            Some(c) if c.chars().count() > 255 || c.chars().any(char::is_control) => {
                return Err(IntegrationError::Invalid(
                    "the default project must be at most 255 printable characters".into(),
                ));
            }
            Some(c) => Some(c.to_owned()),
        };
        let endpoints = provider.discover(&self.egress, &host).await?;
        if let Some(secret) = &input.client_secret {
            let client = crate::providers::oauth::Client {
                id: &client_id,
                secret,
            };
            provider
                .check_client(&self.egress, &endpoints, &client)
                .await?;
        }

        let setup_warning = self
            .check_redirect(
                provider,
                &endpoints.authorization_endpoint,
                &client_id,
                &scopes,
            )
            .await?;

        let id = existing
            .as_ref()
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), |e| e.id.clone());
        let (client_secret_enc, secret_updated_at) = match (&input.client_secret, &existing) {
            (Some(secret), _) => (
                self.keyring
                    .seal(
                        &self.store,
                        secret_binding(org_id, &id),
                        secret.expose().as_bytes(),
                        now,
                    )
                    .await?,
                now,
            ),
            (None, Some(e)) => (e.client_secret_enc.clone(), e.secret_updated_at),
            (None, None) => return Err(IntegrationError::SecretRequired),
        };
        let host_text = host.name;
        let identity_changed = existing
            .as_ref()
            .is_some_and(|e| e.host != host_text || e.client_id != client_id);
        let row = IntegrationRow {
            id,
            org_id: org_id.to_owned(),
            kind: info.kind.to_owned(),
            host: host_text,
            client_id,
            client_secret_enc,
            scopes,
            issuer: endpoints.issuer,
            authorization_endpoint: endpoints.authorization_endpoint,
            token_endpoint: endpoints.token_endpoint,
            // Credentials issued under another host or client id are void from now on.
            generation: existing
                .as_ref()
                .map_or(1, |e| e.generation + i64::from(identity_changed)),
            status: IntegrationStatus::Configured,
            secret_updated_at,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
            updated_by: actor.label.clone(),
            refresh_ttl_minutes: lifetimes.refresh_ttl_minutes,
            absolute_lifetime_minutes: lifetimes.absolute_lifetime_minutes,
            issuer_in_response: i64::from(endpoints.issuer_in_response),
            default_compute,
            connection_id: None,
            setup_warning,
        };
        self.store.save_integration(&row).await?;
        audit::record(
            &self.store,
            actor,
            now,
            save_event(existing.as_ref(), &row, input.client_secret.is_some()),
        )
        .await?;
        Ok(row)
    }

    /// Whether the vendor knows Lakegate's redirect URL for this client: refused when it
    /// says no; a warning to keep when its answer proves nothing.
    pub(super) async fn check_redirect(
        &self,
        provider: &dyn Provider,
        authorization_endpoint: &str,
        client_id: &str,
        scopes: &str,
    ) -> Result<Option<String>, IntegrationError> {
        let info = provider.info();
        if info.redirect_refused.is_empty() {
            return Ok(None);
        }
        let Some(public_url) = &self.public_url else {
            return Ok(Some(
                "Lakegate could not check the redirect URL: public_url is not configured".into(),
            ));
        };
        let url = redirect_url(public_url, info);
        match redirect_check::probe(
            &self.egress,
            info,
            authorization_endpoint,
            client_id,
            &provider.sign_in_scopes(scopes, None),
            &url,
        )
        .await
        {
            RedirectCheck::Registered => Ok(None),
            RedirectCheck::NotRegistered => Err(IntegrationError::RedirectNotRegistered {
                vendor: info.vendor,
                url,
            }),
            RedirectCheck::Inconclusive(why) => Ok(Some(format!(
                "Lakegate could not check that {url} is registered with the {} client ({why}): if users' sign-ins fail with a redirect error, register it there",
                info.vendor
            ))),
        }
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    pub(super) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub(super) fn egress(&self) -> &Egress {
        &self.egress
    }

    pub(super) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Deletes the org's integration of `provider`, purging the credentials issued under it.
    pub async fn delete(
        &self,
        provider: &dyn Provider,
        actor: &Actor,
        org_id: &str,
    ) -> Result<(), IntegrationError> {
        let kind = provider.info().kind;
        let existing = self
            .store
            .integration(org_id, kind)
            .await?
            .ok_or(IntegrationError::NotConfigured)?;
        let purged = self
            .store
            .delete_integration_credentials(org_id, &existing.id)
            .await?;
        if !self.store.delete_integration(org_id, kind).await? {
            return Err(IntegrationError::NotConfigured);
        }
        audit::record(
            &self.store,
            actor,
            self.clock.now(),
            Event::success("integration.delete", existing.id)
                .with("kind", kind)
                .with("host", existing.host)
                .with("credentials_purged", purged),
        )
        .await?;
        Ok(())
    }
}

/// `integration.create`, or `integration.update` naming the fields that changed (never values of secrets).
fn save_event<'a>(
    before: Option<&IntegrationRow>,
    after: &IntegrationRow,
    secret_given: bool,
) -> Event<'a> {
    let Some(b) = before else {
        return Event::success("integration.create", after.id.clone())
            .with("kind", after.kind.clone())
            .with("host", after.host.clone())
            .with("client_id", after.client_id.clone())
            .with("scopes", after.scopes.clone());
    };
    let mut changed = Vec::new();
    if b.host != after.host {
        changed.push("host");
    }
    if b.client_id != after.client_id {
        changed.push("client_id");
    }
    if secret_given {
        changed.push("client_secret");
    }
    if b.scopes != after.scopes {
        changed.push("scopes");
    }
    Event::success("integration.update", after.id.clone())
        .with("kind", after.kind.clone())
        .with("changed", changed)
        .with("host", after.host.clone())
        .with("client_id", after.client_id.clone())
        .with("credentials_invalidated", b.generation != after.generation)
}

/// The decrypted client secret, for the one place that sends it (the token endpoint).
pub async fn client_secret(
    store: &Store,
    keyring: &Keyring,
    row: &IntegrationRow,
) -> Result<Secret, IntegrationError> {
    let plain = keyring
        .open(
            store,
            secret_binding(&row.org_id, &row.id),
            &row.client_secret_enc,
        )
        .await?;
    let text = String::from_utf8(plain.to_vec())
        .map_err(|_| IntegrationError::Crypto(CryptoError::Malformed))?;
    Ok(Secret::new(text))
}
