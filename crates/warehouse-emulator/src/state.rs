//! Everything the running emulator holds.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::config::{EmulatorConfig, SnowflakeIntegrationConfig, UserConfig};
use crate::databricks::oauth::PendingAuth;
use crate::databricks::statements::StatementRecord;
use crate::databricks::warehouses::Warehouse;
use crate::engine::authz::OAuthState;
use crate::engine::clock::EmuClock;
use crate::engine::faults::Faults;
use crate::engine::jwt::Signer;
use crate::engine::sql::Engine;

/// A configured workspace user.
#[derive(Debug, Clone)]
pub struct User {
    pub scim_id: String,
    pub config: UserConfig,
}

pub struct Shared {
    pub config: EmulatorConfig,
    /// Base of every URL the emulator emits (scheme, host, port; no trailing slash).
    pub base_url: String,
    pub clock: EmuClock,
    pub signer: Signer,
    pub users: Vec<User>,
    pub engine: Engine,
    pub oauth: Mutex<OAuthState>,
    pub pending: Mutex<HashMap<String, PendingAuth>>,
    pub faults: Mutex<Faults>,
    pub warehouses: Mutex<Vec<Warehouse>>,
    pub statements: Mutex<HashMap<String, StatementRecord>>,
    /// SQL API v2 statements by handle, and handles by (user, requestId).
    pub sf_statements: Mutex<HashMap<String, crate::snowflake::sql_api::SfStatement>>,
    pub sf_requests: Mutex<HashMap<(String, String), String>>,
    /// Snowflake security integrations by client id.
    pub snowflake: Mutex<HashMap<String, SnowflakeIntegrationConfig>>,
    /// Service principals and personal access tokens (Databricks).
    pub principals: Mutex<crate::databricks::principals::Principals>,
    /// The Google front-end's pending sign-ins, consents and knobs.
    pub google: Mutex<crate::google::GoogleState>,
    /// BigQuery jobs by job id.
    pub bq_jobs: Mutex<HashMap<String, crate::google::bigquery::jobs::Job>>,
}

/// Locks a mutex, recovering from poisoning (a panicked handler must not wedge the emulator).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub fn issuer(&self) -> String {
        format!("{}/oidc", self.base_url)
    }

    pub fn user(&self, email: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.config.email.eq_ignore_ascii_case(email))
    }

    /// A user's Snowflake login name: the email's local part in upper case (`ALICE`).
    pub fn login_name(&self, email: &str) -> String {
        email.split('@').next().unwrap_or(email).to_uppercase()
    }

    /// (SCIM id, display name) for token claims.
    pub fn user_facts(&self, email: &str) -> Option<(String, String)> {
        self.user(email)
            .map(|u| (u.scim_id.clone(), u.config.display_name.clone()))
    }
}
