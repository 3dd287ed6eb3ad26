//! Where Google is: its fixed endpoints on Google's hosts, or — where the operator set
//! `[egress] google_base_url` (tests and the demo's emulator) — the same paths under that
//! one base URL. Never anything an org admin types. Also the setup check: Google's
//! discovery document must name the expected issuer and endpoints on those hosts.

use serde::Deserialize;
use url::Url;

use crate::egress::{self, Egress, Policy};
use crate::providers::{DiscoveryError, Endpoints, Host};

/// Google's issuer as its discovery document and ID tokens name it.
pub const ISSUER: &str = "https://accounts.google.com";

/// Every Google URL the BigQuery provider uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Google {
    pub issuer: String,
    pub discovery: String,
    pub authorize: String,
    pub token: String,
    pub revoke: String,
    pub jwks: String,
    pub userinfo: String,
    /// The BigQuery REST base (`…/bigquery/v2` goes after it).
    pub api: String,
}

impl Google {
    /// Google itself.
    pub fn real() -> Google {
        Google {
            issuer: ISSUER.into(),
            discovery: format!("{ISSUER}/.well-known/openid-configuration"),
            authorize: format!("{ISSUER}/o/oauth2/v2/auth"),
            token: "https://oauth2.googleapis.com/token".into(),
            revoke: "https://oauth2.googleapis.com/revoke".into(),
            jwks: "https://www.googleapis.com/oauth2/v3/certs".into(),
            userinfo: "https://openidconnect.googleapis.com/v1/userinfo".into(),
            api: "https://bigquery.googleapis.com".into(),
        }
    }

    /// Google's paths under one base URL (the operator's setting).
    pub fn at(base: &str) -> Google {
        let b = base.trim_end_matches('/');
        Google {
            issuer: b.into(),
            discovery: format!("{b}/.well-known/openid-configuration"),
            authorize: format!("{b}/o/oauth2/v2/auth"),
            token: format!("{b}/token"),
            revoke: format!("{b}/revoke"),
            jwks: format!("{b}/oauth2/v3/certs"),
            userinfo: format!("{b}/v1/userinfo"),
            api: b.into(),
        }
    }

    /// Where the operator's policy says Google is.
    pub fn for_policy(policy: &Policy) -> Google {
        policy
            .google_base_url
            .as_ref()
            .map_or_else(Google::real, |u| Google::at(u.as_str()))
    }

    /// The Google an integration was saved with (its stored issuer says which).
    pub fn for_issuer(issuer: &str) -> Google {
        if issuer == ISSUER {
            Google::real()
        } else {
            Google::at(issuer)
        }
    }

    /// The Google whose BigQuery API is at `api` (an integration's `api_base`).
    pub fn for_api(api: &str) -> Google {
        let real = Google::real();
        if api.trim_end_matches('/') == real.api {
            real
        } else {
            Google::at(api)
        }
    }

    /// What is stored as the integration's host: the API host, with its port if any.
    pub fn host(&self) -> Host {
        let u = Url::parse(&self.api).ok();
        let name = u
            .as_ref()
            .and_then(|u| {
                u.host_str()
                    .map(|h| u.port().map_or(h.to_owned(), |p| format!("{h}:{p}")))
            })
            .unwrap_or_default();
        Host {
            name,
            base_url: self.api.clone(),
        }
    }
}

/// What an admin may put in the host field for BigQuery: nothing, or Google's own API host.
pub fn parse_host(input: &str, policy: &Policy) -> Result<Host, String> {
    let typed = input
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    if !typed.is_empty() && typed != "bigquery.googleapis.com" {
        return Err("BigQuery has no host to set: Google's endpoints are fixed".into());
    }
    Ok(Google::for_policy(policy).host())
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

/// Reads Google's discovery document and checks it names the expected issuer and
/// endpoints (compared exactly: Google's are fixed).
pub async fn discover(egress: &Egress) -> Result<Endpoints, DiscoveryError> {
    let g = Google::for_policy(egress.policy());
    let url = Url::parse(&g.discovery).map_err(|_| DiscoveryError::NotMetadata)?;
    let resp = egress
        .send(egress::Request {
            max_bytes: 256 * 1024,
            ..egress::Request::get(&url)
        })
        .await
        .map_err(|e| DiscoveryError::Unreachable(e.to_string()))?;
    match resp.status {
        200 => {}
        404 => return Err(DiscoveryError::NotEnabled),
        s => return Err(DiscoveryError::Status(s)),
    }
    let d: Discovery =
        serde_json::from_slice(&resp.body).map_err(|_| DiscoveryError::NotMetadata)?;
    if d.issuer != g.issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: g.issuer,
            got: d.issuer,
        });
    }
    for (which, got, want) in [
        (
            "authorization endpoint",
            &d.authorization_endpoint,
            &g.authorize,
        ),
        ("token endpoint", &d.token_endpoint, &g.token),
    ] {
        if got != want {
            return Err(DiscoveryError::OffOrigin {
                which,
                url: got.clone(),
            });
        }
    }
    if !d
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256")
    {
        return Err(DiscoveryError::NoS256);
    }
    Ok(Endpoints {
        issuer: g.issuer,
        authorization_endpoint: g.authorize,
        token_endpoint: g.token,
        issuer_in_response: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn googles_hosts_are_fixed_unless_the_operator_moves_them() {
        let real = Google::real();
        assert_eq!(real.host().name, "bigquery.googleapis.com");
        assert_eq!(Google::for_issuer(ISSUER), real);
        let emu = Google::at("https://127.0.0.1:8443/");
        assert_eq!(emu.token, "https://127.0.0.1:8443/token");
        assert_eq!(emu.host().name, "127.0.0.1:8443");
        assert_eq!(Google::for_issuer("https://127.0.0.1:8443"), emu);
        let policy = Policy::default();
        assert!(parse_host("", &policy).is_ok());
        assert!(parse_host("https://bigquery.googleapis.com/", &policy).is_ok());
        assert!(
            parse_host("evil.example", &policy).is_err(),
            "an admin never types a Google host"
        );
    }
}
