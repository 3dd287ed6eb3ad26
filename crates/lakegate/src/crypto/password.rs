//! Password hashing with argon2id, always off the async runtime (it is slow on purpose).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing task failed")]
    Join,
}

pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes a password (argon2id, default parameters, random salt) in PHC string form.
pub async fn hash(password: Secret) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    })
    .await
    .map_err(|_| PasswordError::Join)?
}

/// Checks a password against a stored hash. With `None` it still spends the same work on a
/// fixed dummy hash, so unknown users and wrong passwords take the same time.
pub async fn verify(password: Secret, stored: Option<String>) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&phc).map_err(|e| PasswordError::Hash(e.to_string()))?;
        let ok = Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        Ok(ok && known)
    })
    .await
    .map_err(|_| PasswordError::Join)?
}

/// argon2id hash of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J2vVJ1qJiUcJmkzD1ceiLOKNxqxH4s9fmumd3SNvDAk";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_and_is_not_the_password() {
        let h = hash(Secret::new("correct horse")).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
        assert!(
            verify(Secret::new("correct horse"), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify(Secret::new("wrong"), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies() {
        assert!(!verify(Secret::new("anything"), None).await.unwrap());
    }
}
