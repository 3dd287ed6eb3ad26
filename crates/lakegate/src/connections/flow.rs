//! Sign-in: a one-time ticket becomes a browser-bound OAuth flow held in the store; the
//! callback consumes it once, checks everything before any token request, exchanges the
//! code, asks Databricks who the user is, and stores the credential encrypted.

use std::collections::HashMap;

use crate::accounts::User;
use crate::app::AppState;
use crate::audit::{self, Actor, Event};
use crate::crypto::envelope::Binding;
use crate::crypto::random;
use crate::integrations::service::client_secret;
use crate::integrations::{DATABRICKS_U2M, redirect_url};
use crate::secret::Secret;
use crate::store::{ConnectionRow, CredentialRow, FlowRow, TicketRow};
use crate::warehouse::databricks::Workspace;

use super::oauth::{self, TokenError};
use super::{ConnectionError, credential_binding};

/// A sign-in link is good for two minutes; a started flow for ten.
pub const TICKET_TTL_SECONDS: i64 = 120;
pub const FLOW_TTL_SECONDS: i64 = 600;
pub const START_PATH: &str = "/connections/oauth/databricks/start";

/// Why a callback failed, as a fixed code (safe in a URL) with a message for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Cancelled,
    Malformed,
    IssuerMismatch,
    IntegrationChanged,
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    TemporarilyUnavailable,
    ServerError,
    Unreachable,
    InvalidResponse,
    NoRefreshToken,
    IdentityFailed,
}

impl Failure {
    pub const ALL: [Failure; 13] = [
        Failure::Cancelled,
        Failure::Malformed,
        Failure::IssuerMismatch,
        Failure::IntegrationChanged,
        Failure::InvalidClient,
        Failure::InvalidGrant,
        Failure::InvalidScope,
        Failure::TemporarilyUnavailable,
        Failure::ServerError,
        Failure::Unreachable,
        Failure::InvalidResponse,
        Failure::NoRefreshToken,
        Failure::IdentityFailed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Failure::Cancelled => "cancelled",
            Failure::Malformed => "malformed",
            Failure::IssuerMismatch => "issuer_mismatch",
            Failure::IntegrationChanged => "integration_changed",
            Failure::InvalidClient => "invalid_client",
            Failure::InvalidGrant => "invalid_grant",
            Failure::InvalidScope => "invalid_scope",
            Failure::TemporarilyUnavailable => "temporarily_unavailable",
            Failure::ServerError => "server_error",
            Failure::Unreachable => "unreachable",
            Failure::InvalidResponse => "invalid_response",
            Failure::NoRefreshToken => "no_refresh_token",
            Failure::IdentityFailed => "identity_failed",
        }
    }

    pub fn parse(code: &str) -> Option<Failure> {
        Failure::ALL.into_iter().find(|f| f.code() == code)
    }

    /// What the user (or their admin) can do about it.
    pub fn message(self) -> &'static str {
        match self {
            Failure::Cancelled => {
                "Sign-in cancelled: Databricks access was not granted. Sign in again when you are ready."
            }
            Failure::Malformed => {
                "Sign-in failed: Databricks sent back an answer Lakegate cannot use. Try again."
            }
            Failure::IssuerMismatch => {
                "Sign-in failed: the answer did not come from the configured Databricks workspace. Try again, and tell your administrator if it repeats."
            }
            Failure::IntegrationChanged => {
                "Sign-in failed: the administrator changed the Databricks integration while you were signing in. Sign in again."
            }
            Failure::InvalidClient => {
                "Sign-in failed: the client secret was rejected — ask your administrator to update the integration."
            }
            Failure::InvalidGrant => {
                "Sign-in failed: Databricks refused the authorization code (it may have expired). Sign in again."
            }
            Failure::InvalidScope => {
                "Sign-in failed: the Databricks app connection does not allow the requested scopes — ask your administrator to check them."
            }
            Failure::TemporarilyUnavailable => {
                "Sign-in failed: Databricks is temporarily unavailable. Try again in a few minutes."
            }
            Failure::ServerError => {
                "Sign-in failed: Databricks had an internal error. Try again later."
            }
            Failure::Unreachable => {
                "Sign-in failed: Lakegate could not reach the Databricks workspace. Try again, and tell your administrator if it repeats."
            }
            Failure::InvalidResponse => {
                "Sign-in failed: Databricks answered with an invalid token response. Tell your administrator."
            }
            Failure::NoRefreshToken => {
                "Sign-in failed: the Databricks app connection must allow the offline_access scope — ask your administrator."
            }
            Failure::IdentityFailed => {
                "Sign-in failed: Databricks did not say who you are (SCIM Me failed). Try again."
            }
        }
    }

    fn from_oauth_error(code: &str) -> Failure {
        match code {
            "access_denied" => Failure::Cancelled,
            "invalid_client" | "unauthorized_client" => Failure::InvalidClient,
            "invalid_grant" => Failure::InvalidGrant,
            "invalid_scope" => Failure::InvalidScope,
            "temporarily_unavailable" => Failure::TemporarilyUnavailable,
            "server_error" => Failure::ServerError,
            _ => Failure::Malformed,
        }
    }
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
        identity_changed: bool,
    },
    Failed {
        connection_id: String,
        return_path: String,
        failure: Failure,
    },
}

/// Issues a one-time sign-in link for `user` on `conn`.
pub async fn ticket(
    state: &AppState,
    user: &User,
    conn: &ConnectionRow,
    return_path: &str,
) -> Result<String, ConnectionError> {
    let ticket = random::token("lgt_");
    state
        .store
        .create_ticket(&TicketRow {
            ticket_hash: random::token_hash(&ticket),
            user_id: user.id.clone(),
            connection_id: conn.id.clone(),
            return_path: return_path.to_owned(),
            expires_at: state.now() + TICKET_TTL_SECONDS,
        })
        .await?;
    let base = state.web.public_url.as_str().trim_end_matches('/');
    Ok(format!("{base}{START_PATH}?ticket={ticket}"))
}

/// Redeems a ticket in the browser that opened it: records the flow (bound to `browser`)
/// and returns the Databricks authorization URL.
pub async fn begin(state: &AppState, ticket: &str, browser: &str) -> Result<url::Url, Rejected> {
    let stale = Rejected(
        "This sign-in link is no longer valid. Start the sign-in again from the connection page.",
    );
    let t = state
        .store
        .take_ticket(&random::token_hash(ticket))
        .await
        .map_err(|_| stale.clone())?
        .ok_or(stale.clone())?;
    let now = state.now();
    if now >= t.expires_at {
        return Err(stale);
    }
    let (user, _) = state
        .store
        .user_with_org(&t.user_id)
        .await
        .map_err(|_| stale.clone())?;
    if user.disabled {
        return Err(stale);
    }
    let conn = state
        .store
        .connection(&user.org_id, &t.connection_id)
        .await
        .ok()
        .flatten()
        .ok_or(stale.clone())?;
    let integration = state
        .store
        .integration(&user.org_id, DATABRICKS_U2M)
        .await
        .ok()
        .flatten()
        .ok_or(Rejected(
            "The Databricks integration is not configured any more. Ask an administrator.",
        ))?;
    let state_value = random::token("");
    let state_hash = random::token_hash(&state_value);
    let verifier = oauth::new_verifier();
    let verifier_enc = state
        .keyring
        .seal(
            &state.store,
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
    state
        .store
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
            expires_at: now + FLOW_TTL_SECONDS,
            created_at: now,
        })
        .await
        .map_err(|_| Rejected("Lakegate could not start the sign-in. Try again."))?;
    oauth::authorize_url(
        &integration.authorization_endpoint,
        &integration.client_id,
        &redirect_url(&state.web.public_url),
        &integration.scopes,
        &state_value,
        &oauth::challenge(verifier.expose()),
    )
    .ok_or(Rejected("The stored authorization endpoint is not a URL. Ask an administrator to save the integration again."))
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

/// Handles the redirect back from Databricks.
pub async fn finish(
    state: &AppState,
    raw_query: &str,
    browser: Option<&str>,
    session_user: Option<&str>,
) -> Result<Outcome, Rejected> {
    let params = single_params(raw_query)?;
    let unknown = Rejected(
        "This sign-in is unknown, expired or already finished. Start the sign-in again from the connection page.",
    );
    let st = params
        .get("state")
        .filter(|s| !s.is_empty())
        .ok_or(unknown.clone())?;
    let flow = state
        .store
        .take_flow(&random::token_hash(st))
        .await
        .map_err(|_| unknown.clone())?
        .ok_or(unknown.clone())?;
    let now = state.now();
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
    let fail = |failure: Failure| Outcome::Failed {
        connection_id: flow.connection_id.clone(),
        return_path: flow.return_path.clone(),
        failure,
    };
    let actor = Actor {
        org_id: Some(flow.org_id.clone()),
        label: format!("user:{}", flow.user_id),
        client_ip: None,
        request_id: None,
    };
    let outcome = match complete(state, &flow, &params, now).await {
        Ok(identity_changed) => Outcome::SignedIn {
            connection_id: flow.connection_id.clone(),
            return_path: flow.return_path.clone(),
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
    if let Err(e) = audit::record(&state.store, &actor, now, event).await {
        tracing::error!(error = %e, "could not audit a sign-in");
    }
    Ok(outcome)
}

/// Everything after the flow is known: checks, token request, identity, storage.
async fn complete(
    state: &AppState,
    flow: &FlowRow,
    params: &HashMap<String, String>,
    now: i64,
) -> Result<bool, Failure> {
    let code = params.get("code").filter(|c| !c.is_empty());
    let error = params.get("error").filter(|e| !e.is_empty());
    if code.is_some() && error.is_some() {
        return Err(Failure::Malformed);
    }
    if params
        .get("iss")
        .is_some_and(|iss| iss.trim_end_matches('/') != flow.issuer.trim_end_matches('/'))
    {
        return Err(Failure::IssuerMismatch);
    }
    if let Some(e) = error {
        return Err(Failure::from_oauth_error(e));
    }
    let code = code.ok_or(Failure::Malformed)?;
    let integration = state
        .store
        .integration(&flow.org_id, DATABRICKS_U2M)
        .await
        .ok()
        .flatten()
        .ok_or(Failure::IntegrationChanged)?;
    if integration.id != flow.integration_id
        || integration.generation != flow.integration_generation
    {
        return Err(Failure::IntegrationChanged);
    }
    let verifier = state
        .keyring
        .open(
            &state.store,
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
    let secret = client_secret(&state.store, &state.keyring, &integration)
        .await
        .map_err(|_| Failure::InvalidClient)?;
    let redirect = redirect_url(&state.web.public_url);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", verifier.as_str()),
        ("client_id", integration.client_id.as_str()),
        ("client_secret", secret.expose()),
    ];
    state.metrics.token_call(&integration.host);
    // The endpoint recorded when the flow started, never one taken from the callback.
    let tokens = oauth::token_request(&state.egress, &flow.token_endpoint, &form)
        .await
        .map_err(|e| match e {
            TokenError::Rejected { code, .. } => Failure::from_oauth_error(&code),
            TokenError::Invalid(_) => Failure::InvalidResponse,
            TokenError::NoRefreshToken => Failure::NoRefreshToken,
            TokenError::Transport(_) => Failure::Unreachable,
        })?;
    let refresh = tokens.refresh_token.ok_or(Failure::NoRefreshToken)?;
    let host_url = format!("https://{}", integration.host);
    let base = url::Url::parse(&flow.token_endpoint)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or(host_url);
    let identity = Workspace::new(&state.egress, &base)
        .me(tokens.access_token.expose())
        .await
        .map_err(|_| Failure::IdentityFailed)?;
    let previous = state
        .store
        .credential(&flow.connection_id, &flow.user_id)
        .await
        .ok()
        .flatten();
    let identity_changed = previous
        .as_ref()
        .is_some_and(|p| p.databricks_user_id != identity.id);
    let id = uuid::Uuid::now_v7().to_string();
    let seal = |column: &'static str, value: Secret| {
        let id = id.clone();
        async move {
            state
                .keyring
                .seal(
                    &state.store,
                    credential_binding(&flow.org_id, &id, column),
                    value.expose().as_bytes(),
                    now,
                )
                .await
                .map_err(|_| Failure::Malformed)
        }
    };
    let access_token_enc = seal("access_token", tokens.access_token).await?;
    let refresh_token_enc = seal("refresh_token", refresh).await?;
    let credential = CredentialRow {
        id: id.clone(),
        connection_id: flow.connection_id.clone(),
        user_id: flow.user_id.clone(),
        org_id: flow.org_id.clone(),
        integration_id: integration.id.clone(),
        integration_generation: integration.generation,
        host: integration.host.clone(),
        access_token_enc,
        refresh_token_enc,
        scopes: tokens.scope.unwrap_or_else(|| integration.scopes.clone()),
        databricks_user_id: identity.id,
        databricks_user_name: identity.user_name,
        access_expires_at: now + tokens.expires_in,
        refresh_issued_at: now,
        status: "active".into(),
        status_reason: None,
        version: 1,
        created_at: now,
        updated_at: now,
        lease_until: None,
        session_started_at: now,
        last_used_at: Some(now),
        last_refresh_at: None,
        warned_at: None,
    };
    state
        .store
        .put_credential(&credential)
        .await
        .map_err(|_| Failure::Malformed)?;
    Ok(identity_changed)
}
