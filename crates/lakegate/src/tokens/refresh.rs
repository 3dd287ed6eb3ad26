//! One refresh under the store lease, and what follows from its answer: store the new pair
//! (fenced), back off and keep serving the current token, or say "sign in again" — and
//! waiting for a peer that holds the lease.

use std::time::Duration;

use rand::Rng;

use super::decide::{self, Decision};
use super::protocol::{self, NewPair};
use super::{Fresh, LEASE_SECONDS, TokenService, WAIT_FOR_PEER, provider_of, system_actor};
use crate::audit::{self, Event};
use crate::credentials::ConnectionError;
use crate::integrations::service::client_secret;
use crate::providers::Renewal;
use crate::store::{CredentialRow, IntegrationRow, IntegrationStatus};

/// Why a personal access token stopped working, as its connection page says it.
pub const STATIC_TOKEN_REFUSED: &str =
    "Databricks refused the personal access token: it expired or was revoked — paste a new one";

impl TokenService {
    /// One refresh attempt under the store lease (the caller holds the flight lock).
    /// `Ok(None)` means "look again": a peer refreshed, or held the lease until it finished.
    pub(super) async fn refresh_locked(
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
        if provider.info().renewal == Renewal::Static {
            // Nothing renews a pasted token: the warehouse refused it, or it ran out.
            return self.dead_grant(&cred, STATIC_TOKEN_REFUSED.into()).await;
        }
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
        self.note_outcome(&cred, verdict.outcome, &verdict.reason)
            .await;
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
                    self.note_outcome(&cred, "fenced", "none").await;
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
                Err(ConnectionError::ReauthRequired(
                    crate::credentials::client_rejected_reason(integration, info.vendor),
                ))
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

    /// Logs and counts a refresh's outcome: in this process's metrics, and per org and hour
    /// in the store for the admins' health view (best effort: a refresh never fails for it).
    /// The reason is a fixed code (as in the metric's label), never the vendor's text.
    async fn note_outcome(&self, cred: &CredentialRow, outcome: &'static str, reason: &str) {
        if outcome == "success" {
            tracing::info!(credential_id = %cred.id, outcome, reason, "token refresh");
        } else {
            tracing::warn!(credential_id = %cred.id, outcome, reason, "token refresh");
        }
        self.metrics.refresh(outcome, reason);
        if let Err(e) = self
            .store
            .count_refresh_outcome(&cred.org_id, self.now(), outcome)
            .await
        {
            tracing::warn!(error = %e, "could not count a refresh outcome");
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
}
