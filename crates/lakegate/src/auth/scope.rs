//! API token scopes, and which roles may hold them.

use serde::{Deserialize, Serialize};

use crate::accounts::Role;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum Scope {
    #[serde(rename = "connections:read")]
    ConnectionsRead,
    #[serde(rename = "connections:write")]
    ConnectionsWrite,
    #[serde(rename = "queries:run")]
    QueriesRun,
    #[serde(rename = "tokens:vend")]
    TokensVend,
    #[serde(rename = "admin")]
    Admin,
    /// Manage the end users a platform knows by its own ids (`/api/v1/users/by-external-id`).
    #[serde(rename = "users:write")]
    UsersWrite,
    /// Open connect sessions for a platform's end users (`/api/v1/connect-sessions`).
    #[serde(rename = "connect:write")]
    ConnectWrite,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::ConnectionsRead,
        Scope::ConnectionsWrite,
        Scope::QueriesRun,
        Scope::TokensVend,
        Scope::Admin,
        Scope::UsersWrite,
        Scope::ConnectWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::ConnectionsRead => "connections:read",
            Scope::ConnectionsWrite => "connections:write",
            Scope::QueriesRun => "queries:run",
            Scope::TokensVend => "tokens:vend",
            Scope::Admin => "admin",
            Scope::UsersWrite => "users:write",
            Scope::ConnectWrite => "connect:write",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The least role that may hold this scope: viewers only read, editors use their
    /// connections, admins administer.
    pub fn min_role(self) -> Role {
        match self {
            Scope::ConnectionsRead => Role::Viewer,
            Scope::ConnectionsWrite | Scope::QueriesRun | Scope::TokensVend => Role::Editor,
            Scope::Admin | Scope::UsersWrite | Scope::ConnectWrite => Role::Admin,
        }
    }
}

/// Parses `a,b` or `a b` into a sorted, de-duplicated list; unknown names are an error.
pub fn parse_list(input: &str) -> Result<Vec<Scope>, String> {
    let mut out = Vec::new();
    for name in input
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let scope = Scope::parse(name).ok_or_else(|| {
            format!(
                "unknown scope {name:?}; valid scopes are {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            )
        })?;
        out.push(scope);
    }
    out.sort();
    out.dedup();
    if out.is_empty() {
        return Err("at least one scope is required".into());
    }
    Ok(out)
}

/// The stored form: space-separated names.
/// Stored scope names back as scopes (unknown names, from a newer version, are ignored).
pub fn split(stored: &str) -> Vec<Scope> {
    stored.split(' ').filter_map(Scope::parse).collect()
}

pub fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commas_and_spaces_and_refuses_unknown() {
        assert_eq!(
            parse_list("queries:run, admin queries:run").unwrap(),
            vec![Scope::QueriesRun, Scope::Admin]
        );
        assert!(parse_list("root").unwrap_err().contains("root"));
        assert!(parse_list(" , ").is_err());
        assert_eq!(parse_list(&join(&Scope::ALL)).unwrap(), Scope::ALL.to_vec());
    }

    #[test]
    fn roles_bound_scopes() {
        assert!(Role::Viewer >= Scope::ConnectionsRead.min_role());
        assert!(Role::Viewer < Scope::QueriesRun.min_role());
        assert!(Role::Editor < Scope::Admin.min_role());
    }
}
