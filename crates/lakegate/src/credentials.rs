//! Stored credentials as the core sees them: the error of using one, where their
//! ciphertexts belong, their status as the user sees it, and their deadlines. Shared by
//! `tokens` (which keeps them fresh) and `connections` (which shows and uses them).

use crate::crypto::envelope::{Binding, CryptoError};
use crate::integrations::IntegrationError;
use crate::providers::oauth::RefreshLifetime;
use crate::store::{CredentialRow, CredentialState, IntegrationRow, IntegrationStatus, StoreError};
use crate::warehouse::WarehouseError;

/// An access token is renewed when less than this remains (or a caller's minimum, if
/// larger).
pub const LEAD_SECONDS: i64 = 300;

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("{0}")]
    Invalid(String),
    #[error("connection not found")]
    NotFound,
    #[error(
        "this kind of connection is not configured for this organization: ask an administrator to configure its integration"
    )]
    NoIntegration,
    #[error("{0}")]
    Forbidden(&'static str),
    /// The warehouse refused a secret or token given for a shared identity (its words).
    #[error("{0}")]
    Rejected(String),
    #[error("you have not signed in on this connection yet")]
    NotSignedIn,
    #[error("sign in again: {0}")]
    ReauthRequired(String),
    /// The provider cannot renew the token right now and the current one has run out.
    #[error(
        "{vendor} is temporarily unavailable; Lakegate retries the token refresh with backoff (next attempt in {retry_after} s)"
    )]
    Unavailable {
        vendor: &'static str,
        retry_after: i64,
    },
    /// This process's clock is too far from the store's to take a refresh lease safely.
    #[error(transparent)]
    ClockSkew(#[from] crate::clock_skew::ClockSkew),
    /// A test's failpoint stopped the work as if the process had died there.
    #[error("interrupted at failpoint {0}")]
    Interrupted(&'static str),
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Integration(#[from] IntegrationError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a credential's ciphertexts belong.
pub fn credential_binding<'a>(
    org_id: &'a str,
    credential_id: &'a str,
    column: &'a str,
) -> Binding<'a> {
    Binding {
        org_id,
        table: "credentials",
        row_id: credential_id,
        column,
    }
}

/// A credential's state as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CredentialStatus {
    NotSignedIn,
    Active,
    ReauthRequired { reason: String },
    Revoked,
}

/// Derives the status: a credential issued under another host or client id is void.
pub fn status_of(
    cred: Option<&CredentialRow>,
    integration: Option<&IntegrationRow>,
) -> CredentialStatus {
    let Some(c) = cred else {
        return CredentialStatus::NotSignedIn;
    };
    let vendor = integration
        .and_then(|i| crate::providers::by_kind(&i.kind))
        .map_or("the warehouse", |p| p.info().vendor);
    match (c.status, integration) {
        (_, None) => CredentialStatus::ReauthRequired {
            reason: "the integration was removed".into(),
        },
        (CredentialState::Active, Some(i))
            if i.id != c.integration_id
                || i.generation != c.integration_generation
                || i.host != c.host =>
        {
            CredentialStatus::ReauthRequired {
                reason: format!("the administrator changed the {vendor} integration"),
            }
        }
        // A shared identity whose own secret was refused cannot renew until it is replaced
        // (an org integration's flag leaves its users' credentials alone: the admin fixes it).
        (CredentialState::Active, Some(i))
            if i.connection_id.is_some() && i.status == IntegrationStatus::ClientRejected =>
        {
            CredentialStatus::ReauthRequired {
                reason: client_rejected_reason(i, vendor),
            }
        }
        (CredentialState::Active, _) => CredentialStatus::Active,
        (CredentialState::Revoked, _) => CredentialStatus::Revoked,
        (CredentialState::ReauthRequired, _) => CredentialStatus::ReauthRequired {
            reason: c
                .status_reason
                .clone()
                .unwrap_or_else(|| format!("{vendor} refused the stored tokens")),
        },
    }
}

/// What users are told when the provider refuses the client a credential renews with: the
/// org's integration is the administrator's to fix; a shared identity's own secret is its
/// connection owner's.
pub fn client_rejected_reason(integration: &IntegrationRow, vendor: &str) -> String {
    if integration.connection_id.is_some() {
        format!("{vendor} rejected the service principal's secret — update it on the connection")
    } else {
        format!(
            "{vendor} rejected the integration's client credentials — an administrator must update the client secret"
        )
    }
}

/// When a credential's access token renews, and when its user must sign in again at the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub access_renews_at: i64,
    /// The earlier of the refresh token's lifetime and the absolute session lifetime.
    pub sign_in_needed_by: i64,
    /// The absolute session lifetime's end, when the integration has one.
    pub forced_reconsent_at: Option<i64>,
}

/// Deadlines from the stored times, the lifetimes the admin entered and the provider's
/// refresh-token lifetime model. Pure.
pub fn deadlines(
    cred: &CredentialRow,
    integration: &IntegrationRow,
    lifetime: RefreshLifetime,
) -> Deadlines {
    // A sliding lifetime starts again with every new refresh token; an absolute one runs
    // from the sign-in whatever the use.
    let refresh_from = match lifetime {
        RefreshLifetime::SlidingIdle => cred.refresh_issued_at,
        RefreshLifetime::Absolute => cred.session_started_at,
    };
    let idle_end = refresh_from + integration.refresh_ttl_minutes * 60;
    let forced = integration
        .absolute_lifetime_minutes
        .map(|m| cred.session_started_at + m * 60);
    Deadlines {
        access_renews_at: cred.access_expires_at - LEAD_SECONDS,
        sign_in_needed_by: forced.map_or(idle_end, |f| f.min(idle_end)),
        forced_reconsent_at: forced,
    }
}

/// What a sign-in produced: the sealed tokens, the granted scopes, who the user is in the
/// warehouse and when the access token expires.
pub struct SignIn<'a> {
    pub id: String,
    pub connection_id: &'a str,
    pub user_id: &'a str,
    pub integration: &'a IntegrationRow,
    pub access_token_enc: Vec<u8>,
    pub refresh_token_enc: Vec<u8>,
    pub scopes: String,
    pub identity_id: String,
    pub identity_name: String,
    pub access_expires_at: i64,
}

/// The credential a sign-in stores: active, version 1, its session starting `now`.
pub fn signed_in(s: SignIn<'_>, now: i64) -> CredentialRow {
    CredentialRow {
        id: s.id,
        connection_id: s.connection_id.to_owned(),
        user_id: s.user_id.to_owned(),
        org_id: s.integration.org_id.clone(),
        integration_id: s.integration.id.clone(),
        integration_generation: s.integration.generation,
        host: s.integration.host.clone(),
        access_token_enc: s.access_token_enc,
        refresh_token_enc: s.refresh_token_enc,
        scopes: s.scopes,
        databricks_user_id: s.identity_id,
        databricks_user_name: s.identity_name,
        access_expires_at: s.access_expires_at,
        refresh_issued_at: now,
        status: CredentialState::Active,
        status_reason: None,
        version: 1,
        created_at: now,
        updated_at: now,
        lease_until: None,
        session_started_at: now,
        last_used_at: Some(now),
        last_refresh_at: None,
        warned_at: None,
        failures: 0,
        next_attempt_at: None,
    }
}

/// A credential for unit tests: signed in at `session_started_at`, its access token
/// issued at `issued_at` and expiring at `expires_at`.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::store::{CredentialRow, CredentialState};

    pub fn credential(session_started_at: i64, issued_at: i64, expires_at: i64) -> CredentialRow {
        CredentialRow {
            id: "c".into(),
            connection_id: "k".into(),
            user_id: "u".into(),
            org_id: "o".into(),
            integration_id: "i".into(),
            integration_generation: 1,
            host: "h".into(),
            access_token_enc: vec![],
            refresh_token_enc: vec![],
            scopes: String::new(),
            databricks_user_id: "1".into(),
            databricks_user_name: "a".into(),
            access_expires_at: expires_at,
            refresh_issued_at: issued_at,
            status: CredentialState::Active,
            status_reason: None,
            version: 1,
            created_at: session_started_at,
            updated_at: issued_at,
            lease_until: None,
            session_started_at,
            last_used_at: None,
            last_refresh_at: Some(issued_at),
            warned_at: None,
            failures: 0,
            next_attempt_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred() -> CredentialRow {
        fixtures::credential(1_000, 5_000, 10_000)
    }

    fn integration(absolute_minutes: Option<i64>) -> IntegrationRow {
        IntegrationRow {
            id: "i".into(),
            org_id: "o".into(),
            kind: "databricks-oauth-u2m".into(),
            host: "h".into(),
            client_id: "c".into(),
            client_secret_enc: vec![],
            scopes: String::new(),
            issuer: String::new(),
            authorization_endpoint: String::new(),
            token_endpoint: String::new(),
            generation: 1,
            status: crate::store::IntegrationStatus::Configured,
            secret_updated_at: 0,
            created_at: 0,
            updated_at: 0,
            updated_by: String::new(),
            refresh_ttl_minutes: 100,
            absolute_lifetime_minutes: absolute_minutes,
            issuer_in_response: 0,
            default_compute: None,
            connection_id: None,
            setup_warning: None,
        }
    }

    #[test]
    fn a_sliding_refresh_lifetime_runs_from_the_last_rotation_an_absolute_one_from_sign_in() {
        let sliding = deadlines(&cred(), &integration(None), RefreshLifetime::SlidingIdle);
        assert_eq!(sliding.sign_in_needed_by, 5_000 + 6_000);
        assert_eq!(sliding.access_renews_at, 10_000 - 300);
        let absolute = deadlines(&cred(), &integration(None), RefreshLifetime::Absolute);
        assert_eq!(absolute.sign_in_needed_by, 1_000 + 6_000);
        assert_eq!(absolute.forced_reconsent_at, None);
    }

    #[test]
    fn an_absolute_session_lifetime_caps_the_deadline() {
        let d = deadlines(
            &cred(),
            &integration(Some(200)),
            RefreshLifetime::SlidingIdle,
        );
        assert_eq!(d.forced_reconsent_at, Some(1_000 + 12_000));
        assert_eq!(d.sign_in_needed_by, 11_000, "the earlier of the two");
        let d = deadlines(
            &cred(),
            &integration(Some(150)),
            RefreshLifetime::SlidingIdle,
        );
        assert_eq!(d.sign_in_needed_by, 1_000 + 9_000);
    }
}
