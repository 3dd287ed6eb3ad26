//! The authorization server's records: apps, codes, refresh-token families, access
//! tokens, counters, and what its rules answer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{AppConfig, TokenPolicy};

/// Scopes every app allows implicitly, as in the account console.
pub const IMPLICIT_SCOPES: [&str; 4] = ["openid", "email", "profile", "offline_access"];

/// How a vendor's authorization server words its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Flavor {
    /// JWT access tokens; `offline_access` asks for a refresh token; `openid` for an ID token.
    #[default]
    Databricks,
    /// Opaque access tokens; `refresh_token` asks for a refresh token; no ID token.
    Snowflake,
    /// Opaque `ya29.` access tokens; `access_type=offline` (not a scope) asks for a refresh
    /// token; the front-end signs its own ID tokens (with the nonce).
    Google,
}

impl Flavor {
    /// The scope that asks for a refresh token, where one does.
    pub fn offline_scope(self) -> Option<&'static str> {
        match self {
            Flavor::Databricks => Some("offline_access"),
            Flavor::Snowflake => Some("refresh_token"),
            Flavor::Google => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub integration_id: String,
    pub name: String,
    pub client_id: String,
    #[serde(skip)]
    pub client_secret: Option<String>,
    pub confidential: bool,
    pub redirect_urls: Vec<String>,
    pub scopes: Vec<String>,
    pub token_access_policy: TokenPolicy,
    pub create_time: String,
    #[serde(skip)]
    pub flavor: Flavor,
}

impl App {
    pub fn from_config(c: &AppConfig) -> App {
        App {
            integration_id: random_id(16),
            name: c.name.clone(),
            client_id: c.client_id.clone(),
            client_secret: c.client_secret.clone(),
            confidential: c.client_secret.is_some(),
            redirect_urls: c.redirect_urls.clone(),
            scopes: c.scopes.clone(),
            token_access_policy: c.token_access_policy.clone(),
            create_time: String::new(),
            flavor: Flavor::Databricks,
        }
    }

    /// Whether every requested scope is one this app may grant.
    pub fn allows(&self, scopes: &[String]) -> Result<(), String> {
        match scopes
            .iter()
            .find(|s| !self.scopes.contains(s) && !IMPLICIT_SCOPES.contains(&s.as_str()))
        {
            Some(s) => Err(format!(
                "scope '{s}' is not allowed for OAuth application '{}'",
                self.client_id
            )),
            None => Ok(()),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct CodeGrant {
    pub(super) client_id: String,
    pub(super) redirect_uri: String,
    pub(super) user: String,
    pub(super) scopes: Vec<String>,
    pub(super) challenge: String,
    pub(super) expires_at: i64,
    pub(super) redeemed_family: Option<String>,
    pub(super) used: bool,
    /// Whether redeeming it gives a refresh token.
    pub(super) offline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RtState {
    Active,
    Rotated { at: i64, successor: String },
    Revoked,
}

#[derive(Debug, Clone)]
pub(super) struct RefreshRecord {
    pub(super) family: String,
    pub(super) client_id: String,
    pub(super) expires_at: i64,
    pub(super) state: RtState,
}

#[derive(Debug, Clone)]
pub(super) struct Family {
    /// Creation order (the oldest goes first when a cap is reached).
    pub(super) seq: u64,
    pub(super) client_id: String,
    pub(super) user: String,
    pub(super) scopes: Vec<String>,
    pub(super) absolute_expiry: Option<i64>,
    pub(super) revoked: bool,
}

#[derive(Debug, Clone)]
pub struct AccessRecord {
    pub user: String,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub expires_at: i64,
    pub(super) family: Option<String>,
}

/// Counters the control API reports.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counters {
    pub token_calls_authorization_code: u64,
    pub token_calls_refresh_token: u64,
    pub token_calls_other: u64,
    pub refresh_tokens_presented: u64,
    pub refresh_rotations: u64,
    /// Refresh requests that carried a `scope` (to narrow the grant; widening is refused).
    pub refresh_requests_with_scope: u64,
    pub reuse_detections: u64,
    pub codes_issued: u64,
    pub codes_redeemed: u64,
    pub rest_calls: u64,
    /// Downloads from the emulated cloud storage (EXTERNAL_LINKS), and how many of them
    /// carried an Authorization header (a client leaking its token; refused).
    pub storage_requests: u64,
    pub storage_requests_with_authorization: u64,
    /// Token requests being answered right now, and the most seen at once.
    pub token_in_flight: u64,
    pub token_in_flight_peak: u64,
}

/// A successful token response.
#[derive(Debug, Clone, Serialize)]
pub struct TokenSet {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Token endpoint failures, in OAuth's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    InvalidRequest(String),
    InvalidClient,
    InvalidGrant(String),
    /// Databricks' answer for any dead refresh token.
    DeadRefreshToken,
    UnsupportedGrantType,
    /// A refresh asked for a scope the grant does not hold.
    InvalidScope,
}

/// Why a REST call's bearer token is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    Invalid,
    /// Past its expiry (Databricks answers it as invalid; Snowflake names it).
    Expired,
    ExpiringSoon,
}

/// Identity facts the token service needs about a user.
pub struct UserFacts<'a> {
    pub email: &'a str,
    pub scim_id: &'a str,
    pub display_name: &'a str,
}

pub fn random_id(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn random_token(prefix: &str) -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(b))
}

/// RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
