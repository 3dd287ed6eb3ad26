//! Browser sessions: a random 256-bit id in a cookie, stored hashed, with idle and
//! absolute expiry and a per-session CSRF token.

use crate::auth::{Principal, Via};
use crate::crypto::random;
use crate::secret::Secret;
use crate::store::{SessionRow, Store, StoreError};

/// Session lifetimes from the config.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle_seconds: i64,
    pub absolute_seconds: i64,
}

/// Only touch `last_seen_at` once a minute, so reads do not become writes.
pub const TOUCH_INTERVAL_SECONDS: i64 = 60;

/// A new session for `user_id`: the cookie value (shown once) and the row to store.
pub fn new_session(user_id: &str, now: i64, life: Lifetimes) -> (Secret, SessionRow) {
    let id = Secret::new(random::token("lgs_"));
    let row = SessionRow {
        id_hash: random::token_hash(id.expose()),
        user_id: user_id.to_owned(),
        csrf_token: random::token(""),
        created_at: now,
        last_seen_at: now,
        expires_at: now + life.absolute_seconds,
    };
    (id, row)
}

/// Whether a stored session is still alive at `now`.
pub fn is_live(row: &SessionRow, now: i64, life: Lifetimes) -> bool {
    now < row.expires_at && now < row.last_seen_at + life.idle_seconds
}

/// The caller behind a session cookie's value, or `None` when the session is unknown,
/// expired (it is then deleted) or its user is gone or disabled. Touches the session at
/// most once a minute.
pub async fn resolve(
    store: &Store,
    cookie: &str,
    now: i64,
    life: Lifetimes,
) -> Result<Option<Principal>, StoreError> {
    let id_hash = random::token_hash(cookie);
    let Some(row) = store.session(&id_hash).await? else {
        return Ok(None);
    };
    if !is_live(&row, now, life) {
        store.delete_session(&id_hash).await?;
        return Ok(None);
    }
    let Some((user, org)) = store.user_with_org(&row.user_id).await? else {
        return Ok(None);
    };
    if user.disabled {
        return Ok(None);
    }
    if now - row.last_seen_at >= TOUCH_INTERVAL_SECONDS {
        store.touch_session(&id_hash, now).await?;
    }
    Ok(Some(Principal {
        user,
        org,
        via: Via::Session {
            id_hash,
            csrf_token: row.csrf_token,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Lifetimes = Lifetimes {
        idle_seconds: 100,
        absolute_seconds: 1000,
    };

    #[test]
    fn idle_and_absolute_expiry() {
        let (_, mut row) = new_session("u", 0, LIFE);
        assert!(is_live(&row, 99, LIFE));
        assert!(!is_live(&row, 100, LIFE));
        row.last_seen_at = 950;
        assert!(is_live(&row, 999, LIFE));
        assert!(!is_live(&row, 1000, LIFE));
    }

    #[test]
    fn the_cookie_value_is_not_what_is_stored() {
        let (id, row) = new_session("u", 0, LIFE);
        assert_ne!(row.id_hash, id.expose());
        assert_eq!(row.id_hash, random::token_hash(id.expose()));
        assert_ne!(row.csrf_token, id.expose());
    }
}
