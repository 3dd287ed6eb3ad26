//! What an org's admins set for the org as a whole: the origins connect sessions may return to.

use super::{Store, StoreResult};

impl Store {
    /// The exact origins (`https://app.example.com`) a connect session may send a browser
    /// back to; empty when none are allowed.
    pub async fn return_origins(&self, org_id: &str) -> StoreResult<Vec<String>> {
        let stored: Option<String> =
            sqlx::query_scalar("SELECT allowed_return_origins FROM orgs WHERE id = $1")
                .bind(org_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(stored
            .unwrap_or_default()
            .split(' ')
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// Replaces the allow-list (origins never contain spaces: they are checked before).
    pub async fn set_return_origins(&self, org_id: &str, origins: &[String]) -> StoreResult<bool> {
        let _changes = self.changes();
        let done = sqlx::query("UPDATE orgs SET allowed_return_origins = $1 WHERE id = $2")
            .bind(origins.join(" "))
            .bind(org_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
