//! Copies of an embedded SQLite store: a consistent copy while it serves (`VACUUM INTO`
//! reads one snapshot), and the checks a restore makes first. PostgreSQL has its own tools
//! (`pg_dump`, `pg_restore`; docs/OPERATIONS.md).

use std::path::Path;

use super::{Backend, Store, StoreResult};

impl Store {
    /// Writes a consistent copy of this SQLite store to `path` (which must not exist),
    /// while other connections go on reading and writing.
    pub async fn backup_into(&self, path: &Path) -> StoreResult<()> {
        debug_assert_eq!(self.backend(), Backend::Sqlite);
        sqlx::query("VACUUM INTO $1")
            .bind(path.to_string_lossy().into_owned())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// SQLite's own check of every page and index: `true` when it says `ok`.
    pub async fn integrity_ok(&self) -> StoreResult<bool> {
        let (verdict,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(self.pool())
            .await?;
        Ok(verdict == "ok")
    }

    /// The migrations this store has applied (none: not a Lakegate store).
    pub async fn applied_migrations(&self) -> StoreResult<i64> {
        let table: Option<(String,)> = sqlx::query_as(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_optional(self.pool())
        .await?;
        if table.is_none() {
            return Ok(0);
        }
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_one(self.pool())
                .await?;
        Ok(n)
    }
}
