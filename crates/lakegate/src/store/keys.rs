//! Org data keys, stored wrapped by the master key.

use sqlx::FromRow;

use super::{Store, StoreResult, classify};

#[derive(Debug, Clone, FromRow)]
pub struct DataKeyRow {
    pub key_id: String,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
}

impl Store {
    /// The org's newest data key.
    pub async fn current_data_key(&self, org_id: &str) -> StoreResult<Option<DataKeyRow>> {
        Ok(sqlx::query_as::<_, DataKeyRow>(
            "SELECT key_id, kek_id, wrapped FROM org_data_keys WHERE org_id = $1 ORDER BY created_at DESC, key_id DESC LIMIT 1",
        )
        .bind(org_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn data_key(&self, org_id: &str, key_id: &str) -> StoreResult<Option<DataKeyRow>> {
        Ok(sqlx::query_as::<_, DataKeyRow>(
            "SELECT key_id, kek_id, wrapped FROM org_data_keys WHERE org_id = $1 AND key_id = $2",
        )
        .bind(org_id)
        .bind(key_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Every data key of an org, oldest first.
    pub async fn data_keys(&self, org_id: &str) -> StoreResult<Vec<DataKeyRow>> {
        Ok(sqlx::query_as::<_, DataKeyRow>(
            "SELECT key_id, kek_id, wrapped FROM org_data_keys WHERE org_id = $1 ORDER BY created_at, key_id",
        )
        .bind(org_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Stores a new data key unless the org already has one (first writer wins).
    pub async fn insert_data_key(
        &self,
        org_id: &str,
        key_id: &str,
        kek_id: &str,
        wrapped: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        const FIRST: &str = "INSERT INTO org_data_keys (org_id, key_id, kek_id, wrapped, created_at) \
             SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM org_data_keys WHERE org_id = $1)";
        self.insert_key(FIRST, (org_id, key_id, kek_id), wrapped, now)
            .await
    }

    /// Runs one of the inserts above with its five parameters.
    async fn insert_key(
        &self,
        sql: &'static str,
        (org_id, key_id, kek_id): (&str, &str, &str),
        wrapped: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(sql)
            .bind(org_id)
            .bind(key_id)
            .bind(kek_id)
            .bind(wrapped)
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// A data key with its org, for work across every org.
#[derive(Debug, Clone, FromRow)]
pub struct OrgDataKeyRow {
    pub org_id: String,
    pub key_id: String,
    pub kek_id: String,
    pub wrapped: Vec<u8>,
}

impl Store {
    /// Makes a new data key the org's current one (its id sorts after every earlier one).
    pub async fn add_data_key(
        &self,
        org_id: &str,
        key_id: &str,
        kek_id: &str,
        wrapped: &[u8],
        now: i64,
    ) -> StoreResult<()> {
        // Never older than the org's newest key, whatever this replica's clock says.
        const NEXT: &str = "INSERT INTO org_data_keys (org_id, key_id, kek_id, wrapped, created_at) \
             SELECT $1, $2, $3, $4, CASE WHEN latest.at > $5 THEN latest.at ELSE $5 END \
             FROM (SELECT COALESCE(MAX(created_at), $5) AS at FROM org_data_keys WHERE org_id = $1) AS latest";
        self.insert_key(NEXT, (org_id, key_id, kek_id), wrapped, now)
            .await
    }

    /// Every org's data keys.
    pub async fn all_data_keys(&self) -> StoreResult<Vec<OrgDataKeyRow>> {
        Ok(sqlx::query_as::<_, OrgDataKeyRow>(
            "SELECT org_id, key_id, kek_id, wrapped FROM org_data_keys ORDER BY org_id, created_at, key_id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Replaces a data key's wrapping if it is still wrapped by `old_kek_id`; false when
    /// another rotation got there first.
    pub async fn rewrap_data_key(
        &self,
        row: &OrgDataKeyRow,
        new_kek_id: &str,
        wrapped: &[u8],
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE org_data_keys SET kek_id = $1, wrapped = $2 \
             WHERE org_id = $3 AND key_id = $4 AND kek_id = $5",
        )
        .bind(new_kek_id)
        .bind(wrapped)
        .bind(&row.org_id)
        .bind(&row.key_id)
        .bind(&row.kek_id)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }
}
