//! Envelope encryption of secrets at rest. Each org has a data key (AES-256-GCM) that is
//! stored wrapped by the master key; every ciphertext carries its data key's id and is
//! bound by its AAD to org, table, row and column, so a ciphertext copied to another row
//! or column does not decrypt.

use std::collections::HashMap;
use std::sync::Mutex;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::master_key::MasterKey;
use crate::store::{Store, StoreError};

const MAGIC: &[u8; 3] = b"LG1";
const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the ciphertext is malformed")]
    Malformed,
    #[error("decryption failed: wrong key, or the ciphertext was moved or altered")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
    #[error("the data key {0} is not available")]
    UnknownKey(String),
    #[error(
        "data key {key_id} is wrapped by master key {kek_id}, which is not loaded (add its file to previous_master_key_files)"
    )]
    WrongMasterKey { key_id: String, kek_id: String },
    #[error("the rotation did not finish: {0}; run it again")]
    Unfinished(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a ciphertext belongs; all four parts go into its AAD.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub org_id: &'a str,
    pub table: &'a str,
    pub row_id: &'a str,
    pub column: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        format!(
            "lakegate:v1:{}:{}:{}:{}",
            self.org_id, self.table, self.row_id, self.column
        )
        .into_bytes()
    }
}

fn cipher(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key))
}

fn nonce() -> [u8; NONCE_LEN] {
    let mut n = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut n);
    n
}

/// The authenticated data: the ciphertext's own header, then where it belongs.
fn full_aad(header: &[u8], aad: &[u8]) -> Vec<u8> {
    [header, aad].concat()
}

/// `LG1 | key id length | key id | nonce | ciphertext+tag`; the header is authenticated too.
pub fn seal_with(
    dek: &[u8; 32],
    key_id: &str,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let id = key_id.as_bytes();
    let len = u8::try_from(id.len()).map_err(|_| CryptoError::Encrypt)?;
    let mut out = Vec::with_capacity(4 + id.len() + NONCE_LEN + plaintext.len() + 16);
    out.extend_from_slice(MAGIC);
    out.push(len);
    out.extend_from_slice(id);
    let n = nonce();
    let aad = full_aad(&out, aad);
    let ct = cipher(dek)
        .encrypt(
            Nonce::from_slice(&n),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Encrypt)?;
    out.extend_from_slice(&n);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// The data key id a ciphertext was sealed with.
pub fn key_id_of(blob: &[u8]) -> Result<&str, CryptoError> {
    let rest = blob
        .strip_prefix(MAGIC.as_slice())
        .ok_or(CryptoError::Malformed)?;
    let (&len, rest) = rest.split_first().ok_or(CryptoError::Malformed)?;
    let id = rest.get(..len as usize).ok_or(CryptoError::Malformed)?;
    std::str::from_utf8(id).map_err(|_| CryptoError::Malformed)
}

pub fn open_with(
    dek: &[u8; 32],
    aad: &[u8],
    blob: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let header_len = MAGIC.len() + 1 + key_id_of(blob)?.len();
    let (header, body) = blob
        .split_at_checked(header_len)
        .ok_or(CryptoError::Malformed)?;
    if body.len() < NONCE_LEN + 16 {
        return Err(CryptoError::Malformed);
    }
    let (n, ct) = body.split_at(NONCE_LEN);
    let aad = full_aad(header, aad);
    cipher(dek)
        .decrypt(Nonce::from_slice(n), Payload { msg: ct, aad: &aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

/// An unwrapped data key, wiped on drop.
type DataKey = Zeroizing<[u8; 32]>;

/// The master key, the previous master keys still readable during a rotation, the org
/// data keys they wrap, and a cache of unwrapped ones.
pub struct Keyring {
    master: MasterKey,
    kek_id: String,
    /// Previous master keys by id: they unwrap, they never wrap.
    previous: Vec<(String, MasterKey)>,
    cache: Mutex<HashMap<(String, String), DataKey>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

fn wrap_aad(org_id: &str, key_id: &str) -> Vec<u8> {
    format!("lakegate:dek:{org_id}:{key_id}").into_bytes()
}

/// A master key's id: a fingerprint, not the key.
pub fn kek_id_of(master: &MasterKey) -> String {
    let digest = Sha256::digest(master.bytes());
    format!(
        "mk-{}",
        digest
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

impl Keyring {
    pub fn new(master: MasterKey) -> Keyring {
        Keyring::with_previous(master, Vec::new())
    }

    /// A key ring that wraps with `master` and still unwraps data keys wrapped by any of
    /// `previous` (the keyring setting during a master key rotation).
    pub fn with_previous(master: MasterKey, previous: Vec<MasterKey>) -> Keyring {
        let kek_id = kek_id_of(&master);
        let previous = previous
            .into_iter()
            .map(|k| (kek_id_of(&k), k))
            .filter(|(id, _)| *id != kek_id)
            .collect();
        Keyring {
            master,
            kek_id,
            previous,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The id of the loaded master key (a fingerprint, not the key).
    pub fn kek_id(&self) -> &str {
        &self.kek_id
    }

    /// The ids of the previous master keys this ring still reads.
    pub fn previous_kek_ids(&self) -> impl Iterator<Item = &str> {
        self.previous.iter().map(|(id, _)| id.as_str())
    }

    /// `row` wrapped by the current master key, when a previous one wraps it now.
    pub fn rewrapped(
        &self,
        org_id: &str,
        row: &crate::store::DataKeyRow,
    ) -> Result<Option<Vec<u8>>, CryptoError> {
        if row.kek_id == self.kek_id {
            return Ok(None);
        }
        let dek = self.unwrap_dek(org_id, &row.key_id, &row.kek_id, &row.wrapped)?;
        self.wrap(org_id, &row.key_id, &dek).map(Some)
    }

    fn wrap(&self, org_id: &str, key_id: &str, dek: &[u8; 32]) -> Result<Vec<u8>, CryptoError> {
        seal_with(
            self.master.bytes(),
            &self.kek_id,
            &wrap_aad(org_id, key_id),
            dek,
        )
    }

    /// Whether the loaded master key unwraps `row`, an org's stored data key.
    pub fn unwraps(&self, org_id: &str, row: &crate::store::DataKeyRow) -> Result<(), CryptoError> {
        self.unwrap_dek(org_id, &row.key_id, &row.kek_id, &row.wrapped)
            .map(drop)
    }

    fn cached(&self, org_id: &str, key_id: &str) -> Option<Zeroizing<[u8; 32]>> {
        self.cache
            .lock()
            .ok()?
            .get(&(org_id.to_owned(), key_id.to_owned()))
            .cloned()
    }

    fn remember(&self, org_id: &str, key_id: &str, dek: &Zeroizing<[u8; 32]>) {
        if let Ok(mut c) = self.cache.lock() {
            c.insert((org_id.to_owned(), key_id.to_owned()), dek.clone());
        }
    }

    fn unwrap_dek(
        &self,
        org_id: &str,
        key_id: &str,
        kek_id: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        let master = if kek_id == self.kek_id {
            &self.master
        } else {
            match self.previous.iter().find(|(id, _)| id == kek_id) {
                Some((_, key)) => key,
                None => {
                    return Err(CryptoError::WrongMasterKey {
                        key_id: key_id.into(),
                        kek_id: kek_id.into(),
                    });
                }
            }
        };
        let plain = open_with(master.bytes(), &wrap_aad(org_id, key_id), wrapped)?;
        let key: [u8; 32] = plain
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        Ok(Zeroizing::new(key))
    }

    /// The org's current data key, created (and stored wrapped) on first use.
    async fn current_dek(
        &self,
        store: &Store,
        org_id: &str,
        now: i64,
    ) -> Result<(String, Zeroizing<[u8; 32]>), CryptoError> {
        if let Some(row) = store.current_data_key(org_id).await? {
            if let Some(dek) = self.cached(org_id, &row.key_id) {
                return Ok((row.key_id, dek));
            }
            let dek = self.unwrap_dek(org_id, &row.key_id, &row.kek_id, &row.wrapped)?;
            self.remember(org_id, &row.key_id, &dek);
            return Ok((row.key_id, dek));
        }
        let (key_id, dek, wrapped) = self.new_dek(org_id)?;
        store
            .insert_data_key(org_id, &key_id, &self.kek_id, &wrapped, now)
            .await?;
        // Another replica may have created one first: use whichever is current now.
        let row = store
            .current_data_key(org_id)
            .await?
            .ok_or_else(|| CryptoError::UnknownKey(key_id.clone()))?;
        let dek = if row.key_id == key_id {
            dek
        } else {
            self.unwrap_dek(org_id, &row.key_id, &row.kek_id, &row.wrapped)?
        };
        self.remember(org_id, &row.key_id, &dek);
        Ok((row.key_id, dek))
    }

    /// A new data key for `org_id`: its id, the key, and the key wrapped by the master key.
    fn new_dek(&self, org_id: &str) -> Result<(String, DataKey, Vec<u8>), CryptoError> {
        let key_id = format!("dk-{}", uuid::Uuid::now_v7().simple());
        let mut dek = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(dek.as_mut());
        let wrapped = self.wrap(org_id, &key_id, &dek)?;
        Ok((key_id, dek, wrapped))
    }

    /// Makes a new data key the org's current one (every later seal uses it) and returns
    /// its id. Ciphertexts under older keys still open.
    pub async fn add_data_key(
        &self,
        store: &Store,
        org_id: &str,
        now: i64,
    ) -> Result<String, CryptoError> {
        let (key_id, dek, wrapped) = self.new_dek(org_id)?;
        store
            .add_data_key(org_id, &key_id, &self.kek_id, &wrapped, now)
            .await?;
        self.remember(org_id, &key_id, &dek);
        Ok(key_id)
    }

    /// Encrypts `plaintext` for the place `binding` names.
    pub async fn seal(
        &self,
        store: &Store,
        binding: Binding<'_>,
        plaintext: &[u8],
        now: i64,
    ) -> Result<Vec<u8>, CryptoError> {
        let (key_id, dek) = self.current_dek(store, binding.org_id, now).await?;
        seal_with(&dek, &key_id, &binding.aad(), plaintext)
    }

    /// Decrypts a ciphertext stored at the place `binding` names.
    pub async fn open(
        &self,
        store: &Store,
        binding: Binding<'_>,
        blob: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let key_id = key_id_of(blob)?.to_owned();
        let dek = match self.cached(binding.org_id, &key_id) {
            Some(dek) => dek,
            None => {
                let row = store
                    .data_key(binding.org_id, &key_id)
                    .await?
                    .ok_or_else(|| CryptoError::UnknownKey(key_id.clone()))?;
                let dek = self.unwrap_dek(binding.org_id, &key_id, &row.kek_id, &row.wrapped)?;
                self.remember(binding.org_id, &key_id, &dek);
                dek
            }
        };
        open_with(&dek, &binding.aad(), blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn sealed_values_open_only_with_the_same_aad() {
        let blob = seal_with(&KEY, "dk-1", b"org:a:row:1", b"s3cret").unwrap();
        assert_eq!(key_id_of(&blob).unwrap(), "dk-1");
        assert_eq!(
            open_with(&KEY, b"org:a:row:1", &blob).unwrap().as_slice(),
            b"s3cret"
        );
        assert!(matches!(
            open_with(&KEY, b"org:a:row:2", &blob),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            open_with(&[8u8; 32], b"org:a:row:1", &blob),
            Err(CryptoError::Decrypt)
        ));
    }

    #[test]
    fn any_flipped_bit_fails() {
        let blob = seal_with(&KEY, "dk-1", b"aad", b"value").unwrap();
        for i in 0..blob.len() {
            for bit in 0..8 {
                let mut bad = blob.clone();
                bad[i] ^= 1 << bit;
                assert!(open_with(&KEY, b"aad", &bad).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn nonces_differ_and_garbage_is_malformed() {
        let a = seal_with(&KEY, "dk-1", b"aad", b"value").unwrap();
        let b = seal_with(&KEY, "dk-1", b"aad", b"value").unwrap();
        assert_ne!(a, b);
        assert!(matches!(key_id_of(b"nope"), Err(CryptoError::Malformed)));
        assert!(matches!(
            open_with(&KEY, b"aad", b"LG1\x01x"),
            Err(CryptoError::Malformed)
        ));
    }
}
