//! Access tokens that stay fresh: one entry point, "an access token for this credential
//! with at least N seconds left". It refreshes when less than max(5 minutes, N) remain —
//! one refresh per expiry across tasks (single flight) and processes (a compare-and-set
//! lease in the store, which also re-reads the row), writing the rotated refresh token and
//! the new access token in one fenced statement before anyone gets the new access token.
//!
//! The parts: [`protocol`] (token request, fenced write), [`decide`] (pure: what an answer
//! means), [`keeper`] (calls to the warehouse with a token that lasts the work). The
//! background scheduler is `jobs::refresher`.

pub mod decide;
pub mod flight;
pub mod keeper;
pub mod protocol;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::audit::{self, Actor, Event};
use crate::auth::Principal;
use crate::clock::Clock;
use crate::clock_skew::SkewGuard;
use crate::credentials::{ConnectionError, CredentialStatus, status_of};
use crate::crypto::envelope::Keyring;
use crate::egress::Egress;
use crate::failpoint::Failpoints;
use crate::integrations::service::client_secret;
use crate::metrics::Metrics;
use crate::providers::{self, Provider};
use crate::secret::Secret;
use crate::store::{ConnectionRow, CredentialRow, IntegrationRow, IntegrationStatus, Store};

use decide::Decision;
use flight::SingleFlight;
use protocol::NewPair;

pub use crate::credentials::LEAD_SECONDS;
/// A lease outlives the token request it guards (whose timeout is shorter).
pub const LEASE_SECONDS: i64 = 30;
/// How long a caller waits for another process's refresh before looking again.
const WAIT_FOR_PEER: Duration = Duration::from_secs(15);

/// Whose token, on which connection.
#[derive(Debug, Clone)]
pub struct Holder {
    pub connection_id: String,
    pub user_id: String,
    pub org_id: String,
}

impl Holder {
    /// The caller's own credential on connection `c` (never another user's).
    pub fn caller(p: &Principal, c: &ConnectionRow) -> Holder {
        Holder {
            connection_id: c.id.clone(),
            user_id: p.user.id.clone(),
            org_id: p.org.id.clone(),
        }
    }

    fn of(c: &CredentialRow) -> Holder {
        Holder {
            connection_id: c.connection_id.clone(),
            user_id: c.user_id.clone(),
            org_id: c.org_id.clone(),
        }
    }
}

/// A usable access token and the warehouse API it is for.
pub struct Fresh {
    pub token: Secret,
    pub base_url: String,
    pub expires_at: i64,
    pub credential: CredentialRow,
    pub provider: &'static dyn Provider,
}

/// Token refresh and access, with everything it needs.
#[derive(Clone)]
pub struct TokenService {
    store: Store,
    keyring: Arc<Keyring>,
    egress: Egress,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    flight: Arc<SingleFlight>,
    /// Identifies this process in refresh leases.
    instance_id: Arc<str>,
    failpoints: Arc<Failpoints>,
    skew: Arc<SkewGuard>,
}

impl TokenService {
    pub fn new(
        store: Store,
        keyring: Arc<Keyring>,
        egress: Egress,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        failpoints: Arc<Failpoints>,
        skew: Arc<SkewGuard>,
    ) -> Self {
        TokenService {
            store,
            keyring,
            egress,
            clock,
            metrics,
            flight: Arc::default(),
            instance_id: Arc::from(uuid::Uuid::new_v4().to_string()),
            failpoints,
            skew,
        }
    }

    /// This process's clock against the store's.
    pub fn skew(&self) -> &SkewGuard {
        &self.skew
    }

    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The holder's access token with at least `min_remaining` seconds left.
    pub async fn fresh(&self, h: &Holder, min_remaining: i64) -> Result<Fresh, ConnectionError> {
        self.fresh_within(h, min_remaining, false).await
    }

    /// The same for a caller that names a minimum the provider may not issue (token
    /// vending): the minimum is capped at what the last token was issued with, less the
    /// lead time, so a token that cannot satisfy it is answered without refreshing on every
    /// call. The caller tells its own caller the token is shorter than asked.
    pub async fn fresh_for_vending(
        &self,
        h: &Holder,
        min_remaining: i64,
    ) -> Result<Fresh, ConnectionError> {
        self.fresh_within(h, min_remaining, true).await
    }

    async fn fresh_within(
        &self,
        h: &Holder,
        min_remaining: i64,
        cap_at_issued: bool,
    ) -> Result<Fresh, ConnectionError> {
        // Measured only to report how long callers waited for a refresh.
        let started = std::time::Instant::now();
        // Two rounds: a peer may rotate while we wait, and then we simply use its tokens.
        for _ in 0..2 {
            let (cred, integration) = self.current(h).await?;
            let need = needed(&cred, min_remaining, cap_at_issued);
            if cred.access_expires_at - self.now() >= need {
                return self.usable(cred, &integration).await;
            }
            let flight = self.flight.lock_for(&cred.id);
            let _guard = flight.lock().await;
            // Another task of this process may have refreshed while we queued.
            let (cred, integration) = self.current(h).await?;
            if cred.access_expires_at - self.now() >= need {
                return self.usable(cred, &integration).await;
            }
            if let Some(fresh) = self.refresh_locked(cred, &integration, need).await? {
                self.metrics.time_to_fresh(started.elapsed().as_secs_f64());
                return Ok(fresh);
            }
        }
        Err(ConnectionError::ReauthRequired(
            "the access token could not be renewed".into(),
        ))
    }

    /// A background refresh of a due credential, as the due list read it (with its
    /// integration): `keepalive` renews it even when the access token has time left, so an
    /// idle refresh token never lapses.
    pub async fn refresh_due(
        &self,
        cred: CredentialRow,
        integration: &IntegrationRow,
        keepalive: bool,
    ) -> Result<(), ConnectionError> {
        check_usable(&cred, Some(integration))?;
        let need = if keepalive {
            cred.access_expires_at - self.now() + 1
        } else {
            LEAD_SECONDS
        };
        let flight = self.flight.lock_for(&cred.id);
        let _guard = flight.lock().await;
        match self.refresh_locked(cred, integration, need).await? {
            Some(_) => Ok(()),
            // A peer holds the lease or rotated meanwhile: its refresh counts.
            None => Ok(()),
        }
    }

    /// The credential and its integration, refusing void credentials before any use.
    async fn current(
        &self,
        h: &Holder,
    ) -> Result<(CredentialRow, IntegrationRow), ConnectionError> {
        let cred = self
            .store
            .credential(&h.connection_id, &h.user_id)
            .await?
            .ok_or(ConnectionError::NotSignedIn)?;
        let integration = self
            .store
            .integration_by_id(&h.org_id, &cred.integration_id)
            .await?;
        check_usable(&cred, integration.as_ref())?;
        let integration = integration.ok_or(ConnectionError::NoIntegration)?;
        Ok((cred, integration))
    }

    async fn usable(
        &self,
        cred: CredentialRow,
        integration: &IntegrationRow,
    ) -> Result<Fresh, ConnectionError> {
        // Databricks refuses a token within 30 s of its expiry.
        if cred.access_expires_at - self.now() <= 30 {
            return Err(ConnectionError::ReauthRequired(
                "the access token expired and could not be renewed yet".into(),
            ));
        }
        let provider = provider_of(integration)?;
        let token = protocol::open(
            &self.store,
            &self.keyring,
            &cred,
            "access_token",
            &cred.access_token_enc,
        )
        .await?;
        Ok(Fresh {
            token,
            base_url: provider.api_base(integration),
            expires_at: cred.access_expires_at,
            credential: cred,
            provider,
        })
    }

    /// One refresh attempt under the store lease (the caller holds the flight lock).
    /// `Ok(None)` means "look again": a peer refreshed, or held the lease until it finished.
    async fn refresh_locked(
        &self,
        cred: CredentialRow,
        integration: &IntegrationRow,
        need: i64,
    ) -> Result<Option<Fresh>, ConnectionError> {
        let now = self.now();
        if let Some(next) = cred.next_attempt_at.filter(|t| *t > now) {
            // Backing off after a transient failure: keep serving the current token while it lasts.
            return self.serve_current(cred, integration, next - now).await;
        }
        // Leases are judged on each replica's clock: one too far off takes none.
        self.skew.check()?;
        let owner: &str = &self.instance_id;
        // Taking the lease re-reads the row: the holder before us may have finished just now.
        let Some(cred) = self
            .store
            .try_lease(&cred.id, owner, now + LEASE_SECONDS, now)
            .await?
        else {
            self.wait_for_peer(&cred, need).await;
            return Ok(None);
        };
        if self.failpoints.hit("refresh:holding_lease").await {
            // As if the process died holding the lease: it stays until it expires.
            return Err(ConnectionError::Interrupted("refresh:holding_lease"));
        }
        if cred.access_expires_at - self.now() >= need {
            self.store.release_lease(&cred.id, owner).await?;
            return self.usable(cred, integration).await.map(Some);
        }
        let provider = provider_of(integration)?;
        let refresh_token = protocol::open(
            &self.store,
            &self.keyring,
            &cred,
            "refresh_token",
            &cred.refresh_token_enc,
        )
        .await?;
        let secret = client_secret(&self.store, &self.keyring, integration).await?;
        self.metrics.token_call(&integration.host);
        let answer =
            protocol::request(&self.egress, provider, integration, &secret, &refresh_token).await;
        if self.failpoints.hit("refresh:after_token_response").await {
            // As if the process died here: the answer is lost and the lease stays held.
            return Err(ConnectionError::Interrupted("refresh:after_token_response"));
        }
        let info = provider.info();
        let jitter = rand::rng().random_range(0.8..1.2);
        let verdict = decide::decide(&info.dialect, info.vendor, &answer, cred.failures, jitter);
        self.metrics.refresh(verdict.outcome, &verdict.reason);
        match (verdict.decision, answer) {
            (Decision::Store { rotated }, Ok(tokens)) => {
                let now = self.now();
                let kept = tokens.refresh_token.unwrap_or(refresh_token);
                let pair = NewPair {
                    access_token: &tokens.access_token,
                    refresh_token: &kept,
                    expires_in: tokens.expires_in,
                    rotated,
                };
                if !protocol::store_pair(&self.store, &self.keyring, &cred, owner, pair, now)
                    .await?
                {
                    // Fenced: the credential was replaced, disconnected or deleted meanwhile.
                    self.metrics.refresh("fenced", "none");
                    return Err(ConnectionError::NotSignedIn);
                }
                if self.failpoints.hit("refresh:after_commit").await {
                    // As if the process died after storing: the next caller finds the new pair.
                    return Err(ConnectionError::Interrupted("refresh:after_commit"));
                }
                Ok(Some(Fresh {
                    token: tokens.access_token,
                    base_url: provider.api_base(integration),
                    expires_at: now + tokens.expires_in,
                    credential: cred,
                    provider,
                }))
            }
            (Decision::SignInAgain { reason }, _) => self.dead_grant(&cred, reason).await,
            (Decision::ClientRejected, _) => {
                self.store.release_lease(&cred.id, owner).await?;
                self.client_rejected(integration).await?;
                Err(ConnectionError::ReauthRequired(format!(
                    "{} rejected the integration's client credentials — an administrator must update the client secret",
                    info.vendor
                )))
            }
            (decision, _) => {
                // A transient failure (a `Store` decision always comes with tokens).
                let seconds = match decision {
                    Decision::BackOff { seconds } => seconds,
                    _ => decide::backoff_seconds(cred.failures, None, jitter),
                };
                self.store
                    .note_refresh_failure(&cred.id, owner, self.now() + seconds)
                    .await?;
                self.serve_current(cred, integration, seconds).await
            }
        }
    }

    /// The current token while it lasts; else "unavailable, retry after N s".
    async fn serve_current(
        &self,
        cred: CredentialRow,
        integration: &IntegrationRow,
        retry_after: i64,
    ) -> Result<Option<Fresh>, ConnectionError> {
        let vendor = provider_of(integration)?.info().vendor;
        self.usable(cred, integration)
            .await
            .map(Some)
            .map_err(|_| ConnectionError::Unavailable {
                vendor,
                retry_after: retry_after.max(1),
            })
    }

    /// Waits (bounded) for the process holding the lease to finish.
    async fn wait_for_peer(&self, cred: &CredentialRow, need: i64) {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_PEER;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            match self
                .store
                .credential(&cred.connection_id, &cred.user_id)
                .await
            {
                Ok(Some(c))
                    if c.version != cred.version || c.access_expires_at - self.now() >= need =>
                {
                    return;
                }
                Ok(Some(c)) if c.lease_until.is_none_or(|t| t <= self.now()) => return,
                Ok(None) | Err(_) => return,
                Ok(Some(_)) => {}
            }
        }
    }

    /// A dead grant: unless a peer stored a newer pair meanwhile (the fenced mark then
    /// changes nothing and we look again), the user must sign in again.
    async fn dead_grant(
        &self,
        cred: &CredentialRow,
        reason: String,
    ) -> Result<Option<Fresh>, ConnectionError> {
        let now = self.now();
        if !self
            .store
            .mark_reauth(&cred.id, cred.version, &reason, now)
            .await?
        {
            self.store
                .release_lease(&cred.id, &self.instance_id)
                .await?;
            return Ok(None);
        }
        let event = Event::failure("credential.reauth_required", cred.connection_id.clone())
            .with("user_id", cred.user_id.clone())
            .with("reason", reason.clone());
        audit::record(&self.store, &system_actor(&cred.org_id), now, event).await?;
        Err(ConnectionError::ReauthRequired(reason))
    }

    /// Flags the integration once; its credentials are left alone (no re-auth storm).
    async fn client_rejected(&self, integration: &IntegrationRow) -> Result<(), ConnectionError> {
        if self
            .store
            .flag_integration(&integration.id, IntegrationStatus::ClientRejected)
            .await?
        {
            let event = Event::failure("integration.client_rejected", integration.id.clone())
                .with("kind", integration.kind.clone());
            audit::record(
                &self.store,
                &system_actor(&integration.org_id),
                self.now(),
                event,
            )
            .await?;
        }
        Ok(())
    }

    /// Notes that the user used the credential (the refresher keeps used ones fresh).
    pub async fn touch(&self, cred: &CredentialRow) -> Result<(), ConnectionError> {
        Ok(self
            .store
            .touch_credential_use(&cred.id, self.now())
            .await?)
    }

    /// The holder of a stored credential (the query follow-up acts for query owners).
    pub fn holder_of(cred: &CredentialRow) -> Holder {
        Holder::of(cred)
    }
}

/// The seconds a token must have left: at least the lead time and the caller's minimum —
/// capped, when asked, at the lifetime the last token was issued with less the lead time
/// (a refresh cannot do better than that).
pub fn needed(cred: &CredentialRow, min_remaining: i64, cap_at_issued: bool) -> i64 {
    let need = LEAD_SECONDS.max(min_remaining);
    if !cap_at_issued {
        return need;
    }
    let issued_at = cred.last_refresh_at.unwrap_or(cred.session_started_at);
    let issued_for = cred.access_expires_at - issued_at;
    need.min((issued_for - LEAD_SECONDS).max(LEAD_SECONDS))
}

/// Refuses a credential that is void (reauth required, revoked, issued under another
/// integration) before any use.
fn check_usable(
    cred: &CredentialRow,
    integration: Option<&IntegrationRow>,
) -> Result<(), ConnectionError> {
    match status_of(Some(cred), integration) {
        CredentialStatus::Active => Ok(()),
        CredentialStatus::ReauthRequired { reason } => Err(ConnectionError::ReauthRequired(reason)),
        CredentialStatus::Revoked | CredentialStatus::NotSignedIn => {
            Err(ConnectionError::NotSignedIn)
        }
    }
}

fn provider_of(integration: &IntegrationRow) -> Result<&'static dyn Provider, ConnectionError> {
    providers::by_kind(&integration.kind).ok_or(ConnectionError::NoIntegration)
}

/// The actor of what the refresher does on its own.
pub fn system_actor(org_id: &str) -> Actor {
    Actor {
        org_id: Some(org_id.to_owned()),
        label: "system:refresher".into(),
        client_ip: None,
        request_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(issued_at: i64, expires_at: i64) -> CredentialRow {
        crate::credentials::fixtures::credential(0, issued_at, expires_at)
    }

    #[test]
    fn the_need_is_the_lead_time_or_more_and_capped_only_when_asked() {
        let one_hour = cred(1_000, 4_600);
        assert_eq!(needed(&one_hour, 60, false), LEAD_SECONDS);
        assert_eq!(needed(&one_hour, 3_000, false), 3_000);
        assert_eq!(
            needed(&one_hour, 3_000, true),
            3_000,
            "an hour's token can do it"
        );
        let half_hour = cred(1_000, 2_800);
        assert_eq!(needed(&half_hour, 3_000, false), 3_000);
        assert_eq!(needed(&half_hour, 3_000, true), 1_800 - LEAD_SECONDS);
        let five_minutes = cred(1_000, 1_300);
        assert_eq!(needed(&five_minutes, 3_000, true), LEAD_SECONDS);
    }
}
