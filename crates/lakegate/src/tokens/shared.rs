//! Proving a shared identity's secret before it is stored: a service principal's id and
//! secret must yield a token (one `client_credentials` request), and the token — that one,
//! or a pasted personal access token — must say who it is (SCIM `Me`).

use super::{TokenService, protocol};
use crate::credentials::ConnectionError;
use crate::providers::oauth::TokenError;
use crate::providers::{Provider, Renewal};
use crate::secret::Secret;
use crate::store::IntegrationRow;
use crate::warehouse::{Identity, WarehouseError};

/// A pasted token's lifetime is not known to Lakegate: it is used until the warehouse
/// refuses it (ten years stands for "no expiry known").
pub const STATIC_TOKEN_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// A proven secret: the access token it gave and who that is.
pub struct Proven {
    pub access_token: Secret,
    pub expires_in: i64,
    pub identity: Identity,
}

impl TokenService {
    /// Proves `secret` for `client` (a shared identity's own): `Rejected` with the vendor's
    /// reason when it is refused; nothing is stored here.
    pub async fn prove(
        &self,
        provider: &dyn Provider,
        client: &IntegrationRow,
        secret: &Secret,
    ) -> Result<Proven, ConnectionError> {
        let vendor = provider.info().vendor;
        let (access_token, expires_in) = match provider.info().renewal {
            Renewal::ClientCredentials => {
                let unused = Secret::new(String::new());
                let tokens = protocol::request(self.egress(), provider, client, secret, &unused)
                    .await
                    .map_err(|e| match e {
                        TokenError::Rejected {
                            code, description, ..
                        } => ConnectionError::Rejected(format!(
                            "{vendor} refused the service principal's credentials ({code}{}{description})",
                            if description.is_empty() { "" } else { ": " }
                        )),
                        other => ConnectionError::Rejected(format!(
                            "{vendor}'s token endpoint did not issue a token: {other}"
                        )),
                    })?;
                (tokens.access_token, tokens.expires_in)
            }
            Renewal::Static => (secret.clone(), STATIC_TOKEN_SECONDS),
            Renewal::RefreshToken => {
                return Err(ConnectionError::Invalid(
                    "this kind of connection is signed in to by each user".into(),
                ));
            }
        };
        let identity = provider
            .warehouse(self.egress(), &provider.api_base(client))
            .me(access_token.expose())
            .await
            .map_err(|e| match e {
                WarehouseError::TokenRejected(m) | WarehouseError::PermissionDenied(m) => {
                    ConnectionError::Rejected(format!("{vendor} refused the token: {m}"))
                }
                other => ConnectionError::Warehouse(other),
            })?;
        Ok(Proven {
            access_token,
            expires_in,
            identity,
        })
    }

    /// Proves a stored shared identity again (`lakegate doctor`): the service principal's
    /// secret, or the personal access token its connection holds, against its workspace.
    pub async fn reprove(&self, client: &IntegrationRow) -> Result<Proven, ConnectionError> {
        let provider = super::provider_of(client)?;
        let secret = match provider.info().renewal {
            Renewal::ClientCredentials => {
                crate::integrations::service::client_secret(&self.store, &self.keyring, client)
                    .await?
            }
            Renewal::Static => {
                let conn_id = client
                    .connection_id
                    .as_deref()
                    .ok_or(ConnectionError::NotFound)?;
                let conn = self
                    .store
                    .connection(&client.org_id, conn_id)
                    .await?
                    .ok_or(ConnectionError::NotFound)?;
                let cred = self
                    .store
                    .credential(conn_id, &conn.owner_id)
                    .await?
                    .ok_or(ConnectionError::NotSignedIn)?;
                protocol::open(
                    &self.store,
                    &self.keyring,
                    &cred,
                    "access_token",
                    &cred.access_token_enc,
                )
                .await?
            }
            Renewal::RefreshToken => {
                return Err(ConnectionError::Invalid(
                    "this kind of connection is signed in to by each user".into(),
                ));
            }
        };
        self.prove(provider, client, &secret).await
    }
}
