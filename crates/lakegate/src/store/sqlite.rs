//! SQLite specifics: file creation, WAL mode, foreign keys, busy timeout, its migrations.

use sqlx::{AnyPool, Executor};

pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub(super) async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    let url = with_create_mode(url);
    if let Some(dir) = file_path(&url).and_then(|p| p.parent().map(ToOwned::to_owned))
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(&dir).map_err(sqlx::Error::Io)?;
    }
    super::pool_options()
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL lets readers run beside the single writer; the busy timeout makes
                // concurrent writers wait instead of failing with SQLITE_BUSY.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
}

/// `sqlite://path` opens read-write-create unless the URL already says otherwise.
fn with_create_mode(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The file behind a `sqlite:` database URL (`sqlite://path?mode=rwc` → `path`).
pub fn file_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| path.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_create_mode_once() {
        assert_eq!(with_create_mode("sqlite://a.db"), "sqlite://a.db?mode=rwc");
        assert_eq!(
            with_create_mode("sqlite://a.db?x=1"),
            "sqlite://a.db?x=1&mode=rwc"
        );
        assert_eq!(
            with_create_mode("sqlite://a.db?mode=ro"),
            "sqlite://a.db?mode=ro"
        );
    }

    #[test]
    fn finds_the_file_path() {
        assert_eq!(
            file_path("sqlite:///srv/x.db?mode=rwc"),
            Some("/srv/x.db".into())
        );
        assert_eq!(file_path("sqlite://data/x.db"), Some("data/x.db".into()));
        assert_eq!(file_path("sqlite::memory:"), None);
    }
}
