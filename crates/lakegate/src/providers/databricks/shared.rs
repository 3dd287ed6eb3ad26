//! Databricks' shared identities: OAuth M2M (a service principal's id and secret, a new
//! token from `client_credentials` each time) and personal access tokens (pasted, used as
//! they are until Databricks refuses them). Each connection holds its own client; hosts,
//! discovery and the REST client are U2M's.

use async_trait::async_trait;

use super::super::oauth::{ClientAuth, Dialect};
use super::super::{DiscoveryError, Endpoints, Host, HostPolicy, Info, Provider, Renewal};
use super::{DIALECT, U2M, U2M_WORDS};
use crate::egress::{Egress, Policy};
use crate::store::IntegrationRow;
use crate::warehouse::WarehouseApi;

/// The only scope a service principal's token is issued for.
pub const M2M_SCOPE: &str = "all-apis";

/// A shared identity has no refresh token to lapse and no consent to renew: its "sign in
/// again by" never comes (a hundred years, in minutes).
const NEVER_MINUTES: i64 = 100 * 365 * 24 * 60;

/// The `client_credentials` grant, id and secret in Basic as Databricks' own clients send them.
const M2M_DIALECT: Dialect = Dialect {
    client_auth: ClientAuth::BasicRaw,
    ..DIALECT
};

static M2M_INFO: Info = Info {
    id: "databricks",
    auth: "oauth-m2m",
    kind: "databricks-oauth-m2m",
    vendor: "Databricks",
    product: "Databricks",
    title: "OAuth M2M (service principal)",
    description: "Queries run as a Databricks service principal, for everyone who uses the connection.",
    callback_path: "",
    default_scopes: M2M_SCOPE,
    default_lifetimes: (NEVER_MINUTES, None),
    hosts: HostPolicy::AdminTyped,
    session_roles: false,
    locations: false,
    dry_run: false,
    parameter_marker: ":",
    dialect: M2M_DIALECT,
    idempotent_submit: false,
    arrow_stream: true,
    words: U2M_WORDS,
    renewal: Renewal::ClientCredentials,
    redirect_refused: "",
};

static PAT_INFO: Info = Info {
    id: "databricks",
    auth: "pat",
    kind: "databricks-pat",
    vendor: "Databricks",
    product: "Databricks",
    title: "Personal access token",
    description: "Queries run as the owner of a Databricks personal access token, for everyone who uses the connection.",
    callback_path: "",
    default_scopes: "",
    default_lifetimes: (NEVER_MINUTES, None),
    hosts: HostPolicy::AdminTyped,
    session_roles: false,
    locations: false,
    dry_run: false,
    parameter_marker: ":",
    dialect: DIALECT,
    idempotent_submit: false,
    arrow_stream: true,
    words: U2M_WORDS,
    renewal: Renewal::Static,
    redirect_refused: "",
};

/// A Databricks shared identity: U2M's host rules and REST client, its own renewal.
pub struct SharedIdentity(&'static Info);
pub static M2M: SharedIdentity = SharedIdentity(&M2M_INFO);
pub static PAT: SharedIdentity = SharedIdentity(&PAT_INFO);

#[async_trait]
impl Provider for SharedIdentity {
    fn info(&self) -> &'static Info {
        self.0
    }

    fn parse_host(&self, input: &str, policy: &Policy) -> Result<Host, String> {
        U2M.parse_host(input, policy)
    }

    fn parse_scopes(&self, _input: &str) -> Result<String, String> {
        Ok(self.0.default_scopes.to_owned())
    }

    /// Checks the host is a Databricks workspace (its OAuth metadata), whose token
    /// endpoint M2M uses and whose origin both use for the REST API.
    async fn discover(&self, egress: &Egress, host: &Host) -> Result<Endpoints, DiscoveryError> {
        U2M.discover(egress, host).await
    }

    fn api_base(&self, integration: &IntegrationRow) -> String {
        U2M.api_base(integration)
    }

    fn warehouse<'a>(&self, egress: &'a Egress, base_url: &str) -> Box<dyn WarehouseApi + 'a> {
        U2M.warehouse(egress, base_url)
    }
}
