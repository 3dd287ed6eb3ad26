//! Key rotation while Lakegate serves.
//!
//! - Master key: every org data key is re-wrapped by the current master key. Replicas read
//!   data keys wrapped by any master key in their keyring, so the order of rewrapping and
//!   restarting does not matter as long as every replica has both keys.
//! - Data keys: an org gets a new data key, which every later seal uses at once (replicas
//!   read the current key from the store on each seal), then every ciphertext under an
//!   older key is re-encrypted in batches. A ciphertext is replaced only if it is still the
//!   one read, so a refresh that stored new tokens meanwhile is never undone; passes repeat
//!   until one finds nothing under an older key. Stopped half way, the next run goes on
//!   with the same new key instead of making another.

use super::envelope::{Binding, CryptoError, Keyring, key_id_of};
use crate::audit::{self, Actor, Event};
use crate::store::{DataKeyRow, PLACES, Place, Sealed, Store};

/// Told how far a long operation is.
pub trait Progress {
    fn start(&mut self, label: &str, total: u64);
    fn advance(&mut self, done: u64);
    fn finish(&mut self);
}

/// Reports nothing (tests, and callers that only want the result).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

/// What a master key rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rewrap {
    /// Data keys now wrapped by the current master key that were not before.
    pub rewrapped: usize,
    /// Data keys that already were.
    pub current: usize,
}

/// Re-wraps every org's data keys by the keyring's current master key; idempotent.
pub async fn rewrap_all(
    store: &Store,
    keyring: &Keyring,
    progress: &mut (dyn Progress + Send),
    now: i64,
) -> Result<Rewrap, CryptoError> {
    let rows = store.all_data_keys().await?;
    progress.start("data keys", rows.len() as u64);
    let mut report = Rewrap::default();
    for (done, row) in rows.iter().enumerate() {
        let data_key = DataKeyRow {
            key_id: row.key_id.clone(),
            kek_id: row.kek_id.clone(),
            wrapped: row.wrapped.clone(),
        };
        match keyring.rewrapped(&row.org_id, &data_key)? {
            None => report.current += 1,
            Some(wrapped) => {
                // Lost only to another rotation doing the same thing.
                store
                    .rewrap_data_key(row, keyring.kek_id(), &wrapped)
                    .await?;
                report.rewrapped += 1;
                let actor = Actor::cli(Some(row.org_id.clone()));
                let event = Event::success("keys.data_key_rewrapped", row.key_id.clone())
                    .with("from_master_key", row.kek_id.clone())
                    .with("to_master_key", keyring.kek_id());
                audit::record(store, &actor, now, event).await?;
            }
        }
        progress.advance(done as u64 + 1);
    }
    progress.finish();
    Ok(report)
}

/// The master keys (by id) that still wrap data keys, other than the current one, with how
/// many each: empty when the previous master keys can be retired.
pub async fn still_needed(
    store: &Store,
    keyring: &Keyring,
) -> Result<Vec<(String, usize)>, CryptoError> {
    let mut needed: Vec<(String, usize)> = Vec::new();
    for row in store.all_data_keys().await? {
        if row.kek_id == keyring.kek_id() {
            continue;
        }
        match needed.iter_mut().find(|(id, _)| *id == row.kek_id) {
            Some((_, n)) => *n += 1,
            None => needed.push((row.kek_id, 1)),
        }
    }
    Ok(needed)
}

/// What a data key rotation did for one org.
#[derive(Debug, PartialEq, Eq)]
pub struct DataRotation {
    /// The org's data key now.
    pub key_id: String,
    /// Whether this run made it (false: it resumed an interrupted rotation).
    pub created: bool,
    /// Ciphertexts re-encrypted by this run.
    pub reencrypted: u64,
    pub passes: u32,
}

/// Passes before giving up on rows that keep changing under an older key.
const MAX_PASSES: u32 = 20;

/// Gives `org_id` a new data key and re-encrypts every ciphertext under older keys with it,
/// `batch` rows at a time.
pub async fn rotate_data(
    store: &Store,
    keyring: &Keyring,
    org_id: &str,
    batch: i64,
    progress: &mut (dyn Progress + Send),
    now: i64,
) -> Result<DataRotation, CryptoError> {
    // A ring that cannot read the org's keys would strand them: refuse before writing.
    for row in store.data_keys(org_id).await? {
        keyring.unwraps(org_id, &row)?;
    }
    let total = total_sealed(store, org_id).await?;
    let (key_id, created) = match store.current_data_key(org_id).await? {
        Some(row) if count_old(store, org_id, &row.key_id, batch).await? > 0 => (row.key_id, false),
        _ => (keyring.add_data_key(store, org_id, now).await?, true),
    };
    let mut rotation = DataRotation {
        key_id,
        created,
        reencrypted: 0,
        passes: 0,
    };
    while rotation.passes < MAX_PASSES {
        rotation.passes += 1;
        progress.start(&format!("pass {}", rotation.passes), total);
        let pass = reencrypt_pass(
            store,
            keyring,
            (org_id, &rotation.key_id),
            batch,
            progress,
            now,
        )
        .await?;
        progress.finish();
        rotation.reencrypted += pass.reencrypted;
        if pass.old_seen == 0 {
            let event = Event::success("keys.data_key_rotated", rotation.key_id.clone())
                .with("reencrypted", rotation.reencrypted)
                .with("resumed", !rotation.created);
            audit::record(store, &Actor::cli(Some(org_id.to_owned())), now, event).await?;
            return Ok(rotation);
        }
    }
    Err(CryptoError::Unfinished(format!(
        "ciphertexts under older keys kept appearing after {MAX_PASSES} passes"
    )))
}

#[derive(Default)]
struct Pass {
    /// Ciphertexts under an older key this pass saw (re-encrypted or changed meanwhile).
    old_seen: u64,
    reencrypted: u64,
}

async fn total_sealed(store: &Store, org_id: &str) -> Result<u64, CryptoError> {
    let mut total = 0;
    for place in PLACES {
        total += store.sealed_count(place, org_id).await?;
    }
    Ok(u64::try_from(total).unwrap_or_default())
}

/// The org's ciphertexts, `batch` rows at a time, place by place.
struct Pages<'a> {
    store: &'a Store,
    org_id: &'a str,
    batch: i64,
    place: usize,
    after: String,
}

impl<'a> Pages<'a> {
    fn new(store: &'a Store, org_id: &'a str, batch: i64) -> Self {
        Pages {
            store,
            org_id,
            batch,
            place: 0,
            after: String::new(),
        }
    }

    async fn next(&mut self) -> Result<Option<(&'static Place, Vec<Sealed>)>, CryptoError> {
        while let Some(place) = PLACES.get(self.place) {
            let page = self
                .store
                .sealed_page(place, self.org_id, &self.after, self.batch)
                .await?;
            match page.last() {
                Some(last) => {
                    self.after = last.id.clone();
                    return Ok(Some((place, page)));
                }
                None => {
                    self.place += 1;
                    self.after.clear();
                }
            }
        }
        Ok(None)
    }
}

/// How many of the org's ciphertexts are under a key other than `key_id`.
async fn count_old(
    store: &Store,
    org_id: &str,
    key_id: &str,
    batch: i64,
) -> Result<u64, CryptoError> {
    let mut old = 0;
    let mut pages = Pages::new(store, org_id, batch);
    while let Some((_, page)) = pages.next().await? {
        for sealed in &page {
            if key_id_of(&sealed.blob)? != key_id {
                old += 1;
            }
        }
    }
    Ok(old)
}

async fn reencrypt_pass(
    store: &Store,
    keyring: &Keyring,
    (org_id, key_id): (&str, &str),
    batch: i64,
    progress: &mut (dyn Progress + Send),
    now: i64,
) -> Result<Pass, CryptoError> {
    let mut pass = Pass::default();
    let mut done = 0;
    let mut pages = Pages::new(store, org_id, batch);
    while let Some((place, page)) = pages.next().await? {
        for sealed in &page {
            if key_id_of(&sealed.blob)? != key_id {
                pass.old_seen += 1;
                if reencrypt(store, keyring, (org_id, place), sealed, now).await? {
                    pass.reencrypted += 1;
                }
            }
            done += 1;
        }
        progress.advance(done);
    }
    Ok(pass)
}

/// Re-seals one ciphertext under the org's current key; false if it changed meanwhile.
async fn reencrypt(
    store: &Store,
    keyring: &Keyring,
    (org_id, place): (&str, &Place),
    sealed: &Sealed,
    now: i64,
) -> Result<bool, CryptoError> {
    let binding = Binding {
        org_id,
        table: place.table(),
        row_id: &sealed.id,
        column: place.binding_column(),
    };
    let plain = keyring.open(store, binding, &sealed.blob).await?;
    let blob = keyring.seal(store, binding, &plain, now).await?;
    Ok(store
        .swap_sealed(place, &sealed.id, &sealed.blob, &blob)
        .await?)
}
