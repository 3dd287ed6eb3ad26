//! Shared-identity connections (Databricks OAuth M2M and personal access tokens): created
//! with the secret that proves them, stored with their own client and their one credential
//! together, and given a new secret or token that replaces the old one only once it works.

use super::service::{ConnectionService, check_name, new_row};
use super::{ConnectionError, Purpose, credential_binding};
use crate::audit::{self, Actor, Event};
use crate::auth::Principal;
use crate::credentials::{SignIn, signed_in};
use crate::integrations::service::secret_binding;
use crate::providers::{self, Provider, Renewal};
use crate::secret::Secret;
use crate::store::{ConnectionRow, CredentialRow, IntegrationRow, IntegrationStatus};
use crate::tokens::shared::Proven;

/// What identifies a shared identity.
pub enum SharedSecret {
    /// A service principal's application (client) id and OAuth secret.
    M2m { client_id: String, secret: Secret },
    /// A personal access token.
    Pat { token: Secret },
}

impl SharedSecret {
    fn client_id(&self) -> &str {
        match self {
            SharedSecret::M2m { client_id, .. } => client_id,
            SharedSecret::Pat { .. } => "",
        }
    }

    fn secret(&self) -> &Secret {
        match self {
            SharedSecret::M2m { secret, .. } => secret,
            SharedSecret::Pat { token } => token,
        }
    }

    fn fits(&self, renewal: Renewal) -> bool {
        matches!(
            (self, renewal),
            (SharedSecret::M2m { .. }, Renewal::ClientCredentials)
                | (SharedSecret::Pat { .. }, Renewal::Static)
        )
    }
}

impl ConnectionService {
    /// Creates a shared-identity connection on the host the caller typed (checked by the
    /// egress policy and Databricks' discovery), once its secret has proven itself.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_shared(
        &self,
        p: &Principal,
        actor: &Actor,
        provider: &dyn Provider,
        name: &str,
        shared: bool,
        host: &str,
        secret: SharedSecret,
    ) -> Result<ConnectionRow, ConnectionError> {
        let name = check_name(name)?;
        let info = provider.info();
        if !secret.fits(info.renewal)
            || matches!(&secret, SharedSecret::M2m { client_id, .. } if client_id.is_empty())
        {
            return Err(ConnectionError::Invalid(
                "give client_id and client_secret for oauth-m2m, token for pat".into(),
            ));
        }
        let egress = self.tokens().egress();
        let host = provider
            .parse_host(host, egress.policy())
            .map_err(ConnectionError::Invalid)?;
        let endpoints = provider
            .discover(egress, &host)
            .await
            .map_err(|e| ConnectionError::Invalid(format!("{}: {e}", host.name)))?;
        let now = self.now();
        let connection_id = uuid::Uuid::now_v7().to_string();
        let mut client = IntegrationRow {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: p.org.id.clone(),
            kind: info.kind.into(),
            host: host.name.clone(),
            client_id: secret.client_id().to_owned(),
            client_secret_enc: vec![],
            scopes: info.default_scopes.into(),
            issuer: endpoints.issuer,
            authorization_endpoint: endpoints.authorization_endpoint,
            token_endpoint: endpoints.token_endpoint,
            generation: 1,
            status: IntegrationStatus::Configured,
            secret_updated_at: now,
            created_at: now,
            updated_at: now,
            updated_by: actor.label.clone(),
            refresh_ttl_minutes: info.default_lifetimes.0,
            absolute_lifetime_minutes: None,
            issuer_in_response: 0,
            default_compute: None,
            connection_id: Some(connection_id.clone()),
            setup_warning: None,
        };
        let proven = self
            .tokens()
            .prove(provider, &client, secret.secret())
            .await?;
        client.client_secret_enc = self.seal_client_secret(&client, &secret, now).await?;
        let credential = self
            .shared_credential(&client, (&connection_id, &p.user.id), &proven, now)
            .await?;
        let row = new_row(p, connection_id, name, info, &client, shared, now);
        self.store()
            .create_shared_connection(&row, &client, &credential)
            .await?;
        let event = Event::success("connection.create", row.id.clone())
            .with("name", row.name.clone())
            .with("auth", info.auth)
            .with("runs_as", proven.identity.user_name.clone())
            .with("shared", shared);
        audit::record(self.store(), actor, now, event).await?;
        Ok(row)
    }

    /// Gives a shared identity a new secret (M2M; a new client id too) or a new token
    /// (PAT). The old one keeps working until the new one has proven itself and both the
    /// client and the credential are replaced in one transaction.
    pub async fn replace_secret(
        &self,
        p: &Principal,
        actor: &Actor,
        id: &str,
        secret: SharedSecret,
    ) -> Result<(), ConnectionError> {
        let c = self.load(p, id, Purpose::Manage).await?;
        let provider = providers::by_connection(&c.provider, &c.auth)
            .filter(|p| p.info().renewal.shared_identity())
            .ok_or_else(|| {
                ConnectionError::Invalid(
                    "only OAuth M2M and personal access token connections hold a secret".into(),
                )
            })?;
        if !secret.fits(provider.info().renewal) {
            return Err(ConnectionError::Invalid(
                "give client_secret (and optionally client_id) for oauth-m2m, token for pat".into(),
            ));
        }
        let before = self
            .store()
            .integration_by_id(&p.org.id, &c.integration_id)
            .await?
            .ok_or(ConnectionError::NotFound)?;
        let now = self.now();
        let mut client = before.clone();
        if !secret.client_id().is_empty() && secret.client_id() != before.client_id {
            client.client_id = secret.client_id().to_owned();
            // Tokens of the old principal are void from now on.
            client.generation += 1;
        }
        client.status = IntegrationStatus::Configured;
        client.secret_updated_at = now;
        client.updated_at = now;
        client.updated_by = actor.label.clone();
        let proven = self
            .tokens()
            .prove(provider, &client, secret.secret())
            .await?;
        client.client_secret_enc = self.seal_client_secret(&client, &secret, now).await?;
        let credential = self
            .shared_credential(&client, (&c.id, &c.owner_id), &proven, now)
            .await?;
        if !self
            .store()
            .replace_shared_secret(&client, &credential)
            .await?
        {
            return Err(ConnectionError::NotFound);
        }
        let event = Event::success("connection.secret_replace", c.id.clone())
            .with("runs_as", proven.identity.user_name.clone());
        audit::record(self.store(), actor, now, event).await?;
        Ok(())
    }

    /// The client secret a service principal renews with; a token connection keeps its
    /// token in the credential only (its client holds an empty secret).
    async fn seal_client_secret(
        &self,
        client: &IntegrationRow,
        secret: &SharedSecret,
        now: i64,
    ) -> Result<Vec<u8>, ConnectionError> {
        let plain = match secret {
            SharedSecret::M2m { secret, .. } => secret.expose(),
            SharedSecret::Pat { .. } => "",
        };
        let binding = secret_binding(&client.org_id, &client.id);
        Ok(self
            .tokens()
            .keyring()
            .seal(self.store(), binding, plain.as_bytes(), now)
            .await?)
    }

    /// The one credential of a shared identity, kept under the connection's owner.
    async fn shared_credential(
        &self,
        client: &IntegrationRow,
        (connection_id, owner_id): (&str, &str),
        proven: &Proven,
        now: i64,
    ) -> Result<CredentialRow, ConnectionError> {
        let id = uuid::Uuid::now_v7().to_string();
        let keyring = self.tokens().keyring();
        let seal = |column: &'static str, value: &str| {
            let binding = credential_binding(&client.org_id, &id, column);
            let bytes = value.as_bytes().to_vec();
            async move { keyring.seal(self.store(), binding, &bytes, now).await }
        };
        let access_token_enc = seal("access_token", proven.access_token.expose()).await?;
        // No refresh token: renewal asks for a new grant (M2M), or there is none (PAT).
        let refresh_token_enc = seal("refresh_token", "").await?;
        Ok(signed_in(
            SignIn {
                id: id.clone(),
                connection_id,
                user_id: owner_id,
                integration: client,
                access_token_enc,
                refresh_token_enc,
                scopes: client.scopes.clone(),
                identity_id: proven.identity.id.clone(),
                identity_name: proven.identity.user_name.clone(),
                access_expires_at: now + proven.expires_in,
            },
            now,
        ))
    }
}
