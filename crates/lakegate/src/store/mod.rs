//! The store: one interface over SQLite (embedded default) and PostgreSQL (several replicas).
//!
//! Queries go through `sqlx::Any` with runtime SQL written once in portable form (`$N`
//! placeholders, `RETURNING`, `ON CONFLICT`); what differs per backend — connection setup,
//! migrations, locking — lives in `sqlite.rs` and `postgres.rs`. The contract test suite
//! (`tests/it/store_contract.rs`) runs every method on both.

mod accounts;
mod api_tokens;
mod audit;
mod backup;
mod ciphertexts;
mod connections;
mod health;
mod integration_hosts;
mod integrations;
mod keys;
mod memo;
mod org_settings;
mod postgres;
mod queries;
mod rate_counts;
mod refresh;
mod service_keys;
mod sessions;
mod shared_identities;
mod sqlite;
mod sso;
mod states;
mod webhooks;

pub use accounts::NewUser;
pub use api_tokens::{ApiTokenRow, NewApiToken};
pub use audit::{AuditFilter, AuditRow, NewAuditEvent};
pub use ciphertexts::{PLACES, Place, Sealed};
pub use connections::{ConnectionRow, CredentialRow, FlowRow, TicketRow};
pub use health::OutcomeCount;
pub use integration_hosts::IntegrationHostRow;
pub use integrations::IntegrationRow;
pub use keys::{DataKeyRow, OrgDataKeyRow};
pub use queries::{QueryFilter, QueryOutcome, QueryRow};
pub use refresh::{Refreshed, StateCount, use_stamp_due};
pub use service_keys::ServiceKeyRow;
pub use sessions::SessionRow;
pub use sqlite::file_path as sqlite_path;
pub use sso::{SsoFlowRow, SsoRow};
pub use states::{CredentialState, IntegrationStatus, QueryState, UnknownValue};
pub use webhooks::{Announcement, Attempt, WebhookDeliveryRow, WebhookEndpointRow};

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

/// Which database sits behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the name says which (`users_org_email_key`, …).
    #[error("conflict on {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL: expected sqlite:// or postgres://")]
    UnsupportedUrl,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Maps a unique-constraint violation to `Conflict`. (A missing row is never an error:
/// lookups answer `Option`, changes answer whether a row changed.)
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreError::Conflict(db.constraint().unwrap_or("unique").to_owned())
        }
        _ => StoreError::Database(err),
    }
}

/// The handle every part of Lakegate uses for persistence. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    memos: std::sync::Arc<memo::Memos>,
}

impl Store {
    /// Connects to `database_url` (creating a SQLite file if needed). Does not migrate.
    pub async fn connect(database_url: &str) -> StoreResult<Store> {
        sqlx::any::install_default_drivers();
        let backend = if database_url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
        {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let pool = match backend {
            Backend::Sqlite => sqlite::connect(database_url).await?,
            Backend::Postgres => postgres::connect(database_url).await?,
        };
        Ok(Store {
            pool,
            backend,
            memos: std::sync::Arc::new(memo::Memos::new()),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &sqlite::MIGRATOR,
            Backend::Postgres => &postgres::MIGRATOR,
        }
    }

    /// Applies the embedded migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// True when the database answers and every embedded migration has been applied.
    /// The database server's clock in Unix seconds (`clock_skew` compares ours with it).
    pub async fn clock(&self) -> StoreResult<i64> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT CAST(strftime('%s', 'now') AS INTEGER)",
            Backend::Postgres => {
                "SELECT CAST(FLOOR(EXTRACT(EPOCH FROM clock_timestamp())) AS BIGINT)"
            }
        };
        let (now,): (i64,) = sqlx::query_as(sql).fetch_one(&self.pool).await?;
        Ok(now)
    }

    pub async fn is_ready(&self) -> bool {
        let applied: Result<Vec<(i64,)>, _> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = $1")
                .bind(true)
                .fetch_all(&self.pool)
                .await;
        match applied {
            Ok(rows) => self
                .migrator()
                .iter()
                .all(|m| rows.iter().any(|(v,)| *v == m.version)),
            Err(_) => false,
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Held across a write that can change a memoized row (see `memo.rs`).
    pub(crate) fn changes(&self) -> memo::Changes<'_> {
        self.memos.changes()
    }
}

/// Pool options shared by both backends.
pub(crate) fn pool_options() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(std::time::Duration::from_secs(10))
}

/// Converts a stored 0/1 flag.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}

impl Store {
    /// The underlying pool, for tests that assert on stored rows directly.
    #[doc(hidden)]
    pub fn raw_pool_for_tests(&self) -> AnyPool {
        self.pool.clone()
    }
}
