//! What a sign-in stores: its tokens sealed into the user's credential on the connection —
//! and, where the provider keeps a limited number of grants per user and client and drops
//! the oldest (Google keeps 100), into the user's other credentials of the same identity
//! under the integration too, so every connection uses the newest grant and one Google
//! evicts is never in use.

use super::credential_binding;
use super::failure::Failure;
use super::flow::SignInService;
use crate::credentials::{SignIn, signed_in};
use crate::secret::Secret;
use crate::store::IntegrationRow;
use crate::warehouse::Identity;

/// A sign-in's tokens, ready to be stored.
pub(super) struct Issued<'a> {
    pub access_token: &'a Secret,
    pub refresh_token: &'a Secret,
    pub scopes: &'a str,
    pub expires_in: i64,
}

impl SignInService {
    /// Seals `issued` into a new credential of `user_id` on `connection_id`, replacing any.
    pub(super) async fn store_credential(
        &self,
        integration: &IntegrationRow,
        (connection_id, user_id): (&str, &str),
        issued: &Issued<'_>,
        identity: &Identity,
        now: i64,
    ) -> Result<(), Failure> {
        let id = uuid::Uuid::now_v7().to_string();
        let seal = |column: &'static str, value: &Secret| {
            let binding = credential_binding(&integration.org_id, &id, column);
            let bytes = value.expose().as_bytes().to_vec();
            async move {
                self.keyring
                    .seal(&self.store, binding, &bytes, now)
                    .await
                    .map_err(|_| Failure::Malformed)
            }
        };
        let access_token_enc = seal("access_token", issued.access_token).await?;
        let refresh_token_enc = seal("refresh_token", issued.refresh_token).await?;
        let credential = signed_in(
            SignIn {
                id: id.clone(),
                connection_id,
                user_id,
                integration,
                access_token_enc,
                refresh_token_enc,
                scopes: issued.scopes.to_owned(),
                identity_id: identity.id.clone(),
                identity_name: identity.user_name.clone(),
                access_expires_at: now + issued.expires_in,
            },
            now,
        );
        self.store
            .put_credential(&credential)
            .await
            .map_err(|_| Failure::Malformed)
    }

    /// Gives the user's other active credentials of the same identity under `integration`
    /// the newest grant (best effort: one that fails keeps its own, and is logged).
    pub(super) async fn share_grant(
        &self,
        integration: &IntegrationRow,
        (connection_id, user_id): (&str, &str),
        issued: &Issued<'_>,
        identity: &Identity,
        now: i64,
    ) {
        let Ok(all) = self
            .store
            .credentials_of_user(user_id, &integration.id)
            .await
        else {
            return;
        };
        let siblings = all.into_iter().filter(|c| {
            c.connection_id != connection_id
                && c.databricks_user_id == identity.id
                && c.integration_generation == integration.generation
                && c.status.as_str() == "active"
        });
        for c in siblings {
            let target = (c.connection_id.as_str(), user_id);
            if self
                .store_credential(integration, target, issued, identity, now)
                .await
                .is_err()
            {
                tracing::warn!(connection = %c.connection_id, "could not move a credential to the newest grant");
            }
        }
    }
}
