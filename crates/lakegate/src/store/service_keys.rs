//! Service keys, stored under the SHA-256 of the key.

use sqlx::FromRow;

use super::{Store, StoreResult, classify};

#[derive(Debug, Clone, FromRow)]
pub struct ServiceKeyRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub prefix: String,
    /// Space-separated scope names.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

macro_rules! select_keys {
    ($tail:literal) => {
        concat!(
            "SELECT id, org_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at \
             FROM service_keys ",
            $tail
        )
    };
}

impl Store {
    pub async fn create_service_key(&self, k: &ServiceKeyRow, key_hash: &str) -> StoreResult<()> {
        let _changes = self.changes();
        sqlx::query(
            "INSERT INTO service_keys (id, org_id, name, key_hash, prefix, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&k.id)
        .bind(&k.org_id)
        .bind(&k.name)
        .bind(key_hash)
        .bind(&k.prefix)
        .bind(&k.scopes)
        .bind(k.created_at)
        .bind(k.expires_at)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn service_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ServiceKeyRow>> {
        Ok(
            sqlx::query_as::<_, ServiceKeyRow>(select_keys!("WHERE key_hash = $1"))
                .bind(key_hash)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn list_service_keys(&self, org_id: &str) -> StoreResult<Vec<ServiceKeyRow>> {
        Ok(sqlx::query_as::<_, ServiceKeyRow>(select_keys!(
            "WHERE org_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(org_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes one of the org's live keys and returns it; another org's key, or one already
    /// revoked, is `None`.
    pub async fn revoke_service_key(
        &self,
        org_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<ServiceKeyRow>> {
        let _changes = self.changes();
        Ok(sqlx::query_as::<_, ServiceKeyRow>(
            "UPDATE service_keys SET revoked_at = $1 WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL \
             RETURNING id, org_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at",
        )
        .bind(now)
        .bind(org_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Stamps a use of the row `id` (found under `hash`), in the memo too.
    pub async fn touch_service_key(&self, hash: &str, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE service_keys SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        let key = hash.to_owned();
        self.memos
            .service_keys
            .update(&key, |r| r.last_used_at = Some(now));
        Ok(())
    }
}
