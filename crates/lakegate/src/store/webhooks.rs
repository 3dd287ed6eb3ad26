//! Webhook endpoints and the outbox of their deliveries.

use sqlx::FromRow;

use super::{NewAuditEvent, Store, StoreResult, classify};

#[derive(Debug, Clone, FromRow)]
pub struct WebhookEndpointRow {
    pub id: String,
    pub org_id: String,
    pub url: String,
    /// Stored as `,a,b,` (`webhooks::events_of` reads it).
    pub events: String,
    pub secret_enc: Vec<u8>,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret_enc: Option<Vec<u8>>,
    pub previous_secret_until: Option<i64>,
    pub enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct WebhookDeliveryRow {
    pub message_id: String,
    pub endpoint_id: String,
    pub org_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// What an audit event announces to the org's subscribed endpoints.
#[derive(Debug, Clone)]
pub struct Announcement {
    pub message_id: String,
    pub event_type: &'static str,
    pub payload: String,
}

/// The end of one delivery attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub status: &'a str,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<&'a str>,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "message_id, endpoint_id, org_id, event_type, payload, created_at, status, attempts, \
     next_attempt_at, last_status, last_error, delivered_at";

impl Store {
    /// Appends an audit event and, in the same transaction, one delivery of `announce` to
    /// every enabled endpoint of the org subscribed to its type: the outbox.
    pub async fn append_audit_announcing(
        &self,
        e: &NewAuditEvent,
        announce: &Announcement,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        self.insert_audit(&mut *tx, e).await?;
        sqlx::query(
            "INSERT INTO webhook_deliveries (message_id, endpoint_id, org_id, event_type, payload, created_at, \
               status, attempts, next_attempt_at) \
             SELECT $1, id, org_id, $2, $3, $4, 'pending', 0, $4 FROM webhook_endpoints \
             WHERE org_id = $5 AND enabled = 1 AND events LIKE $6",
        )
        .bind(&announce.message_id)
        .bind(announce.event_type)
        .bind(&announce.payload)
        .bind(e.at)
        .bind(&e.org_id)
        .bind(format!("%,{},%", announce.event_type))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_webhook_endpoint(&self, r: &WebhookEndpointRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, org_id, url, events, secret_enc, enabled, created_at, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&r.id)
        .bind(&r.org_id)
        .bind(&r.url)
        .bind(&r.events)
        .bind(&r.secret_enc)
        .bind(r.enabled)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(&r.updated_by)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn webhook_endpoints(&self, org_id: &str) -> StoreResult<Vec<WebhookEndpointRow>> {
        Ok(sqlx::query_as::<_, WebhookEndpointRow>(
            "SELECT * FROM webhook_endpoints WHERE org_id = $1 ORDER BY created_at, id",
        )
        .bind(org_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn webhook_endpoint(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpointRow>> {
        Ok(sqlx::query_as::<_, WebhookEndpointRow>(
            "SELECT * FROM webhook_endpoints WHERE org_id = $1 AND id = $2",
        )
        .bind(org_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Replaces an endpoint's URL, events and enabled flag; false if it does not exist.
    pub async fn update_webhook_endpoint(&self, r: &WebhookEndpointRow) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET url = $1, events = $2, enabled = $3, updated_at = $4, updated_by = $5 \
             WHERE org_id = $6 AND id = $7",
        )
        .bind(&r.url)
        .bind(&r.events)
        .bind(r.enabled)
        .bind(r.updated_at)
        .bind(&r.updated_by)
        .bind(&r.org_id)
        .bind(&r.id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces an endpoint's secret if it is still the one read, keeping the old one (sealed
    /// again for its own column) until `until`; false if another change came first.
    pub async fn rotate_webhook_secret(
        &self,
        r: &WebhookEndpointRow,
        secret_enc: &[u8],
        previous_enc: &[u8],
        until: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_endpoints SET secret_enc = $1, previous_secret_enc = $2, previous_secret_until = $3, \
               updated_at = $4, updated_by = $5 WHERE org_id = $6 AND id = $7 AND secret_enc = $8",
        )
        .bind(secret_enc)
        .bind(previous_enc)
        .bind(until)
        .bind(r.updated_at)
        .bind(&r.updated_by)
        .bind(&r.org_id)
        .bind(&r.id)
        .bind(&r.secret_enc)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes an endpoint and its deliveries; false if it did not exist.
    pub async fn delete_webhook_endpoint(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deliveries due at `now` that no live lease holds, to enabled endpoints (disabling one
    /// pauses its deliveries), oldest first.
    pub async fn due_webhook_deliveries(
        &self,
        now: i64,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDeliveryRow>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
               AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE enabled = 1) \
             ORDER BY next_attempt_at, message_id LIMIT $2"
        );
        Ok(
            sqlx::query_as::<_, WebhookDeliveryRow>(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Takes the lease on a due delivery for `owner` until `until`; false if another
    /// replica holds it or it is no longer pending.
    pub async fn claim_webhook_delivery(
        &self,
        d: &WebhookDeliveryRow,
        owner: &str,
        now: i64,
        until: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET lease_owner = $1, lease_until = $2 \
             WHERE message_id = $3 AND endpoint_id = $4 AND status = 'pending' AND attempts = $5 \
               AND (lease_until IS NULL OR lease_until < $6)",
        )
        .bind(owner)
        .bind(until)
        .bind(&d.message_id)
        .bind(&d.endpoint_id)
        .bind(d.attempts)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records an attempt's end, fenced by the lease; false if the lease was lost.
    pub async fn finish_webhook_attempt(
        &self,
        d: &WebhookDeliveryRow,
        owner: &str,
        a: &Attempt<'_>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status = $4, \
               last_error = $5, delivered_at = $6, lease_owner = NULL, lease_until = NULL \
             WHERE message_id = $7 AND endpoint_id = $8 AND lease_owner = $9",
        )
        .bind(a.status)
        .bind(a.attempts)
        .bind(a.next_attempt_at)
        .bind(a.last_status)
        .bind(a.last_error)
        .bind(a.delivered_at)
        .bind(&d.message_id)
        .bind(&d.endpoint_id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// An endpoint's deliveries, newest first, optionally of one status.
    pub async fn webhook_deliveries(
        &self,
        org_id: &str,
        endpoint_id: Option<&str>,
        status: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDeliveryRow>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
             WHERE org_id = $1 AND ($2 IS NULL OR endpoint_id = $2) AND ($3 IS NULL OR status = $3) \
             ORDER BY created_at DESC, message_id DESC LIMIT $4"
        );
        Ok(
            sqlx::query_as::<_, WebhookDeliveryRow>(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(endpoint_id)
                .bind(status)
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Sends a finished delivery again (same message id), from the first attempt.
    pub async fn replay_webhook_delivery(
        &self,
        org_id: &str,
        endpoint_id: &str,
        message_id: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, \
               lease_owner = NULL, lease_until = NULL \
             WHERE org_id = $2 AND endpoint_id = $3 AND message_id = $4 AND status <> 'pending'",
        )
        .bind(now)
        .bind(org_id)
        .bind(endpoint_id)
        .bind(message_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets deliveries delivered before `before` (failed ones stay until replayed or
    /// their endpoint is deleted); returns how many.
    pub async fn delete_delivered_webhooks(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status = 'delivered' AND delivered_at < $1",
        )
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// How many of the org's deliveries failed for good (for the health page).
    pub async fn failed_webhook_deliveries(&self, org_id: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE org_id = $1 AND status = 'failed'",
        )
        .bind(org_id)
        .fetch_one(self.pool())
        .await?)
    }
}
