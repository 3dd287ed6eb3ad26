//! The provider-neutral warehouse model: what Lakegate asks of any warehouse (who am I,
//! which compute, which catalogs, run a statement, fetch its result parts, cancel), the
//! errors every provider maps its answers to, and the value typing of results. Each
//! provider implements [`WarehouseApi`] in its own folder under `providers/`.

pub mod epoch;
pub mod links;
pub mod model;
pub mod values;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::egress::EgressError;
pub use model::{Chunk, Column, Encoding, Manifest, Parameter, Rows, State, Statement, Submit};

/// How a warehouse answered, in the terms Lakegate acts on. A provider's client decides
/// which of its answers is which (Databricks: a 401, or a 403 about the token, is
/// `TokenRejected`; any other 403 is `PermissionDenied`).
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The access token is no good: refresh once and repeat the call.
    #[error("the warehouse did not accept the access token ({0})")]
    TokenRejected(String),
    /// A real permission error: never a reason to refresh.
    #[error("the warehouse denied access: {0}")]
    PermissionDenied(String),
    #[error("not found in the warehouse: {0}")]
    NotFound(String),
    #[error("the warehouse answered {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("the warehouse answered something Lakegate cannot read")]
    Malformed,
    /// Cloud storage refused a result-link download (403 usually: the link expired).
    #[error("downloading a result from cloud storage failed with HTTP {0}")]
    Storage(u16),
    #[error(transparent)]
    Egress(#[from] EgressError),
}

impl WarehouseError {
    /// The warehouse was too busy to take the call, so nothing happened and it may be
    /// repeated. `also_unavailable`: 502/503/504 and connection trouble count too — right
    /// for reads (polls, result parts), not for a submission whose answer was lost.
    pub fn busy(&self, also_unavailable: bool) -> bool {
        match self {
            WarehouseError::Upstream { status: 429, .. } => true,
            WarehouseError::Upstream { status, .. } => {
                also_unavailable && matches!(status, 502..=504)
            }
            // `Other` is a transport failure after connecting: a reset or a body cut short.
            WarehouseError::Egress(
                EgressError::Timeout { .. }
                | EgressError::Connect { .. }
                | EgressError::Other { .. },
            ) => also_unavailable,
            _ => false,
        }
    }
}

/// The signed-in user, as the warehouse knows them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct Identity {
    pub id: String,
    pub user_name: String,
    pub display_name: String,
}

/// Something a statement runs on: a Databricks SQL warehouse, a Snowflake warehouse, a
/// BigQuery billing project.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Compute {
    pub id: String,
    pub name: String,
    pub state: String,
}

/// One warehouse's API, called with the user's access token. Implementations go through
/// the egress guard and map every answer to [`WarehouseError`].
#[async_trait]
pub trait WarehouseApi: Send + Sync {
    /// Who the token belongs to.
    async fn me(&self, token: &str) -> Result<Identity, WarehouseError>;
    /// The compute the user may pick.
    async fn computes(&self, token: &str) -> Result<Vec<Compute>, WarehouseError>;
    /// One compute by id: by default, found among [`computes`](Self::computes).
    async fn compute(&self, token: &str, id: &str) -> Result<Compute, WarehouseError> {
        self.computes(token)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| WarehouseError::NotFound(format!("{id} (or no access to it)")))
    }
    /// Catalog browsing, every page followed to the end.
    async fn catalogs(&self, token: &str) -> Result<Vec<String>, WarehouseError>;
    async fn schemas(&self, token: &str, catalog: &str) -> Result<Vec<String>, WarehouseError>;
    async fn tables(
        &self,
        token: &str,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<serde_json::Value>, WarehouseError>;
    /// `SELECT 1` on `compute_id` (the connection test).
    async fn select_one(&self, token: &str, compute_id: &str) -> Result<(), WarehouseError>;
    async fn submit(&self, token: &str, req: &Submit<'_>) -> Result<Statement, WarehouseError>;
    /// The bytes `req` would process, without running it; `None` where the warehouse offers
    /// no estimate.
    async fn dry_run(
        &self,
        _token: &str,
        _req: &Submit<'_>,
    ) -> Result<Option<u64>, WarehouseError> {
        Ok(None)
    }
    async fn statement(&self, token: &str, id: &str) -> Result<Statement, WarehouseError>;
    /// Result part `index` (rows inline, or links to them).
    async fn chunk(&self, token: &str, id: &str, index: u64) -> Result<Chunk, WarehouseError>;
    async fn cancel(&self, token: &str, id: &str) -> Result<(), WarehouseError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(status: u16) -> WarehouseError {
        WarehouseError::Upstream {
            status,
            message: String::new(),
        }
    }

    #[test]
    fn a_429_is_always_busy_and_unavailability_only_where_repeating_is_harmless() {
        // Submissions without an idempotency key repeat only on 429.
        assert!(upstream(429).busy(false));
        assert!(!upstream(503).busy(false));
        assert!(
            !WarehouseError::Egress(EgressError::Timeout { host: "h".into() }).busy(false),
            "a lost answer to a submission is never resent"
        );
        // Reads (and idempotent submissions) also repeat on 502–504 and connection trouble.
        for status in [429, 502, 503, 504] {
            assert!(upstream(status).busy(true), "{status}");
        }
        assert!(
            WarehouseError::Egress(EgressError::Connect {
                host: "h".into(),
                reason: "reset".into()
            })
            .busy(true)
        );
        assert!(!upstream(500).busy(true));
        assert!(!WarehouseError::PermissionDenied("no".into()).busy(true));
    }
}
