//! Snowflake OAuth (a custom security integration): the account host (host.rs), scopes
//! (scopes.rs), the SQL admins run (setup_sql.rs), the setup check (check.rs), the SQL API
//! v2 client (rest.rs) and its columns (columns.rs: their cells are typed by
//! `warehouse::values`), and the OAuth dialect below. Facts:
//! `shared/design/reference/snowflake-bigquery-research.md`, part A.

pub mod check;
pub mod columns;
pub mod host;
pub mod rest;
pub mod scopes;
pub mod setup_sql;

use async_trait::async_trait;

use super::oauth::{Client, ClientAuth, Dialect, RefreshLifetime};
use super::{DiscoveryError, Endpoints, Host, HostPolicy, Info, Provider};
use crate::egress::{Egress, Policy};
use crate::store::IntegrationRow;
use crate::warehouse::WarehouseApi;

/// Snowflake's OAuth, at `/oauth/authorize` and `/oauth/token-request`.
pub const DIALECT: Dialect = Dialect {
    // Only Snowflake's own parameters: Google-style extras make it fail.
    authorize_extra: &[],
    // Basic over the raw id and secret (base64 with `+ / =`), as Snowflake's connector does.
    client_auth: ClientAuth::BasicRaw,
    // Errors are `{"error", "message", …}`, not RFC 6749's `error_description`.
    description_fields: &["message", "error_description"],
    dead_grant_codes: &["invalid_grant"],
    client_rejected_codes: &["invalid_client", "unauthorized_client"],
    refresh_sends_scope: false,
    // Without single-use rotation a refresh returns no refresh token: keep the old one.
    refresh_may_omit_refresh_token: true,
    // OAUTH_REFRESH_TOKEN_VALIDITY counts from the sign-in; refreshing does not extend it.
    refresh_lifetime: RefreshLifetime::Absolute,
    // No RFC 7009 endpoint is documented: revocation is Snowflake-side SQL.
    revocation_endpoint: None,
    sends_nonce: false,
    one_grant_per_client: false,
};

static INFO: Info = Info {
    id: "snowflake",
    auth: "oauth",
    kind: "snowflake-oauth",
    vendor: "Snowflake",
    product: "Snowflake",
    title: "OAuth connections to Snowflake",
    description: "Lets every user of the organization connect to Snowflake as themselves, with a role (a custom security integration; authorization code + PKCE).",
    callback_path: "/connections/oauth/snowflake/callback",
    default_scopes: "refresh_token",
    // OAUTH_REFRESH_TOKEN_VALIDITY's default, 90 days, counted from the sign-in.
    default_lifetimes: (129_600, Some(129_600)),
    hosts: HostPolicy::AdminTyped,
    session_roles: true,
    locations: false,
    dry_run: false,
    parameter_marker: ":",
    dialect: DIALECT,
    // `requestId` makes a resent submission run once.
    idempotent_submit: true,
    arrow_stream: false,
    words: super::Words {
        fields: ["warehouse", "database", "schema"],
        labels: ["Warehouse", "Database", "Schema"],
    },
    renewal: super::Renewal::RefreshToken,
    // Snowflake's error page: 390307 "Invalid redirect URI."
    redirect_refused: "390307",
};

/// Snowflake OAuth with a custom security integration.
pub struct Oauth;
pub static OAUTH: Oauth = Oauth;

#[async_trait]
impl Provider for Oauth {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn parse_host(&self, input: &str, policy: &Policy) -> Result<Host, String> {
        let h = host::AccountHost::parse(input, policy)?;
        Ok(Host {
            name: h.name,
            base_url: h.base_url,
        })
    }

    /// The integration's scope: `refresh_token`, and the default role's session scope.
    fn parse_scopes(&self, input: &str) -> Result<String, String> {
        scopes::parse(input)
    }

    async fn discover(&self, egress: &Egress, host: &Host) -> Result<Endpoints, DiscoveryError> {
        check::discover(egress, host).await
    }

    async fn check_client(
        &self,
        egress: &Egress,
        endpoints: &Endpoints,
        client: &Client<'_>,
    ) -> Result<(), DiscoveryError> {
        check::check_client(egress, endpoints, client).await
    }

    /// `refresh_token` with the connection's role, else the integration's default role.
    fn sign_in_scopes(&self, integration_scopes: &str, role: Option<&str>) -> String {
        match role {
            Some(r) => scopes::for_role(Some(r)),
            None => integration_scopes.to_owned(),
        }
    }

    fn check_role(&self, role: &str) -> Result<String, String> {
        scopes::check_role(role)
    }

    fn api_base(&self, integration: &IntegrationRow) -> String {
        integration.issuer.clone()
    }

    fn warehouse<'a>(&self, egress: &'a Egress, base_url: &str) -> Box<dyn WarehouseApi + 'a> {
        Box::new(rest::Account::new(egress, base_url))
    }
}
