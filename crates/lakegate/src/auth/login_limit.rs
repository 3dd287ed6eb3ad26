//! Login throttling per client IP and per (org, email), in fixed windows on the injected
//! clock. Per process: each replica limits on its own, which bounds guessing all the same.

use std::collections::HashMap;
use std::sync::Mutex;

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

#[derive(Debug, Default)]
struct Window {
    start: i64,
    count: u32,
}

/// Counts attempts by IP and failures by account.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: Limits,
    ip: Mutex<HashMap<String, Window>>,
    account: Mutex<HashMap<String, Window>>,
}

/// A refused attempt: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub i64);

impl LoginLimiter {
    pub fn new(limits: Limits) -> Self {
        LoginLimiter {
            limits,
            ..Default::default()
        }
    }

    /// Records an attempt from `ip` for `account`; refuses when either is over its limit.
    pub fn check(&self, ip: &str, account: &str, now: i64) -> Result<(), RetryAfter> {
        let w = self.limits.window_seconds;
        let over_account = peek(&self.account, account, now, w, self.limits.per_account);
        let over_ip = bump(&self.ip, ip, now, w, self.limits.per_ip);
        over_account.or(over_ip).map_or(Ok(()), Err)
    }

    /// A failed password counts against the account.
    pub fn failed(&self, account: &str, now: i64) {
        let _ = bump(
            &self.account,
            account,
            now,
            self.limits.window_seconds,
            u32::MAX,
        );
    }

    /// A successful login clears the account's failures.
    pub fn succeeded(&self, account: &str) {
        if let Ok(mut m) = self.account.lock() {
            m.remove(account);
        }
    }
}

/// A fixed-window limit on one kind of request per key (e.g. token vending per user).
#[derive(Debug)]
pub struct RateLimiter {
    window_seconds: i64,
    limit: u32,
    counts: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    pub fn new(window_seconds: i64, limit: u32) -> Self {
        RateLimiter {
            window_seconds,
            limit,
            counts: Mutex::default(),
        }
    }

    /// Counts a request for `key`; refuses once the window's limit is reached.
    pub fn check(&self, key: &str, now: i64) -> Result<(), RetryAfter> {
        bump(&self.counts, key, now, self.window_seconds, self.limit).map_or(Ok(()), Err)
    }
}

fn current<'m>(
    m: &'m mut HashMap<String, Window>,
    key: &str,
    now: i64,
    window: i64,
) -> &'m mut Window {
    // Forget stale windows so the maps cannot grow without bound.
    if m.len() > 10_000 {
        m.retain(|_, v| now - v.start < window);
    }
    let entry = m.entry(key.to_owned()).or_default();
    if now - entry.start >= window {
        *entry = Window {
            start: now,
            count: 0,
        };
    }
    entry
}

fn peek(
    map: &Mutex<HashMap<String, Window>>,
    key: &str,
    now: i64,
    window: i64,
    limit: u32,
) -> Option<RetryAfter> {
    let mut m = map.lock().ok()?;
    let w = current(&mut m, key, now, window);
    (w.count >= limit).then(|| RetryAfter(w.start + window - now))
}

fn bump(
    map: &Mutex<HashMap<String, Window>>,
    key: &str,
    now: i64,
    window: i64,
    limit: u32,
) -> Option<RetryAfter> {
    let mut m = map.lock().ok()?;
    let w = current(&mut m, key, now, window);
    if w.count >= limit {
        return Some(RetryAfter(w.start + window - now));
    }
    w.count += 1;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter() -> LoginLimiter {
        LoginLimiter::new(Limits {
            window_seconds: 60,
            per_ip: 3,
            per_account: 2,
        })
    }

    #[test]
    fn account_locks_after_failures_until_the_window_ends() {
        let l = limiter();
        for _ in 0..2 {
            assert!(l.check("ip1", "a", 0).is_ok());
            l.failed("a", 0);
        }
        assert_eq!(l.check("ip2", "a", 10), Err(RetryAfter(50)));
        assert!(l.check("ip3", "a", 60).is_ok());
    }

    #[test]
    fn ip_is_limited_across_accounts() {
        let l = limiter();
        for acct in ["a", "b", "c"] {
            assert!(l.check("ip", acct, 0).is_ok());
        }
        assert!(l.check("ip", "d", 1).is_err());
        assert!(l.check("other-ip", "d", 1).is_ok());
    }

    #[test]
    fn a_rate_limiter_counts_per_key_and_window() {
        let r = RateLimiter::new(60, 2);
        assert!(r.check("a", 0).is_ok());
        assert!(r.check("a", 1).is_ok());
        assert_eq!(r.check("a", 2), Err(RetryAfter(58)));
        assert!(r.check("b", 2).is_ok());
        assert!(r.check("a", 60).is_ok());
    }

    #[test]
    fn success_clears_account_failures() {
        let l = limiter();
        l.failed("a", 0);
        l.failed("a", 0);
        l.succeeded("a");
        assert!(l.check("ip", "a", 1).is_ok());
    }
}
