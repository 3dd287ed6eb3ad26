//! The scopes a Databricks app connection grants: `offline_access` is required (without it
//! Databricks issues no refresh token), and an API scope.

pub const DEFAULT: &str = "all-apis offline_access";

/// Validates a space- or comma-separated scope list; `offline_access` is required because
/// without it Databricks issues no refresh token.
pub fn parse(input: &str) -> Result<String, String> {
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
            parse("all-apis, offline_access all-apis").unwrap(),
            "all-apis offline_access"
        );
        assert!(parse("all-apis").unwrap_err().contains("offline_access"));
        assert!(
            parse("offline_access openid")
                .unwrap_err()
                .contains("all-apis")
        );
        assert!(parse("all-apis offline_access DROP;").is_err());
    }
}
