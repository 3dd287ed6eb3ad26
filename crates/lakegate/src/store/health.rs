//! What the admins' health view reads: refresh outcomes per org and hour (written by every
//! replica as it refreshes), and the org's active credentials with their integrations'
//! lifetimes for upcoming re-consents.

use sqlx::FromRow;

use super::connections::{credential_columns, select_credentials};
use super::{CredentialRow, Store, StoreResult};

/// How many refreshes of an org ended one way in one hour.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OutcomeCount {
    /// The hour's start (Unix seconds).
    pub hour: i64,
    pub outcome: String,
    pub count: i64,
}

impl Store {
    /// Counts one refresh outcome in the hour of `at`.
    pub async fn count_refresh_outcome(
        &self,
        org_id: &str,
        at: i64,
        outcome: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_outcomes (org_id, hour, outcome, count) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (org_id, hour, outcome) DO UPDATE SET count = refresh_outcomes.count + 1",
        )
        .bind(org_id)
        .bind(at - at.rem_euclid(3600))
        .bind(outcome)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// An org's refresh outcomes from the hour of `since` on, oldest first.
    pub async fn refresh_outcomes_since(
        &self,
        org_id: &str,
        since: i64,
    ) -> StoreResult<Vec<OutcomeCount>> {
        Ok(sqlx::query_as::<_, OutcomeCount>(
            "SELECT hour, outcome, count FROM refresh_outcomes WHERE org_id = $1 AND hour >= $2 \
             ORDER BY hour, outcome",
        )
        .bind(org_id)
        .bind(since - since.rem_euclid(3600))
        .fetch_all(self.pool())
        .await?)
    }

    /// An org's active credentials (at most `limit`), oldest sign-in first.
    pub async fn org_active_credentials(
        &self,
        org_id: &str,
        limit: i64,
    ) -> StoreResult<Vec<CredentialRow>> {
        Ok(sqlx::query_as::<_, CredentialRow>(select_credentials!(
            "WHERE org_id = $1 AND status = 'active' ORDER BY session_started_at LIMIT $2"
        ))
        .bind(org_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
