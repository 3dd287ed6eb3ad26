//! The refresh protocol's storage: a portable compare-and-set lease, the fenced write of a
//! refreshed token pair, failure bookkeeping, and the due list of the background refresher.

use super::connections::{credential_columns, select_credentials};
use super::states::IntegrationStatus;
use super::{CredentialRow, Store, StoreResult};

/// A refreshed token pair, written only by the lease holder at the version it read.
pub struct Refreshed<'a> {
    pub id: &'a str,
    pub version: i64,
    pub lease_owner: &'a str,
    pub access_token_enc: &'a [u8],
    pub refresh_token_enc: &'a [u8],
    pub access_expires_at: i64,
    pub refresh_issued_at: i64,
    pub now: i64,
}

/// How often a credential's use is stamped (the refresher keeps recently used ones fresh).
const USE_STAMP_SECONDS: i64 = 300;

/// Whether a use at `now` should be written.
pub fn use_stamp_due(last_used_at: Option<i64>, now: i64) -> bool {
    last_used_at.is_none_or(|t| now - t >= USE_STAMP_SECONDS)
}

impl Store {
    /// Takes the refresh lease on a credential unless another live lease holds it, and
    /// returns the row as it is now (one statement: the lease and the re-read).
    pub async fn try_lease(
        &self,
        id: &str,
        owner: &str,
        until: i64,
        now: i64,
    ) -> StoreResult<Option<CredentialRow>> {
        let _changes = self.changes();
        Ok(sqlx::query_as::<_, CredentialRow>(concat!(
            "UPDATE credentials SET lease_owner = $1, lease_until = $2 \
             WHERE id = $3 AND status = 'active' AND (lease_until IS NULL OR lease_until <= $4 OR lease_owner = $1) \
             RETURNING ",
            credential_columns!()
        ))
        .bind(owner)
        .bind(until)
        .bind(id)
        .bind(now)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn release_lease(&self, id: &str, owner: &str) -> StoreResult<()> {
        let _changes = self.changes();
        sqlx::query("UPDATE credentials SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(id)
            .bind(owner)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stores the new access token and the (possibly rotated) refresh token in one
    /// statement, fenced by version and lease: false when the row changed or vanished.
    pub async fn store_refreshed(&self, r: &Refreshed<'_>) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query(
            "UPDATE credentials SET access_token_enc = $1, refresh_token_enc = $2, access_expires_at = $3, \
               refresh_issued_at = $4, version = version + 1, lease_owner = NULL, lease_until = NULL, failures = 0, \
               next_attempt_at = NULL, updated_at = $5, last_refresh_at = $5 \
             WHERE id = $6 AND version = $7 AND lease_owner = $8 AND status = 'active'",
        )
        .bind(r.access_token_enc)
        .bind(r.refresh_token_enc)
        .bind(r.access_expires_at)
        .bind(r.refresh_issued_at)
        .bind(r.now)
        .bind(r.id)
        .bind(r.version)
        .bind(r.lease_owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks a credential as needing a new sign-in; true only for the call that changed it.
    pub async fn mark_reauth(
        &self,
        id: &str,
        version: i64,
        reason: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query(
            "UPDATE credentials SET status = 'reauth_required', status_reason = $1, lease_owner = NULL, lease_until = NULL, \
               updated_at = $2, version = version + 1 WHERE id = $3 AND version = $4 AND status = 'active'",
        )
        .bind(reason)
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a transient failure and when to try again.
    pub async fn note_refresh_failure(
        &self,
        id: &str,
        owner: &str,
        next_attempt_at: i64,
    ) -> StoreResult<()> {
        let _changes = self.changes();
        sqlx::query(
            "UPDATE credentials SET failures = failures + 1, next_attempt_at = $1, lease_owner = NULL, lease_until = NULL \
             WHERE id = $2 AND lease_owner = $3",
        )
        .bind(next_attempt_at)
        .bind(id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Credentials to refresh in the background: recently used ones whose access token
    /// expires before `expiring_before` (refresh-ahead), and idle ones not refreshed since
    /// `idle_before` (keep-alive) — none leased or backing off.
    pub async fn due_credentials(
        &self,
        now: i64,
        expiring_before: i64,
        idle_before: i64,
        limit: i64,
    ) -> StoreResult<Vec<CredentialRow>> {
        Ok(sqlx::query_as::<_, CredentialRow>(select_credentials!(
            "WHERE status = 'active' \
               AND ((access_expires_at > $3 AND access_expires_at <= $1 AND last_used_at >= $3 - 3600) \
                    OR COALESCE(last_refresh_at, refresh_issued_at) <= $2) \
               AND (next_attempt_at IS NULL OR next_attempt_at <= $3) AND (lease_until IS NULL OR lease_until <= $3) \
             ORDER BY access_expires_at LIMIT $4"
        ))
        .bind(expiring_before)
        .bind(idle_before)
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Notes that the user used the credential (at most every five minutes, also when
    /// replicas race), and in the memo so the next use does not write again.
    pub async fn touch_credential_use(&self, c: &CredentialRow, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE credentials SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $1 - $3)")
            .bind(now)
            .bind(&c.id)
            .bind(USE_STAMP_SECONDS)
            .execute(self.pool())
            .await?;
        let key = (c.connection_id.clone(), c.user_id.clone());
        self.memos
            .credentials
            .update(&key, |r| r.last_used_at = Some(now));
        Ok(())
    }

    /// Active credentials not yet warned of a coming re-consent, oldest sign-in first.
    pub async fn unwarned_credentials(&self, limit: i64) -> StoreResult<Vec<CredentialRow>> {
        Ok(sqlx::query_as::<_, CredentialRow>(select_credentials!(
            "WHERE status = 'active' AND warned_at IS NULL ORDER BY session_started_at LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records the warning; true for the one call that did.
    pub async fn mark_warned(&self, id: &str, now: i64) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query(
            "UPDATE credentials SET warned_at = $1 WHERE id = $2 AND warned_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Flags an integration whose client credentials the provider rejected; true when it changed.
    pub async fn flag_integration(&self, id: &str, status: IntegrationStatus) -> StoreResult<bool> {
        let _changes = self.changes();
        let done =
            sqlx::query("UPDATE integrations SET status = $1 WHERE id = $2 AND status <> $1")
                .bind(status.as_str())
                .bind(id)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Store {
    /// How many credentials are in each state (for the metrics gauge).
    pub async fn credential_status_counts(&self) -> StoreResult<Vec<StateCount>> {
        Ok(sqlx::query_as::<_, StateCount>(
            "SELECT status, COUNT(*) AS count FROM credentials GROUP BY status ORDER BY status",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The same for one org (its admins' home page and health view).
    pub async fn org_credential_status_counts(&self, org_id: &str) -> StoreResult<Vec<StateCount>> {
        Ok(sqlx::query_as::<_, StateCount>(
            "SELECT status, COUNT(*) AS count FROM credentials WHERE org_id = $1 GROUP BY status ORDER BY status",
        )
        .bind(org_id)
        .fetch_all(self.pool())
        .await?)
    }
}

/// How many credentials are in one state.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StateCount {
    #[sqlx(try_from = "String")]
    pub status: super::states::CredentialState,
    pub count: i64,
}
