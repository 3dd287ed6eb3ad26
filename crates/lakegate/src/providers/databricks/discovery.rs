//! OAuth discovery for a workspace: fetch `/oidc/.well-known/oauth-authorization-server`
//! through the guarded client and accept it only if it is really this workspace's.

use serde::Deserialize;
use url::Url;

use crate::egress::{self, Egress, EgressError};
use crate::providers::{DiscoveryError, Endpoints, Host};

#[derive(Deserialize)]
struct Metadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Checks a discovery document against the host it came from.
pub fn validate(host: &Host, body: &[u8]) -> Result<Endpoints, DiscoveryError> {
    let m: Metadata = serde_json::from_slice(body).map_err(|_| DiscoveryError::NotMetadata)?;
    let base = host.base_url.clone();
    let expected = format!("{base}/oidc");
    let issuer = m.issuer.unwrap_or_default();
    if issuer.trim_end_matches('/') != expected {
        return Err(DiscoveryError::IssuerMismatch {
            expected,
            got: issuer,
        });
    }
    let origin = |u: &str| Url::parse(u).ok().map(|u| u.origin().ascii_serialization());
    let ours = origin(&base);
    let check = |which: &'static str, value: Option<String>| -> Result<String, DiscoveryError> {
        let value = value.unwrap_or_default();
        if origin(&value).is_some() && origin(&value) == ours {
            Ok(value)
        } else {
            Err(DiscoveryError::OffOrigin { which, url: value })
        }
    };
    let authorization_endpoint = check("authorization endpoint", m.authorization_endpoint)?;
    let token_endpoint = check("token endpoint", m.token_endpoint)?;
    if !m
        .code_challenge_methods_supported
        .iter()
        .any(|c| c == "S256")
    {
        return Err(DiscoveryError::NoS256);
    }
    Ok(Endpoints {
        issuer: expected,
        authorization_endpoint,
        token_endpoint,
        issuer_in_response: m.authorization_response_iss_parameter_supported,
    })
}

/// Fetches and validates the workspace's OAuth metadata.
pub async fn discover(egress: &Egress, host: &Host) -> Result<Endpoints, DiscoveryError> {
    let url = Url::parse(&format!(
        "{}/oidc/.well-known/oauth-authorization-server",
        host.base_url
    ))
    .map_err(|_| DiscoveryError::Unreachable("invalid host".into()))?;
    let resp = egress
        .send(egress::Request {
            max_bytes: 64 * 1024,
            ..egress::Request::get(&url)
        })
        .await
        .map_err(|e| match e {
            EgressError::Redirect { status, .. } => DiscoveryError::Status(status),
            EgressError::TooLarge { .. } => DiscoveryError::NotMetadata,
            other => DiscoveryError::Unreachable(other.to_string()),
        })?;
    match resp.status {
        200 => validate(host, &resp.body),
        404 => Err(DiscoveryError::NotEnabled),
        s => Err(DiscoveryError::Status(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::Policy;

    fn host() -> Host {
        use crate::providers::Provider;
        super::super::U2M
            .parse_host("dbc-1.cloud.databricks.com", &Policy::default())
            .unwrap()
    }

    fn doc(issuer: &str, auth: &str, token: &str, methods: &str) -> Vec<u8> {
        format!(r#"{{"issuer":"{issuer}","authorization_endpoint":"{auth}","token_endpoint":"{token}","code_challenge_methods_supported":{methods}}}"#)
            .into_bytes()
    }

    const B: &str = "https://dbc-1.cloud.databricks.com";

    #[test]
    fn a_real_looking_document_is_accepted() {
        let e = validate(
            &host(),
            &doc(
                &format!("{B}/oidc"),
                &format!("{B}/oidc/v1/authorize"),
                &format!("{B}/oidc/v1/token"),
                r#"["S256"]"#,
            ),
        )
        .unwrap();
        assert_eq!(e.token_endpoint, format!("{B}/oidc/v1/token"));
    }

    #[test]
    fn mismatches_are_refused_with_their_reason() {
        let auth = format!("{B}/oidc/v1/authorize");
        let token = format!("{B}/oidc/v1/token");
        let cases = [
            (
                doc("https://evil.example/oidc", &auth, &token, r#"["S256"]"#),
                "issuer does not match",
            ),
            (
                doc(
                    &format!("{B}/oidc"),
                    "https://evil.example/authorize",
                    &token,
                    r#"["S256"]"#,
                ),
                "authorization endpoint",
            ),
            (
                doc(
                    &format!("{B}/oidc"),
                    &auth,
                    "http://dbc-1.cloud.databricks.com/oidc/v1/token",
                    r#"["S256"]"#,
                ),
                "token endpoint",
            ),
            (
                doc(
                    &format!("{B}/oidc"),
                    &auth,
                    "https://dbc-1.cloud.databricks.com:8443/t",
                    r#"["S256"]"#,
                ),
                "token endpoint",
            ),
            (
                doc(&format!("{B}/oidc"), &auth, &token, r#"["plain"]"#),
                "S256",
            ),
            (b"<html>hello</html>".to_vec(), "not valid JSON"),
        ];
        for (body, expected) in cases {
            let err = validate(&host(), &body).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
