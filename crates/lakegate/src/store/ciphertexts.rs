//! Every column that holds a ciphertext, read and replaced one page at a time, for
//! re-encryption under a new data key while Lakegate serves.

use sqlx::Row;

use super::{Store, StoreResult, classify};

/// A column of sealed values: its table, the column naming each row in the ciphertext's
/// binding, the stored column, and the binding's column name. The names are constants of
/// this module (the fields are private), so the SQL built from them is fixed text.
#[derive(Debug, Clone, Copy)]
pub struct Place {
    table: &'static str,
    id_column: &'static str,
    column: &'static str,
    binding_column: &'static str,
}

impl Place {
    /// The table, which is also the binding's table.
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The column name in the ciphertext's binding.
    pub fn binding_column(&self) -> &'static str {
        self.binding_column
    }

    /// The stored column.
    pub fn column(&self) -> &'static str {
        self.column
    }
}

/// Every place a ciphertext lives. A new encrypted column (named `*_enc`) must be listed
/// here, or a data key rotation would leave it under the old key; `tests/it/key_rotation.rs`
/// fails when a `*_enc` column of the schema is missing.
pub const PLACES: &[Place] = &[
    Place {
        table: "integrations",
        id_column: "id",
        column: "client_secret_enc",
        binding_column: "client_secret",
    },
    Place {
        table: "credentials",
        id_column: "id",
        column: "access_token_enc",
        binding_column: "access_token",
    },
    Place {
        table: "credentials",
        id_column: "id",
        column: "refresh_token_enc",
        binding_column: "refresh_token",
    },
    Place {
        table: "oauth_flows",
        id_column: "state_hash",
        column: "verifier_enc",
        binding_column: "verifier",
    },
    Place {
        table: "org_sso",
        id_column: "org_id",
        column: "client_secret_enc",
        binding_column: "client_secret",
    },
    Place {
        table: "webhook_endpoints",
        id_column: "id",
        column: "secret_enc",
        binding_column: "secret",
    },
    Place {
        table: "webhook_endpoints",
        id_column: "id",
        column: "previous_secret_enc",
        binding_column: "previous_secret",
    },
    Place {
        table: "sso_flows",
        id_column: "state_hash",
        column: "verifier_enc",
        binding_column: "verifier",
    },
];

/// One stored ciphertext: its row id and its bytes.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub id: String,
    pub blob: Vec<u8>,
}

impl Store {
    /// Up to `limit` of the org's ciphertexts at `place` with ids after `after`, in id order.
    pub async fn sealed_page(
        &self,
        place: &Place,
        org_id: &str,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<Sealed>> {
        let sql = format!(
            "SELECT {id}, {col} FROM {table} WHERE org_id = $1 AND {id} > $2 AND {col} IS NOT NULL \
             ORDER BY {id} LIMIT $3",
            id = place.id_column,
            col = place.column,
            table = place.table
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .bind(after)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Sealed {
                    id: r.try_get(0)?,
                    blob: r.try_get(1)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// How many ciphertexts the org has at `place`.
    pub async fn sealed_count(&self, place: &Place, org_id: &str) -> StoreResult<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM {table} WHERE org_id = $1 AND {col} IS NOT NULL",
            table = place.table,
            col = place.column
        );
        Ok(sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Replaces a ciphertext if it is still `old`; false when a writer changed it first
    /// (a refresh stored new tokens, say), so a re-encryption never undoes a newer value.
    pub async fn swap_sealed(
        &self,
        place: &Place,
        id: &str,
        old: &[u8],
        new: &[u8],
    ) -> StoreResult<bool> {
        let _changes = self.changes();
        let sql = format!(
            "UPDATE {table} SET {col} = $1 WHERE {id} = $2 AND {col} = $3",
            id = place.id_column,
            col = place.column,
            table = place.table
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(new)
            .bind(id)
            .bind(old)
            .execute(self.pool())
            .await
            .map_err(classify)?;
        Ok(done.rows_affected() == 1)
    }
}
