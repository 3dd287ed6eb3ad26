//! Connections, credentials, sign-in tickets and OAuth flows.

use sqlx::FromRow;
use sqlx::any::AnyRow;

use super::states::CredentialState;
use super::{Store, StoreResult, classify};

#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub org_id: String,
    pub owner_id: String,
    pub name: String,
    pub provider: String,
    pub auth: String,
    pub integration_id: String,
    pub host: String,
    pub warehouse_id: Option<String>,
    pub catalog: Option<String>,
    pub schema_name: Option<String>,
    /// The session role it signs in with (Snowflake); `None`: the integration's default.
    pub role: Option<String>,
    /// Where its queries are processed (BigQuery's job location); `None`: the warehouse decides.
    pub location: Option<String>,
    pub shared: bool,
    /// Whether a shared identity's tokens may be vended (an administrator's choice).
    pub token_vending: bool,
    /// The shared identity `allow_fallback` requests may run as (an M2M connection of
    /// the same workspace).
    pub fallback_connection_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// By hand for the flags: `Any` carries it as an integer on both backends.
impl<'r> FromRow<'r, AnyRow> for ConnectionRow {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(ConnectionRow {
            id: row.try_get("id")?,
            org_id: row.try_get("org_id")?,
            owner_id: row.try_get("owner_id")?,
            name: row.try_get("name")?,
            provider: row.try_get("provider")?,
            auth: row.try_get("auth")?,
            integration_id: row.try_get("integration_id")?,
            host: row.try_get("host")?,
            warehouse_id: row.try_get("warehouse_id")?,
            catalog: row.try_get("catalog")?,
            schema_name: row.try_get("schema_name")?,
            role: row.try_get("role")?,
            location: row.try_get("location")?,
            shared: row.try_get::<i64, _>("shared")? != 0,
            token_vending: row.try_get::<i64, _>("token_vending")? != 0,
            fallback_connection_id: row.try_get("fallback_connection_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct CredentialRow {
    pub id: String,
    pub connection_id: String,
    pub user_id: String,
    pub org_id: String,
    pub integration_id: String,
    pub integration_generation: i64,
    pub host: String,
    pub access_token_enc: Vec<u8>,
    pub refresh_token_enc: Vec<u8>,
    pub scopes: String,
    pub databricks_user_id: String,
    pub databricks_user_name: String,
    pub access_expires_at: i64,
    pub refresh_issued_at: i64,
    #[sqlx(try_from = "String")]
    pub status: CredentialState,
    pub status_reason: Option<String>,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub lease_until: Option<i64>,
    pub session_started_at: i64,
    pub last_used_at: Option<i64>,
    pub last_refresh_at: Option<i64>,
    pub warned_at: Option<i64>,
    /// Consecutive transient refresh failures, and when to try again.
    pub failures: i64,
    pub next_attempt_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct TicketRow {
    pub ticket_hash: String,
    pub user_id: String,
    pub connection_id: String,
    pub return_path: String,
    /// A connect session's platform URL (allowed origin), where the browser ends instead.
    pub return_url: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct FlowRow {
    pub state_hash: String,
    pub browser_hash: String,
    pub user_id: String,
    pub org_id: String,
    pub connection_id: String,
    pub integration_id: String,
    pub integration_generation: i64,
    pub issuer: String,
    pub token_endpoint: String,
    pub verifier_enc: Vec<u8>,
    pub return_path: String,
    pub return_url: Option<String>,
    pub expires_at: i64,
    pub created_at: i64,
}

macro_rules! select_connections {
    ($tail:literal) => {
        concat!(
            "SELECT id, org_id, owner_id, name, provider, auth, integration_id, host, warehouse_id, catalog, schema_name, \
             role, location, shared, token_vending, fallback_connection_id, created_at, updated_at FROM connections ",
            $tail
        )
    };
}

/// The credential columns, for `SELECT` and `RETURNING` alike.
macro_rules! credential_columns {
    () => {
        "id, connection_id, user_id, org_id, integration_id, integration_generation, host, access_token_enc, \
         refresh_token_enc, scopes, databricks_user_id, databricks_user_name, access_expires_at, refresh_issued_at, \
         status, status_reason, version, created_at, updated_at, lease_until, session_started_at, last_used_at, \
         last_refresh_at, warned_at, failures, next_attempt_at"
    };
}
pub(crate) use credential_columns;

macro_rules! select_credentials {
    ($tail:literal) => {
        concat!(
            "SELECT ",
            credential_columns!(),
            " FROM credentials ",
            $tail
        )
    };
}
pub(crate) use select_credentials;

impl Store {
    pub async fn create_connection(&self, c: &ConnectionRow) -> StoreResult<()> {
        let _changes = self.changes();
        insert_connection(self.pool(), c).await
    }

    /// A connection of `org_id`; other orgs' connections are `None`.
    pub async fn connection(&self, org_id: &str, id: &str) -> StoreResult<Option<ConnectionRow>> {
        Ok(
            sqlx::query_as::<_, ConnectionRow>(select_connections!(
                "WHERE org_id = $1 AND id = $2"
            ))
            .bind(org_id)
            .bind(id)
            .fetch_optional(self.pool())
            .await?,
        )
    }

    /// Connections `user_id` may see: their own and those shared with the org.
    pub async fn visible_connections(
        &self,
        org_id: &str,
        user_id: &str,
    ) -> StoreResult<Vec<ConnectionRow>> {
        Ok(sqlx::query_as::<_, ConnectionRow>(select_connections!(
            "WHERE org_id = $1 AND (owner_id = $2 OR shared = 1) ORDER BY name, id"
        ))
        .bind(org_id)
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Every connection of an org (its admins' views: names in the activity log).
    pub async fn org_connections(&self, org_id: &str) -> StoreResult<Vec<ConnectionRow>> {
        Ok(sqlx::query_as::<_, ConnectionRow>(select_connections!(
            "WHERE org_id = $1 ORDER BY name, id"
        ))
        .bind(org_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// False when no such connection exists (any more).
    pub async fn update_connection(&self, c: &ConnectionRow) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query(
            "UPDATE connections SET name = $1, warehouse_id = $2, catalog = $3, schema_name = $4, shared = $5, updated_at = $6, \
             role = $7, location = $8, token_vending = $9, fallback_connection_id = $10 WHERE org_id = $11 AND id = $12",
        )
        .bind(&c.name)
        .bind(&c.warehouse_id)
        .bind(&c.catalog)
        .bind(&c.schema_name)
        .bind(i64::from(c.shared))
        .bind(c.updated_at)
        .bind(&c.role)
        .bind(&c.location)
        .bind(i64::from(c.token_vending))
        .bind(&c.fallback_connection_id)
        .bind(&c.org_id)
        .bind(&c.id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a connection with every credential, ticket and flow under it; false when
    /// there was none.
    pub async fn delete_connection(&self, org_id: &str, id: &str) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query("DELETE FROM connections WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn credential(
        &self,
        connection_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<CredentialRow>> {
        Ok(sqlx::query_as::<_, CredentialRow>(select_credentials!(
            "WHERE connection_id = $1 AND user_id = $2"
        ))
        .bind(connection_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// A user's credentials under one integration (on any of its connections).
    pub async fn credentials_of_user(
        &self,
        user_id: &str,
        integration_id: &str,
    ) -> StoreResult<Vec<CredentialRow>> {
        Ok(sqlx::query_as::<_, CredentialRow>(select_credentials!(
            "WHERE user_id = $1 AND integration_id = $2 ORDER BY id"
        ))
        .bind(user_id)
        .bind(integration_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Stores a user's credential for a connection, replacing any previous one in one
    /// statement (a reconnect never leaves the user with half of each).
    pub async fn put_credential(&self, c: &CredentialRow) -> StoreResult<()> {
        let _changes = self.changes();
        upsert_credential(self.pool(), c).await
    }

    pub async fn delete_credential(&self, connection_id: &str, user_id: &str) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query("DELETE FROM credentials WHERE connection_id = $1 AND user_id = $2")
            .bind(connection_id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes every credential of a user (disabled or deleted users).
    pub async fn delete_user_credentials(&self, user_id: &str) -> StoreResult<u64> {
        let _changes = self.changes();
        let done = sqlx::query("DELETE FROM credentials WHERE user_id = $1")
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Removes every credential issued under an org's integration (it was deleted).
    pub async fn delete_integration_credentials(
        &self,
        org_id: &str,
        integration_id: &str,
    ) -> StoreResult<u64> {
        let _changes = self.changes();
        let done = sqlx::query("DELETE FROM credentials WHERE org_id = $1 AND integration_id = $2")
            .bind(org_id)
            .bind(integration_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn create_ticket(&self, t: &TicketRow) -> StoreResult<()> {
        sqlx::query("INSERT INTO sign_in_tickets (ticket_hash, user_id, connection_id, return_path, return_url, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&t.ticket_hash)
            .bind(&t.user_id)
            .bind(&t.connection_id)
            .bind(&t.return_path)
            .bind(&t.return_url)
            .bind(t.expires_at)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(())
    }

    /// Consumes a ticket: at most one caller ever gets it back.
    pub async fn take_ticket(&self, ticket_hash: &str) -> StoreResult<Option<TicketRow>> {
        Ok(sqlx::query_as::<_, TicketRow>(
            "DELETE FROM sign_in_tickets WHERE ticket_hash = $1 RETURNING ticket_hash, user_id, connection_id, return_path, return_url, expires_at",
        )
        .bind(ticket_hash)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn create_flow(&self, f: &FlowRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_flows (state_hash, browser_hash, user_id, org_id, connection_id, integration_id, \
               integration_generation, issuer, token_endpoint, verifier_enc, return_path, return_url, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&f.state_hash)
        .bind(&f.browser_hash)
        .bind(&f.user_id)
        .bind(&f.org_id)
        .bind(&f.connection_id)
        .bind(&f.integration_id)
        .bind(f.integration_generation)
        .bind(&f.issuer)
        .bind(&f.token_endpoint)
        .bind(&f.verifier_enc)
        .bind(&f.return_path)
        .bind(&f.return_url)
        .bind(f.expires_at)
        .bind(f.created_at)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Consumes a flow by its state: single use, whichever replica gets the callback.
    pub async fn take_flow(&self, state_hash: &str) -> StoreResult<Option<FlowRow>> {
        Ok(sqlx::query_as::<_, FlowRow>(
            "DELETE FROM oauth_flows WHERE state_hash = $1 RETURNING state_hash, browser_hash, user_id, org_id, connection_id, \
             integration_id, integration_generation, issuer, token_endpoint, verifier_enc, return_path, return_url, expires_at, created_at",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Drops expired tickets, flows and SSO sign-ins.
    pub async fn delete_stale_flows(&self, now: i64) -> StoreResult<()> {
        sqlx::query("DELETE FROM oauth_flows WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM sign_in_tickets WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query("DELETE FROM sso_flows WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// The insert of [`Store::create_connection`], on any executor (a transaction's too).
pub(super) async fn insert_connection<'e, E>(e: E, c: &ConnectionRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO connections (id, org_id, owner_id, name, provider, auth, integration_id, host, warehouse_id, catalog, \
           schema_name, role, location, shared, created_at, updated_at, token_vending, fallback_connection_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&c.id)
    .bind(&c.org_id)
    .bind(&c.owner_id)
    .bind(&c.name)
    .bind(&c.provider)
    .bind(&c.auth)
    .bind(&c.integration_id)
    .bind(&c.host)
    .bind(&c.warehouse_id)
    .bind(&c.catalog)
    .bind(&c.schema_name)
    .bind(&c.role)
    .bind(&c.location)
    .bind(i64::from(c.shared))
    .bind(c.created_at)
    .bind(c.updated_at)
    .bind(i64::from(c.token_vending))
    .bind(&c.fallback_connection_id)
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

/// The upsert of [`Store::put_credential`], on any executor (a transaction's too).
pub(super) async fn upsert_credential<'e, E>(e: E, c: &CredentialRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO credentials (id, connection_id, user_id, org_id, integration_id, integration_generation, host, \
           access_token_enc, refresh_token_enc, scopes, databricks_user_id, databricks_user_name, access_expires_at, \
           refresh_issued_at, status, status_reason, version, created_at, updated_at, session_started_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $19) \
         ON CONFLICT (connection_id, user_id) DO UPDATE SET id = excluded.id, integration_id = excluded.integration_id, \
           integration_generation = excluded.integration_generation, host = excluded.host, \
           access_token_enc = excluded.access_token_enc, refresh_token_enc = excluded.refresh_token_enc, \
           scopes = excluded.scopes, databricks_user_id = excluded.databricks_user_id, \
           databricks_user_name = excluded.databricks_user_name, access_expires_at = excluded.access_expires_at, \
           refresh_issued_at = excluded.refresh_issued_at, status = excluded.status, status_reason = excluded.status_reason, \
           version = credentials.version + 1, updated_at = excluded.updated_at, lease_owner = NULL, \
           lease_until = NULL, failures = 0, next_attempt_at = NULL, session_started_at = excluded.session_started_at, \
           last_used_at = excluded.last_used_at, last_refresh_at = NULL, warned_at = NULL",
    )
    .bind(&c.id)
    .bind(&c.connection_id)
    .bind(&c.user_id)
    .bind(&c.org_id)
    .bind(&c.integration_id)
    .bind(c.integration_generation)
    .bind(&c.host)
    .bind(&c.access_token_enc)
    .bind(&c.refresh_token_enc)
    .bind(&c.scopes)
    .bind(&c.databricks_user_id)
    .bind(&c.databricks_user_name)
    .bind(c.access_expires_at)
    .bind(c.refresh_issued_at)
    .bind(c.status.as_str())
    .bind(&c.status_reason)
    .bind(c.version)
    .bind(c.created_at)
    .bind(c.updated_at)
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}
