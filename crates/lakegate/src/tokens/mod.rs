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
mod refresh;
mod revoke;
pub mod shared;

use std::sync::Arc;
use std::time::Duration;

use crate::audit::Actor;
use crate::auth::Principal;
use crate::clock::Clock;
use crate::clock_skew::SkewGuard;
use crate::credentials::{ConnectionError, CredentialStatus, status_of};
use crate::crypto::envelope::Keyring;
use crate::egress::Egress;
use crate::failpoint::Failpoints;
use crate::metrics::Metrics;
use crate::providers::{self, Provider};
use crate::secret::Secret;
use crate::store::{ConnectionRow, CredentialRow, IntegrationRow, Store};

use flight::SingleFlight;

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
    /// The credential the caller uses on connection `c`: their own — or, on a shared
    /// identity (M2M, PAT), the connection's one, kept under its owner. Never another
    /// user's own sign-in.
    pub fn caller(p: &Principal, c: &ConnectionRow) -> Holder {
        let user_id = if providers::shared_identity(&c.provider, &c.auth) {
            c.owner_id.clone()
        } else {
            p.user.id.clone()
        };
        Holder {
            connection_id: c.id.clone(),
            user_id,
            org_id: p.org.id.clone(),
        }
    }

    /// The holder a stored query's follow-ups use: the credential it was submitted on.
    pub fn of_query(q: &crate::store::QueryRow) -> Holder {
        let (connection_id, user_id) = q.credential_holder();
        Holder {
            connection_id: connection_id.to_owned(),
            user_id: user_id.to_owned(),
            org_id: q.org_id.clone(),
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

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
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
        for round in 0..2 {
            // Only the first look may use the memo: after a wait, read what peers wrote.
            let (cred, integration) = self.current(h, round == 0).await?;
            let need = needed(&cred, min_remaining, cap_at_issued);
            if cred.access_expires_at - self.now() >= need {
                return self.usable(cred, &integration).await;
            }
            let flight = self.flight.lock_for(&cred.id);
            let _guard = flight.lock().await;
            // Another task of this process may have refreshed while we queued.
            let (cred, integration) = self.current(h, false).await?;
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
    /// The holder's credential and its integration; `recent` reads the store's memo (what
    /// this process wrote, or read within the second), else the rows themselves.
    async fn current(
        &self,
        h: &Holder,
        recent: bool,
    ) -> Result<(CredentialRow, IntegrationRow), ConnectionError> {
        let (store, now) = (&self.store, self.now());
        let cred = if recent {
            store
                .recent_credential(&h.connection_id, &h.user_id, now)
                .await?
        } else {
            store.credential(&h.connection_id, &h.user_id).await?
        }
        .ok_or(ConnectionError::NotSignedIn)?;
        let (org, id, host) = (&h.org_id, &cred.integration_id, &cred.host);
        let integration = if recent {
            store.recent_integration_for(org, id, host, now).await?
        } else {
            store.integration_for(org, id, host).await?
        };
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

    /// Notes that the user used the credential (the refresher keeps used ones fresh).
    /// Writes only when the stamp is due (every five minutes), so a vended token usually
    /// costs no write at all.
    pub async fn touch(&self, cred: &CredentialRow) -> Result<(), ConnectionError> {
        let now = self.now();
        if !crate::store::use_stamp_due(cred.last_used_at, now) {
            return Ok(());
        }
        Ok(self.store.touch_credential_use(cred, now).await?)
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
