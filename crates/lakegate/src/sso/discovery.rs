//! An identity provider's OpenID Connect metadata (`/.well-known/openid-configuration`),
//! accepted only when it names the issuer it was fetched for and supports what Lakegate
//! uses (the code flow with PKCE S256).

use serde::Deserialize;
use url::Url;

use crate::egress::{self, Egress};

/// The endpoints a sign-in uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    #[serde(default)]
    response_types_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
}

/// The metadata URL of `issuer` (OpenID Connect Discovery §4).
pub fn metadata_url(issuer: &str) -> Option<Url> {
    Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .ok()
}

/// Checks a metadata document fetched for `issuer`.
pub fn validate(issuer: &str, body: &[u8]) -> Result<Provider, String> {
    let m: Metadata = serde_json::from_slice(body)
        .map_err(|_| "the provider's metadata is not an OpenID Connect document".to_owned())?;
    let named = m.issuer.unwrap_or_default();
    if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(format!(
            "the provider's metadata names issuer {named:?}, not {issuer:?}"
        ));
    }
    let https = |which: &str, v: Option<String>| -> Result<String, String> {
        let v = v.unwrap_or_default();
        match Url::parse(&v) {
            Ok(u) if u.scheme() == "https" => Ok(v),
            _ => Err(format!("the provider's {which} is missing or not https")),
        }
    };
    if !m.response_types_supported.iter().any(|r| r == "code") {
        return Err("the provider does not offer the authorization code flow".into());
    }
    // Discovery may omit the PKCE methods; a provider that lists them must list S256.
    let lists_methods = !m.code_challenge_methods_supported.is_empty();
    if lists_methods
        && !m
            .code_challenge_methods_supported
            .iter()
            .any(|c| c == "S256")
    {
        return Err("the provider does not support PKCE with S256".into());
    }
    Ok(Provider {
        issuer: named,
        authorization_endpoint: https("authorization endpoint", m.authorization_endpoint)?,
        token_endpoint: https("token endpoint", m.token_endpoint)?,
        jwks_uri: https("key set (jwks_uri)", m.jwks_uri)?,
    })
}

/// GETs a small JSON document from the provider through the guarded client.
pub async fn fetch(egress: &Egress, url: &Url) -> Result<Vec<u8>, String> {
    let resp = egress
        .send(egress::Request {
            max_bytes: 256 * 1024,
            ..egress::Request::get(url)
        })
        .await
        .map_err(|e| format!("Lakegate could not reach the provider: {e}"))?;
    if resp.status != 200 {
        return Err(format!("the provider answered {} for {url}", resp.status));
    }
    Ok(resp.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: &str = "https://idp.example.com";

    fn doc(issuer: &str, token: &str, methods: &str) -> Vec<u8> {
        format!(
            r#"{{"issuer":"{issuer}","authorization_endpoint":"{I}/auth","token_endpoint":"{token}",
               "jwks_uri":"{I}/jwks","response_types_supported":["code"],"code_challenge_methods_supported":{methods}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_matching_document_is_accepted_and_others_say_why_not() {
        let p = validate(I, &doc(I, &format!("{I}/token"), r#"["S256"]"#)).unwrap();
        assert_eq!(p.jwks_uri, format!("{I}/jwks"));
        assert!(validate(I, &doc(I, &format!("{I}/token"), "[]")).is_ok());
        let other = validate(I, &doc("https://evil.example", &format!("{I}/token"), "[]"));
        assert!(other.unwrap_err().contains("evil.example"));
        let plain = validate(I, &doc(I, "http://idp.example.com/token", "[]"));
        assert!(plain.unwrap_err().contains("token endpoint"));
        let plain_only = validate(I, &doc(I, &format!("{I}/token"), r#"["plain"]"#));
        assert!(plain_only.unwrap_err().contains("S256"));
        assert!(validate(I, b"<html>").is_err());
    }
}
