//! BigQuery through Google OAuth: Google's fixed endpoints (google.rs), the scopes
//! (scopes.rs), the identity from the ID token and the granted scopes (identity.rs), the
//! REST client (rest.rs) and its columns (columns.rs). Facts:
//! `shared/design/reference/snowflake-bigquery-research.md`, part B.

pub mod answers;
pub mod columns;
pub mod google;
pub mod identity;
pub mod request;
pub mod rest;
pub mod scopes;

use async_trait::async_trait;
use url::Url;

use super::oauth::{Client, ClientAuth, Dialect, RefreshLifetime, Tokens};
use super::{DiscoveryError, Endpoints, Host, HostPolicy, Info, Provider, SignInRefused, Words};
use crate::egress::{self, Egress, Policy};
use crate::secret::Secret;
use crate::store::IntegrationRow;
use crate::warehouse::{Identity, WarehouseApi};

/// Google's OAuth for a "Web application" client.
pub const DIALECT: Dialect = Dialect {
    // A refresh token needs offline access, and Google sends one only when the consent
    // screen shows; earlier grants stay included.
    authorize_extra: &[
        ("access_type", "offline"),
        ("prompt", "consent"),
        ("include_granted_scopes", "true"),
    ],
    // Web-application clients send their secret in the body (client_secret_post).
    client_auth: ClientAuth::Body,
    description_fields: &["error_description"],
    // `invalid_grant` is "expired or revoked" — and `invalid_rapt`, the admin's session
    // control, which only a new sign-in ends.
    dead_grant_codes: &["invalid_grant"],
    client_rejected_codes: &["invalid_client", "unauthorized_client"],
    refresh_sends_scope: false,
    // Google never rotates: a refresh answers no refresh token.
    refresh_may_omit_refresh_token: true,
    // Six months unused, restarted by every use.
    refresh_lifetime: RefreshLifetime::SlidingIdle,
    revocation_endpoint: None,
    sends_nonce: true,
    one_grant_per_client: true,
};

static INFO: Info = Info {
    id: "bigquery",
    auth: "oauth",
    kind: "bigquery-oauth",
    vendor: "Google",
    product: "BigQuery",
    title: "OAuth connections to BigQuery",
    description: "Lets every user of the organization query BigQuery as themselves, signing in with their Google account (a Google OAuth client of type Web application).",
    callback_path: "/connections/oauth/bigquery/callback",
    default_scopes: scopes::DEFAULT,
    // Refresh tokens of published apps die after six months unused (testing-mode apps:
    // after seven days, whatever the use — the admin page says so).
    default_lifetimes: (262_800, None),
    hosts: HostPolicy::Fixed,
    session_roles: false,
    locations: true,
    dry_run: true,
    parameter_marker: "@",
    dialect: DIALECT,
    // `requestId` makes a resent jobs.query the same job.
    idempotent_submit: true,
    arrow_stream: false,
    words: Words {
        fields: ["project", "catalog", "dataset"],
        labels: ["Billing project", "Project", "Dataset"],
    },
    renewal: super::Renewal::RefreshToken,
    // Google's "Error 400: redirect_uri_mismatch".
    redirect_refused: "redirect_uri_mismatch",
};

/// BigQuery through Google OAuth.
pub struct Oauth;
pub static OAUTH: Oauth = Oauth;

#[async_trait]
impl Provider for Oauth {
    fn info(&self) -> &'static Info {
        &INFO
    }

    fn parse_host(&self, input: &str, policy: &Policy) -> Result<Host, String> {
        google::parse_host(input, policy)
    }

    fn parse_scopes(&self, input: &str) -> Result<String, String> {
        scopes::parse(input)
    }

    async fn discover(&self, egress: &Egress, _host: &Host) -> Result<Endpoints, DiscoveryError> {
        google::discover(egress).await
    }

    async fn check_client(
        &self,
        egress: &Egress,
        endpoints: &Endpoints,
        client: &Client<'_>,
    ) -> Result<(), DiscoveryError> {
        super::client_check::check(
            egress,
            &DIALECT,
            "Google",
            &endpoints.token_endpoint,
            client,
            &crate::providers::client_check::IMPOSSIBLE_REFRESH,
        )
        .await
    }

    async fn signed_in(
        &self,
        egress: &Egress,
        integration: &IntegrationRow,
        tokens: &Tokens,
        nonce: &str,
        now: i64,
    ) -> Result<Identity, SignInRefused> {
        identity::signed_in(egress, integration, tokens, nonce, now).await
    }

    /// Google's revoke endpoint: the refresh token ends the whole grant.
    async fn revoke(
        &self,
        egress: &Egress,
        integration: &IntegrationRow,
        token: &Secret,
    ) -> Result<bool, String> {
        let url = Url::parse(&google::Google::for_issuer(&integration.issuer).revoke)
            .map_err(|e| e.to_string())?;
        let form = [("token", token.expose())];
        let resp = egress
            .send(egress::Request {
                method: reqwest::Method::POST,
                form: Some(&form),
                ..egress::Request::get(&url)
            })
            .await
            .map_err(|e| e.to_string())?;
        match resp.status {
            200 => Ok(true),
            s => Err(format!("Google's revoke endpoint answered {s}")),
        }
    }

    /// A BigQuery location: a multi-region (`US`, `EU`) or a region (`europe-west2`).
    fn check_location(&self, location: &str) -> Result<String, String> {
        let l = location.trim();
        let ok = (2..=40).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-');
        if ok {
            Ok(l.to_owned())
        } else {
            Err("a BigQuery location is a multi-region such as US or EU, or a region such as europe-west2".into())
        }
    }

    fn api_base(&self, integration: &IntegrationRow) -> String {
        google::Google::for_issuer(&integration.issuer).api
    }

    fn warehouse<'a>(&self, egress: &'a Egress, base_url: &str) -> Box<dyn WarehouseApi + 'a> {
        Box::new(rest::BigQuery::new(egress, base_url))
    }
}
