//! Checks an OpenID Connect ID token (Core §3.1.3.7) against the org's provider: signed by
//! one of the provider's published keys with an asymmetric algorithm, from its issuer, for
//! this client, unexpired at the injected clock, carrying this sign-in's nonce, and naming
//! a verified email (in an allowed domain, where the caller has a list). Pure: the caller
//! fetched the keys.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::crypto::random;

/// Tokens a little past `exp` (or issued a little in the future) are still accepted, for
/// clocks that differ by less than this.
pub const LEEWAY_SECONDS: i64 = 60;

/// Asymmetric algorithms only: never `none`, never an HMAC keyed with the client secret.
const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// What this sign-in expects of its ID token.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The hash of the nonce sent with this sign-in's authorization request.
    pub nonce_hash: &'a str,
    pub now: i64,
    /// Lower-case domains the email's domain must be one of; `None`: any verified email
    /// (a warehouse sign-in, where the provider decides who may sign in).
    pub allowed_domains: Option<&'a [String]>,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: String,
    pub name: Option<String>,
}

/// Why an ID token was refused (a fixed code, safe to log and show).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the ID token is not a signed JWT")]
    Malformed,
    #[error("the ID token uses an algorithm Lakegate does not accept")]
    Algorithm,
    #[error("the ID token is signed with a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature is not valid")]
    Signature,
    #[error("the ID token comes from another issuer")]
    Issuer,
    #[error("the ID token was issued to another client")]
    Audience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token was issued in the future")]
    NotYetValid,
    #[error("the ID token carries no nonce")]
    MissingNonce,
    #[error("the ID token's nonce belongs to another sign-in")]
    Nonce,
    #[error("the provider did not assert a verified email")]
    Email,
    #[error("the email's domain is not allowed for this organization")]
    Domain,
}

impl Refused {
    pub fn code(self) -> &'static str {
        match self {
            Refused::Malformed => "malformed",
            Refused::Algorithm => "algorithm",
            Refused::UnknownKey => "unknown_key",
            Refused::Signature => "signature",
            Refused::Issuer => "issuer",
            Refused::Audience => "audience",
            Refused::Expired => "expired",
            Refused::NotYetValid => "not_yet_valid",
            Refused::MissingNonce => "missing_nonce",
            Refused::Nonce => "nonce",
            Refused::Email => "email",
            Refused::Domain => "domain",
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    azp: Option<String>,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<bool>,
    name: Option<String>,
}

/// The identity in `token`, if every check passes.
pub fn verify(token: &str, keys: &JwkSet, expected: &Expected) -> Result<Identity, Refused> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refused::Malformed)?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(Refused::Algorithm);
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        // Without a kid, only a provider with a single key is unambiguous.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(Refused::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Refused::UnknownKey)?;
    // The signature and algorithm here; every claim below, against the injected clock.
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Refused::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => Refused::Algorithm,
            _ => Refused::Malformed,
        })?
        .claims;
    check_claims(&claims, expected)?;
    let email = claims.email.unwrap_or_default().to_lowercase();
    Ok(Identity {
        subject: claims.sub,
        email,
        name: claims.name.filter(|n| !n.trim().is_empty()),
    })
}

fn check_claims(c: &Claims, e: &Expected) -> Result<(), Refused> {
    if c.iss.trim_end_matches('/') != e.issuer.trim_end_matches('/') {
        return Err(Refused::Issuer);
    }
    let audiences: Vec<&str> = match &c.aud {
        Audience::One(a) => vec![a.as_str()],
        Audience::Many(list) => list.iter().map(String::as_str).collect(),
    };
    // Several audiences need an `azp` naming this client (Core §3.1.3.7, items 3–5).
    let azp_ok = c.azp.as_deref().is_none_or(|azp| azp == e.client_id)
        && (audiences.len() == 1 || c.azp.is_some());
    if !audiences.contains(&e.client_id) || !azp_ok {
        return Err(Refused::Audience);
    }
    if e.now > c.exp + LEEWAY_SECONDS {
        return Err(Refused::Expired);
    }
    if c.iat > e.now + LEEWAY_SECONDS {
        return Err(Refused::NotYetValid);
    }
    let nonce = c.nonce.as_deref().ok_or(Refused::MissingNonce)?;
    if !random::constant_time_eq(
        random::token_hash(nonce).as_bytes(),
        e.nonce_hash.as_bytes(),
    ) {
        return Err(Refused::Nonce);
    }
    if c.sub.is_empty() {
        return Err(Refused::Malformed);
    }
    let email = c
        .email
        .as_deref()
        .filter(|_| c.email_verified == Some(true));
    let email = email.ok_or(Refused::Email)?.to_lowercase();
    let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
    let allowed = e
        .allowed_domains
        .is_none_or(|list| list.iter().any(|d| d == domain));
    if domain.is_empty() || !allowed {
        return Err(Refused::Domain);
    }
    Ok(())
}

/// At most this many allowed email domains per org.
const MAX_DOMAINS: usize = 20;

/// Lower-case domains, each a dotted DNS name.
pub fn check_domains(domains: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for d in domains {
        let d = d.trim().trim_start_matches('@').to_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if !d.contains('.') || d.len() > 253 || !d.split('.').all(label_ok) {
            return Err(format!("{d:?} is not an email domain such as example.com"));
        }
        if !out.contains(&d) {
            out.push(d);
        }
    }
    if out.is_empty() || out.len() > MAX_DOMAINS {
        return Err(format!(
            "list 1 to {MAX_DOMAINS} email domains whose people may sign in"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use warehouse_emulator::engine::jwt::Signer;

    const ISS: &str = "https://idp.example.com";
    const NOW: i64 = 1_800_000_000;

    fn claims() -> Value {
        json!({"iss": ISS, "sub": "s-1", "aud": "lakegate", "exp": NOW + 300, "iat": NOW,
               "nonce": "n-1", "email": "Ana@Acme.example", "email_verified": true, "name": "Ana"})
    }

    fn check(claims: &Value) -> Result<Identity, Refused> {
        let signer = Signer::generate().unwrap();
        let keys: JwkSet = serde_json::from_value(signer.jwks()).unwrap();
        let token = signer.sign(claims).unwrap();
        let domains = ["acme.example".to_owned()];
        let nonce_hash = random::token_hash("n-1");
        let expected = Expected {
            issuer: ISS,
            client_id: "lakegate",
            nonce_hash: &nonce_hash,
            now: NOW,
            allowed_domains: Some(&domains),
        };
        verify(&token, &keys, &expected)
    }

    fn with(key: &str, value: Value) -> Value {
        let mut c = claims();
        c[key] = value;
        c
    }

    fn without(key: &str) -> Value {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(key);
        c
    }

    #[test]
    fn a_good_token_names_its_subject_and_lower_case_email() {
        assert_eq!(
            check(&claims()).unwrap(),
            Identity {
                subject: "s-1".into(),
                email: "ana@acme.example".into(),
                name: Some("Ana".into()),
            }
        );
        // Several audiences with this client as the authorized party.
        let many = with("aud", json!(["lakegate", "api"]));
        assert_eq!(check(&many), Err(Refused::Audience));
        let mut many = many;
        many["azp"] = json!("lakegate");
        assert!(check(&many).is_ok());
    }

    #[test]
    fn every_claim_is_checked() {
        let cases = [
            (with("iss", json!("https://evil.example")), Refused::Issuer),
            (with("aud", json!("another-client")), Refused::Audience),
            (with("azp", json!("another-client")), Refused::Audience),
            (
                with("exp", json!(NOW - LEEWAY_SECONDS - 1)),
                Refused::Expired,
            ),
            (
                with("iat", json!(NOW + LEEWAY_SECONDS + 1)),
                Refused::NotYetValid,
            ),
            (without("nonce"), Refused::MissingNonce),
            (with("nonce", json!("n-of-another-sign-in")), Refused::Nonce),
            (without("email_verified"), Refused::Email),
            (with("email_verified", json!(false)), Refused::Email),
            (
                with("email", json!("ana@acme.example.evil")),
                Refused::Domain,
            ),
            (
                with("email", json!("ana@sub.acme.example")),
                Refused::Domain,
            ),
        ];
        for (c, refused) in cases {
            assert_eq!(check(&c), Err(refused), "{c}");
        }
        // Within the leeway, a late token still passes.
        assert!(check(&with("exp", json!(NOW - LEEWAY_SECONDS))).is_ok());
    }

    #[test]
    fn forged_unsigned_or_foreign_tokens_are_refused() {
        let signer = Signer::generate().unwrap();
        let keys: JwkSet = serde_json::from_value(signer.jwks()).unwrap();
        let nonce_hash = random::token_hash("n-1");
        let domains = ["acme.example".to_owned()];
        let expected = Expected {
            issuer: ISS,
            client_id: "lakegate",
            nonce_hash: &nonce_hash,
            now: NOW,
            allowed_domains: Some(&domains),
        };
        let good = signer.sign(&claims()).unwrap();
        let (head, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        use base64::Engine;
        let b64 =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        // Claims changed after signing.
        let tampered = format!("{head}.{}.{sig}", b64(&with("sub", json!("admin"))));
        assert_eq!(verify(&tampered, &keys, &expected), Err(Refused::Signature));
        // `alg: none` and HMAC are never accepted.
        for alg in ["none", "HS256"] {
            let h = b64(&json!({"alg": alg, "kid": warehouse_emulator::engine::jwt::KEY_ID}));
            let forged = format!("{h}.{}.{sig}", b64(&claims()));
            assert!(verify(&forged, &keys, &expected).is_err(), "{alg}");
        }
        // A key the provider does not publish.
        let h = b64(&json!({"alg": "RS256", "kid": "someone-elses"}));
        let foreign = format!("{h}.{}.{sig}", b64(&claims()));
        assert_eq!(verify(&foreign, &keys, &expected), Err(Refused::UnknownKey));
        assert_eq!(
            verify("not-a-jwt", &keys, &expected),
            Err(Refused::Malformed)
        );
    }
}
