//! Random tokens from the OS CSPRNG, and the hashes under which they are stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// 256 random bits, URL-safe base64, with a readable prefix (`lgs_`, `lgp_`, …).
pub fn token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a high-entropy token: SHA-256, hex. (Passwords use argon2 instead;
/// a 256-bit random token cannot be guessed, so a slow hash would only cost CPU.)
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality for secrets compared in memory (CSRF tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_long() {
        let a = token("lgs_");
        let b = token("lgs_");
        assert_ne!(a, b);
        assert!(a.starts_with("lgs_"));
        assert_eq!(a.len(), 4 + 43);
    }

    #[test]
    fn hash_is_stable_and_not_the_token() {
        assert_eq!(token_hash("x"), token_hash("x"));
        assert_ne!(token_hash("x"), "x");
        assert_eq!(token_hash("x").len(), 64);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
