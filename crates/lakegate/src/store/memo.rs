//! A per-process memo of the rows every vended token and every query reads (the caller's
//! API token or service key, user, connection, credential and integration), so the hot
//! paths need no database round trip.
//!
//! Consistency is the contract, not a trade:
//! - **This process** sees its own changes at once. Every store method that writes holds a
//!   [`Changes`] guard whose drop (after the write committed) bumps the generation; an entry
//!   read under an older generation is never used again.
//! - **Other replicas** (and the CLI) see a change within one second: an entry is used only
//!   in the clock second it was read in, so a row read before a revocation elsewhere is read
//!   again at most one second later.
//!
//! Writes that cannot change what is memoized (audit, sessions, query rows, flows, use
//! stamps, limit counts) skip the guard. A new write method that forgets it is the failure
//! mode; `tests/it/hot_cache.rs` covers the four changes that must never be stale —
//! revoking a token, disconnecting, deleting a connection, disabling a user — with two
//! replicas, expecting the effect at once on one and a second later on the other. Other
//! writers are covered only by review. A missing row is never remembered, so what a replica creates (a sign-in, a new
//! key) is usable everywhere at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    ApiTokenRow, ConnectionRow, CredentialRow, IntegrationRow, ServiceKeyRow, Store, StoreResult,
};
use crate::accounts::{Org, User};

/// Entries per memo before the stale ones are dropped (and all, if none is stale): a
/// bound on memory, far above the rows one second of traffic touches.
const CAPACITY: usize = 20_000;

struct Entry<V> {
    value: V,
    generation: u64,
    read_at: i64,
}

/// One memoized lookup: key to the value read (including "no such row").
pub(crate) struct Memo<K, V> {
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, key: &K, generation: u64, now: i64) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.generation == generation && e.read_at == now)
            .map(|e| e.value.clone())
    }

    pub(crate) fn put(&self, key: K, value: V, generation: u64, read_at: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, e| e.generation == generation && e.read_at == read_at);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Entry {
                value,
                generation,
                read_at,
            },
        );
    }

    /// Applies a change this process just wrote (a use stamp) to a memoized row.
    pub(crate) fn update(&self, key: &K, change: impl FnOnce(&mut V)) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get_mut(key) {
            change(&mut e.value);
        }
    }
}

/// Every memo of one store handle (shared by its clones).
pub(crate) struct Memos {
    generation: AtomicU64,
    pub(crate) api_tokens: Memo<String, ApiTokenRow>,
    pub(crate) service_keys: Memo<String, ServiceKeyRow>,
    pub(crate) users: Memo<String, (User, Org)>,
    pub(crate) orgs: Memo<String, Org>,
    /// A user named by a service key's caller: `(org, "user:<id>" or external id)`.
    pub(crate) named_users: Memo<(String, String), User>,
    pub(crate) connections: Memo<(String, String), ConnectionRow>,
    pub(crate) credentials: Memo<(String, String), CredentialRow>,
    pub(crate) integrations: Memo<(String, String, String), IntegrationRow>,
}

impl std::fmt::Debug for Memos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memos")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

impl Memos {
    pub(crate) fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            api_tokens: Memo::new(),
            service_keys: Memo::new(),
            users: Memo::new(),
            orgs: Memo::new(),
            named_users: Memo::new(),
            connections: Memo::new(),
            credentials: Memo::new(),
            integrations: Memo::new(),
        }
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn changes(&self) -> Changes<'_> {
        Changes(&self.generation)
    }
}

/// Held by a writing store method; dropping it (after the write) retires every entry read
/// before. Dropped on error and cancellation too, which at worst costs a re-read.
pub(crate) struct Changes<'a>(&'a AtomicU64);

impl Drop for Changes<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl Store {
    /// Reads through `memo`: the memoized row if it is of this generation and second,
    /// else `read`'s, remembered under the generation seen *before* reading (a write that
    /// lands meanwhile retires it). A missing row is not remembered: what another replica
    /// creates (a sign-in, a key) is usable at once.
    async fn memoized<K, V, F>(
        &self,
        memo: &Memo<K, V>,
        key: K,
        now: i64,
        read: F,
    ) -> StoreResult<Option<V>>
    where
        K: Eq + Hash,
        V: Clone,
        F: Future<Output = StoreResult<Option<V>>>,
    {
        let generation = self.memos.generation();
        if let Some(v) = memo.get(&key, generation, now) {
            return Ok(Some(v));
        }
        let v = read.await?;
        if let Some(v) = &v {
            memo.put(key, v.clone(), generation, now);
        }
        Ok(v)
    }

    pub async fn recent_api_token(&self, hash: &str, now: i64) -> StoreResult<Option<ApiTokenRow>> {
        let m = &self.memos.api_tokens;
        self.memoized(m, hash.to_owned(), now, self.api_token_by_hash(hash))
            .await
    }

    pub async fn recent_service_key(
        &self,
        hash: &str,
        now: i64,
    ) -> StoreResult<Option<ServiceKeyRow>> {
        let m = &self.memos.service_keys;
        self.memoized(m, hash.to_owned(), now, self.service_key_by_hash(hash))
            .await
    }

    pub async fn recent_user_with_org(
        &self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Option<(User, Org)>> {
        let m = &self.memos.users;
        self.memoized(m, user_id.to_owned(), now, self.user_with_org(user_id))
            .await
    }

    pub async fn recent_org(&self, id: &str, now: i64) -> StoreResult<Option<Org>> {
        self.memoized(&self.memos.orgs, id.to_owned(), now, self.org_by_id(id))
            .await
    }

    /// A user of `org_id` named as `user:<id>` or by their external id.
    pub async fn recent_named_user(
        &self,
        org_id: &str,
        named: &str,
        now: i64,
    ) -> StoreResult<Option<User>> {
        let key = (org_id.to_owned(), named.to_owned());
        let read = async {
            match named.strip_prefix("user:") {
                Some(id) => self.user_in_org(org_id, id).await,
                None => self.user_by_external_id(org_id, named).await,
            }
        };
        self.memoized(&self.memos.named_users, key, now, read).await
    }

    pub async fn recent_connection(
        &self,
        org_id: &str,
        id: &str,
        now: i64,
    ) -> StoreResult<Option<ConnectionRow>> {
        let key = (org_id.to_owned(), id.to_owned());
        self.memoized(
            &self.memos.connections,
            key,
            now,
            self.connection(org_id, id),
        )
        .await
    }

    pub async fn recent_credential(
        &self,
        connection_id: &str,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Option<CredentialRow>> {
        let key = (connection_id.to_owned(), user_id.to_owned());
        let read = self.credential(connection_id, user_id);
        self.memoized(&self.memos.credentials, key, now, read).await
    }

    pub async fn recent_integration_for(
        &self,
        org_id: &str,
        id: &str,
        host: &str,
        now: i64,
    ) -> StoreResult<Option<IntegrationRow>> {
        let key = (org_id.to_owned(), id.to_owned(), host.to_owned());
        let read = self.integration_for(org_id, id, host);
        self.memoized(&self.memos.integrations, key, now, read)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lives_for_its_second_and_its_generation_only() {
        let memos = Memos::new();
        let memo: Memo<&str, u32> = Memo::new();
        let g = memos.generation();
        memo.put("k", 7, g, 100);
        assert_eq!(memo.get(&"k", g, 100), Some(7));
        assert_eq!(memo.get(&"k", g, 101), None, "read again the next second");
        drop(memos.changes());
        assert_eq!(
            memo.get(&"k", memos.generation(), 100),
            None,
            "a write retires it"
        );
    }

    #[test]
    fn a_full_memo_drops_what_is_stale_first() {
        let memo: Memo<usize, usize> = Memo::new();
        for k in 0..CAPACITY {
            memo.put(k, k, 0, 1);
        }
        memo.put(CAPACITY, 0, 0, 2);
        let len = memo.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert_eq!(len, 1, "entries of an earlier second are dropped when full");
    }
}
