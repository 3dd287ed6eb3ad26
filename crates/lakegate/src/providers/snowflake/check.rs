//! Checking an admin's Snowflake setup before it is stored. Snowflake publishes no OAuth
//! discovery document: its endpoints are fixed paths on the account host, so the check is
//! that the host answers there, and — with a new secret — that the token endpoint accepts
//! the client: a refresh with a token that cannot exist is refused as `invalid_grant` for
//! a known client and `invalid_client` otherwise, and no user is involved.

use url::Url;

use super::DIALECT;
use crate::egress::{self, Egress, EgressError};
use crate::providers::oauth::Client;
use crate::providers::{DiscoveryError, Endpoints, Host};

pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const TOKEN_PATH: &str = "/oauth/token-request";

/// The account's endpoints, after checking that the host answers at the authorize path
/// (Snowflake shows an error page for a request without parameters; 404 means it is not
/// an account URL).
pub async fn discover(egress: &Egress, host: &Host) -> Result<Endpoints, DiscoveryError> {
    let authorize = format!("{}{AUTHORIZE_PATH}", host.base_url);
    let url =
        Url::parse(&authorize).map_err(|_| DiscoveryError::Unreachable("invalid host".into()))?;
    let resp = egress
        .send(egress::Request {
            max_bytes: 256 * 1024,
            ..egress::Request::get(&url)
        })
        .await
        .map_err(|e| match e {
            EgressError::Redirect { status, .. } => DiscoveryError::Status(status),
            other => DiscoveryError::Unreachable(other.to_string()),
        })?;
    match resp.status {
        404 => Err(DiscoveryError::NotEnabled),
        s if s >= 500 => Err(DiscoveryError::Status(s)),
        _ => Ok(Endpoints {
            issuer: host.base_url.clone(),
            authorization_endpoint: authorize,
            token_endpoint: format!("{}{TOKEN_PATH}", host.base_url),
            issuer_in_response: false,
        }),
    }
}

/// A refused client says so; a refused (impossible) grant means the client was accepted.
pub async fn check_client(
    egress: &Egress,
    endpoints: &Endpoints,
    client: &Client<'_>,
) -> Result<(), DiscoveryError> {
    crate::providers::client_check::check(
        egress,
        &DIALECT,
        "Snowflake",
        &endpoints.token_endpoint,
        client,
        &crate::providers::client_check::IMPOSSIBLE_REFRESH,
    )
    .await
}
