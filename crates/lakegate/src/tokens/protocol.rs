//! The refresh protocol's two I/O steps: the token request (as the provider's dialect
//! says) and the fenced write of the new pair — one statement, only by the lease holder,
//! only at the version it read — before anyone uses the new access token.

use std::time::Duration;

use crate::credentials::{ConnectionError, credential_binding};
use crate::crypto::envelope::Keyring;
use crate::egress::Egress;
use crate::providers::oauth::{self, Client, TokenError, Tokens};
use crate::providers::{Provider, Renewal};
use crate::secret::Secret;
use crate::store::{CredentialRow, IntegrationRow, Refreshed, Store};

/// A token request that has not answered by then has failed (a lease outlives it).
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks the token endpoint for a new access token: with `refresh_token`, or — for a
/// service principal — a new `client_credentials` grant (`refresh_token` is then unused).
pub async fn request(
    egress: &Egress,
    provider: &dyn Provider,
    integration: &IntegrationRow,
    client_secret: &Secret,
    refresh_token: &Secret,
) -> Result<Tokens, TokenError> {
    let dialect = &provider.info().dialect;
    let mut grant = match provider.info().renewal {
        Renewal::ClientCredentials => vec![("grant_type", "client_credentials")],
        Renewal::RefreshToken | Renewal::Static => vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
        ],
    };
    if dialect.refresh_sends_scope || provider.info().renewal == Renewal::ClientCredentials {
        grant.push(("scope", integration.scopes.as_str()));
    }
    let client = Client {
        id: &integration.client_id,
        secret: client_secret,
    };
    let call = oauth::token_request(
        egress,
        dialect,
        &integration.token_endpoint,
        &client,
        &grant,
    );
    tokio::time::timeout(TOKEN_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(TokenError::Transport(
                "the token endpoint did not answer in time".into(),
            ))
        })
}

/// Seals one token for a credential's column.
pub async fn seal(
    store: &Store,
    keyring: &Keyring,
    cred: &CredentialRow,
    column: &str,
    value: &Secret,
    now: i64,
) -> Result<Vec<u8>, ConnectionError> {
    Ok(keyring
        .seal(
            store,
            credential_binding(&cred.org_id, &cred.id, column),
            value.expose().as_bytes(),
            now,
        )
        .await?)
}

/// Opens one of a credential's sealed tokens.
pub async fn open(
    store: &Store,
    keyring: &Keyring,
    cred: &CredentialRow,
    column: &str,
    enc: &[u8],
) -> Result<Secret, ConnectionError> {
    let plain = keyring
        .open(
            store,
            credential_binding(&cred.org_id, &cred.id, column),
            enc,
        )
        .await?;
    Ok(Secret::new(String::from_utf8(plain.to_vec()).map_err(
        |_| crate::crypto::envelope::CryptoError::Malformed,
    )?))
}

/// The new pair to store: the access token, and the refresh token to keep (the rotated
/// one, or the one used when the answer carried none).
pub struct NewPair<'a> {
    pub access_token: &'a Secret,
    pub refresh_token: &'a Secret,
    pub expires_in: i64,
    pub rotated: bool,
}

/// Writes the pair, fenced by version and lease: false when the credential was replaced,
/// disconnected or deleted meanwhile.
pub async fn store_pair(
    store: &Store,
    keyring: &Keyring,
    cred: &CredentialRow,
    lease_owner: &str,
    pair: NewPair<'_>,
    now: i64,
) -> Result<bool, ConnectionError> {
    let access_enc = seal(store, keyring, cred, "access_token", pair.access_token, now).await?;
    let refresh_enc = seal(
        store,
        keyring,
        cred,
        "refresh_token",
        pair.refresh_token,
        now,
    )
    .await?;
    Ok(store
        .store_refreshed(&Refreshed {
            id: &cred.id,
            version: cred.version,
            lease_owner,
            access_token_enc: &access_enc,
            refresh_token_enc: &refresh_enc,
            access_expires_at: now + pair.expires_in,
            refresh_issued_at: if pair.rotated {
                now
            } else {
                cred.refresh_issued_at
            },
            now,
        })
        .await?)
}
