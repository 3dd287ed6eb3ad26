//! Personal API tokens, stored under the SHA-256 of the token.

use sqlx::FromRow;

use super::{Store, StoreResult, classify};

#[derive(Debug, Clone, FromRow)]
pub struct ApiTokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    /// Space-separated scope names.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

pub struct NewApiToken<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub prefix: &'a str,
    pub scopes: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

macro_rules! select_tokens {
    ($tail:literal) => {
        concat!(
            "SELECT id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at \
             FROM api_tokens ",
            $tail
        )
    };
}

impl Store {
    pub async fn create_api_token(&self, t: NewApiToken<'_>) -> StoreResult<()> {
        let _changes = self.changes();
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(t.id)
        .bind(t.user_id)
        .bind(t.name)
        .bind(t.token_hash)
        .bind(t.prefix)
        .bind(t.scopes)
        .bind(t.now)
        .bind(t.expires_at)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    pub async fn api_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<ApiTokenRow>> {
        Ok(
            sqlx::query_as::<_, ApiTokenRow>(select_tokens!("WHERE token_hash = $1"))
                .bind(token_hash)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    pub async fn list_api_tokens(&self, user_id: &str) -> StoreResult<Vec<ApiTokenRow>> {
        Ok(sqlx::query_as::<_, ApiTokenRow>(select_tokens!(
            "WHERE user_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes one of `user_id`'s live tokens and returns it; another user's token, or one
    /// already revoked, is `None`.
    pub async fn revoke_api_token(
        &self,
        user_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<ApiTokenRow>> {
        let _changes = self.changes();
        Ok(sqlx::query_as::<_, ApiTokenRow>(
            "UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND id = $3 AND revoked_at IS NULL \
             RETURNING id, user_id, name, prefix, scopes, created_at, expires_at, last_used_at, revoked_at",
        )
        .bind(now)
        .bind(user_id)
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Stamps a use of the row `id` (found under `hash`), in the memo too.
    pub async fn touch_api_token(&self, hash: &str, id: &str, now: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        let key = hash.to_owned();
        self.memos
            .api_tokens
            .update(&key, |r| r.last_used_at = Some(now));
        Ok(())
    }
}
