//! Databricks OAuth U2M: the admin registers an app connection in the account console and
//! types the workspace host; users sign in with authorization code + PKCE; SQL runs through
//! the Statement Execution API. Facts: `shared/design/databricks-facts.md`.

pub mod discovery;
pub mod host;
pub mod rest;
pub mod scopes;
pub mod shared;

pub use shared::{M2M, PAT};

use async_trait::async_trait;

use super::oauth::{ClientAuth, Dialect, RefreshLifetime};
use super::{DiscoveryError, Endpoints, Host, HostPolicy, Info, Provider};
use crate::egress::{Egress, Policy};
use crate::store::IntegrationRow;
use crate::warehouse::WarehouseApi;

/// Databricks' OAuth, as its workspaces answer.
pub const DIALECT: Dialect = Dialect {
    authorize_extra: &[],
    // As Databricks advertises (client_secret_post); Basic works too.
    client_auth: ClientAuth::Body,
    description_fields: &["error_description"],
    // Databricks says `invalid_request` "Refresh token is invalid" for dead tokens.
    dead_grant_codes: &["invalid_grant", "invalid_request"],
    client_rejected_codes: &["invalid_client", "unauthorized_client"],
    // A refresh never asks for more than was granted.
    refresh_sends_scope: false,
    // With rotation off an app connection keeps its refresh token.
    refresh_may_omit_refresh_token: true,
    refresh_lifetime: RefreshLifetime::SlidingIdle,
    revocation_endpoint: None,
    sends_nonce: false,
    one_grant_per_client: false,
};

/// Databricks' words are Lakegate's neutral ones.
pub const U2M_WORDS: super::Words = super::Words {
    fields: super::NEUTRAL_FIELDS,
    labels: ["SQL warehouse", "Catalog", "Schema"],
};

static INFO: Info = Info {
    id: "databricks",
    auth: "oauth-u2m",
    kind: "databricks-oauth-u2m",
    vendor: "Databricks",
    product: "Databricks",
    title: "OAuth U2M connections to Databricks",
    description: "Lets every user of the organization connect to Databricks as themselves (authorization code + PKCE).",
    callback_path: "/connections/oauth/databricks/callback",
    default_scopes: scopes::DEFAULT,
    // Refresh tokens live 7 days unused; no absolute limit.
    default_lifetimes: (10_080, None),
    hosts: HostPolicy::AdminTyped,
    session_roles: false,
    locations: false,
    dry_run: false,
    parameter_marker: ":",
    dialect: DIALECT,
    // The Statement Execution API has no idempotency key: a lost answer is never resent.
    idempotent_submit: false,
    arrow_stream: true,
    words: U2M_WORDS,
    renewal: super::Renewal::RefreshToken,
    // Its authorize page refuses an unregistered redirect naming the parameter (the exact
    // words are not documented: the emulator says "redirect_uri '…' not registered").
    redirect_refused: "redirect_uri",
};

/// Databricks OAuth U2M.
pub struct U2m;
pub static U2M: U2m = U2m;

#[async_trait]
impl Provider for U2m {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn parse_host(&self, input: &str, policy: &Policy) -> Result<Host, String> {
        let h = host::WorkspaceHost::parse(input, policy)?;
        Ok(Host {
            name: h.to_string(),
            base_url: h.base_url(),
        })
    }

    fn parse_scopes(&self, input: &str) -> Result<String, String> {
        scopes::parse(input)
    }

    async fn discover(&self, egress: &Egress, host: &Host) -> Result<Endpoints, DiscoveryError> {
        discovery::discover(egress, host).await
    }

    /// Databricks refuses an unknown client as `invalid_client` before it looks at the
    /// code: a made-up authorization code tells a rejected client from an accepted one.
    async fn check_client(
        &self,
        egress: &Egress,
        endpoints: &Endpoints,
        client: &super::oauth::Client<'_>,
    ) -> Result<(), DiscoveryError> {
        let grant = [
            ("grant_type", "authorization_code"),
            ("code", "lakegate-setup-check"),
            ("redirect_uri", "https://lakegate.invalid/setup-check"),
            (
                "code_verifier",
                "lakegate-setup-check-lakegate-setup-check-0123456789",
            ),
        ];
        super::client_check::check(
            egress,
            &DIALECT,
            "Databricks",
            &endpoints.token_endpoint,
            client,
            &grant,
        )
        .await
    }

    /// The workspace's origin as discovery found it (its token endpoint's origin), so a
    /// plain-http loopback workspace allowed by the operator is reached as it was checked.
    fn api_base(&self, integration: &IntegrationRow) -> String {
        url::Url::parse(&integration.token_endpoint)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_else(|_| format!("https://{}", integration.host))
    }

    fn warehouse<'a>(&self, egress: &'a Egress, base_url: &str) -> Box<dyn WarehouseApi + 'a> {
        Box::new(rest::Workspace::new(egress, base_url))
    }
}
