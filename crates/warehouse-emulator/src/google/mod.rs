//! A Google front-end on the shared engine: Google's OAuth 2.0 / OpenID Connect endpoints
//! (`oauth.rs`, `token.rs`, pages in `pages.rs`) and the BigQuery REST API v2 over the
//! sample data (`bigquery/`). Google's hosts are fixed (accounts.google.com,
//! oauth2.googleapis.com, bigquery.googleapis.com, openidconnect.googleapis.com,
//! www.googleapis.com); here they are one base URL with Google's paths, which Lakegate is
//! pointed at through an operator setting. Facts: the research brief, part B.

pub mod bigquery;
pub mod client;
mod faults;
pub mod oauth;
mod pages;
pub mod token;

use std::collections::{BTreeSet, HashMap, HashSet};

/// An authorization request between `/o/oauth2/v2/auth` and its answer.
#[derive(Debug, Clone)]
pub struct Pending {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The S256 challenge (a `plain` challenge is stored hashed, so one check serves both).
    pub challenge: String,
    pub offline: bool,
    pub prompt_consent: bool,
    pub include_granted_scopes: bool,
    pub user: Option<String>,
    pub expires_at: i64,
}

/// What the Google front-end remembers besides the engine's tokens.
#[derive(Default)]
pub struct GoogleState {
    pub pending: HashMap<String, Pending>,
    /// Scopes each user granted each client, ever (for `include_granted_scopes`, and to
    /// know whether the consent screen shows again).
    pub granted: HashMap<(String, String), BTreeSet<String>>,
    /// Nonces of codes not yet redeemed, for their ID tokens.
    pub nonces: HashMap<String, String>,
    /// Users whose next refresh answers `invalid_rapt` (the admin's session control).
    pub reauth_required: HashSet<String>,
    /// BigQuery jobs by (user, `requestId`).
    pub requests: HashMap<(String, String), String>,
    /// What is wrong with the next ID token issued (tests of a client's checks).
    pub tamper: Option<Tamper>,
}

/// A fault in an ID token, for testing what a client checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    WrongAudience,
    WrongIssuer,
    Expired,
    WrongNonce,
    NoNonce,
    BadSignature,
    UnverifiedEmail,
}
