//! Integrations (one per org and kind).

use sqlx::FromRow;

use super::states::IntegrationStatus;
use super::{Store, StoreResult, classify};

#[derive(Debug, Clone, FromRow)]
pub struct IntegrationRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub host: String,
    pub client_id: String,
    pub client_secret_enc: Vec<u8>,
    pub scopes: String,
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub generation: i64,
    #[sqlx(try_from = "String")]
    pub status: IntegrationStatus,
    pub secret_updated_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub updated_by: String,
    pub refresh_ttl_minutes: i64,
    pub absolute_lifetime_minutes: Option<i64>,
    /// 1 when discovery advertised `authorization_response_iss_parameter_supported`
    /// (RFC 9207): callbacks must then carry `iss`. An integer: `Any` has no portable bool.
    pub issuer_in_response: i64,
    /// The compute new connections start with (BigQuery's default billing project).
    pub default_compute: Option<String>,
    /// The connection this client belongs to (a shared identity's own: M2M, PAT); `None`
    /// for the org's integration of its kind.
    pub connection_id: Option<String>,
    /// What the last save could not verify (shown as a warning); `None`: all checked.
    pub setup_warning: Option<String>,
}

impl IntegrationRow {
    /// Whether every callback must carry `iss` (RFC 9207 §2.4).
    pub fn requires_iss(&self) -> bool {
        self.issuer_in_response != 0
    }
}

macro_rules! select_integrations {
    ($tail:literal) => {
        concat!(
            "SELECT id, org_id, kind, host, client_id, client_secret_enc, scopes, issuer, authorization_endpoint, \
             token_endpoint, generation, status, secret_updated_at, created_at, updated_at, updated_by, refresh_ttl_minutes, \
             absolute_lifetime_minutes, issuer_in_response, default_compute, connection_id, setup_warning FROM integrations ",
            $tail
        )
    };
}

/// An insert of every column, in `bind_row`'s order, followed by `$tail`.
macro_rules! insert_integration {
    ($tail:literal) => {
        concat!(
            "INSERT INTO integrations (id, org_id, kind, host, client_id, client_secret_enc, scopes, issuer, \
               authorization_endpoint, token_endpoint, generation, status, secret_updated_at, created_at, updated_at, \
               updated_by, refresh_ttl_minutes, absolute_lifetime_minutes, issuer_in_response, default_compute, \
               setup_warning, connection_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22) ",
            $tail
        )
    };
}
pub(super) use insert_integration;

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds every column of `r` for [`insert_integration!`].
pub(super) fn bind_row<'q>(q: AnyQuery<'q>, r: &'q IntegrationRow) -> AnyQuery<'q> {
    q.bind(&r.id)
        .bind(&r.org_id)
        .bind(&r.kind)
        .bind(&r.host)
        .bind(&r.client_id)
        .bind(&r.client_secret_enc)
        .bind(&r.scopes)
        .bind(&r.issuer)
        .bind(&r.authorization_endpoint)
        .bind(&r.token_endpoint)
        .bind(r.generation)
        .bind(r.status.as_str())
        .bind(r.secret_updated_at)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(&r.updated_by)
        .bind(r.refresh_ttl_minutes)
        .bind(r.absolute_lifetime_minutes)
        .bind(r.issuer_in_response)
        .bind(&r.default_compute)
        .bind(&r.setup_warning)
        .bind(&r.connection_id)
}

impl Store {
    /// The org's shared identities: clients that belong to one connection (M2M, PAT).
    pub async fn connection_clients(&self, org_id: &str) -> StoreResult<Vec<IntegrationRow>> {
        Ok(sqlx::query_as::<_, IntegrationRow>(select_integrations!(
            "WHERE org_id = $1 AND connection_id IS NOT NULL ORDER BY created_at, id"
        ))
        .bind(org_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn integration(
        &self,
        org_id: &str,
        kind: &str,
    ) -> StoreResult<Option<IntegrationRow>> {
        Ok(sqlx::query_as::<_, IntegrationRow>(select_integrations!(
            "WHERE org_id = $1 AND kind = $2 AND connection_id IS NULL"
        ))
        .bind(org_id)
        .bind(kind)
        .fetch_optional(self.pool())
        .await?)
    }

    /// An org's integration by id (the one a credential was issued under).
    pub async fn integration_by_id(
        &self,
        org_id: &str,
        id: &str,
    ) -> StoreResult<Option<IntegrationRow>> {
        Ok(sqlx::query_as::<_, IntegrationRow>(select_integrations!(
            "WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Inserts or replaces the org's integration of this kind.
    pub async fn save_integration(&self, r: &IntegrationRow) -> StoreResult<()> {
        let _changes = self.changes();
        bind_row(
            sqlx::query(insert_integration!(
                "ON CONFLICT (org_id, kind) WHERE connection_id IS NULL DO UPDATE SET host = excluded.host, \
                   client_id = excluded.client_id, client_secret_enc = excluded.client_secret_enc, scopes = excluded.scopes, \
                   issuer = excluded.issuer, authorization_endpoint = excluded.authorization_endpoint, \
                   token_endpoint = excluded.token_endpoint, generation = excluded.generation, status = excluded.status, \
                   secret_updated_at = excluded.secret_updated_at, updated_at = excluded.updated_at, \
                   updated_by = excluded.updated_by, refresh_ttl_minutes = excluded.refresh_ttl_minutes, \
                   absolute_lifetime_minutes = excluded.absolute_lifetime_minutes, \
                   issuer_in_response = excluded.issuer_in_response, default_compute = excluded.default_compute, \
                   setup_warning = excluded.setup_warning"
            )),
            r,
        )
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// False when there was none.
    pub async fn delete_integration(&self, org_id: &str, kind: &str) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query(
            "DELETE FROM integrations WHERE org_id = $1 AND kind = $2 AND connection_id IS NULL",
        )
        .bind(org_id)
        .bind(kind)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
