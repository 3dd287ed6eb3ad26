//! What personal API tokens and service keys share: a random secret shown once and stored
//! as its hash with a short prefix to recognise it by, a name, scopes, and a lifetime.

use crate::crypto::random;
use crate::secret::Secret;

pub const DEFAULT_TTL_DAYS: i64 = 90;
pub const MAX_TTL_DAYS: i64 = 366;
/// Only record `last_used_at` when it moved by at least this much (keeps reads cheap).
pub const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// A new secret: the value (shown once), its hash (stored) and its prefix (listed).
pub struct Minted {
    pub secret: Secret,
    pub hash: String,
    pub prefix: String,
}

pub fn mint(prefix: &str) -> Minted {
    let secret = Secret::new(random::token(prefix));
    Minted {
        hash: random::token_hash(secret.expose()),
        prefix: secret.expose().chars().take(prefix.len() + 6).collect(),
        secret,
    }
}

/// The trimmed name, 1–100 printable characters as sent; else why not.
pub fn name(what: &str, input: &str) -> Result<String, String> {
    let name = input.trim();
    // The limit counts what was sent, surrounding spaces included (as the API schema's
    // maxLength does).
    if name.is_empty() || input.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(format!(
            "the {what} name must be 1-100 printable characters"
        ));
    }
    Ok(name.to_owned())
}

/// Seconds until expiry for `days` (default 90), 1–366 days; else why not.
pub fn lifetime_seconds(days: Option<i64>) -> Result<i64, String> {
    let days = days.unwrap_or(DEFAULT_TTL_DAYS);
    if !(1..=MAX_TTL_DAYS).contains(&days) {
        return Err(format!(
            "expires_in_days must be between 1 and {MAX_TTL_DAYS}"
        ));
    }
    Ok(days * 86_400)
}

/// `active`, `expired` or `revoked`, as listings show it.
pub fn status(revoked_at: Option<i64>, expires_at: i64, now: i64) -> &'static str {
    match (revoked_at, now >= expires_at) {
        (Some(_), _) => "revoked",
        (None, true) => "expired",
        (None, false) => "active",
    }
}

/// Whether a last-used time is stale enough to write again.
pub fn touch_due(last_used_at: Option<i64>, now: i64) -> bool {
    last_used_at.is_none_or(|t| now - t >= TOUCH_INTERVAL_SECONDS)
}
