//! The other workspaces of an integration (one Databricks app connection serves every
//! workspace of its account), and an integration as seen from one of them.

use sqlx::FromRow;

use super::integrations::IntegrationRow;
use super::{Store, StoreResult, classify};

/// A workspace an admin added to an integration, with its discovered endpoints.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct IntegrationHostRow {
    pub integration_id: String,
    pub host: String,
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub issuer_in_response: i64,
    pub added_at: i64,
    pub added_by: String,
}

impl IntegrationRow {
    /// This integration at another of its workspaces: that workspace's host and endpoints,
    /// the same client and generation.
    pub fn at_host(mut self, h: &IntegrationHostRow) -> IntegrationRow {
        self.host = h.host.clone();
        self.issuer = h.issuer.clone();
        self.authorization_endpoint = h.authorization_endpoint.clone();
        self.token_endpoint = h.token_endpoint.clone();
        self.issuer_in_response = h.issuer_in_response;
        self
    }
}

macro_rules! select_hosts {
    ($tail:literal) => {
        concat!(
            "SELECT integration_id, host, issuer, authorization_endpoint, token_endpoint, \
             issuer_in_response, added_at, added_by FROM integration_hosts ",
            $tail
        )
    };
}

impl Store {
    /// The workspaces added to an integration, in the order they were added.
    pub async fn integration_hosts(
        &self,
        integration_id: &str,
    ) -> StoreResult<Vec<IntegrationHostRow>> {
        Ok(sqlx::query_as::<_, IntegrationHostRow>(select_hosts!(
            "WHERE integration_id = $1 ORDER BY added_at, host"
        ))
        .bind(integration_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Adds a workspace; `Conflict` when it is already on the list.
    pub async fn add_integration_host(&self, h: &IntegrationHostRow) -> StoreResult<()> {
        let _changes = self.changes();
        sqlx::query(
            "INSERT INTO integration_hosts (integration_id, host, issuer, authorization_endpoint, token_endpoint, \
             issuer_in_response, added_at, added_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&h.integration_id)
        .bind(&h.host)
        .bind(&h.issuer)
        .bind(&h.authorization_endpoint)
        .bind(&h.token_endpoint)
        .bind(h.issuer_in_response)
        .bind(h.added_at)
        .bind(&h.added_by)
        .execute(self.pool())
        .await
        .map_err(classify)?;
        Ok(())
    }

    /// False when the workspace was not on the list.
    pub async fn remove_integration_host(
        &self,
        integration_id: &str,
        host: &str,
    ) -> StoreResult<bool> {
        let _changes = self.changes();
        let done =
            sqlx::query("DELETE FROM integration_hosts WHERE integration_id = $1 AND host = $2")
                .bind(integration_id)
                .bind(host)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes the credentials issued at one workspace of an integration (it was removed).
    pub async fn delete_host_credentials(
        &self,
        org_id: &str,
        integration_id: &str,
        host: &str,
    ) -> StoreResult<u64> {
        let _changes = self.changes();
        let done = sqlx::query(
            "DELETE FROM credentials WHERE org_id = $1 AND integration_id = $2 AND host = $3",
        )
        .bind(org_id)
        .bind(integration_id)
        .bind(host)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// `row` as seen from `host`: itself at its own host; with the endpoints of an added
    /// workspace; `None` when `host` is on neither (nothing may be sent there).
    pub async fn integration_at_host(
        &self,
        row: IntegrationRow,
        host: &str,
    ) -> StoreResult<Option<IntegrationRow>> {
        if row.host == host {
            return Ok(Some(row));
        }
        let added = sqlx::query_as::<_, IntegrationHostRow>(select_hosts!(
            "WHERE integration_id = $1 AND host = $2"
        ))
        .bind(&row.id)
        .bind(host)
        .fetch_optional(self.pool())
        .await?;
        Ok(added.map(|h| row.at_host(&h)))
    }

    /// An org's integration by id, as seen from a credential's `host` — or as stored when
    /// that host is no longer on its list (the credential's host check then voids it).
    pub async fn integration_for(
        &self,
        org_id: &str,
        id: &str,
        host: &str,
    ) -> StoreResult<Option<IntegrationRow>> {
        let Some(row) = self.integration_by_id(org_id, id).await? else {
            return Ok(None);
        };
        Ok(Some(
            match self.integration_at_host(row.clone(), host).await? {
                Some(at) => at,
                None => row,
            },
        ))
    }
}
