//! Snowflake's OAuth scopes: `refresh_token` (without it no refresh token is issued) and,
//! when a connection names a role, exactly one `session:role:<ROLE>` — or
//! `session:role-encoded:<percent-encoded>` for names with characters a scope cannot carry.
//! Never `offline_access`: Snowflake refuses it as an invalid scope. Role names are
//! case-sensitive and sent exactly as given.

/// The scope of an authorization request for a connection with `role`.
pub fn for_role(role: Option<&str>) -> String {
    match role.map(str::trim).filter(|r| !r.is_empty()) {
        None => "refresh_token".to_owned(),
        Some(r)
            if r.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') =>
        {
            format!("refresh_token session:role:{r}")
        }
        Some(r) => format!("refresh_token session:role-encoded:{}", encode(r)),
    }
}

/// Percent-encodes everything but letters, digits and `_` (a space is `%20`, not `+`).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// An integration's stored scope: `refresh_token` and at most one session role;
/// `offline_access` and anything else is refused, as Snowflake would.
pub fn parse(input: &str) -> Result<String, String> {
    let mut refresh = false;
    let mut role: Option<&str> = None;
    for t in input.split([' ', ',']).filter(|t| !t.is_empty()) {
        if t == "refresh_token" {
            refresh = true;
        } else if t.starts_with("session:role:") || t.starts_with("session:role-encoded:") {
            if role.replace(t).is_some() {
                return Err("name at most one session role".into());
            }
        } else {
            return Err(format!(
                "{t:?} is not a Snowflake scope (refresh_token, session:role:<ROLE>)"
            ));
        }
    }
    if !refresh {
        return Err(
            "the scope must include refresh_token, or Snowflake issues no refresh token".into(),
        );
    }
    Ok(match role {
        Some(r) => format!("refresh_token {r}"),
        None => "refresh_token".into(),
    })
}

/// A role a connection may name: 1–255 printable characters.
pub fn check_role(role: &str) -> Result<String, String> {
    let r = role.trim();
    if r.is_empty() || r.chars().count() > 255 || r.chars().any(char::is_control) {
        return Err("a Snowflake role name is 1–255 printable characters".into());
    }
    Ok(r.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_one_session_scope_encoded_when_it_must_be() {
        assert_eq!(for_role(None), "refresh_token");
        assert_eq!(for_role(Some("  ")), "refresh_token");
        assert_eq!(
            for_role(Some("ANALYST")),
            "refresh_token session:role:ANALYST"
        );
        assert_eq!(
            for_role(Some("analyst_2$")),
            "refresh_token session:role:analyst_2$"
        );
        assert_eq!(
            for_role(Some("AUTH SNOWFLAKE")),
            "refresh_token session:role-encoded:AUTH%20SNOWFLAKE"
        );
        assert_eq!(
            for_role(Some("Ré:le")),
            "refresh_token session:role-encoded:R%C3%A9%3Ale"
        );
        assert!(!for_role(Some("X")).contains("offline_access"));
        assert!(check_role("").is_err());
        assert!(check_role("A\u{7}").is_err());
        assert_eq!(check_role(" ANALYST ").unwrap(), "ANALYST");
    }

    #[test]
    fn an_integration_scope_is_refresh_token_and_one_role() {
        assert_eq!(parse("refresh_token").unwrap(), "refresh_token");
        assert_eq!(
            parse("session:role:ANALYST, refresh_token").unwrap(),
            "refresh_token session:role:ANALYST"
        );
        assert!(
            parse("session:role:A")
                .unwrap_err()
                .contains("refresh_token")
        );
        assert!(parse("refresh_token offline_access").is_err());
        assert!(parse("refresh_token session:role:A session:role:B").is_err());
    }
}
