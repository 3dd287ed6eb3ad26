//! The other workspaces of an integration: one Databricks app connection serves every
//! workspace of its account, so an admin adds workspace hosts to the integration — each
//! checked like the first (discovery, and the client at that workspace's token endpoint) —
//! and removes them. Tokens and the client secret only ever go to a host on this list.

use super::service::{IntegrationError, IntegrationService};
use crate::audit::{self, Actor, Event};
use crate::integrations::service::client_secret;
use crate::providers::{HostPolicy, Provider, oauth};
use crate::store::{IntegrationHostRow, StoreError};

impl IntegrationService {
    /// The workspaces added to the org's integration of `provider` (its first host not
    /// included).
    pub async fn hosts(
        &self,
        provider: &dyn Provider,
        org_id: &str,
    ) -> Result<Vec<IntegrationHostRow>, IntegrationError> {
        let row = self
            .get(provider, org_id)
            .await?
            .ok_or(IntegrationError::NotConfigured)?;
        Ok(self.store().integration_hosts(&row.id).await?)
    }

    /// Adds a workspace host, once its discovery and the stored client pass there.
    pub async fn add_host(
        &self,
        provider: &dyn Provider,
        actor: &Actor,
        org_id: &str,
        input: &str,
    ) -> Result<IntegrationHostRow, IntegrationError> {
        if provider.info().hosts != HostPolicy::AdminTyped {
            return Err(IntegrationError::Invalid(
                "this kind of integration has one fixed host".into(),
            ));
        }
        let row = self
            .get(provider, org_id)
            .await?
            .ok_or(IntegrationError::NotConfigured)?;
        let host = provider
            .parse_host(input, self.egress().policy())
            .map_err(IntegrationError::Invalid)?;
        if host.name == row.host {
            return Err(IntegrationError::Invalid(format!(
                "{} is already the integration's first workspace",
                host.name
            )));
        }
        let endpoints = provider.discover(self.egress(), &host).await?;
        let secret = client_secret(self.store(), self.keyring(), &row).await?;
        let client = oauth::Client {
            id: &row.client_id,
            secret: &secret,
        };
        provider
            .check_client(self.egress(), &endpoints, &client)
            .await?;
        let now = self.now();
        let added = IntegrationHostRow {
            integration_id: row.id.clone(),
            host: host.name.clone(),
            issuer: endpoints.issuer,
            authorization_endpoint: endpoints.authorization_endpoint,
            token_endpoint: endpoints.token_endpoint,
            issuer_in_response: i64::from(endpoints.issuer_in_response),
            added_at: now,
            added_by: actor.label.clone(),
        };
        match self.store().add_integration_host(&added).await {
            Err(StoreError::Conflict(_)) => {
                return Err(IntegrationError::Invalid(format!(
                    "{} is already one of the integration's workspaces",
                    host.name
                )));
            }
            other => other?,
        }
        let event = Event::success("integration.host_add", row.id).with("host", host.name);
        audit::record(self.store(), actor, now, event).await?;
        Ok(added)
    }

    /// Removes an added workspace, and every credential issued there under the integration.
    pub async fn remove_host(
        &self,
        provider: &dyn Provider,
        actor: &Actor,
        org_id: &str,
        host: &str,
    ) -> Result<(), IntegrationError> {
        let row = self
            .get(provider, org_id)
            .await?
            .ok_or(IntegrationError::NotConfigured)?;
        if !self.store().remove_integration_host(&row.id, host).await? {
            return Err(IntegrationError::UnknownHost(host.to_owned()));
        }
        let purged = self
            .store()
            .delete_host_credentials(org_id, &row.id, host)
            .await?;
        let event = Event::success("integration.host_remove", row.id)
            .with("host", host)
            .with("credentials_purged", purged);
        audit::record(self.store(), actor, self.now(), event).await?;
        Ok(())
    }
}
