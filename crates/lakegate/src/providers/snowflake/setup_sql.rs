//! The SQL an account admin runs in Snowflake to register Lakegate (shown pre-filled on
//! the integration page, with what to paste back). Pure.

/// The security integration's default name.
pub const INTEGRATION_NAME: &str = "LAKEGATE";
/// Snowflake's maximum for custom clients (90 days), and its default.
pub const DEFAULT_REFRESH_VALIDITY_SECONDS: i64 = 7_776_000;
/// Custom clients may not go below a day.
pub const MIN_REFRESH_VALIDITY_SECONDS: i64 = 86_400;

/// `CREATE SECURITY INTEGRATION` for a confidential custom client with refresh tokens.
pub fn create_integration(redirect_url: &str, refresh_validity_seconds: i64) -> String {
    // The redirect URL is Lakegate's own public URL: a quote in it would end the literal.
    let redirect = redirect_url.replace('\'', "''");
    format!(
        "CREATE SECURITY INTEGRATION {INTEGRATION_NAME}\n  TYPE = OAUTH\n  ENABLED = TRUE\n  \
         OAUTH_CLIENT = CUSTOM\n  OAUTH_CLIENT_TYPE = 'CONFIDENTIAL'\n  \
         OAUTH_REDIRECT_URI = '{redirect}'\n  OAUTH_ISSUE_REFRESH_TOKENS = TRUE\n  \
         OAUTH_REFRESH_TOKEN_VALIDITY = {refresh_validity_seconds};"
    )
}

/// Reads the client id and secrets back (`OAUTH_CLIENT_ID` and `OAUTH_CLIENT_SECRET` are
/// what the form takes; the name is case-sensitive, upper case as stored).
pub fn show_secrets() -> String {
    format!("SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('{INTEGRATION_NAME}');")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_names_the_redirect_url_and_validity_exactly() {
        let sql = create_integration(
            "https://lakegate.example.com/connections/oauth/snowflake/callback",
            DEFAULT_REFRESH_VALIDITY_SECONDS,
        );
        for part in [
            "CREATE SECURITY INTEGRATION LAKEGATE",
            "TYPE = OAUTH",
            "OAUTH_CLIENT = CUSTOM",
            "OAUTH_CLIENT_TYPE = 'CONFIDENTIAL'",
            "OAUTH_REDIRECT_URI = 'https://lakegate.example.com/connections/oauth/snowflake/callback'",
            "OAUTH_ISSUE_REFRESH_TOKENS = TRUE",
            "OAUTH_REFRESH_TOKEN_VALIDITY = 7776000;",
        ] {
            assert!(sql.contains(part), "{part}\n{sql}");
        }
        assert!(create_integration("https://x/'", 86_400).contains("'https://x/'''"));
        assert_eq!(
            show_secrets(),
            "SELECT SYSTEM$SHOW_OAUTH_CLIENT_SECRETS('LAKEGATE');"
        );
    }
}
