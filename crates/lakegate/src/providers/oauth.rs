//! The OAuth client, one for every provider: PKCE, the authorization URL, token requests
//! (code exchange and refresh) and the checks on what the token endpoint answers. Where
//! providers differ — extra authorize parameters, how the client authenticates, where the
//! error description is, which errors mean what, whether refresh tokens rotate — is data:
//! a [`Dialect`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sha2::{Digest, Sha256};
use url::Url;

use crate::crypto::random;
use crate::egress::{self, Egress, EgressError};
use crate::secret::Secret;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (client_secret_post).
    Body,
    /// HTTP Basic over the raw id and secret, not form-encoded first (what Snowflake's own
    /// connector sends; ids and secrets with `+ / =` differ between the two styles).
    BasicRaw,
    /// HTTP Basic over the RFC 6749 §2.3.1 form-encoded id and secret.
    BasicFormEncoded,
}

/// How long a refresh token lives, which decides when a user must sign in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshLifetime {
    /// Dies after a period without use; every refresh (or rotation) starts it again
    /// (Databricks: 7 days by default; Google: 6 months unused).
    SlidingIdle,
    /// Dies a fixed time after the sign-in, whatever the use (Snowflake's
    /// OAUTH_REFRESH_TOKEN_VALIDITY).
    Absolute,
}

/// Everything about a provider's OAuth that is data rather than code.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// Authorize parameters beyond the standard ones (Google: `access_type=offline`, …).
    pub authorize_extra: &'static [(&'static str, &'static str)],
    pub client_auth: ClientAuth,
    /// Fields of an error answer that carry the description, first present wins
    /// (RFC 6749: `error_description`; Snowflake: `message`).
    pub description_fields: &'static [&'static str],
    /// Error codes that mean the grant is dead: the user must sign in again.
    pub dead_grant_codes: &'static [&'static str],
    /// Error codes that mean the client's own credentials were refused (an admin's problem).
    pub client_rejected_codes: &'static [&'static str],
    /// Whether a refresh sends `scope` (never to ask for more than was granted).
    pub refresh_sends_scope: bool,
    /// Whether a refresh may answer without a refresh token (then the old one is kept).
    pub refresh_may_omit_refresh_token: bool,
    pub refresh_lifetime: RefreshLifetime,
    /// An RFC 7009 revocation endpoint, if the provider has one.
    pub revocation_endpoint: Option<&'static str>,
    /// Whether the provider keeps a limited number of grants per user and client and drops
    /// the oldest (Google: 100): a new sign-in's tokens then go to every credential of that
    /// user and identity under the integration, so none keeps using a grant that may go.
    pub one_grant_per_client: bool,
    /// Whether a connection's sign-in sends an OpenID Connect `nonce` (providers whose
    /// identity is the ID token: [`nonce_for`]).
    pub sends_nonce: bool,
}

/// The nonce of the sign-in whose state is `state`: derived, so the flow stores nothing
/// more — the state is secret, single use and bound to the browser, and so is this.
pub fn nonce_for(state: &str) -> String {
    random::token_hash(&format!("nonce:{state}"))
}

impl Dialect {
    /// What an OAuth error code means for a refresh.
    pub fn classify(&self, code: &str) -> ErrorClass {
        if self.dead_grant_codes.contains(&code) {
            ErrorClass::DeadGrant
        } else if self.client_rejected_codes.contains(&code) {
            ErrorClass::ClientRejected
        } else {
            ErrorClass::Transient
        }
    }
}

/// The three things a token endpoint's refusal can mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    DeadGrant,
    ClientRejected,
    Transient,
}

/// The client's identity at a token endpoint.
pub struct Client<'a> {
    pub id: &'a str,
    pub secret: &'a Secret,
}

/// RFC 7636 S256: BASE64URL(SHA256(ASCII(verifier))).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A PKCE verifier: 256 random bits, 43 characters of the unreserved alphabet.
pub fn new_verifier() -> Secret {
    Secret::new(random::token(""))
}

/// The authorization request, built only from stored integration values.
pub fn authorize_url(
    dialect: &Dialect,
    authorization_endpoint: &str,
    client_id: &str,
    redirect_uri: &str,
    scopes: &str,
    state: &str,
    challenge: &str,
) -> Option<Url> {
    let mut url = Url::parse(authorization_endpoint).ok()?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", scopes)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in dialect.authorize_extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    Some(url)
}

/// Tokens from a successful exchange or refresh.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    pub refresh_token: Option<Secret>,
    pub expires_in: i64,
    pub scope: Option<String>,
    /// An OpenID Connect ID token, when the provider sent one (checked by its user).
    pub id_token: Option<Secret>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// The token endpoint said no, with its OAuth error code.
    #[error("{code}")]
    Rejected {
        code: String,
        description: String,
        retry_after: Option<i64>,
    },
    #[error("the token endpoint answered something that is not a valid token response: {0}")]
    Invalid(&'static str),
    #[error("the Databricks app connection must allow the offline_access scope")]
    NoRefreshToken,
    #[error("{0}")]
    Transport(String),
}

/// Longest access-token lifetime Lakegate believes (Databricks allows a day at most).
const MAX_EXPIRES_IN: i64 = 7 * 24 * 3600;

/// Checks a token endpoint answer (status and body) and extracts the tokens.
pub fn parse_token_response(
    dialect: &Dialect,
    status: u16,
    body: &[u8],
) -> Result<Tokens, TokenError> {
    // An error page from a gateway is not JSON; judge it by its status.
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let v = parsed.clone().unwrap_or(Value::Null);
    if !(200..300).contains(&status) || v.get("error").is_some() {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // Gateways and overloaded servers answer without an OAuth error code.
        let code = match (text("error"), status) {
            (c, _) if !c.is_empty() => c,
            (_, 429 | 503) => "temporarily_unavailable".to_owned(),
            (_, s) if s >= 500 => "server_error".to_owned(),
            _ => "invalid_request".to_owned(),
        };
        let description = dialect
            .description_fields
            .iter()
            .map(|f| text(f))
            .find(|d| !d.is_empty())
            .unwrap_or_default();
        return Err(TokenError::Rejected {
            code,
            description,
            retry_after: None,
        });
    }
    if parsed.is_none() {
        return Err(TokenError::Invalid("not JSON"));
    }
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Invalid("no access_token"))?;
    let token_type = v
        .get("token_type")
        .and_then(Value::as_str)
        .ok_or(TokenError::Invalid("no token_type"))?;
    if !token_type.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::Invalid("token_type is not Bearer"));
    }
    // Databricks sends a number; some servers send a string. Both are accepted.
    let expires_in = match v.get("expires_in") {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or(TokenError::Invalid("expires_in is not a whole number"))?,
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| TokenError::Invalid("expires_in is not a number"))?,
        None => return Err(TokenError::Invalid("no expires_in")),
        Some(_) => return Err(TokenError::Invalid("expires_in is not a number")),
    };
    if !(1..=MAX_EXPIRES_IN).contains(&expires_in) {
        return Err(TokenError::Invalid("expires_in is out of range"));
    }
    let refresh_token = v
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let scope = v.get("scope").and_then(Value::as_str).map(str::to_owned);
    let id_token = v
        .get("id_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    Ok(Tokens {
        access_token: Secret::new(access),
        refresh_token,
        expires_in,
        scope,
        id_token,
    })
}

/// The id and secret as `Authorization: Basic` carries them (reqwest joins them as given),
/// or `None` when they go in the body.
fn basic_credentials(auth: ClientAuth, client: &Client<'_>) -> Option<(String, Secret)> {
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    match auth {
        ClientAuth::Body => None,
        ClientAuth::BasicRaw => Some((client.id.to_owned(), client.secret.clone())),
        ClientAuth::BasicFormEncoded => {
            Some((enc(client.id), Secret::new(enc(client.secret.expose()))))
        }
    }
}

/// Posts a token request: `form` is the grant's parameters; the client authenticates the
/// way the dialect says.
pub async fn token_request(
    egress: &Egress,
    dialect: &Dialect,
    token_endpoint: &str,
    client: &Client<'_>,
    grant: &[(&str, &str)],
) -> Result<Tokens, TokenError> {
    let url = Url::parse(token_endpoint)
        .map_err(|_| TokenError::Transport("the stored token endpoint is not a URL".into()))?;
    let mut form: Vec<(&str, &str)> = grant.to_vec();
    if dialect.client_auth == ClientAuth::Body {
        form.push(("client_id", client.id));
        form.push(("client_secret", client.secret.expose()));
    }
    let credentials = basic_credentials(dialect.client_auth, client);
    let basic = credentials
        .as_ref()
        .map(|(id, secret)| (id.as_str(), secret.expose()));
    let resp = egress
        .send(egress::Request {
            max_bytes: 64 * 1024,
            basic,
            ..egress::Request::post_form(&url, &form)
        })
        .await
        .map_err(|e| match e {
            EgressError::TooLarge { .. } => TokenError::Invalid("oversized"),
            other => TokenError::Transport(other.to_string()),
        })?;
    let retry_after = resp
        .headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    parse_token_response(dialect, resp.status, &resp.body).map_err(|e| match e {
        TokenError::Rejected {
            code, description, ..
        } => TokenError::Rejected {
            code,
            description,
            retry_after,
        },
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc_7636_test_vector() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_long_random_and_unreserved() {
        let a = new_verifier();
        let b = new_verifier();
        assert_ne!(a.expose(), b.expose());
        assert!((43..=128).contains(&a.expose().len()));
        assert!(
            a.expose()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn the_authorize_url_carries_every_parameter() {
        let u = authorize_url(
            &crate::providers::databricks::DIALECT,
            "https://h.cloud.databricks.com/oidc/v1/authorize",
            "cid",
            "https://lg/cb",
            "all-apis offline_access",
            "st",
            "ch",
        )
        .unwrap();
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], "https://lg/cb");
        assert_eq!(q["scope"], "all-apis offline_access");
        assert_eq!(q["code_challenge_method"], "S256");
    }

    const RFC: Dialect = crate::providers::databricks::DIALECT;

    fn parse(body: &str) -> Result<Tokens, TokenError> {
        parse_token_response(&RFC, 200, body.as_bytes())
    }

    #[test]
    fn token_responses_are_checked() {
        let ok = parse(r#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","scope":"all-apis"}"#).unwrap();
        assert_eq!(
            (ok.expires_in, ok.refresh_token.unwrap().expose()),
            (3600, "r")
        );
        assert_eq!(
            parse(r#"{"access_token":"a","token_type":"bearer","expires_in":"3600"}"#)
                .unwrap()
                .expires_in,
            3600
        );
        for (body, why) in [
            ("<html>", "not JSON"),
            (
                r#"{"token_type":"Bearer","expires_in":3600}"#,
                "no access_token",
            ),
            (
                r#"{"access_token":"","token_type":"Bearer","expires_in":3600}"#,
                "no access_token",
            ),
            (
                r#"{"access_token":"a","token_type":"MAC","expires_in":3600}"#,
                "Bearer",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer"}"#,
                "no expires_in",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":0}"#,
                "out of range",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":99999999999}"#,
                "out of range",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
                "not a number",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":12.5}"#,
                "whole number",
            ),
        ] {
            let err = parse(body).unwrap_err().to_string();
            assert!(err.contains(why), "{body}: {err}");
        }
        let rejected = parse_token_response(
            &RFC,
            401,
            br#"{"error":"invalid_client","error_description":"bad"}"#,
        )
        .unwrap_err();
        assert_eq!(
            rejected,
            TokenError::Rejected {
                code: "invalid_client".into(),
                description: "bad".into(),
                retry_after: None
            }
        );
    }

    #[test]
    fn the_description_comes_from_the_dialects_field() {
        let snowflake_like = Dialect {
            description_fields: &["message", "error_description"],
            ..RFC
        };
        let body = br#"{"data":null,"message":"This is an invalid client.","code":null,"success":false,"error":"invalid_client"}"#;
        match parse_token_response(&snowflake_like, 400, body) {
            Err(TokenError::Rejected {
                code, description, ..
            }) => {
                assert_eq!(code, "invalid_client");
                assert_eq!(description, "This is an invalid client.");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_codes_are_classified_by_the_dialect() {
        assert_eq!(RFC.classify("invalid_grant"), ErrorClass::DeadGrant);
        // Databricks says `invalid_request` "Refresh token is invalid" for dead tokens.
        assert_eq!(RFC.classify("invalid_request"), ErrorClass::DeadGrant);
        assert_eq!(RFC.classify("invalid_client"), ErrorClass::ClientRejected);
        assert_eq!(
            RFC.classify("temporarily_unavailable"),
            ErrorClass::Transient
        );
    }

    #[test]
    fn basic_auth_is_raw_or_form_encoded() {
        let secret = Secret::new("s+/= x");
        let client = Client {
            id: "a+b/c=",
            secret: &secret,
        };
        let (id, s) = basic_credentials(ClientAuth::BasicRaw, &client).unwrap();
        assert_eq!((id.as_str(), s.expose()), ("a+b/c=", "s+/= x"));
        let (id, s) = basic_credentials(ClientAuth::BasicFormEncoded, &client).unwrap();
        assert_eq!((id.as_str(), s.expose()), ("a%2Bb%2Fc%3D", "s%2B%2F%3D+x"));
        assert!(basic_credentials(ClientAuth::Body, &client).is_none());
    }
}
