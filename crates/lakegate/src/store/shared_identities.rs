//! Shared identities (Databricks OAuth M2M, personal access tokens): a connection, the
//! client it holds (an integration row that belongs to it) and its one credential are
//! written together — a connection is never left without the identity it runs as — and a
//! new secret or token replaces the old one only together with the credential it proved.

use super::connections::{insert_connection, upsert_credential};
use super::integrations::IntegrationRow;
use super::{ConnectionRow, CredentialRow, Store, StoreResult, classify};

/// Inserts a connection's own client.
async fn insert_client<'e, E>(e: E, r: &IntegrationRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO integrations (id, org_id, kind, host, client_id, client_secret_enc, scopes, issuer, \
           authorization_endpoint, token_endpoint, generation, status, secret_updated_at, created_at, updated_at, updated_by, \
           refresh_ttl_minutes, absolute_lifetime_minutes, issuer_in_response, default_compute, connection_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
    )
    .bind(&r.id)
    .bind(&r.org_id)
    .bind(&r.kind)
    .bind(&r.host)
    .bind(&r.client_id)
    .bind(&r.client_secret_enc)
    .bind(&r.scopes)
    .bind(&r.issuer)
    .bind(&r.authorization_endpoint)
    .bind(&r.token_endpoint)
    .bind(r.generation)
    .bind(r.status.as_str())
    .bind(r.secret_updated_at)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(&r.updated_by)
    .bind(r.refresh_ttl_minutes)
    .bind(r.absolute_lifetime_minutes)
    .bind(r.issuer_in_response)
    .bind(&r.default_compute)
    .bind(&r.connection_id)
    .execute(e)
    .await
    .map_err(classify)?;
    Ok(())
}

impl Store {
    /// Creates a shared-identity connection with its client and its credential, in one
    /// transaction.
    pub async fn create_shared_connection(
        &self,
        connection: &ConnectionRow,
        client: &IntegrationRow,
        credential: &CredentialRow,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await?;
        insert_connection(&mut *tx, connection).await?;
        insert_client(&mut *tx, client).await?;
        upsert_credential(&mut *tx, credential).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a shared identity's client secret (its status back to configured) and its
    /// credential, in one transaction: until it commits the old ones keep working. False
    /// when the client is gone (the connection was deleted meanwhile).
    pub async fn replace_shared_secret(
        &self,
        client: &IntegrationRow,
        credential: &CredentialRow,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE integrations SET client_id = $1, client_secret_enc = $2, generation = $3, status = $4, \
             secret_updated_at = $5, updated_at = $6, updated_by = $7 WHERE id = $8 AND connection_id = $9",
        )
        .bind(&client.client_id)
        .bind(&client.client_secret_enc)
        .bind(client.generation)
        .bind(client.status.as_str())
        .bind(client.secret_updated_at)
        .bind(client.updated_at)
        .bind(&client.updated_by)
        .bind(&client.id)
        .bind(&client.connection_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        upsert_credential(&mut *tx, credential).await?;
        tx.commit().await?;
        Ok(true)
    }
}
