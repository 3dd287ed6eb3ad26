//! A store of its own for each test: a SQLite file, or a PostgreSQL schema when
//! `LAKEGATE_TEST_DATABASE_URL` is set; and the macros that run a test body on both.

#![allow(dead_code)]

use lakegate::store::{Backend, Store};
use sqlx::Connection;

/// The PostgreSQL server for the PostgreSQL half of the suites, if configured. Under CI
/// (`CI` set) it must be: a PostgreSQL test then fails instead of skipping, so CI's count
/// of PostgreSQL tests that passed is a count of tests that ran.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var("LAKEGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    if url.is_none() && std::env::var("CI").is_ok_and(|v| !v.is_empty()) {
        panic!(
            "CI is set but LAKEGATE_TEST_DATABASE_URL is not: the PostgreSQL half of the suites may not be skipped in CI"
        );
    }
    url
}

tokio::task_local! {
    /// The backend the running test's fixtures use (set by `on_each_backend!`).
    pub static BACKEND: Backend;
}

/// The backend of the running test: the one `on_each_backend!` chose, else SQLite.
pub fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// A store of its own for one test.
pub struct TestDb {
    pub store: Store,
    pub backend: Backend,
    /// The URL the store was opened with, so a replica can open its own pool.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    /// A fresh, empty (unmigrated) store, or `None` when PostgreSQL is asked for but not configured.
    pub async fn empty(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("lakegate.db").display());
                let store = Store::connect(&url).await.unwrap();
                Some(TestDb {
                    store,
                    backend,
                    url,
                    _dir: Some(dir),
                    schema: None,
                })
            }
            Backend::Postgres => {
                let base = postgres_url()?;
                let schema = format!("lgtest_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let sep = if base.contains('?') { '&' } else { '?' };
                let url = format!("{base}{sep}options[search_path]={schema}");
                let store = Store::connect(&url).await.unwrap();
                Some(TestDb {
                    store,
                    backend,
                    url,
                    _dir: None,
                    schema: Some((base, schema)),
                })
            }
        }
    }

    /// A fresh, migrated store.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let db = Self::empty(backend).await?;
        db.store.migrate().await.unwrap();
        Some(db)
    }

    /// A fresh, migrated store on the running test's backend (see `backend()`).
    pub async fn current() -> TestDb {
        Self::new(backend())
            .await
            .expect("on_each_backend! runs PostgreSQL bodies only when a server is configured")
    }

    /// Closes the store and drops its PostgreSQL schema (SQLite files go with the temp dir).
    pub async fn cleanup(mut self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema.take() {
            drop_schema(&base, &schema).await;
        }
    }
}

async fn drop_schema(base: &str, schema: &str) {
    let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// A PostgreSQL schema not cleaned up explicitly (fixtures own their `TestDb`) is dropped
/// here, from a thread of its own because `Drop` cannot await.
impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(drop_schema(&base, &schema));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("could not drop a test schema");
        }
    }
}

/// Runs a store/app test body on one backend; PostgreSQL bodies are skipped (and say so)
/// when no server is configured.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::test_db::TestDb::new(lakegate::store::Backend::Sqlite).await.unwrap();
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::test_db::TestDb::new(lakegate::store::Backend::Postgres).await else {
                        eprintln!("skipped: LAKEGATE_TEST_DATABASE_URL is not set");
                        return;
                    };
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

/// Runs whole-app test bodies (`async fn name()`) once per backend: their fixtures
/// (`TestApp::start`, `world::setup*`, `TestDb::current`) open stores on the backend the
/// module names. PostgreSQL bodies are skipped (and say so) when no server is configured,
/// which under CI is a failure (`postgres_url`).
#[macro_export]
macro_rules! on_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    $crate::test_db::BACKEND
                        .scope(lakegate::store::Backend::Sqlite, super::$name())
                        .await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::test_db::postgres_url().is_none() {
                        eprintln!("skipped: LAKEGATE_TEST_DATABASE_URL is not set");
                        return;
                    }
                    $crate::test_db::BACKEND
                        .scope(lakegate::store::Backend::Postgres, super::$name())
                        .await;
                }
            )*
        }
    };
}
