//! A Google OAuth client as the engine's app, and the scopes Google knows.

use crate::config::{GoogleClientConfig, TokenPolicy};
use crate::engine::authz::{App, Flavor};

pub const BIGQUERY: &str = "https://www.googleapis.com/auth/bigquery";
pub const USERINFO_EMAIL: &str = "https://www.googleapis.com/auth/userinfo.email";
pub const USERINFO_PROFILE: &str = "https://www.googleapis.com/auth/userinfo.profile";

/// Scopes the emulated Google knows, with what the consent screen says of them. The
/// sign-in scopes (`openid`, email, profile) are granted without a checkbox.
pub const KNOWN: &[(&str, &str)] = &[
    ("openid", ""),
    (USERINFO_EMAIL, ""),
    (USERINFO_PROFILE, ""),
    (
        BIGQUERY,
        "View and manage your data in Google BigQuery and see the email address for your Google Account",
    ),
    (
        "https://www.googleapis.com/auth/bigquery.readonly",
        "View your data in Google BigQuery",
    ),
    (
        "https://www.googleapis.com/auth/cloud-platform",
        "See, edit, configure, and delete your Google Cloud data",
    ),
    (
        "https://www.googleapis.com/auth/cloud-platform.read-only",
        "View your data across Google Cloud services",
    ),
];

/// Google's name for a requested scope (`email` → the userinfo URL), or `None` when
/// Google does not know it (such as `offline_access`).
pub fn normalise(scope: &str) -> Option<&'static str> {
    let full = match scope {
        "email" => USERINFO_EMAIL,
        "profile" => USERINFO_PROFILE,
        other => other,
    };
    KNOWN.iter().find(|(s, _)| *s == full).map(|(s, _)| *s)
}

/// Whether a scope is granted with the sign-in itself (no checkbox).
pub fn is_sign_in(scope: &str) -> bool {
    KNOWN
        .iter()
        .any(|(s, label)| *s == scope && label.is_empty())
}

/// Access tokens live an hour; refresh tokens until revoked — or 7 days for a client
/// whose consent screen is still in "Testing".
pub fn app(c: &GoogleClientConfig) -> App {
    App {
        integration_id: c.client_id.clone(),
        name: "Lakegate".into(),
        client_id: c.client_id.clone(),
        client_secret: Some(c.client_secret.clone()),
        confidential: true,
        redirect_urls: c.redirect_uris.clone(),
        scopes: vec![],
        token_access_policy: TokenPolicy {
            access_token_ttl_in_minutes: 60,
            // Six months unused is Google's limit for published apps; the emulator does
            // not track idleness and lets them live 10 years instead.
            refresh_token_ttl_in_minutes: if c.testing {
                7 * 24 * 60
            } else {
                10 * 365 * 24 * 60
            },
            enable_single_use_refresh_tokens: false,
            absolute_session_lifetime_in_minutes: None,
            reuse_grace_seconds: 0,
        },
        create_time: String::new(),
        flavor: Flavor::Google,
    }
}
