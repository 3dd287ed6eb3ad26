//! Sign-in: a one-time ticket becomes a browser-bound OAuth flow held in the store; the
//! callback consumes it once, checks everything before any token request, exchanges the
//! code, asks the warehouse who the user is, and stores the credential encrypted. The
//! provider's dialect says how to talk OAuth; nothing here is vendor-specific.

use std::collections::HashMap;
use std::sync::Arc;

use crate::accounts::User;
use crate::audit::{self, Actor, Event};
use crate::clock::Clock;
use crate::crypto::envelope::{Binding, Keyring};
use crate::crypto::random;
use crate::egress::Egress;
use crate::integrations::service::client_secret;
use crate::metrics::Metrics;
use crate::providers::oauth::{self, Client, TokenError};
use crate::providers::{self, Provider, SignInRefused, redirect_url};
use crate::secret::Secret;
use crate::store::{ConnectionRow, FlowRow, IntegrationRow, Store, TicketRow};

use super::ConnectionError;
pub use super::failure::Failure;
use super::grant::Issued;

/// A sign-in link is good for two minutes; a started flow for ten. A connect session's
/// link waits ten minutes for its end user to open it (a platform may show it first).
pub const TICKET_TTL_SECONDS: i64 = 120;
pub const FLOW_TTL_SECONDS: i64 = 600;
pub const CONNECT_TTL_SECONDS: i64 = 600;

/// Sign-in flows, with everything they need.
#[derive(Clone)]
pub struct SignInService {
    pub(super) store: Store,
    pub(super) keyring: Arc<Keyring>,
    egress: Egress,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    /// The base of the redirect URL every provider sends users back to.
    public_url: url::Url,
}

/// What the store found, or — when it found nothing or failed — the refusal `why`.
fn once<T>(found: crate::store::StoreResult<Option<T>>, why: &Rejected) -> Result<T, Rejected> {
    found.ok().flatten().ok_or_else(|| why.clone())
}

/// A callback that cannot be tied to a flow this browser started: no connection to go back to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub &'static str);

/// The outcome of a callback tied to a flow.
#[derive(Debug)]
pub enum Outcome {
    SignedIn {
        connection_id: String,
        return_path: String,
        /// A connect session's platform URL: the browser goes there instead.
        return_url: Option<String>,
        identity_changed: bool,
    },
    Failed {
        connection_id: String,
        return_path: String,
        return_url: Option<String>,
        failure: Failure,
    },
}

impl SignInService {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        egress: Egress,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        public_url: url::Url,
    ) -> Self {
        SignInService {
            store,
            keyring,
            egress,
            clock,
            metrics,
            public_url,
        }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Issues a one-time sign-in ticket for `user` on `conn` (the HTTP layer makes it a link).
    pub async fn ticket(
        &self,
        user: &User,
        conn: &ConnectionRow,
        return_path: &str,
    ) -> Result<Secret, ConnectionError> {
        let expires_at = self.now() + TICKET_TTL_SECONDS;
        self.issue(user, conn, return_path, None, expires_at).await
    }

    /// A connect session: a ticket whose sign-in ends at the platform's `return_url`
    /// (already checked against the org's allow-list). Returns it with its expiry.
    pub async fn connect_ticket(
        &self,
        user: &User,
        conn: &ConnectionRow,
        return_url: &url::Url,
    ) -> Result<(Secret, i64), ConnectionError> {
        let expires_at = self.now() + CONNECT_TTL_SECONDS;
        let fallback = format!("/connections/{}", conn.id);
        let ticket = self
            .issue(user, conn, &fallback, Some(return_url.as_str()), expires_at)
            .await?;
        Ok((ticket, expires_at))
    }

    async fn issue(
        &self,
        user: &User,
        conn: &ConnectionRow,
        return_path: &str,
        return_url: Option<&str>,
        expires_at: i64,
    ) -> Result<Secret, ConnectionError> {
        if crate::providers::shared_identity(&conn.provider, &conn.auth) {
            return Err(ConnectionError::Invalid(
                "this connection runs as a shared identity: nobody signs in to it (its owner pastes a new secret or token instead)".into(),
            ));
        }
        let ticket = random::token("lgt_");
        self.store
            .create_ticket(&TicketRow {
                ticket_hash: random::token_hash(&ticket),
                user_id: user.id.clone(),
                connection_id: conn.id.clone(),
                return_path: return_path.to_owned(),
                return_url: return_url.map(str::to_owned),
                expires_at,
            })
            .await?;
        Ok(Secret::new(ticket))
    }

    /// Redeems a ticket in the browser that opened it: records the flow (bound to `browser`)
    /// and returns the provider's authorization URL.
    pub async fn begin(&self, ticket: &str, browser: &str) -> Result<url::Url, Rejected> {
        let stale = Rejected(
            "This sign-in link is no longer valid. Start the sign-in again from the connection page.",
        );
        let t = once(
            self.store.take_ticket(&random::token_hash(ticket)).await,
            &stale,
        )?;
        let now = self.now();
        if now >= t.expires_at {
            return Err(stale);
        }
        let (user, _) = once(self.store.user_with_org(&t.user_id).await, &stale)?;
        if user.disabled {
            return Err(stale);
        }
        let conn = self
            .store
            .connection(&user.org_id, &t.connection_id)
            .await
            .ok()
            .flatten()
            .ok_or(stale.clone())?;
        let gone = Rejected("The integration is not configured any more. Ask an administrator.");
        let provider = providers::by_connection(&conn.provider, &conn.auth).ok_or(gone.clone())?;
        let integration = self
            .store
            .integration(&user.org_id, provider.info().kind)
            .await
            .ok()
            .flatten()
            .ok_or(gone)?;
        // The connection's workspace, still on the admin's list: the client goes nowhere else.
        let integration = self
            .store
            .integration_at_host(integration, &conn.host)
            .await
            .ok()
            .flatten()
            .ok_or(Rejected(
                "This connection's workspace is no longer one of the integration's workspaces. Ask an administrator to add it again, or create a new connection.",
            ))?;
        let state_value = random::token("");
        let state_hash = random::token_hash(&state_value);
        let verifier = oauth::new_verifier();
        let verifier_enc = self
            .keyring
            .seal(
                &self.store,
                Binding {
                    org_id: &user.org_id,
                    table: "oauth_flows",
                    row_id: &state_hash,
                    column: "verifier",
                },
                verifier.expose().as_bytes(),
                now,
            )
            .await
            .map_err(|_| Rejected("Lakegate could not start the sign-in. Try again."))?;
        self.store
            .create_flow(&FlowRow {
                state_hash,
                browser_hash: random::token_hash(browser),
                user_id: user.id.clone(),
                org_id: user.org_id.clone(),
                connection_id: conn.id.clone(),
                integration_id: integration.id.clone(),
                integration_generation: integration.generation,
                issuer: integration.issuer.clone(),
                token_endpoint: integration.token_endpoint.clone(),
                verifier_enc,
                return_path: t.return_path,
                return_url: t.return_url,
                expires_at: now + FLOW_TTL_SECONDS,
                created_at: now,
            })
            .await
            .map_err(|_| Rejected("Lakegate could not start the sign-in. Try again."))?;
        let dialect = &provider.info().dialect;
        let mut url = oauth::authorize_url(
            dialect,
            &integration.authorization_endpoint,
            &integration.client_id,
            &redirect_url(&self.public_url, provider.info()),
            &provider.sign_in_scopes(&integration.scopes, conn.role.as_deref()),
            &state_value,
            &oauth::challenge(verifier.expose()),
        )
        .ok_or(Rejected("The stored authorization endpoint is not a URL. Ask an administrator to save the integration again."))?;
        if dialect.sends_nonce {
            url.query_pairs_mut()
                .append_pair("nonce", &oauth::nonce_for(&state_value));
        }
        Ok(url)
    }

    /// Single-valued callback parameters; a repeated one makes the whole callback invalid.
    pub fn single_params(raw_query: &str) -> Result<HashMap<String, String>, Rejected> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(raw_query.as_bytes()) {
            if map.insert(k.into_owned(), v.into_owned()).is_some() {
                return Err(Rejected(
                    "The sign-in answer repeated a parameter and was refused. Start the sign-in again.",
                ));
            }
        }
        Ok(map)
    }

    /// Handles the redirect back from the provider.
    pub async fn finish(
        &self,
        raw_query: &str,
        browser: Option<&str>,
        session_user: Option<&str>,
    ) -> Result<Outcome, Rejected> {
        let params = Self::single_params(raw_query)?;
        let unknown = Rejected(
            "This sign-in is unknown, expired or already finished. Start the sign-in again from the connection page.",
        );
        let st = params
            .get("state")
            .filter(|s| !s.is_empty())
            .ok_or(unknown.clone())?;
        let flow = once(
            self.store.take_flow(&random::token_hash(st)).await,
            &unknown,
        )?;
        let now = self.now();
        if now >= flow.expires_at {
            return Err(unknown);
        }
        let same_browser = browser.is_some_and(|b| {
            random::constant_time_eq(
                random::token_hash(b).as_bytes(),
                flow.browser_hash.as_bytes(),
            )
        });
        if !same_browser || session_user.is_some_and(|u| u != flow.user_id) {
            return Err(Rejected(
                "This sign-in was started in another browser or by another user. Start it again here.",
            ));
        }
        let return_url = self.still_allowed(&flow).await;
        let fail = |failure: Failure| Outcome::Failed {
            connection_id: flow.connection_id.clone(),
            return_path: flow.return_path.clone(),
            return_url: return_url.clone(),
            failure,
        };
        let actor = Actor {
            org_id: Some(flow.org_id.clone()),
            label: format!("user:{}", flow.user_id),
            client_ip: None,
            request_id: None,
        };
        let outcome = match self.complete(&flow, &params, now).await {
            Ok(identity_changed) => Outcome::SignedIn {
                connection_id: flow.connection_id.clone(),
                return_path: flow.return_path.clone(),
                return_url: return_url.clone(),
                identity_changed,
            },
            Err(failure) => fail(failure),
        };
        let event = match &outcome {
            Outcome::SignedIn {
                identity_changed, ..
            } => Event::success("connection.sign_in", flow.connection_id.clone())
                .with("identity_changed", *identity_changed),
            Outcome::Failed { failure, .. } => {
                Event::failure("connection.sign_in", flow.connection_id.clone())
                    .with("reason", failure.code())
            }
        };
        if let Err(e) = audit::record(&self.store, &actor, now, event).await {
            tracing::error!(error = %e, "could not audit a sign-in");
        }
        Ok(outcome)
    }

    /// A connect session's platform URL, if its origin is still on the org's allow-list
    /// (admins may have removed it since): otherwise the browser stays on Lakegate.
    async fn still_allowed(&self, flow: &FlowRow) -> Option<String> {
        let url = flow.return_url.as_deref()?;
        let allowed = self.store.return_origins(&flow.org_id).await.ok()?;
        super::return_url::check_return_url(url, &allowed)
            .ok()
            .map(String::from)
    }

    /// Everything after the flow is known: checks, token request, identity, storage.
    async fn complete(
        &self,
        flow: &FlowRow,
        params: &HashMap<String, String>,
        now: i64,
    ) -> Result<bool, Failure> {
        let code = params.get("code").filter(|c| !c.is_empty());
        let error = params.get("error").filter(|e| !e.is_empty());
        if code.is_some() && error.is_some() {
            return Err(Failure::Malformed);
        }
        // As seen from the connection's workspace: where the flow started.
        let host = self
            .store
            .connection(&flow.org_id, &flow.connection_id)
            .await
            .ok()
            .flatten()
            .map(|c| c.host)
            .ok_or(Failure::IntegrationChanged)?;
        let integration = self
            .store
            .integration_for(&flow.org_id, &flow.integration_id, &host)
            .await
            .ok()
            .flatten()
            .filter(|i| i.host == host && i.token_endpoint == flow.token_endpoint)
            .ok_or(Failure::IntegrationChanged)?;
        // RFC 9207: a callback's `iss` must be this flow's issuer, and a server that
        // advertises `iss` in responses must send it (its absence is a mix-up's sign).
        match params.get("iss") {
            Some(iss) if iss.trim_end_matches('/') != flow.issuer.trim_end_matches('/') => {
                return Err(Failure::IssuerMismatch);
            }
            None if integration.requires_iss() => return Err(Failure::IssuerMismatch),
            _ => {}
        }
        if let Some(e) = error {
            return Err(Failure::from_oauth_error(e));
        }
        let code = code.ok_or(Failure::Malformed)?;
        let provider = providers::by_kind(&integration.kind).ok_or(Failure::IntegrationChanged)?;
        if integration.id != flow.integration_id
            || integration.generation != flow.integration_generation
        {
            return Err(Failure::IntegrationChanged);
        }
        let verifier = self
            .keyring
            .open(
                &self.store,
                Binding {
                    org_id: &flow.org_id,
                    table: "oauth_flows",
                    row_id: &flow.state_hash,
                    column: "verifier",
                },
                &flow.verifier_enc,
            )
            .await
            .map_err(|_| Failure::Malformed)?;
        let verifier = String::from_utf8(verifier.to_vec()).map_err(|_| Failure::Malformed)?;
        let tokens = self
            .exchange(provider, &integration, flow, code, &verifier)
            .await?;
        if tokens.refresh_token.is_none() {
            return Err(Failure::NoRefreshToken);
        }
        let state = params.get("state").map(String::as_str).unwrap_or_default();
        let identity = provider
            .signed_in(
                &self.egress,
                &integration,
                &tokens,
                &oauth::nonce_for(state),
                now,
            )
            .await
            .map_err(|refused| match refused {
                SignInRefused::IdentityFailed => Failure::IdentityFailed,
                SignInRefused::ScopeNotGranted => Failure::ScopeNotGranted,
                SignInRefused::IdToken(why) => {
                    tracing::warn!(reason = why, "a sign-in's ID token was refused");
                    Failure::IdTokenRefused
                }
            })?;
        let previous = self
            .store
            .credential(&flow.connection_id, &flow.user_id)
            .await
            .ok()
            .flatten();
        let identity_changed = previous
            .as_ref()
            .is_some_and(|p| p.databricks_user_id != identity.id);
        let refresh = tokens
            .refresh_token
            .as_ref()
            .ok_or(Failure::NoRefreshToken)?;
        let issued = Issued {
            access_token: &tokens.access_token,
            refresh_token: refresh,
            scopes: tokens.scope.as_deref().unwrap_or(&integration.scopes),
            expires_in: tokens.expires_in,
        };
        let who = (flow.connection_id.as_str(), flow.user_id.as_str());
        self.store_credential(&integration, who, &issued, &identity, now)
            .await?;
        if provider.info().dialect.one_grant_per_client {
            self.share_grant(&integration, who, &issued, &identity, now)
                .await;
        }
        Ok(identity_changed)
    }

    /// Redeems the authorization code at the token endpoint recorded when the flow started,
    /// never one taken from the callback.
    async fn exchange(
        &self,
        provider: &dyn Provider,
        integration: &IntegrationRow,
        flow: &FlowRow,
        code: &str,
        verifier: &str,
    ) -> Result<oauth::Tokens, Failure> {
        let secret = client_secret(&self.store, &self.keyring, integration)
            .await
            .map_err(|_| Failure::InvalidClient)?;
        let redirect = redirect_url(&self.public_url, provider.info());
        let grant = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier),
        ];
        let client = Client {
            id: &integration.client_id,
            secret: &secret,
        };
        self.metrics.token_call(&integration.host);
        oauth::token_request(
            &self.egress,
            &provider.info().dialect,
            &flow.token_endpoint,
            &client,
            &grant,
        )
        .await
        .map_err(|e| match e {
            TokenError::Rejected { code, .. } => Failure::from_oauth_error(&code),
            TokenError::Invalid(_) => Failure::InvalidResponse,
            TokenError::NoRefreshToken => Failure::NoRefreshToken,
            TokenError::Transport(_) => Failure::Unreachable,
        })
    }
}
