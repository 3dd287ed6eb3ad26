//! Shared identities (Databricks OAuth M2M, personal access tokens): a connection, the
//! client it holds (an integration row that belongs to it) and its one credential are
//! written together — a connection is never left without the identity it runs as — and a
//! new secret or token replaces the old one only together with the credential it proved.

use super::connections::{insert_connection, upsert_credential};
use super::integrations::{IntegrationRow, bind_row, insert_integration};
use super::{ConnectionRow, CredentialRow, Store, StoreResult, classify};

/// Inserts a connection's own client.
async fn insert_client<'e, E>(e: E, r: &IntegrationRow) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    bind_row(sqlx::query(insert_integration!("")), r)
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
        let _changes = self.changes();
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
        let _changes = self.changes();
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
