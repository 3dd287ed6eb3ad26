//! Limits every replica shares, counted in the store per key and fixed window: login
//! attempts per client IP, failed logins per (org, email), and vended tokens per user.
//! Windows are aligned to the clock (`now - now % window`), so every replica counts the same
//! window; what one replica counted, the others see.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::store::{Store, StoreError};

/// Attempts allowed per window.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub window_seconds: i64,
    pub per_ip: u32,
    pub per_account: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            window_seconds: 15 * 60,
            per_ip: 30,
            per_account: 5,
        }
    }
}

/// A refused attempt: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub i64);

/// A limit's verdict, or the store failing to give one.
pub type Verdict = Result<Result<(), RetryAfter>, StoreError>;

fn window_of(now: i64, window: i64) -> i64 {
    now - now.rem_euclid(window)
}

/// Login throttling: every attempt counts against its IP, every failure against its
/// account, in the store (logins are rare, and each already costs a password hash).
#[derive(Debug)]
pub struct LoginLimiter {
    store: Store,
    limits: Limits,
}

impl LoginLimiter {
    pub fn new(store: Store, limits: Limits) -> Self {
        LoginLimiter { store, limits }
    }

    fn start(&self, now: i64) -> (i64, i64) {
        let w = self.limits.window_seconds;
        let start = window_of(now, w);
        (start, start + w - now)
    }

    /// Records an attempt from `ip` for `account`; refuses when either is over its limit.
    pub async fn check(&self, ip: &str, account: &str, now: i64) -> Verdict {
        let (start, left) = self.start(now);
        let failures = self
            .store
            .rate_count(&format!("login-account:{account}"), start)
            .await?;
        if failures >= i64::from(self.limits.per_account) {
            return Ok(Err(RetryAfter(left)));
        }
        let attempts = self
            .store
            .add_rate_count(&format!("login-ip:{ip}"), start, 1)
            .await?;
        if attempts > i64::from(self.limits.per_ip) {
            return Ok(Err(RetryAfter(left)));
        }
        Ok(Ok(()))
    }

    /// A failed password counts against the account.
    pub async fn failed(&self, account: &str, now: i64) -> Result<(), StoreError> {
        let (start, _) = self.start(now);
        self.store
            .add_rate_count(&format!("login-account:{account}"), start, 1)
            .await
            .map(drop)
    }

    /// A successful login clears the account's failures.
    pub async fn succeeded(&self, account: &str) -> Result<(), StoreError> {
        self.store
            .clear_rate_counts(&format!("login-account:{account}"))
            .await
    }
}

/// What this process counted of one key in the current window.
#[derive(Debug, Default)]
struct Local {
    start: i64,
    /// The store's count when this process last added to it.
    known: i64,
    /// Requests counted here and not yet added to the store.
    pending: i64,
}

/// A fixed-window limit on one kind of request per key (token vending per user), shared by
/// replicas through the store with a local fast path: a process adds its requests to the
/// store in batches of `batch`, and one by one once the count it knows is within `batch` of
/// the limit. So the store is written once per `batch` requests far from the limit, and
/// the replicas together let at most `batch - 1` requests each past it.
#[derive(Debug)]
pub struct SharedLimit {
    store: Store,
    name: &'static str,
    window_seconds: i64,
    /// `None`: no limit.
    limit: Option<i64>,
    batch: i64,
    local: Mutex<HashMap<String, Local>>,
}

/// Requests a process counts before adding them to the store, far from the limit.
pub const BATCH: i64 = 10;

impl SharedLimit {
    /// `limit` requests per `window_seconds` per key; 0 turns the limit off.
    pub fn new(store: Store, name: &'static str, window_seconds: i64, limit: u32) -> Self {
        SharedLimit {
            store,
            name,
            window_seconds,
            limit: (limit > 0).then_some(i64::from(limit)),
            batch: BATCH,
            local: Mutex::default(),
        }
    }

    /// Counts a request for `key`; refuses once the window's limit is reached.
    pub async fn check(&self, key: &str, now: i64) -> Verdict {
        let Some(limit) = self.limit else {
            return Ok(Ok(()));
        };
        let start = window_of(now, self.window_seconds);
        let refused = RetryAfter(start + self.window_seconds - now);
        let flush = {
            let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
            if m.len() > 10_000 {
                m.retain(|_, l| l.start == start);
            }
            let l = m.entry(key.to_owned()).or_default();
            if l.start != start {
                *l = Local {
                    start,
                    ..Local::default()
                };
            }
            if l.known + l.pending >= limit {
                return Ok(Err(refused));
            }
            l.pending += 1;
            if l.pending >= self.batch || l.known + l.pending + self.batch > limit {
                Some(std::mem::take(&mut l.pending))
            } else {
                None
            }
        };
        let Some(n) = flush else {
            return Ok(Ok(()));
        };
        let total = self
            .store
            .add_rate_count(&format!("{}:{key}", self.name), start, n)
            .await?;
        {
            let mut m = self.local.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(l) = m.get_mut(key).filter(|l| l.start == start) {
                l.known = l.known.max(total);
            }
        }
        Ok(if total > limit { Err(refused) } else { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("l.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        (store, dir)
    }

    fn limits() -> Limits {
        Limits {
            window_seconds: 60,
            per_ip: 3,
            per_account: 2,
        }
    }

    #[tokio::test]
    async fn an_account_locks_after_failures_until_the_window_ends_on_every_replica() {
        let (store, _dir) = store().await;
        let (a, b) = (
            LoginLimiter::new(store.clone(), limits()),
            LoginLimiter::new(store, limits()),
        );
        assert_eq!(a.check("ip1", "acct", 0).await.unwrap(), Ok(()));
        a.failed("acct", 0).await.unwrap();
        b.failed("acct", 1).await.unwrap();
        assert_eq!(
            b.check("ip2", "acct", 10).await.unwrap(),
            Err(RetryAfter(50))
        );
        assert_eq!(
            a.check("ip3", "acct", 10).await.unwrap(),
            Err(RetryAfter(50))
        );
        assert_eq!(a.check("ip3", "acct", 60).await.unwrap(), Ok(()));
        a.failed("acct", 61).await.unwrap();
        b.succeeded("acct").await.unwrap();
        assert_eq!(a.check("ip4", "acct", 62).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn an_ip_is_limited_across_accounts_and_replicas() {
        let (store, _dir) = store().await;
        let (a, b) = (
            LoginLimiter::new(store.clone(), limits()),
            LoginLimiter::new(store, limits()),
        );
        assert_eq!(a.check("ip", "x", 0).await.unwrap(), Ok(()));
        assert_eq!(b.check("ip", "y", 0).await.unwrap(), Ok(()));
        assert_eq!(a.check("ip", "z", 0).await.unwrap(), Ok(()));
        assert!(b.check("ip", "w", 1).await.unwrap().is_err());
        assert_eq!(b.check("other", "w", 1).await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_shared_limit_holds_across_replicas_within_a_batch_each() {
        let (store, _dir) = store().await;
        let limit = 35;
        let replicas = [
            SharedLimit::new(store.clone(), "vend", 60, limit),
            SharedLimit::new(store.clone(), "vend", 60, limit),
        ];
        let mut allowed = 0;
        for i in 0..200 {
            if replicas[i % 2].check("user", 5).await.unwrap().is_ok() {
                allowed += 1;
            }
        }
        assert!(allowed >= i64::from(limit), "{allowed}");
        assert!(allowed < i64::from(limit) + 2 * BATCH, "{allowed}");
        // The next window starts afresh; another key was never limited.
        assert_eq!(replicas[0].check("user", 60).await.unwrap(), Ok(()));
        assert_eq!(replicas[1].check("other", 5).await.unwrap(), Ok(()));
        // The sweep forgets finished windows.
        assert!(store.delete_stale_rate_counts(60).await.unwrap() >= 1);
        assert_eq!(store.rate_count("vend:user", 0).await.unwrap(), 0);
        let off = SharedLimit::new(store, "vend", 60, 0);
        for _ in 0..100 {
            assert_eq!(off.check("user", 5).await.unwrap(), Ok(()));
        }
    }
}
