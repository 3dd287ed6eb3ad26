//! PostgreSQL specifics: its migrations (and, later, row locks for token refresh).

use sqlx::AnyPool;

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub(super) async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    super::pool_options().connect(url).await
}
