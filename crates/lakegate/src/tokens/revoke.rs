//! Ending a grant at the provider when a user disconnects (Google's revoke endpoint), so a
//! refresh token Lakegate deletes is dead everywhere — and Google's cap of live grants per
//! user and client is not used up by connections that are gone.

use super::{TokenService, protocol, provider_of};
use crate::store::CredentialRow;

impl TokenService {
    /// Revokes `cred`'s refresh token where its provider offers that (`Ok(false)` where it
    /// does not). The caller deletes its copy either way.
    pub async fn revoke_at_provider(&self, cred: &CredentialRow) -> Result<bool, String> {
        let integration = self
            .store
            .integration_for(&cred.org_id, &cred.integration_id, &cred.host)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the integration is gone")?;
        let provider = provider_of(&integration).map_err(|e| e.to_string())?;
        let token = protocol::open(
            &self.store,
            &self.keyring,
            cred,
            "refresh_token",
            &cred.refresh_token_enc,
        )
        .await
        .map_err(|e| e.to_string())?;
        provider.revoke(&self.egress, &integration, &token).await
    }
}
