//! The provider seam. A provider is one folder here plus one line in [`ALL`]: its OAuth
//! [`Dialect`](oauth::Dialect) (data), its host policy, how it checks an admin's setup,
//! and its [`WarehouseApi`](crate::warehouse::WarehouseApi) client. Everything else —
//! sign-in flows, token storage and refresh, queries, pages — is provider-neutral and
//! asks the provider through this trait.

pub mod bigquery;
pub mod client_check;
pub mod databricks;
pub mod oauth;
pub mod redirect_check;
pub mod snowflake;

use async_trait::async_trait;

use crate::egress::{Egress, Policy};
use crate::store::IntegrationRow;
use crate::warehouse::{Identity, WarehouseApi};

/// Where a provider's hosts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPolicy {
    /// The admin types the workspace or account host (checked against the egress policy).
    AdminTyped,
    /// The vendor's fixed endpoints; only the operator may point them elsewhere.
    Fixed,
}

/// What a provider is called and how it is set up: data, not code.
#[derive(Debug)]
pub struct Info {
    /// `provider` of a connection (`databricks`).
    pub id: &'static str,
    /// `auth` of a connection (`oauth-u2m`).
    pub auth: &'static str,
    /// The integration's kind id, also its API path segment (`databricks-oauth-u2m`).
    pub kind: &'static str,
    /// Who the user signs in with, in sentences ("Sign in with Databricks", "… Google").
    pub vendor: &'static str,
    /// The warehouse's name on pages ("BigQuery", where the vendor is Google).
    pub product: &'static str,
    /// The integration's title in Settings › Advanced › Integrations.
    pub title: &'static str,
    pub description: &'static str,
    /// Where the vendor sends users back; admins register `<public_url>` + this.
    pub callback_path: &'static str,
    pub default_scopes: &'static str,
    /// The vendor's default refresh-token lifetime and absolute session lifetime (minutes),
    /// used until an admin says what their registration configures.
    pub default_lifetimes: (i64, Option<i64>),
    pub hosts: HostPolicy,
    /// Whether a connection may name a session role (Snowflake), which its sign-in asks for.
    pub session_roles: bool,
    /// Whether a connection may name where its queries are processed (BigQuery).
    pub locations: bool,
    /// Whether the warehouse estimates a query without running it (BigQuery's dry run).
    pub dry_run: bool,
    /// How a statement names a parameter (`:name`; BigQuery: `@name`).
    pub parameter_marker: &'static str,
    pub dialect: oauth::Dialect,
    /// Whether a submission carries an idempotency key (`Submit::request_id`), so one
    /// whose answer was lost may be sent again; without one it is repeated only when the
    /// warehouse said it did not take it (429).
    pub idempotent_submit: bool,
    /// Results come as Arrow IPC streams when asked (Databricks' `ARROW_STREAM`), which
    /// Lakegate passes through; elsewhere an Arrow answer is refused (406).
    pub arrow_stream: bool,
    /// The vendor's words for where a connection points.
    pub words: Words,
    /// How an access token is renewed — which also says whose identity a connection is.
    pub renewal: Renewal,
    /// What the authorize endpoint's error page says when a redirect URL is not registered
    /// (empty: no redirect URL to check).
    pub redirect_refused: &'static str,
}

/// How a connection's access token is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Each user signs in and a refresh token renews it (U2M-style methods).
    RefreshToken,
    /// The connection's own client asks for a new token each time (`client_credentials`,
    /// no refresh token): the identity of a service principal, shared by its users.
    ClientCredentials,
    /// Never: the token is the one pasted, until the warehouse refuses it (a personal
    /// access token), shared by the connection's users.
    Static,
}

impl Renewal {
    /// Whether the connection runs as one identity for all its users (the owner's credential).
    pub fn shared_identity(self) -> bool {
        self != Renewal::RefreshToken
    }
}

/// What a vendor calls the three places a connection points at, which Lakegate stores as
/// warehouse, catalog and schema: the API accepts these field names (next to the neutral
/// ones) and the pages use the labels.
#[derive(Debug)]
pub struct Words {
    /// API field names for warehouse, catalog and schema.
    pub fields: [&'static str; 3],
    /// Page labels for the same three.
    pub labels: [&'static str; 3],
}

/// The neutral API field names, accepted for every provider.
pub const NEUTRAL_FIELDS: [&str; 3] = ["warehouse_id", "catalog", "schema"];

impl Words {
    /// The three places a body names: its neutral fields, overlaid with the vendor-named
    /// ones it gave (`(field, value)`). A vendor field of another provider, or a vendor
    /// field next to its neutral twin with another value, is refused.
    pub fn places(
        &self,
        mut neutral: [Option<String>; 3],
        named: Vec<(&'static str, String)>,
    ) -> Result<[Option<String>; 3], String> {
        for (field, value) in named {
            let Some(i) = self.fields.iter().position(|f| *f == field) else {
                return Err(format!(
                    "`{field}` is not a setting of this kind of connection (it takes `{}`, `{}` and `{}`)",
                    self.fields[0], self.fields[1], self.fields[2]
                ));
            };
            match &neutral[i] {
                Some(other) if *other != value => {
                    return Err(format!(
                        "`{field}` and `{}` name the same setting: give one of them",
                        NEUTRAL_FIELDS[i]
                    ));
                }
                _ => neutral[i] = Some(value),
            }
        }
        Ok(neutral)
    }
}

/// A host as the provider normalised it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// What is stored and shown: `host` or `host:port`.
    pub name: String,
    /// `https://host[:port]` (plain http only where the operator allowed it).
    pub base_url: String,
}

/// The endpoints Lakegate stores for an integration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    /// The server says its callbacks carry `iss` (RFC 9207), so one without it is refused.
    pub issuer_in_response: bool,
}

/// Why a provider's setup check refused a host.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiscoveryError {
    #[error("OAuth is not enabled for this host, or the host is wrong (discovery answered 404)")]
    NotEnabled,
    #[error("could not reach the host: {0}")]
    Unreachable(String),
    #[error("the host answered {0} to the discovery request")]
    Status(u16),
    #[error("the host did not answer with OAuth metadata (not valid JSON)")]
    NotMetadata,
    #[error("the issuer does not match: expected {expected}, got {got}")]
    IssuerMismatch { expected: String, got: String },
    #[error("the {which} ({url}) is not on the workspace host")]
    OffOrigin { which: &'static str, url: String },
    #[error("the workspace does not offer PKCE with S256")]
    NoS256,
    /// The provider refused the client id or secret (its own words).
    #[error("the client ID or secret was refused: {0}")]
    ClientRejected(String),
}

/// Why a sign-in's answer was not accepted (after the token request succeeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInRefused {
    /// The provider would not say who signed in.
    IdentityFailed,
    /// The user left out a permission the connection needs (granular consent).
    ScopeNotGranted,
    /// The ID token failed a check (a fixed code, safe to log).
    IdToken(&'static str),
}

/// One warehouse vendor's way of connecting.
#[async_trait]
pub trait Provider: Send + Sync {
    fn info(&self) -> &'static Info;
    /// Normalises what an admin typed as the host, or says what is wrong with it.
    fn parse_host(&self, input: &str, policy: &Policy) -> Result<Host, String>;
    /// Validates a scope list, returning it normalised.
    fn parse_scopes(&self, input: &str) -> Result<String, String>;
    /// Checks the host's OAuth endpoints before anything is stored.
    async fn discover(&self, egress: &Egress, host: &Host) -> Result<Endpoints, DiscoveryError>;
    /// Checks a newly entered client id and secret at the token endpoint, where the
    /// provider can tell a refused client from a refused grant without a user.
    async fn check_client(
        &self,
        _egress: &Egress,
        _endpoints: &Endpoints,
        _client: &oauth::Client<'_>,
    ) -> Result<(), DiscoveryError> {
        Ok(())
    }
    /// The scope a connection's sign-in asks for: the integration's, or — for providers
    /// with session roles — the one that names the connection's role.
    fn sign_in_scopes(&self, integration_scopes: &str, _role: Option<&str>) -> String {
        integration_scopes.to_owned()
    }
    /// A session role a connection names, checked and normalised; providers without
    /// session roles refuse every one.
    fn check_role(&self, _role: &str) -> Result<String, String> {
        Err("this kind of connection has no session role".into())
    }
    /// Who signed in, from a sign-in's tokens: by default the warehouse's own answer
    /// (`me`); a provider whose identity is the ID token checks it (and what the user
    /// granted) here. `nonce` is the one this sign-in sent, `now` the injected clock.
    async fn signed_in(
        &self,
        egress: &Egress,
        integration: &IntegrationRow,
        tokens: &oauth::Tokens,
        _nonce: &str,
        _now: i64,
    ) -> Result<Identity, SignInRefused> {
        self.warehouse(egress, &self.api_base(integration))
            .me(tokens.access_token.expose())
            .await
            .map_err(|_| SignInRefused::IdentityFailed)
    }
    /// Revokes a grant at the provider, where it offers that (a disconnect): `Ok(false)`
    /// when it does not. Lakegate deletes its copy whatever this answers.
    async fn revoke(
        &self,
        _egress: &Egress,
        _integration: &IntegrationRow,
        _token: &crate::secret::Secret,
    ) -> Result<bool, String> {
        Ok(false)
    }
    /// Where a connection's queries are processed, checked and normalised; providers
    /// without locations refuse every one.
    fn check_location(&self, _location: &str) -> Result<String, String> {
        Err("this kind of connection has no processing location".into())
    }
    /// The base URL of the warehouse API for an integration's credentials.
    fn api_base(&self, integration: &IntegrationRow) -> String;
    /// The warehouse API at `base_url`, over the guarded client.
    fn warehouse<'a>(&self, egress: &'a Egress, base_url: &str) -> Box<dyn WarehouseApi + 'a>;
}

/// Every provider whose users sign in under an org integration, in the order the
/// integrations page lists them.
pub static ALL: &[&dyn Provider] = &[&databricks::U2M, &snowflake::OAUTH, &bigquery::OAUTH];

/// Providers of shared identities: no org integration; each connection holds its own
/// client or token.
pub static SHARED: &[&dyn Provider] = &[&databricks::M2M, &databricks::PAT];

fn every() -> impl Iterator<Item = &'static dyn Provider> {
    ALL.iter().chain(SHARED).copied()
}

/// The provider of an integration kind (a connection's own client's too).
pub fn by_kind(kind: &str) -> Option<&'static dyn Provider> {
    every().find(|p| p.info().kind == kind)
}

/// The provider of a connection's `provider` and `auth`.
pub fn by_connection(provider: &str, auth: &str) -> Option<&'static dyn Provider> {
    every().find(|p| p.info().id == provider && p.info().auth == auth)
}

/// Whether a connection of `provider` and `auth` runs as one shared identity (its
/// owner's credential) for everyone who uses it.
pub fn shared_identity(provider: &str, auth: &str) -> bool {
    by_connection(provider, auth).is_some_and(|p| p.info().renewal.shared_identity())
}

/// The redirect URL admins register with the vendor: built from the public URL only.
pub fn redirect_url(public_url: &url::Url, info: &Info) -> String {
    format!(
        "{}{}",
        public_url.as_str().trim_end_matches('/'),
        info.callback_path
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redirect_url_comes_from_the_public_url() {
        let u = url::Url::parse("https://lakegate.example.com").unwrap();
        assert_eq!(
            redirect_url(&u, databricks::U2M.info()),
            "https://lakegate.example.com/connections/oauth/databricks/callback"
        );
    }

    #[test]
    fn vendor_field_names_fill_the_neutral_places() {
        let words = &snowflake::OAUTH.info().words;
        let got = words
            .places(
                [None, None, Some("PUBLIC".into())],
                vec![("warehouse", "WH".into()), ("database", "DB".into())],
            )
            .unwrap();
        assert_eq!(
            got,
            [Some("WH".into()), Some("DB".into()), Some("PUBLIC".into())]
        );
        // The same value under both names is one setting, not a conflict.
        assert!(
            words
                .places(
                    [Some("WH".into()), None, None],
                    vec![("warehouse", "WH".into())]
                )
                .is_ok()
        );
        let err = words
            .places(
                [Some("A".into()), None, None],
                vec![("warehouse", "B".into())],
            )
            .unwrap_err();
        assert!(err.contains("`warehouse` and `warehouse_id`"), "{err}");
        let err = databricks::U2M
            .info()
            .words
            .places([None, None, None], vec![("database", "DB".into())])
            .unwrap_err();
        assert!(err.contains("`database` is not a setting"), "{err}");
    }

    #[test]
    fn kinds_and_connections_find_their_provider() {
        assert!(by_kind("databricks-oauth-u2m").is_some());
        assert!(by_connection("databricks", "oauth-u2m").is_some());
        assert!(by_connection("databricks", "oauth-m2m").is_some());
        assert!(by_kind("databricks-pat").is_some());
        assert!(ALL.iter().all(|p| !p.info().renewal.shared_identity()));
        assert!(SHARED.iter().all(|p| p.info().renewal.shared_identity()));
        assert!(by_kind("nope").is_none());
    }
}
