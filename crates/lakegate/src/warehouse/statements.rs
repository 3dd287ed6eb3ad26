//! Databricks' SQL Statement Execution API 2.0: submit, poll, fetch chunks, cancel.
//! Wire types only; the deadline and token handling live in `queries::runner`.

use serde::{Deserialize, Serialize};

use url::Url;

use super::databricks::{DatabricksError, Workspace};
use crate::egress::{self, Destination, Egress};

/// A statement's lifecycle state as Databricks reports it.
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

/// What to run. `wait_seconds` is 0 or 5–50 (Databricks refuses anything else).
#[derive(Debug, Clone, Serialize)]
pub struct Submit<'a> {
    pub warehouse_id: &'a str,
    pub statement: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub parameters: &'a [Parameter],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_limit: Option<u64>,
    pub wait_timeout: String,
    /// Always CONTINUE: Lakegate polls and enforces its own time limit.
    pub on_wait_timeout: &'static str,
    pub disposition: &'static str,
    pub format: &'static str,
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

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    #[serde(default)]
    pub type_name: String,
    #[serde(default)]
    pub type_text: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct Schema {
    #[serde(default)]
    columns: Vec<Column>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Manifest {
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
    pub fn columns(&self) -> &[Column] {
        &self.schema.columns
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

/// Downloads the rows behind an external link from cloud storage: through the egress guard
/// (storage hosts only, public addresses, https), never with an Authorization header.
pub async fn download(egress: &Egress, link: &ExternalLink) -> Result<Rows, DatabricksError> {
    let url = Url::parse(&link.external_link).map_err(|_| DatabricksError::Malformed)?;
    let headers: Vec<(String, String)> = link
        .http_headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let resp = egress
        .send(egress::Request {
            destination: Destination::ResultStorage,
            headers: &headers,
            max_bytes: 256 * 1024 * 1024,
            timeout: std::time::Duration::from_secs(120),
            ..egress::Request::get(&url)
        })
        .await?;
    if resp.status != 200 {
        return Err(DatabricksError::Storage(resp.status));
    }
    serde_json::from_slice(&resp.body).map_err(|_| DatabricksError::Malformed)
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

impl<'a> Workspace<'a> {
    pub async fn submit(
        &self,
        token: &str,
        req: &Submit<'_>,
    ) -> Result<Statement, DatabricksError> {
        let body = serde_json::to_value(req).map_err(|_| DatabricksError::Malformed)?;
        self.call_as(
            reqwest::Method::POST,
            "/api/2.0/sql/statements",
            token,
            Some(&body),
        )
        .await
    }

    pub async fn statement(&self, token: &str, id: &str) -> Result<Statement, DatabricksError> {
        let path = format!("/api/2.0/sql/statements/{}", super::databricks::encode(id));
        self.call_as(reqwest::Method::GET, &path, token, None).await
    }

    pub async fn chunk(&self, token: &str, id: &str, index: u64) -> Result<Chunk, DatabricksError> {
        let path = format!(
            "/api/2.0/sql/statements/{}/result/chunks/{index}",
            super::databricks::encode(id)
        );
        self.call_as(reqwest::Method::GET, &path, token, None).await
    }

    pub async fn cancel(&self, token: &str, id: &str) -> Result<(), DatabricksError> {
        self.call(
            reqwest::Method::POST,
            &format!(
                "/api/2.0/sql/statements/{}/cancel",
                super::databricks::encode(id)
            ),
            token,
            None,
        )
        .await
        .map(|_| ())
    }
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

    #[test]
    fn the_request_body_is_what_databricks_expects() {
        let params = [Parameter {
            name: "n".into(),
            value: None,
            type_name: Some("INT".into()),
        }];
        let s = Submit {
            warehouse_id: "w",
            statement: "SELECT :n",
            catalog: None,
            schema: Some("s"),
            parameters: &params,
            row_limit: None,
            wait_timeout: "10s".into(),
            on_wait_timeout: "CONTINUE",
            disposition: "INLINE",
            format: "JSON_ARRAY",
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"warehouse_id":"w","statement":"SELECT :n","schema":"s",
                "parameters":[{"name":"n","value":null,"type":"INT"}],
                "wait_timeout":"10s","on_wait_timeout":"CONTINUE","disposition":"INLINE","format":"JSON_ARRAY"})
        );
    }
}
