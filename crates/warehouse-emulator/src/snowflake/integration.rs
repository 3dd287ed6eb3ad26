//! A security integration as the engine's OAuth app, and the roles Snowflake never lets a
//! user consent to.

use crate::config::{SnowflakeIntegrationConfig, TokenPolicy};
use crate::engine::authz::{App, Flavor};

/// Always blocked, whatever BLOCKED_ROLES_LIST says.
pub const ALWAYS_BLOCKED: [&str; 4] = [
    "ACCOUNTADMIN",
    "ORGADMIN",
    "GLOBALORGADMIN",
    "SECURITYADMIN",
];

/// Access tokens live ten minutes; refresh tokens for the integration's validity, counted
/// from the sign-in (a refresh without rotation hands back the same token, which keeps its
/// expiry; a rotated one starts a new full period, as Snowflake documents).
pub fn app(i: &SnowflakeIntegrationConfig) -> App {
    App {
        integration_id: i.name.clone(),
        name: i.name.clone(),
        client_id: i.client_id.clone(),
        client_secret: Some(i.client_secret.clone()),
        confidential: true,
        redirect_urls: vec![i.redirect_uri.clone()],
        scopes: vec![],
        token_access_policy: TokenPolicy {
            access_token_ttl_in_minutes: 10,
            refresh_token_ttl_in_minutes: i.refresh_token_validity_seconds / 60,
            enable_single_use_refresh_tokens: i.single_use_refresh_tokens,
            absolute_session_lifetime_in_minutes: None,
            reuse_grace_seconds: 0,
        },
        create_time: String::new(),
        flavor: Flavor::Snowflake,
    }
}

/// Whether a user may consent to `role` on this integration.
pub fn blocked(i: &SnowflakeIntegrationConfig, role: &str) -> bool {
    ALWAYS_BLOCKED.contains(&role) || i.blocked_roles.iter().any(|r| r == role)
}
