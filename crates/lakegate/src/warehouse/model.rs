//! A statement and its result, provider-neutral. The shapes follow Databricks' Statement
//! Execution API (the first provider), which is why they deserialize straight from its
//! JSON; other providers build them from their own answers. Deadlines and token handling
//! live in `queries::service` and `tokens::keeper`.

use serde::{Deserialize, Serialize};

/// A statement's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
    Closed,
}

impl State {
    pub fn terminal(self) -> bool {
        !matches!(self, State::Pending | State::Running)
    }
}

/// A `:name` parameter. `value: None` is SQL NULL; `type` defaults to STRING upstream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// What to run. Each provider turns it into its own request.
#[derive(Debug, Clone)]
pub struct Submit<'a> {
    /// The compute to run on (a Databricks SQL warehouse id).
    pub compute_id: &'a str,
    pub statement: &'a str,
    pub catalog: Option<&'a str>,
    pub schema: Option<&'a str>,
    pub parameters: &'a [Parameter],
    pub row_limit: Option<u64>,
    /// How long the warehouse may hold the answer before replying "still running": 0 or
    /// 5–50 seconds. A statement still running then keeps running (Lakegate polls and
    /// enforces its own time limit).
    pub wait_seconds: u32,
    /// Ask for the result as links to cloud storage (no size cap) instead of inline rows.
    pub external_links: bool,
    /// Ask for Arrow IPC streams (in cloud storage) instead of JSON rows, where the
    /// provider offers them (`Info::arrow_stream`).
    pub arrow: bool,
    /// Where the statement is processed, for providers that take one (BigQuery's location).
    pub location: Option<&'a str>,
    /// Lakegate's id for this query: the idempotency key for providers that take one
    /// (Snowflake's `requestId`, BigQuery's `jobId`), so a resent submission runs once.
    pub request_id: &'a str,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct StatementError {
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    pub state: State,
    #[serde(default)]
    pub error: Option<StatementError>,
    #[serde(default)]
    pub sql_state: Option<String>,
}

/// How a provider writes its cells: Databricks' strings (ISO dates and timestamps),
/// Snowflake's (days and epoch seconds, decimals unscaled), or BigQuery's (TIMESTAMP as
/// epoch microseconds, RECORD and REPEATED as JSON text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Databricks,
    Snowflake,
    BigQuery,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    #[serde(default)]
    pub type_name: String,
    #[serde(default)]
    pub type_text: String,
    /// Set by the provider that read the column, never sent anywhere.
    #[serde(skip)]
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Schema {
    #[serde(default)]
    columns: Vec<Column>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Manifest {
    /// `JSON_ARRAY` or `ARROW_STREAM` (Databricks); other providers leave it out.
    #[serde(default)]
    pub format: Option<String>,
    #[serde(default)]
    schema: Schema,
    #[serde(default)]
    pub total_chunk_count: u64,
    #[serde(default)]
    pub total_row_count: u64,
    #[serde(default)]
    pub truncated: bool,
}

impl Manifest {
    /// A manifest built from another provider's answer.
    pub fn new(columns: Vec<Column>, total_chunk_count: u64, total_row_count: u64) -> Manifest {
        Manifest {
            format: None,
            schema: Schema { columns },
            total_chunk_count,
            total_row_count,
            truncated: false,
        }
    }

    pub fn columns(&self) -> &[Column] {
        &self.schema.columns
    }

    /// Whether the result parts are Arrow IPC streams.
    pub fn arrow(&self) -> bool {
        self.format.as_deref() == Some("ARROW_STREAM")
    }
}

/// Rows as Databricks sends them: every value a string or null, whatever the column type.
pub type Rows = Vec<Vec<Option<String>>>;

/// One chunk: its rows inline, or links to them in cloud storage (EXTERNAL_LINKS).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Chunk {
    #[serde(default)]
    pub chunk_index: u64,
    #[serde(default)]
    pub data_array: Rows,
    #[serde(default)]
    pub external_links: Vec<ExternalLink>,
}

/// A presigned URL to part of a result. The URL is the credential: nothing of ours goes with it.
#[derive(Clone, Deserialize, Default)]
pub struct ExternalLink {
    #[serde(default)]
    pub chunk_index: u64,
    pub external_link: String,
    #[serde(default)]
    pub expiration: Option<String>,
    #[serde(default)]
    pub http_headers: std::collections::HashMap<String, String>,
}

impl std::fmt::Debug for ExternalLink {
    // The URL carries a signature: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalLink")
            .field("chunk_index", &self.chunk_index)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Statement {
    pub statement_id: String,
    pub status: Status,
    #[serde(default)]
    pub manifest: Option<Manifest>,
    /// Chunk 0 (rows or links), present once the statement succeeded (`{}` for zero rows).
    #[serde(default)]
    pub result: Option<Chunk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_rows_and_failed_shapes_parse() {
        let zero: Statement = serde_json::from_str(
            r#"{"statement_id":"s","status":{"state":"SUCCEEDED"},
                "manifest":{"format":"JSON_ARRAY","schema":{"column_count":1,"columns":[{"name":"a","position":0,"type_name":"INT","type_text":"INT"}]},"total_chunk_count":0,"chunks":[],"total_row_count":0,"truncated":false},
                "result":{}}"#,
        )
        .unwrap();
        assert_eq!(zero.manifest.as_ref().unwrap().total_chunk_count, 0);
        assert!(zero.result.unwrap().data_array.is_empty());
        let failed: Statement = serde_json::from_str(
            r#"{"statement_id":"s","status":{"state":"FAILED","error":{"error_code":"BAD_REQUEST","message":"[TABLE_OR_VIEW_NOT_FOUND] nope"},"sql_state":"42P01"}}"#,
        )
        .unwrap();
        assert_eq!(failed.status.state, State::Failed);
        assert_eq!(failed.status.sql_state.as_deref(), Some("42P01"));
        assert!(State::Canceled.terminal() && !State::Pending.terminal());
    }
}
