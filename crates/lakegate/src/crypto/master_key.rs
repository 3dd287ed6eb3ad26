//! The master key: from `LAKEGATE_MASTER_KEY`, or a key file that `serve` creates (mode 0600)
//! when neither exists. Later layers derive and wrap data keys from it.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Where the key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// The value itself (from the environment), base64 of 32 bytes.
    Value(Secret),
    /// A file holding base64 of 32 bytes.
    File(PathBuf),
}

/// 32 bytes of key material, wiped on drop, never printed.
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(
        "LAKEGATE_MASTER_KEY is invalid: expected base64 of exactly 32 bytes (generate one with `openssl rand -base64 32`)"
    )]
    BadValue,
    #[error("master key file {0} is invalid: expected base64 of exactly 32 bytes")]
    BadFile(PathBuf),
    #[error("cannot read master key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create master key file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "master key file {0} does not exist; run `lakegate serve` once to create it, or set LAKEGATE_MASTER_KEY"
    )]
    NotFound(PathBuf),
}

/// What loading did, so `serve` can log that it created a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    Existing,
    Created(PathBuf),
}

impl MasterKeySource {
    /// Loads the key; when `create` is set and the file does not exist, makes a new one.
    pub fn load(&self, create: bool) -> Result<(MasterKey, Loaded), MasterKeyError> {
        match self {
            MasterKeySource::Value(v) => Ok((
                decode(v.expose()).ok_or(MasterKeyError::BadValue)?,
                Loaded::Existing,
            )),
            MasterKeySource::File(path) => match std::fs::read_to_string(path) {
                Ok(text) => Ok((
                    decode(text.trim()).ok_or_else(|| MasterKeyError::BadFile(path.clone()))?,
                    Loaded::Existing,
                )),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                    Ok((create_file(path)?, Loaded::Created(path.clone())))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(MasterKeyError::NotFound(path.clone()))
                }
                Err(source) => Err(MasterKeyError::Read {
                    path: path.clone(),
                    source,
                }),
            },
        }
    }
}

/// Writes a new random master key to `path` (mode 0600), which must not exist.
pub fn create_key_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
    create_file(path)
}

fn decode(text: &str) -> Option<MasterKey> {
    let bytes = Zeroizing::new(STANDARD.decode(text.trim()).ok()?);
    let key: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(MasterKey(Zeroizing::new(key)))
}

fn create_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
    let err = |source| MasterKeyError::Create {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut key = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(key.as_mut());
    let encoded = Zeroizing::new(STANDARD.encode(key.as_ref()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    file.write_all(encoded.as_bytes()).map_err(err)?;
    file.write_all(b"\n").map_err(err)?;
    file.sync_all().map_err(err)?;
    Ok(MasterKey(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_a_private_key_file_once_then_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let src = MasterKeySource::File(path.clone());
        let (k1, how) = src.load(true).unwrap();
        assert_eq!(how, Loaded::Created(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (k2, how) = src.load(true).unwrap();
        assert_eq!(how, Loaded::Existing);
        assert_eq!(k1.bytes(), k2.bytes());
    }

    #[test]
    fn missing_file_without_create_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let src = MasterKeySource::File(dir.path().join("none.key"));
        assert!(matches!(src.load(false), Err(MasterKeyError::NotFound(_))));
    }

    #[test]
    fn bad_values_are_refused_without_echoing_them() {
        let err = MasterKeySource::Value(Secret::new("c2hvcnQ="))
            .load(false)
            .unwrap_err();
        assert!(matches!(err, MasterKeyError::BadValue));
        assert!(!err.to_string().contains("c2hvcnQ"));
    }
}
