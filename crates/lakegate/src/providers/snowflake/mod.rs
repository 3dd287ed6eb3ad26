//! Snowflake OAuth (a custom security integration), in the making: the account host
//! (host.rs), scopes (scopes.rs), the SQL admins run (setup_sql.rs), SQL API v2 columns
//! (columns.rs: their cells are typed by `warehouse::values`), and the OAuth dialect
//! below. The provider is not in `providers::ALL` until its sign-in and SQL API client
//! exist (issue 15). Facts: `shared/design/reference/snowflake-bigquery-research.md`,
//! part A.

pub mod columns;
pub mod host;
pub mod rest;
pub mod scopes;
pub mod setup_sql;

use super::oauth::{ClientAuth, Dialect, RefreshLifetime};

/// Snowflake's OAuth, at `/oauth/authorize` and `/oauth/token-request`.
pub const DIALECT: Dialect = Dialect {
    // Only Snowflake's own parameters: Google-style extras make it fail.
    authorize_extra: &[],
    // Basic over the raw id and secret (base64 with `+ / =`), as Snowflake's connector does.
    client_auth: ClientAuth::BasicRaw,
    // Errors are `{"error", "message", …}`, not RFC 6749's `error_description`.
    description_fields: &["message", "error_description"],
    dead_grant_codes: &["invalid_grant"],
    client_rejected_codes: &["invalid_client", "unauthorized_client"],
    refresh_sends_scope: false,
    // Without single-use rotation a refresh returns no refresh token: keep the old one.
    refresh_may_omit_refresh_token: true,
    // OAUTH_REFRESH_TOKEN_VALIDITY counts from the sign-in; refreshing does not extend it.
    refresh_lifetime: RefreshLifetime::Absolute,
    // No RFC 7009 endpoint is documented: revocation is Snowflake-side SQL.
    revocation_endpoint: None,
};
