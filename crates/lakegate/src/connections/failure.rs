//! Why a sign-in callback failed: a fixed code (safe in a URL) with a message for people.

/// Why a callback failed, as a fixed code (safe in a URL) with a message for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Cancelled,
    Malformed,
    IssuerMismatch,
    IntegrationChanged,
    InvalidClient,
    InvalidGrant,
    InvalidScope,
    TemporarilyUnavailable,
    ServerError,
    Unreachable,
    InvalidResponse,
    NoRefreshToken,
    IdentityFailed,
    ScopeNotGranted,
    IdTokenRefused,
}

impl Failure {
    pub const ALL: [Failure; 15] = [
        Failure::Cancelled,
        Failure::Malformed,
        Failure::IssuerMismatch,
        Failure::IntegrationChanged,
        Failure::InvalidClient,
        Failure::InvalidGrant,
        Failure::InvalidScope,
        Failure::TemporarilyUnavailable,
        Failure::ServerError,
        Failure::Unreachable,
        Failure::InvalidResponse,
        Failure::NoRefreshToken,
        Failure::IdentityFailed,
        Failure::ScopeNotGranted,
        Failure::IdTokenRefused,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Failure::Cancelled => "cancelled",
            Failure::Malformed => "malformed",
            Failure::IssuerMismatch => "issuer_mismatch",
            Failure::IntegrationChanged => "integration_changed",
            Failure::InvalidClient => "invalid_client",
            Failure::InvalidGrant => "invalid_grant",
            Failure::InvalidScope => "invalid_scope",
            Failure::TemporarilyUnavailable => "temporarily_unavailable",
            Failure::ServerError => "server_error",
            Failure::Unreachable => "unreachable",
            Failure::InvalidResponse => "invalid_response",
            Failure::NoRefreshToken => "no_refresh_token",
            Failure::IdentityFailed => "identity_failed",
            Failure::ScopeNotGranted => "scope_not_granted",
            Failure::IdTokenRefused => "id_token_refused",
        }
    }

    pub fn parse(code: &str) -> Option<Failure> {
        Failure::ALL.into_iter().find(|f| f.code() == code)
    }

    /// What the user (or their admin) can do about it, naming the provider's vendor.
    pub fn message(self, vendor: &str) -> String {
        self.text().replace("Databricks", vendor)
    }

    /// The message with the first provider's name, which `message` replaces.
    fn text(self) -> &'static str {
        match self {
            Failure::Cancelled => {
                "Sign-in cancelled: Databricks access was not granted. Sign in again when you are ready."
            }
            Failure::Malformed => {
                "Sign-in failed: Databricks sent back an answer Lakegate cannot use. Try again."
            }
            Failure::IssuerMismatch => {
                "Sign-in failed: the answer did not come from the configured Databricks workspace. Try again, and tell your administrator if it repeats."
            }
            Failure::IntegrationChanged => {
                "Sign-in failed: the administrator changed the Databricks integration while you were signing in. Sign in again."
            }
            Failure::InvalidClient => {
                "Sign-in failed: the client secret was rejected — ask your administrator to update the integration."
            }
            Failure::InvalidGrant => {
                "Sign-in failed: Databricks refused the authorization code (it may have expired). Sign in again."
            }
            Failure::InvalidScope => {
                "Sign-in failed: the Databricks app connection does not allow the requested scopes — ask your administrator to check them."
            }
            Failure::TemporarilyUnavailable => {
                "Sign-in failed: Databricks is temporarily unavailable. Try again in a few minutes."
            }
            Failure::ServerError => {
                "Sign-in failed: Databricks had an internal error. Try again later."
            }
            Failure::Unreachable => {
                "Sign-in failed: Lakegate could not reach the Databricks workspace. Try again, and tell your administrator if it repeats."
            }
            Failure::InvalidResponse => {
                "Sign-in failed: Databricks answered with an invalid token response. Tell your administrator."
            }
            Failure::NoRefreshToken => {
                "Sign-in failed: the Databricks app connection must allow the offline_access scope — ask your administrator."
            }
            Failure::IdentityFailed => {
                "Sign-in failed: Databricks did not say who you are (SCIM Me failed). Try again."
            }
            Failure::ScopeNotGranted => {
                "Sign-in incomplete: access to the warehouse was left unticked on the Databricks consent page, so Lakegate cannot run queries as you. Sign in again and allow it."
            }
            Failure::IdTokenRefused => {
                "Sign-in failed: Lakegate could not verify the identity Databricks sent. Try again, and tell your administrator if it repeats."
            }
        }
    }

    pub fn from_oauth_error(code: &str) -> Failure {
        match code {
            "access_denied" => Failure::Cancelled,
            "invalid_client" | "unauthorized_client" => Failure::InvalidClient,
            "invalid_grant" => Failure::InvalidGrant,
            "invalid_scope" => Failure::InvalidScope,
            "temporarily_unavailable" => Failure::TemporarilyUnavailable,
            "server_error" => Failure::ServerError,
            _ => Failure::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_messages_name_the_vendor() {
        for f in Failure::ALL {
            assert_eq!(Failure::parse(f.code()), Some(f));
        }
        let m = Failure::Cancelled.message("Snowflake");
        assert!(m.contains("Snowflake access was not granted"), "{m}");
        for f in Failure::ALL {
            assert!(!f.message("Snowflake").contains("Databricks"), "{f:?}");
        }
        assert_eq!(
            Failure::from_oauth_error("access_denied"),
            Failure::Cancelled
        );
    }
}
