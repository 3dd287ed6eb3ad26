//! `lakegate backup --out FILE` and `lakegate restore --from FILE`, for the embedded SQLite
//! store. The master key is never in a backup: a restore needs the key the backup was taken
//! with, and both commands say so.

use std::path::Path;

use anyhow::{Context, bail};

use crate::config::Config;
use crate::store::sqlite_path;

const KEY_NOTE: &str = "the master key is not in the backup: keep the key this Lakegate runs \
with (master_key_file or LAKEGATE_MASTER_KEY) with it, apart from it; without that key the \
backup's tokens and secrets cannot be read";

/// The SQLite file the configuration uses, or why these commands do not apply.
fn sqlite_file(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    sqlite_path(&config.database_url).with_context(|| {
        "backup and restore copy the embedded SQLite store; this database_url is PostgreSQL: \
         use pg_dump and pg_restore (docs/OPERATIONS.md)"
            .to_owned()
    })
}

/// A consistent copy of the running store, written to a new file (mode 0600).
pub async fn backup(config: &Config, out: &Path) -> anyhow::Result<()> {
    sqlite_file(config)?;
    if out.exists() {
        bail!("{} exists: back up to a new file", out.display());
    }
    let store = super::open_store(config).await?;
    store
        .backup_into(out)
        .await
        .with_context(|| format!("cannot write the backup to {}", out.display()))?;
    restrict(out)?;
    let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!("backup written to {} ({bytes} bytes)", out.display());
    println!("note: {KEY_NOTE}");
    Ok(())
}

/// Restores a backup into this configuration's store, which must not exist yet: checks the
/// backup (SQLite's integrity check, a Lakegate store), copies it, then applies the
/// migrations this version has and the backup had not.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<()> {
    let target = sqlite_file(config)?;
    if target.exists() {
        bail!(
            "{} exists: restore into an empty data directory (nothing was changed)",
            target.display()
        );
    }
    if !from.is_file() {
        bail!("{} is not a file", from.display());
    }
    let mut magic = [0u8; 16];
    let read =
        std::fs::File::open(from).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    if read.is_err() || &magic != b"SQLite format 3\0" {
        bail!(
            "{} is not a SQLite database (nothing was changed)",
            from.display()
        );
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // The copy is checked where it will live; the backup file itself is only read.
    std::fs::copy(from, &target).with_context(|| format!("cannot copy {}", from.display()))?;
    restrict(&target)?;
    if let Err(e) = check(config).await {
        let _ = std::fs::remove_file(&target);
        for suffix in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
        }
        return Err(e.context(format!(
            "{} cannot be restored (nothing was changed)",
            from.display()
        )));
    }
    let store = super::ready_store(config).await?;
    store.close().await;
    println!("restored {} into {}", from.display(), target.display());
    println!("note: {KEY_NOTE}");
    Ok(())
}

/// SQLite's integrity check passes and the file is a Lakegate store.
async fn check(config: &Config) -> anyhow::Result<()> {
    let store = super::open_store(config).await?;
    let verdict = async {
        anyhow::ensure!(
            store.integrity_ok().await?,
            "the backup fails SQLite's integrity check"
        );
        anyhow::ensure!(
            store.applied_migrations().await? > 0,
            "the file is not a Lakegate backup (no migrations recorded)"
        );
        Ok(())
    }
    .await;
    store.close().await;
    verdict
}

/// Only the owner may read a copy of the store (it holds sealed secrets and hashes).
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {} to its owner", path.display()))
}
