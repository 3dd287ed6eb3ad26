//! Integrations an org admin configures. The first kind is the Databricks OAuth U2M app
//! of the seed: Client ID, Client Secret (encrypted, write-only), Host, scopes, and the
//! endpoints discovery found on that host.

pub mod discovery;
pub mod host;
pub mod service;

pub use host::WorkspaceHost;

/// The Databricks OAuth U2M integration's kind id (also its API path segment).
pub const DATABRICKS_U2M: &str = "databricks-oauth-u2m";
/// Where Databricks sends users back; admins register `<public_url>` + this.
pub const CALLBACK_PATH: &str = "/connections/oauth/databricks/callback";
pub const DEFAULT_SCOPES: &str = "all-apis offline_access";

/// An integration Lakegate offers.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

/// Every available integration, in the order the list shows them.
pub const KINDS: [Kind; 1] = [Kind {
    id: DATABRICKS_U2M,
    name: "OAuth U2M connections to Databricks",
    description: "Lets every user of the organization connect to Databricks as themselves (authorization code + PKCE).",
}];

/// The redirect URL to register in the Databricks account console.
pub fn redirect_url(public_url: &url::Url) -> String {
    format!(
        "{}{}",
        public_url.as_str().trim_end_matches('/'),
        CALLBACK_PATH
    )
}

/// Validates a space- or comma-separated scope list; `offline_access` is required because
/// without it Databricks issues no refresh token.
pub fn parse_scopes(input: &str) -> Result<String, String> {
    let mut scopes: Vec<&str> = Vec::new();
    for s in input
        .split([' ', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let valid = s.len() <= 64
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | ':')
            });
        if !valid {
            return Err(format!("{s:?} is not a valid scope"));
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    if !scopes.contains(&"offline_access") {
        return Err("the scopes must include offline_access, or Databricks issues no refresh token and users must sign in every hour".into());
    }
    if !scopes.iter().any(|s| *s == "all-apis" || *s == "sql") {
        return Err("the scopes must include all-apis (recommended) or sql".into());
    }
    Ok(scopes.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_need_offline_access_and_an_api_scope() {
        assert_eq!(
            parse_scopes("all-apis, offline_access all-apis").unwrap(),
            "all-apis offline_access"
        );
        assert!(
            parse_scopes("all-apis")
                .unwrap_err()
                .contains("offline_access")
        );
        assert!(
            parse_scopes("offline_access openid")
                .unwrap_err()
                .contains("all-apis")
        );
        assert!(parse_scopes("all-apis offline_access DROP;").is_err());
    }

    #[test]
    fn the_redirect_url_comes_from_the_public_url() {
        let u = url::Url::parse("https://lakegate.example.com").unwrap();
        assert_eq!(
            redirect_url(&u),
            "https://lakegate.example.com/connections/oauth/databricks/callback"
        );
    }
}
