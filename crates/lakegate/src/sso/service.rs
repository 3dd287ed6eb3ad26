//! SSO: admins configure the org's provider (checked by discovery, secret sealed); a
//! sign-in is a browser-bound flow with state, nonce and PKCE; the callback takes the flow
//! once, redeems the code, checks the ID token and signs in the person it names.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use url::Url;

use super::discovery::{self, Provider};
use super::id_token::{self, Expected, Identity};
use crate::accounts::service::AccountService;
use crate::accounts::{Org, Role, User};
use crate::audit::{self, Actor, Event};
use crate::auth::session::{self, Lifetimes};
use crate::clock::Clock;
use crate::connections::flow::SignInService;
use crate::crypto::envelope::{Binding, Keyring};
use crate::crypto::random;
use crate::egress::Egress;
use crate::providers::oauth::{self, Client, ClientAuth, Dialect, RefreshLifetime};
use crate::secret::Secret;
use crate::store::{SsoFlowRow, SsoRow, Store};

pub const CALLBACK_PATH: &str = "/login/sso/callback";
/// A started SSO sign-in waits ten minutes for its callback.
pub const FLOW_TTL_SECONDS: i64 = 600;

/// Standard OpenID Connect at the token endpoint: client_secret_basic, RFC 6749 errors.
/// Only the code exchange is used: no refresh, no revocation.
const OIDC: Dialect = Dialect {
    authorize_extra: &[],
    client_auth: ClientAuth::BasicFormEncoded,
    description_fields: &["error_description"],
    dead_grant_codes: &["invalid_grant"],
    client_rejected_codes: &["invalid_client", "unauthorized_client"],
    refresh_sends_scope: false,
    refresh_may_omit_refresh_token: false,
    refresh_lifetime: RefreshLifetime::SlidingIdle,
    revocation_endpoint: None,
    sends_nonce: false,
    one_grant_per_client: false,
};

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("{0}")]
    Invalid(String),
    #[error("this organization has no single sign-on")]
    NotConfigured,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::envelope::CryptoError),
}

/// Why a callback signed nobody in (a fixed code for the audit log and the page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub code: &'static str,
    pub message: &'static str,
}

pub(super) const fn refused(code: &'static str, message: &'static str) -> Refused {
    Refused { code, message }
}

const UNKNOWN: Refused = refused(
    "unknown_flow",
    "This sign-in is unknown, expired or already finished. Sign in again.",
);

/// What an admin sends.
pub struct SsoInput {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub allowed_domains: Vec<String>,
    pub default_role: Role,
    pub password_sign_in: bool,
}

#[derive(Clone)]
pub struct SsoService {
    pub(super) store: Store,
    pub(super) keyring: Arc<Keyring>,
    pub(super) egress: Egress,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) accounts: AccountService,
    pub(super) sessions: Lifetimes,
    pub(super) public_url: Url,
}

fn secret_binding(org_id: &str) -> Binding<'_> {
    Binding {
        org_id,
        table: "org_sso",
        row_id: org_id,
        column: "client_secret",
    }
}

fn flow_binding<'a>(org_id: &'a str, state_hash: &'a str) -> Binding<'a> {
    Binding {
        org_id,
        table: "sso_flows",
        row_id: state_hash,
        column: "verifier",
    }
}

impl SsoService {
    pub fn new(
        infra: &crate::services::Infra,
        accounts: AccountService,
        sessions: Lifetimes,
        public_url: Url,
    ) -> Self {
        SsoService {
            store: infra.store.clone(),
            keyring: infra.keyring.clone(),
            egress: infra.egress.clone(),
            clock: infra.clock.clone(),
            accounts,
            sessions,
            public_url,
        }
    }

    /// The redirect URL to register at the provider.
    pub fn redirect_url(&self) -> String {
        format!(
            "{}{CALLBACK_PATH}",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    pub async fn config(&self, org_id: &str) -> Result<Option<SsoRow>, SsoError> {
        Ok(self.store.sso(org_id).await?)
    }

    /// Whether people of `org_id` may sign in with a password.
    pub async fn password_allowed(&self, org_id: &str) -> Result<bool, SsoError> {
        Ok(self
            .store
            .sso(org_id)
            .await?
            .is_none_or(|s| s.password_sign_in != 0))
    }

    /// Saves the org's provider after checking its discovery document. The secret is
    /// required the first time and kept when omitted later.
    pub async fn configure(
        &self,
        actor: &Actor,
        org: &Org,
        input: SsoInput,
    ) -> Result<SsoRow, SsoError> {
        let issuer = input.issuer.trim().trim_end_matches('/').to_owned();
        let issuer_url = Url::parse(&issuer)
            .ok()
            .filter(|u| u.scheme() == "https" && u.query().is_none() && u.fragment().is_none())
            .ok_or_else(|| SsoError::Invalid("the issuer must be an https URL".into()))?;
        let client_id = input.client_id.trim().to_owned();
        if client_id.is_empty() || client_id.len() > 255 || client_id.chars().any(char::is_control)
        {
            return Err(SsoError::Invalid(
                "the client id must be 1-255 printable characters".into(),
            ));
        }
        let domains =
            super::id_token::check_domains(&input.allowed_domains).map_err(SsoError::Invalid)?;
        let previous = self.store.sso(&org.id).await?;
        let now = self.clock.now();
        let client_secret_enc = match (&input.client_secret, &previous) {
            (Some(s), _) if !s.expose().is_empty() => {
                self.keyring
                    .seal(
                        &self.store,
                        secret_binding(&org.id),
                        s.expose().as_bytes(),
                        now,
                    )
                    .await?
            }
            (_, Some(p)) => p.client_secret_enc.clone(),
            _ => return Err(SsoError::Invalid("the client secret is required".into())),
        };
        self.egress.check(&issuer_url).map_err(|e| {
            SsoError::Invalid(format!(
                "{e}; an operator can allow the provider's host in [egress]"
            ))
        })?;
        let metadata = discovery::metadata_url(&issuer)
            .ok_or_else(|| SsoError::Invalid("the issuer is not a URL".into()))?;
        let body = discovery::fetch(&self.egress, &metadata)
            .await
            .map_err(SsoError::Invalid)?;
        let p: Provider = discovery::validate(&issuer, &body).map_err(SsoError::Invalid)?;
        let row = SsoRow {
            org_id: org.id.clone(),
            issuer: p.issuer,
            client_id,
            client_secret_enc,
            authorization_endpoint: p.authorization_endpoint,
            token_endpoint: p.token_endpoint,
            jwks_uri: p.jwks_uri,
            allowed_domains: domains.join(" "),
            default_role: input.default_role.as_str().to_owned(),
            password_sign_in: i64::from(input.password_sign_in),
            updated_at: now,
            updated_by: actor.label.clone(),
        };
        self.store.put_sso(&row).await?;
        let event = Event::success("sso.configure", org.id.clone())
            .with("issuer", row.issuer.clone())
            .with("allowed_domains", row.allowed_domains.clone())
            .with("default_role", row.default_role.clone())
            .with("password_sign_in", input.password_sign_in);
        audit::record(&self.store, actor, now, event).await?;
        Ok(row)
    }

    /// Removes the org's provider (password sign-in is then the only way in).
    pub async fn remove(&self, actor: &Actor, org: &Org) -> Result<(), SsoError> {
        if !self.store.delete_sso(&org.id).await? {
            return Err(SsoError::NotConfigured);
        }
        let event = Event::success("sso.remove", org.id.clone());
        audit::record(&self.store, actor, self.clock.now(), event).await?;
        Ok(())
    }

    /// Starts a sign-in for org `slug` in the browser holding `browser`: the provider's
    /// authorization URL. `next` is a local path to land on afterwards.
    pub async fn begin(&self, slug: &str, browser: &str, next: &str) -> Result<Url, SsoError> {
        let org = self
            .store
            .org_by_slug(&slug.trim().to_lowercase())
            .await?
            .ok_or(SsoError::NotConfigured)?;
        let sso = self
            .store
            .sso(&org.id)
            .await?
            .ok_or(SsoError::NotConfigured)?;
        let now = self.clock.now();
        let state = random::token("");
        let state_hash = random::token_hash(&state);
        let nonce = random::token("");
        let verifier = oauth::new_verifier();
        let verifier_enc = self
            .keyring
            .seal(
                &self.store,
                flow_binding(&org.id, &state_hash),
                verifier.expose().as_bytes(),
                now,
            )
            .await?;
        self.store
            .create_sso_flow(&SsoFlowRow {
                state_hash,
                browser_hash: random::token_hash(browser),
                org_id: org.id.clone(),
                nonce_hash: random::token_hash(&nonce),
                verifier_enc,
                next_path: next.to_owned(),
                expires_at: now + FLOW_TTL_SECONDS,
            })
            .await?;
        let mut url = oauth::authorize_url(
            &OIDC,
            &sso.authorization_endpoint,
            &sso.client_id,
            &self.redirect_url(),
            "openid email profile",
            &state,
            &oauth::challenge(verifier.expose()),
        )
        .ok_or_else(|| {
            SsoError::Invalid("the stored authorization endpoint is not a URL".into())
        })?;
        url.query_pairs_mut().append_pair("nonce", &nonce);
        Ok(url)
    }

    /// Handles the provider's redirect: on success, a new session (its cookie value), the
    /// user and the local path to land on.
    pub async fn finish(
        &self,
        raw_query: &str,
        browser: Option<&str>,
        actor: &Actor,
    ) -> Result<(Secret, User, String), Refused> {
        let params = SignInService::single_params(raw_query).map_err(|_| {
            refused(
                "malformed",
                "The sign-in answer was malformed. Sign in again.",
            )
        })?;
        let state = params
            .get("state")
            .filter(|s| !s.is_empty())
            .ok_or(UNKNOWN)?;
        let flow = self
            .store
            .take_sso_flow(&random::token_hash(state))
            .await
            .ok()
            .flatten()
            .ok_or(UNKNOWN)?;
        let now = self.clock.now();
        let same_browser = browser.is_some_and(|b| {
            random::constant_time_eq(
                random::token_hash(b).as_bytes(),
                flow.browser_hash.as_bytes(),
            )
        });
        if now >= flow.expires_at || !same_browser {
            return Err(UNKNOWN);
        }
        let actor = Actor {
            org_id: Some(flow.org_id.clone()),
            ..actor.clone()
        };
        let outcome = self.complete(&flow, &params, now).await;
        let event = match &outcome {
            Ok(user) => Event::success("auth.sso_login", user.id.clone()),
            Err(r) => Event::failure("auth.sso_login", None).with("reason", r.code),
        };
        if let Err(e) = audit::record(&self.store, &actor, now, event).await {
            tracing::error!(error = %e, "could not audit an SSO sign-in");
        }
        let user = outcome?;
        let (cookie, row) = session::new_session(&user.id, now, self.sessions);
        self.store
            .create_session(&row)
            .await
            .map_err(|_| refused("store", "Lakegate could not start your session. Try again."))?;
        Ok((cookie, user, flow.next_path))
    }

    async fn complete(
        &self,
        flow: &SsoFlowRow,
        params: &HashMap<String, String>,
        now: i64,
    ) -> Result<User, Refused> {
        const CHANGED: Refused = refused(
            "not_configured",
            "Single sign-on is not configured for this organization any more.",
        );
        if params.contains_key("error") {
            return Err(refused(
                "denied",
                "The identity provider did not sign you in.",
            ));
        }
        let code = params
            .get("code")
            .filter(|c| !c.is_empty())
            .ok_or(UNKNOWN)?;
        let sso = self
            .store
            .sso(&flow.org_id)
            .await
            .ok()
            .flatten()
            .ok_or(CHANGED)?;
        if let Some(iss) = params.get("iss")
            && iss.trim_end_matches('/') != sso.issuer.trim_end_matches('/')
        {
            return Err(refused(
                "issuer",
                "The answer came from another identity provider.",
            ));
        }
        let identity = self.identity(&sso, flow, code, now).await?;
        self.person(&sso, &identity).await
    }

    /// Redeems the code and checks the ID token against the provider's published keys.
    async fn identity(
        &self,
        sso: &SsoRow,
        flow: &SsoFlowRow,
        code: &str,
        now: i64,
    ) -> Result<Identity, Refused> {
        const UNREACHABLE: Refused = refused(
            "provider_error",
            "The identity provider did not complete the sign-in. Try again.",
        );
        let secret = self
            .keyring
            .open(
                &self.store,
                secret_binding(&sso.org_id),
                &sso.client_secret_enc,
            )
            .await
            .ok()
            .and_then(|s| String::from_utf8(s.to_vec()).ok())
            .map(Secret::new)
            .ok_or(UNREACHABLE)?;
        let verifier = self
            .keyring
            .open(
                &self.store,
                flow_binding(&flow.org_id, &flow.state_hash),
                &flow.verifier_enc,
            )
            .await
            .ok()
            .and_then(|v| String::from_utf8(v.to_vec()).ok())
            .ok_or(UNREACHABLE)?;
        let redirect = self.redirect_url();
        let grant = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        let client = Client {
            id: &sso.client_id,
            secret: &secret,
        };
        // Operators see why a provider failed; the messages carry no secret.
        let failed = |what: &str, why: String| {
            tracing::warn!(issuer = %sso.issuer, error = %why, "SSO sign-in: {what}");
            UNREACHABLE
        };
        let tokens =
            oauth::token_request(&self.egress, &OIDC, &sso.token_endpoint, &client, &grant)
                .await
                .map_err(|e| {
                    let why = match e {
                        oauth::TokenError::Rejected {
                            code, description, ..
                        } => format!("{code}: {description}"),
                        other => other.to_string(),
                    };
                    failed("the token request failed", why)
                })?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| failed("no ID token", "the token response has no id_token".into()))?;
        let jwks_url = Url::parse(&sso.jwks_uri).map_err(|e| failed("jwks_uri", e.to_string()))?;
        let body = discovery::fetch(&self.egress, &jwks_url)
            .await
            .map_err(|e| failed("the key set could not be fetched", e))?;
        let keys: JwkSet = serde_json::from_slice(&body)
            .map_err(|e| failed("the key set is not a JWK set", e.to_string()))?;
        let domains: Vec<String> = sso.allowed_domains.split(' ').map(str::to_owned).collect();
        let expected = Expected {
            issuer: &sso.issuer,
            client_id: &sso.client_id,
            nonce_hash: &flow.nonce_hash,
            now,
            allowed_domains: Some(&domains),
        };
        id_token::verify(id_token.expose(), &keys, &expected).map_err(|r| match r {
            id_token::Refused::Domain => refused(
                "domain",
                "Your email address is not in a domain allowed to sign in to this organization.",
            ),
            other => refused(
                other.code(),
                "The identity provider's answer was refused. Sign in again.",
            ),
        })
    }
}
