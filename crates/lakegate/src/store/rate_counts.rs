//! Counts behind the limits replicas share (`auth::limits`): per key and fixed window.

use super::{Store, StoreResult};

impl Store {
    /// Adds `by` to the count of `key` in the window starting at `window_start`; the total.
    pub async fn add_rate_count(&self, key: &str, window_start: i64, by: i64) -> StoreResult<i64> {
        let (count,): (i64,) = sqlx::query_as(
            "INSERT INTO rate_counts (key, window_start, count) VALUES ($1, $2, $3) \
             ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counts.count + $3 \
             RETURNING count",
        )
        .bind(key)
        .bind(window_start)
        .bind(by)
        .fetch_one(self.pool())
        .await?;
        Ok(count)
    }

    /// The count of `key` in the window starting at `window_start` (0 when none).
    pub async fn rate_count(&self, key: &str, window_start: i64) -> StoreResult<i64> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT count FROM rate_counts WHERE key = $1 AND window_start = $2")
                .bind(key)
                .bind(window_start)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map_or(0, |(n,)| n))
    }

    /// Forgets every count of `key` (a successful login clears its failures).
    pub async fn clear_rate_counts(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM rate_counts WHERE key = $1")
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Drops windows that started before `before` (the session sweep calls it).
    pub async fn delete_stale_rate_counts(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM rate_counts WHERE window_start < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
