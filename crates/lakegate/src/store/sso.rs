//! An org's OpenID Connect provider, and the SSO sign-ins in flight.

use sqlx::FromRow;

use super::{Store, StoreResult, classify};

#[derive(Debug, Clone, FromRow)]
pub struct SsoRow {
    pub org_id: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret_enc: Vec<u8>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Space-separated, lower-case email domains; empty allows any.
    pub allowed_domains: String,
    pub default_role: String,
    /// 1 while people may also sign in with a password. An integer: `Any` has no bool.
    pub password_sign_in: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

#[derive(Debug, Clone, FromRow)]
pub struct SsoFlowRow {
    pub state_hash: String,
    pub browser_hash: String,
    pub org_id: String,
    pub nonce_hash: String,
    pub verifier_enc: Vec<u8>,
    pub next_path: String,
    pub expires_at: i64,
}

impl Store {
    pub async fn sso(&self, org_id: &str) -> StoreResult<Option<SsoRow>> {
        Ok(sqlx::query_as::<_, SsoRow>(
            "SELECT org_id, issuer, client_id, client_secret_enc, authorization_endpoint, token_endpoint, jwks_uri, \
             allowed_domains, default_role, password_sign_in, updated_at, updated_by FROM org_sso WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Creates or replaces the org's provider.
    pub async fn put_sso(&self, r: &SsoRow) -> StoreResult<()> {
        let _changes = self.changes();
        sqlx::query(
            "INSERT INTO org_sso (org_id, issuer, client_id, client_secret_enc, authorization_endpoint, token_endpoint, \
               jwks_uri, allowed_domains, default_role, password_sign_in, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (org_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id, \
               client_secret_enc = excluded.client_secret_enc, authorization_endpoint = excluded.authorization_endpoint, \
               token_endpoint = excluded.token_endpoint, jwks_uri = excluded.jwks_uri, \
               allowed_domains = excluded.allowed_domains, default_role = excluded.default_role, \
               password_sign_in = excluded.password_sign_in, updated_at = excluded.updated_at, \
               updated_by = excluded.updated_by",
        )
        .bind(&r.org_id)
        .bind(&r.issuer)
        .bind(&r.client_id)
        .bind(&r.client_secret_enc)
        .bind(&r.authorization_endpoint)
        .bind(&r.token_endpoint)
        .bind(&r.jwks_uri)
        .bind(&r.allowed_domains)
        .bind(&r.default_role)
        .bind(r.password_sign_in)
        .bind(r.updated_at)
        .bind(&r.updated_by)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn delete_sso(&self, org_id: &str) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query("DELETE FROM org_sso WHERE org_id = $1")
            .bind(org_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn create_sso_flow(&self, f: &SsoFlowRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sso_flows (state_hash, browser_hash, org_id, nonce_hash, verifier_enc, next_path, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&f.state_hash)
        .bind(&f.browser_hash)
        .bind(&f.org_id)
        .bind(&f.nonce_hash)
        .bind(&f.verifier_enc)
        .bind(&f.next_path)
        .bind(f.expires_at)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// Consumes an SSO sign-in by its state: at most one callback ever gets it.
    pub async fn take_sso_flow(&self, state_hash: &str) -> StoreResult<Option<SsoFlowRow>> {
        Ok(sqlx::query_as::<_, SsoFlowRow>(
            "DELETE FROM sso_flows WHERE state_hash = $1 RETURNING state_hash, browser_hash, org_id, nonce_hash, \
             verifier_enc, next_path, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await?)
    }
}
