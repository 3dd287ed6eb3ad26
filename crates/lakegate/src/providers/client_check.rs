//! Checking a client id and secret at a token endpoint before they are stored, without a
//! user: a grant that cannot exist (a made-up refresh token or authorization code) is
//! refused as `invalid_grant` when the server accepted the client, and as `invalid_client`
//! (or `unauthorized_client`) when it did not.

use super::DiscoveryError;
use super::oauth::{self, Client, Dialect, TokenError};
use crate::egress::Egress;

/// A refresh with a token that cannot exist.
pub const IMPOSSIBLE_REFRESH: [(&str, &str); 2] = [
    ("grant_type", "refresh_token"),
    ("refresh_token", "lakegate-setup-check"),
];

/// Asks `token_endpoint` for an impossible `grant` as `client`.
pub async fn check(
    egress: &Egress,
    dialect: &Dialect,
    vendor: &str,
    token_endpoint: &str,
    client: &Client<'_>,
    grant: &[(&str, &str)],
) -> Result<(), DiscoveryError> {
    match oauth::token_request(egress, dialect, token_endpoint, client, grant).await {
        Err(TokenError::Rejected { code, .. }) if code == "invalid_grant" => Ok(()),
        Err(TokenError::Rejected {
            code, description, ..
        }) => Err(DiscoveryError::ClientRejected(format!(
            "{vendor} answered {code}: {description}"
        ))),
        Err(TokenError::Transport(why)) => Err(DiscoveryError::Unreachable(why)),
        Err(TokenError::Invalid(_)) => Err(DiscoveryError::NotMetadata),
        Err(TokenError::NoRefreshToken) | Ok(_) => Err(DiscoveryError::ClientRejected(
            "the token endpoint accepted a refresh token that cannot exist".into(),
        )),
    }
}
