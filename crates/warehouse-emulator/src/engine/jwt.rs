//! Access and ID tokens: JWTs signed RS256, as Databricks' and Google's are.
//!
//! `ring` signs RSA but cannot generate RSA keys, so the key is a fixed 2048-bit key made
//! for the emulator (`keys/jwt-signing-rs256.der`, PKCS#1 DER). It signs tokens of an
//! emulated workspace only and protects nothing; every emulator shares it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

pub struct Signer {
    key: RsaKeyPair,
    rng: SystemRandom,
}

#[derive(Debug, thiserror::Error)]
#[error("signing key error")]
pub struct KeyError;

pub const KEY_ID: &str = "emulator-rs256-1";

const KEY_DER: &[u8] = include_bytes!("../../keys/jwt-signing-rs256.der");

impl Signer {
    pub fn generate() -> Result<Signer, KeyError> {
        let key = RsaKeyPair::from_der(KEY_DER).map_err(|_| KeyError)?;
        Ok(Signer {
            key,
            rng: SystemRandom::new(),
        })
    }

    pub fn sign(&self, claims: &Value) -> Result<String, KeyError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KEY_ID});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, input.as_bytes(), &mut sig)
            .map_err(|_| KeyError)?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The public key as a JWK set.
    pub fn jwks(&self) -> Value {
        let public = PublicKeyComponents::<Vec<u8>>::from(self.key.public());
        json!({"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": KEY_ID,
                         "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e)}]})
    }
}

/// Decodes the claims of a JWT without verifying it (tests and diagnostics).
pub fn claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the emulator signs verifies against the key its JWKS publishes.
    #[test]
    fn tokens_verify_against_the_published_key() {
        let signer = Signer::generate().unwrap();
        let token = signer.sign(&json!({"sub": "x"})).unwrap();
        let jwk = &signer.jwks()["keys"][0];
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        let public = PublicKeyComponents { n: &n, e: &e };
        public
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                input.as_bytes(),
                &sig,
            )
            .unwrap();
        assert!(
            public
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, b"other", &sig)
                .is_err()
        );
        assert_eq!(claims(&token).unwrap()["sub"], "x");
    }
}
