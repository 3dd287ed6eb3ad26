//! Access tokens that stay fresh: one entry point, "an access token for this credential
//! with at least N seconds left". It refreshes when less than max(5 minutes, N) remain —
//! one refresh per expiry across tasks (single flight) and processes (a compare-and-set
//! lease in the store), re-reading after every wait, writing the rotated refresh token and
//! the new access token in one fenced statement before anyone gets the new access token.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::app::AppState;
use crate::audit::{self, Actor, Event};
use crate::integrations::DATABRICKS_U2M;
use crate::integrations::service::client_secret;
use crate::secret::Secret;
use crate::store::{CredentialRow, IntegrationRow, Refreshed};

use super::oauth::{self, TokenError};
use super::{ConnectionError, CredentialStatus, credential_binding, status_of};

/// Refresh when less than this remains (or the caller's minimum, if larger).
pub const LEAD_SECONDS: i64 = 300;
/// A lease outlives the token request it guards (whose timeout is shorter).
pub const LEASE_SECONDS: i64 = 30;
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for another process's refresh before giving up.
const WAIT_FOR_PEER: Duration = Duration::from_secs(15);

/// Per-process single flight: one async mutex per credential.
#[derive(Default)]
pub struct SingleFlight {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SingleFlight {
    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(id.to_owned()).or_default().clone()
    }
}

/// A usable access token and the workspace it is for.
pub struct Fresh {
    pub token: Secret,
    pub base_url: String,
    pub expires_at: i64,
    pub credential: CredentialRow,
}

fn base_url(integration: &IntegrationRow) -> String {
    url::Url::parse(&integration.token_endpoint)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| format!("https://{}", integration.host))
}

async fn decrypt(
    state: &AppState,
    c: &CredentialRow,
    column: &str,
    enc: &[u8],
) -> Result<Secret, ConnectionError> {
    let plain = state
        .keyring
        .open(
            &state.store,
            credential_binding(&c.org_id, &c.id, column),
            enc,
        )
        .await?;
    Ok(Secret::new(String::from_utf8(plain.to_vec()).map_err(
        |_| crate::crypto::envelope::CryptoError::Malformed,
    )?))
}

/// Backoff for the n-th consecutive transient failure: 30 s doubling to 30 min, ±20 % jitter.
pub fn backoff_seconds(failures: i64, retry_after: Option<i64>) -> i64 {
    let base = 30i64.saturating_mul(1 << failures.clamp(0, 6)).min(1800);
    let jitter = rand::rng().random_range(0.8..1.2);
    let delay = (base as f64 * jitter) as i64;
    retry_after.map_or(delay, |r| delay.max(r))
}

/// The caller's access token for `connection_id`, with at least `min_remaining` seconds left.
pub async fn fresh_token(
    state: &AppState,
    connection_id: &str,
    user_id: &str,
    org_id: &str,
    min_remaining: i64,
) -> Result<Fresh, ConnectionError> {
    let need = LEAD_SECONDS.max(min_remaining);
    // Measured only to report how long callers waited for a refresh.
    let started = std::time::Instant::now();
    // Two rounds: a peer may rotate while we wait, and then we simply use its tokens.
    for _ in 0..2 {
        let (cred, integration) = current(state, connection_id, user_id, org_id).await?;
        if cred.access_expires_at - state.now() >= need {
            return usable(state, cred, &integration).await;
        }
        let flight = state.refresh_flight.lock_for(&cred.id);
        let _guard = flight.lock().await;
        // Another task of this process may have refreshed while we queued.
        let (cred, integration) = current(state, connection_id, user_id, org_id).await?;
        if cred.access_expires_at - state.now() >= need {
            return usable(state, cred, &integration).await;
        }
        match refresh_once(state, cred, &integration, need).await? {
            Some(fresh) => {
                state.metrics.time_to_fresh(started.elapsed().as_secs_f64());
                return Ok(fresh);
            }
            None => continue,
        }
    }
    Err(ConnectionError::ReauthRequired(
        "the access token could not be renewed".into(),
    ))
}

/// The credential and its integration, refusing void credentials before any use.
async fn current(
    state: &AppState,
    connection_id: &str,
    user_id: &str,
    org_id: &str,
) -> Result<(CredentialRow, IntegrationRow), ConnectionError> {
    let cred = state
        .store
        .credential(connection_id, user_id)
        .await?
        .ok_or(ConnectionError::NotSignedIn)?;
    let integration = state.store.integration(org_id, DATABRICKS_U2M).await?;
    match status_of(Some(&cred), integration.as_ref()) {
        CredentialStatus::Active => {}
        CredentialStatus::ReauthRequired { reason } => {
            return Err(ConnectionError::ReauthRequired(reason));
        }
        CredentialStatus::Revoked | CredentialStatus::NotSignedIn => {
            return Err(ConnectionError::NotSignedIn);
        }
    }
    let integration = integration.ok_or(ConnectionError::NoIntegration)?;
    Ok((cred, integration))
}

async fn usable(
    state: &AppState,
    cred: CredentialRow,
    integration: &IntegrationRow,
) -> Result<Fresh, ConnectionError> {
    // Databricks refuses a token within 30 s of its expiry.
    if cred.access_expires_at - state.now() <= 30 {
        return Err(ConnectionError::ReauthRequired(
            "the access token expired and could not be renewed yet".into(),
        ));
    }
    let token = decrypt(state, &cred, "access_token", &cred.access_token_enc).await?;
    Ok(Fresh {
        token,
        base_url: base_url(integration),
        expires_at: cred.access_expires_at,
        credential: cred,
    })
}

/// One refresh attempt under the store lease. `Ok(None)` means "look again": a peer
/// refreshed, or held the lease until it finished.
async fn refresh_once(
    state: &AppState,
    cred: CredentialRow,
    integration: &IntegrationRow,
    need: i64,
) -> Result<Option<Fresh>, ConnectionError> {
    let now = state.now();
    let (failures, next_attempt_at) = state.store.refresh_backoff(&cred.id).await?;
    if next_attempt_at.is_some_and(|t| t > now) {
        // Backing off after a transient failure: keep serving the current token while it lasts.
        return usable(state, cred, integration)
            .await
            .map(Some)
            .map_err(|_| transient_error());
    }
    let owner: &str = &state.instance_id;
    if !state
        .store
        .try_lease(&cred.id, owner, now + LEASE_SECONDS, now)
        .await?
    {
        wait_for_peer(state, &cred, need).await;
        return Ok(None);
    }
    // Re-read under the lease: the holder before us may have finished just now.
    let fresh_row = state
        .store
        .credential(&cred.connection_id, &cred.user_id)
        .await?;
    let Some(cred) = fresh_row.filter(|c| c.id == cred.id) else {
        return Err(ConnectionError::NotSignedIn);
    };
    if cred.access_expires_at - state.now() >= need {
        state.store.release_lease(&cred.id, owner).await?;
        return usable(state, cred, integration).await.map(Some);
    }
    let refresh_token = decrypt(state, &cred, "refresh_token", &cred.refresh_token_enc).await?;
    let secret = client_secret(&state.store, &state.keyring, integration).await?;
    // No scope parameter: a refresh never asks for more than was granted.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("client_id", integration.client_id.as_str()),
        ("client_secret", secret.expose()),
    ];
    state.metrics.token_call(&integration.host);
    let attempt = tokio::time::timeout(
        TOKEN_TIMEOUT,
        oauth::token_request(&state.egress, &integration.token_endpoint, &form),
    )
    .await;
    let result = attempt.unwrap_or_else(|_| {
        Err(TokenError::Transport(
            "the token endpoint did not answer in time".into(),
        ))
    });
    let now = state.now();
    if state.failpoints.hit("refresh:after_token_response") {
        // As if the process died here: the answer is lost and the lease stays held.
        return Err(ConnectionError::Invalid(
            "failpoint refresh:after_token_response".into(),
        ));
    }
    match result {
        Ok(tokens) => {
            let rotated = tokens.refresh_token.is_some();
            let new_refresh = tokens.refresh_token.unwrap_or(refresh_token);
            let access_enc = state
                .keyring
                .seal(
                    &state.store,
                    credential_binding(&cred.org_id, &cred.id, "access_token"),
                    tokens.access_token.expose().as_bytes(),
                    now,
                )
                .await?;
            let refresh_enc = state
                .keyring
                .seal(
                    &state.store,
                    credential_binding(&cred.org_id, &cred.id, "refresh_token"),
                    new_refresh.expose().as_bytes(),
                    now,
                )
                .await?;
            let written = state
                .store
                .store_refreshed(&Refreshed {
                    id: &cred.id,
                    version: cred.version,
                    lease_owner: owner,
                    access_token_enc: &access_enc,
                    refresh_token_enc: &refresh_enc,
                    access_expires_at: now + tokens.expires_in,
                    refresh_issued_at: if rotated { now } else { cred.refresh_issued_at },
                    now,
                })
                .await?;
            if !written {
                // Fenced: the credential was replaced, disconnected or deleted meanwhile.
                state.metrics.refresh("fenced", "none");
                return Err(ConnectionError::NotSignedIn);
            }
            if state.failpoints.hit("refresh:after_commit") {
                // As if the process died after storing: the next caller finds the new pair.
                return Err(ConnectionError::Invalid(
                    "failpoint refresh:after_commit".into(),
                ));
            }
            state.metrics.refresh(
                "success",
                if rotated {
                    "rotated"
                } else {
                    "kept_refresh_token"
                },
            );
            let expires_at = now + tokens.expires_in;
            Ok(Some(Fresh {
                token: tokens.access_token,
                base_url: base_url(integration),
                expires_at,
                credential: cred,
            }))
        }
        Err(TokenError::Rejected {
            code,
            description,
            retry_after,
        }) => match code.as_str() {
            // Databricks says `invalid_request` "Refresh token is invalid" for dead tokens.
            "invalid_grant" | "invalid_request" => {
                state.metrics.refresh("reauth", &code);
                dead_refresh_token(state, &cred, &description).await
            }
            "invalid_client" | "unauthorized_client" => {
                state.metrics.refresh("client_rejected", &code);
                state.store.release_lease(&cred.id, owner).await?;
                client_rejected(state, integration).await?;
                Err(ConnectionError::ReauthRequired(
                    "Databricks rejected the integration's client credentials — an administrator must update the client secret".into(),
                ))
            }
            _ => {
                state.metrics.refresh("transient", &code);
                transient(state, &cred, integration, failures, retry_after).await
            }
        },
        Err(TokenError::Invalid(_) | TokenError::NoRefreshToken) => {
            state.metrics.refresh("transient", "invalid_response");
            transient(state, &cred, integration, failures, None).await
        }
        Err(TokenError::Transport(_)) => {
            state.metrics.refresh("transient", "transport");
            transient(state, &cred, integration, failures, None).await
        }
    }
}

fn transient_error() -> ConnectionError {
    ConnectionError::Databricks(crate::warehouse::databricks::DatabricksError::Upstream {
        status: 503,
        message:
            "Databricks is temporarily unavailable; Lakegate retries the token refresh with backoff"
                .into(),
    })
}

/// Waits (bounded) for the process holding the lease to finish.
async fn wait_for_peer(state: &AppState, cred: &CredentialRow, need: i64) {
    let deadline = tokio::time::Instant::now() + WAIT_FOR_PEER;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        match state
            .store
            .credential(&cred.connection_id, &cred.user_id)
            .await
        {
            Ok(Some(c))
                if c.version != cred.version || c.access_expires_at - state.now() >= need =>
            {
                return;
            }
            Ok(Some(c)) if c.lease_until.is_none_or(|t| t <= state.now()) => return,
            Ok(None) | Err(_) => return,
            Ok(Some(_)) => {}
        }
    }
}

/// A dead refresh token: unless a peer rotated meanwhile, the user must sign in again.
async fn dead_refresh_token(
    state: &AppState,
    cred: &CredentialRow,
    description: &str,
) -> Result<Option<Fresh>, ConnectionError> {
    let latest = state
        .store
        .credential(&cred.connection_id, &cred.user_id)
        .await?;
    if latest.as_ref().is_some_and(|l| l.version != cred.version) {
        // Someone else stored a newer pair: use theirs.
        state
            .store
            .release_lease(&cred.id, &state.instance_id)
            .await?;
        return Ok(None);
    }
    let reason = if description.is_empty() {
        "Databricks refused the refresh token".to_owned()
    } else {
        format!("Databricks: {description}")
    };
    let now = state.now();
    if state
        .store
        .mark_reauth(&cred.id, cred.version, &reason, now)
        .await?
    {
        let actor = Actor {
            org_id: Some(cred.org_id.clone()),
            label: "system:refresher".into(),
            client_ip: None,
            request_id: None,
        };
        let event = Event::failure("credential.reauth_required", cred.connection_id.clone())
            .with("user_id", cred.user_id.clone())
            .with("reason", reason.clone());
        audit::record(&state.store, &actor, now, event).await?;
    }
    Err(ConnectionError::ReauthRequired(reason))
}

/// Flags the integration once; its credentials are left alone (no re-auth storm).
async fn client_rejected(
    state: &AppState,
    integration: &IntegrationRow,
) -> Result<(), ConnectionError> {
    if state
        .store
        .flag_integration(&integration.id, "client_rejected")
        .await?
    {
        let actor = Actor {
            org_id: Some(integration.org_id.clone()),
            label: "system:refresher".into(),
            client_ip: None,
            request_id: None,
        };
        let event = Event::failure("integration.client_rejected", integration.id.clone())
            .with("kind", DATABRICKS_U2M);
        audit::record(&state.store, &actor, state.now(), event).await?;
    }
    Ok(())
}

/// A transient failure: back off with jitter and keep serving the current token while valid.
async fn transient(
    state: &AppState,
    cred: &CredentialRow,
    integration: &IntegrationRow,
    failures: i64,
    retry_after: Option<i64>,
) -> Result<Option<Fresh>, ConnectionError> {
    let next = state.now() + backoff_seconds(failures, retry_after);
    state
        .store
        .note_refresh_failure(&cred.id, &state.instance_id, next)
        .await?;
    usable(state, cred.clone(), integration)
        .await
        .map(Some)
        .map_err(|_| transient_error())
}

/// Concurrent background refreshes per workspace host.
pub const PER_HOST_CONCURRENCY: usize = 8;
/// Background refreshes started per second per workspace host.
pub const PER_HOST_PER_SECOND: u32 = 50;

/// Bounds the background refresher's load on one workspace: concurrency and start rate.
struct HostGate {
    permits: Arc<tokio::sync::Semaphore>,
    interval: Duration,
    next_start: tokio::sync::Mutex<tokio::time::Instant>,
}

impl HostGate {
    fn new(concurrency: usize, per_second: u32) -> Self {
        HostGate {
            permits: Arc::new(tokio::sync::Semaphore::new(concurrency.max(1))),
            interval: Duration::from_secs(1) / per_second.max(1),
            next_start: tokio::sync::Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for a slot and for this host's next start time.
    async fn enter(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(tokio::time::Instant::now());
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
        Some(permit)
    }
}

/// One pass of the background refresher: refreshes credentials that expire within the lead
/// time or whose refresh token has been idle for `keepalive_seconds`, `concurrency` at a time.
pub async fn refresh_due(state: &AppState, keepalive_seconds: i64, concurrency: usize) -> usize {
    let limits = RefresherLimits {
        concurrency,
        ..RefresherLimits::default()
    };
    refresh_due_with(state, keepalive_seconds, limits).await
}

/// How hard the background refresher may push.
#[derive(Debug, Clone, Copy)]
pub struct RefresherLimits {
    pub concurrency: usize,
    pub per_host_concurrency: usize,
    pub per_host_per_second: u32,
}

impl Default for RefresherLimits {
    fn default() -> Self {
        RefresherLimits {
            concurrency: 16,
            per_host_concurrency: PER_HOST_CONCURRENCY,
            per_host_per_second: PER_HOST_PER_SECOND,
        }
    }
}

/// [`refresh_due`] with explicit limits (benchmarks and tuning).
pub async fn refresh_due_with(
    state: &AppState,
    keepalive_seconds: i64,
    limits: RefresherLimits,
) -> usize {
    // Batches until nothing new is due or the pass has used its time (the next tick follows).
    let budget = std::time::Instant::now() + Duration::from_secs(25);
    let mut attempted: std::collections::HashSet<(String, String)> =
        std::collections::HashSet::new();
    let mut hosts: HashMap<String, Arc<HostGate>> = HashMap::new();
    let mut refreshed = 0;
    while std::time::Instant::now() < budget {
        let now = state.now();
        let jitter = rand::rng().random_range(0..60);
        let due = match state
            .store
            .due_credentials(
                now,
                now + LEAD_SECONDS + jitter,
                now - keepalive_seconds,
                BATCH,
            )
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "could not list credentials due for refresh");
                break;
            }
        };
        let full = due.len() as i64 == BATCH;
        // A credential that stays due after an attempt (say, its client was rejected) is not retried in this pass.
        let fresh: Vec<_> = due
            .into_iter()
            .filter(|(c, u, _)| attempted.insert((c.clone(), u.clone())))
            .collect();
        if fresh.is_empty() {
            break;
        }
        refreshed += refresh_batch(state, keepalive_seconds, limits, &mut hosts, fresh).await;
        if !full {
            break;
        }
    }
    refreshed
}

/// Credentials the refresher takes per query.
const BATCH: i64 = 200;

async fn refresh_batch(
    state: &AppState,
    keepalive_seconds: i64,
    limits: RefresherLimits,
    hosts: &mut HashMap<String, Arc<HostGate>>,
    due: Vec<(String, String, String)>,
) -> usize {
    let concurrency = limits.concurrency;
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    // Each workspace gets a bounded share: a few refreshes at once, and a start rate cap.
    let mut tasks = tokio::task::JoinSet::new();
    for (connection_id, user_id, host) in due {
        let state = state.clone();
        let permits = permits.clone();
        let gate = hosts
            .entry(host)
            .or_insert_with(|| {
                Arc::new(HostGate::new(
                    limits.per_host_concurrency,
                    limits.per_host_per_second,
                ))
            })
            .clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.ok()?;
            let _host_permit = gate.enter().await?;
            let (user, _) = state.store.user_with_org(&user_id).await.ok()?;
            // Keep-alive refreshes need the token renewed even when it has time left.
            let need = LEAD_SECONDS + keepalive_hint(&state, &connection_id, &user_id, keepalive_seconds).await;
            match fresh_token(&state, &connection_id, &user_id, &user.org_id, need).await {
                Ok(_) => Some(()),
                Err(e) => {
                    tracing::info!(connection_id, error = %e, "background refresh did not complete");
                    None
                }
            }
        });
    }
    let mut refreshed = 0;
    while let Some(done) = tasks.join_next().await {
        if matches!(done, Ok(Some(()))) {
            refreshed += 1;
        }
    }
    refreshed
}

/// For an idle refresh token, a minimum that forces a refresh now.
async fn keepalive_hint(
    state: &AppState,
    connection_id: &str,
    user_id: &str,
    keepalive_seconds: i64,
) -> i64 {
    match state.store.credential(connection_id, user_id).await {
        Ok(Some(c))
            if c.last_refresh_at.unwrap_or(c.refresh_issued_at)
                <= state.now() - keepalive_seconds =>
        {
            c.access_expires_at - state.now() + 1
        }
        _ => 0,
    }
}

/// Warns users (one audit event each, and a banner on their connection page) when the
/// absolute session lifetime will force a new sign-in within `warning_seconds`.
pub async fn warn_due(state: &AppState, warning_seconds: i64) -> usize {
    let now = state.now();
    let Ok(rows) = state.store.unwarned_credentials(500).await else {
        return 0;
    };
    let mut warned = 0;
    for (id, connection_id, user_id, org_id, session_started_at) in rows {
        let Ok(Some(integration)) = state.store.integration(&org_id, DATABRICKS_U2M).await else {
            continue;
        };
        let Some(minutes) = integration.absolute_lifetime_minutes else {
            continue;
        };
        let forced_at = session_started_at + minutes * 60;
        if now < forced_at - warning_seconds {
            continue;
        }
        if state.store.mark_warned(&id, now).await.unwrap_or(false) {
            let actor = Actor {
                org_id: Some(org_id.clone()),
                label: "system:refresher".into(),
                client_ip: None,
                request_id: None,
            };
            let event = Event::success("credential.reauth_soon", connection_id)
                .with("user_id", user_id)
                .with("sign_in_needed_by", crate::clock::rfc3339(forced_at));
            if audit::record(&state.store, &actor, now, event)
                .await
                .is_ok()
            {
                warned += 1;
            }
        }
    }
    warned
}
