//! The append-only audit log (triggers refuse UPDATE and DELETE on both backends).

use sqlx::FromRow;

use super::{Store, StoreResult};

#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub org_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    /// JSON object with non-secret details.
    pub details: String,
}

#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub at: i64,
    pub org_id: Option<String>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub client_ip: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
}

/// Filters for reading one org's log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub since: Option<i64>,
    pub action: Option<String>,
    pub actor: Option<String>,
    /// Events a user did or that were done to them (`user:<id>` in the actor label, as in
    /// `user:<id> token:<t>`, or target `<id>`). An id: `%` and `_` would match as wildcards.
    pub user_id: Option<String>,
    /// Events whose target is this (a connection's id, say).
    pub target: Option<String>,
    /// Events older than this id (the next page of a newest-first list).
    pub before: Option<i64>,
    pub limit: i64,
}

impl Store {
    pub async fn append_audit(&self, e: &NewAuditEvent) -> StoreResult<()> {
        self.insert_audit(self.pool(), e).await
    }

    pub(super) async fn insert_audit<'e>(
        &self,
        on: impl sqlx::Executor<'e, Database = sqlx::Any>,
        e: &NewAuditEvent,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, org_id, actor, action, target, outcome, client_ip, request_id, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.at)
        .bind(&e.org_id)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.outcome)
        .bind(&e.client_ip)
        .bind(&e.request_id)
        .bind(&e.details)
        .execute(on)
        .await?;
        Ok(())
    }

    pub async fn list_audit(&self, org_id: &str, f: &AuditFilter) -> StoreResult<Vec<AuditRow>> {
        // Optional filters are bound as NULL-or-value so the SQL stays static.
        Ok(sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, org_id, actor, action, target, outcome, client_ip, request_id, details \
             FROM audit_events \
             WHERE org_id = $1 \
               AND ($2 IS NULL OR at >= $2) \
               AND ($3 IS NULL OR action = $3) \
               AND ($4 IS NULL OR actor = $4) \
               AND ($5 IS NULL OR (' ' || actor || ' ') LIKE ('% user:' || $5 || ' %') OR target = $5) \
               AND ($6 IS NULL OR target = $6) \
               AND ($7 IS NULL OR id < $7) \
             ORDER BY id DESC LIMIT $8",
        )
        .bind(org_id)
        .bind(f.since)
        .bind(&f.action)
        .bind(&f.actor)
        .bind(&f.user_id)
        .bind(&f.target)
        .bind(f.before)
        .bind(f.limit)
        .fetch_all(self.pool())
        .await?)
    }
}
