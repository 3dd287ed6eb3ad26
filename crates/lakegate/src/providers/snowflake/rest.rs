//! Snowflake's SQL API v2 as a [`WarehouseApi`], over the guarded egress client: statements
//! are submitted asynchronously with Lakegate's query id as `requestId` (a submission whose
//! answer was lost is safe to send again), followed by handle, their result partitions
//! fetched by index (gzip decoded by the client), cancelled by handle. A 401 — 390318
//! (expired) or 390303 (invalid) — means the token is no good; 408 and 422 are the
//! statement's own end, with Snowflake's `code`, `sqlState` and `message`.
//! Pickers list with `SHOW WAREHOUSES`, `SHOW DATABASES`, `SHOW SCHEMAS IN DATABASE` and
//! `SHOW COLUMNS IN SCHEMA` (names quoted, so nothing a user picked becomes SQL).

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use super::columns::{RowType, column};
use crate::egress::{self, Egress};
use crate::warehouse::model::{StatementError, Status};
use crate::warehouse::{
    Chunk, Compute, Identity, Manifest, Rows, State, Statement, Submit, WarehouseApi,
    WarehouseError,
};

/// One account, addressed by its base URL (`https://<account>.snowflakecomputing.com`).
pub struct Account<'a> {
    egress: &'a Egress,
    base: String,
}

const HEADERS: [(&str, &str); 2] = [
    ("x-snowflake-authorization-token-type", "OAUTH"),
    ("accept", "application/json"),
];

/// A non-2xx answer that is not a statement's own end.
fn classify(status: u16, body: &Value) -> WarehouseError {
    let text = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or_default();
    let message = text("message").to_owned();
    match status {
        401 => WarehouseError::TokenRejected(format!("{} {message}", text("code"))),
        403 => WarehouseError::PermissionDenied(message),
        404 => WarehouseError::NotFound(message),
        _ => WarehouseError::Upstream { status, message },
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    num_rows: u64,
    #[serde(default)]
    row_type: Vec<RowType>,
    #[serde(default)]
    partition_info: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    statement_handle: Option<String>,
    code: Option<String>,
    sql_state: Option<String>,
    message: Option<String>,
    result_set_meta_data: Option<Meta>,
    #[serde(default)]
    data: Rows,
}

/// A statement's state from one answer of `POST /statements` or `GET /statements/{h}`.
pub fn statement(status: u16, body: &[u8]) -> Result<Statement, WarehouseError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| WarehouseError::Malformed)?;
    if !matches!(status, 200 | 202 | 408 | 422) {
        return Err(classify(status, &v));
    }
    let a: Answer = serde_json::from_value(v).map_err(|_| WarehouseError::Malformed)?;
    let statement_id = a.statement_handle.ok_or(WarehouseError::Malformed)?;
    let (state, error) = match status {
        200 => (State::Succeeded, None),
        202 => (State::Running, None),
        // 408: Snowflake's statement timeout cancelled it; 422: it failed.
        _ => (
            State::Failed,
            Some(StatementError {
                error_code: a.code.clone(),
                message: a.message.clone(),
            }),
        ),
    };
    let (manifest, result) = match (state, a.result_set_meta_data) {
        (State::Succeeded, Some(meta)) => {
            let columns = meta.row_type.iter().map(column).collect();
            let parts = meta.partition_info.len().max(1) as u64;
            let chunk = Chunk {
                chunk_index: 0,
                data_array: a.data,
                external_links: vec![],
            };
            (
                Some(Manifest::new(columns, parts, meta.num_rows)),
                Some(chunk),
            )
        }
        _ => (None, None),
    };
    Ok(Statement {
        statement_id,
        status: Status {
            state,
            error,
            sql_state: a.sql_state.filter(|_| status != 200),
        },
        manifest,
        result,
    })
}

impl<'a> Account<'a> {
    pub fn new(egress: &'a Egress, base_url: &str) -> Self {
        Account {
            egress,
            base: base_url.trim_end_matches('/').to_owned(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<egress::Response, WarehouseError> {
        let url =
            Url::parse(&format!("{}{path}", self.base)).map_err(|_| WarehouseError::Malformed)?;
        let headers: Vec<(String, String)> = HEADERS
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let req = egress::Request {
            method,
            bearer: Some(token),
            headers: &headers,
            json: body,
            max_bytes: 32 * 1024 * 1024,
            ..egress::Request::get(&url)
        };
        Ok(self.egress.send(req).await?)
    }

    /// Runs a short statement and waits for its end (identity and connection tests).
    async fn run_short(
        &self,
        token: &str,
        sql: &str,
        warehouse: Option<&str>,
    ) -> Result<Statement, WarehouseError> {
        let mut body = json!({"statement": sql, "timeout": 60});
        if let Some(w) = warehouse {
            body["warehouse"] = json!(w);
        }
        let id = uuid::Uuid::now_v7().to_string();
        let path = format!("/api/v2/statements?requestId={id}");
        let resp = self
            .send(reqwest::Method::POST, &path, token, Some(&body))
            .await?;
        let mut s = statement(resp.status, &resp.body)?;
        for _ in 0..50 {
            if s.status.state.terminal() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            s = self.statement(token, &s.statement_id).await?;
        }
        match s.status.state {
            State::Succeeded => Ok(s),
            _ => Err(WarehouseError::Upstream {
                status: 422,
                message: s
                    .status
                    .error
                    .and_then(|e| e.message)
                    .unwrap_or_else(|| "the statement did not finish".into()),
            }),
        }
    }
}

/// A quoted identifier: exactly the stored name, whatever it contains.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The rows of a finished short statement, with the index of each named column.
fn rows(s: Statement) -> Result<(Vec<String>, Rows), WarehouseError> {
    let names = s
        .manifest
        .as_ref()
        .map(|m| m.columns().iter().map(|c| c.name.to_lowercase()).collect())
        .unwrap_or_default();
    Ok((names, s.result.map(|c| c.data_array).unwrap_or_default()))
}

/// Column `name` of every row.
fn column_of(names: &[String], rows: &Rows, name: &str) -> Result<Vec<String>, WarehouseError> {
    let i = names
        .iter()
        .position(|n| n == name)
        .ok_or(WarehouseError::Malformed)?;
    Ok(rows
        .iter()
        .map(|r| r.get(i).cloned().flatten().unwrap_or_default())
        .collect())
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[async_trait]
impl WarehouseApi for Account<'_> {
    /// `CURRENT_USER()` (the user's name, which may differ from the token's login name)
    /// and `CURRENT_ROLE()`.
    async fn me(&self, token: &str) -> Result<Identity, WarehouseError> {
        let s = self
            .run_short(token, "SELECT CURRENT_USER(), CURRENT_ROLE()", None)
            .await?;
        let row = s
            .result
            .and_then(|c| c.data_array.into_iter().next())
            .ok_or(WarehouseError::Malformed)?;
        let user = row
            .first()
            .cloned()
            .flatten()
            .ok_or(WarehouseError::Malformed)?;
        let role = row.get(1).cloned().flatten().unwrap_or_default();
        Ok(Identity {
            id: user.clone(),
            display_name: format!("{user} (role {role})"),
            user_name: user,
        })
    }

    async fn computes(&self, token: &str) -> Result<Vec<Compute>, WarehouseError> {
        let (names, rows) = rows(self.run_short(token, "SHOW WAREHOUSES", None).await?)?;
        let (name, state) = (
            column_of(&names, &rows, "name")?,
            column_of(&names, &rows, "state")?,
        );
        Ok(name
            .into_iter()
            .zip(state)
            .map(|(name, state)| Compute {
                id: name.clone(),
                name,
                state,
            })
            .collect())
    }

    async fn catalogs(&self, token: &str) -> Result<Vec<String>, WarehouseError> {
        let (names, rows) = rows(self.run_short(token, "SHOW DATABASES", None).await?)?;
        column_of(&names, &rows, "name")
    }

    async fn schemas(&self, token: &str, catalog: &str) -> Result<Vec<String>, WarehouseError> {
        let sql = format!("SHOW SCHEMAS IN DATABASE {}", quoted(catalog));
        let (names, rows) = rows(self.run_short(token, &sql, None).await?)?;
        column_of(&names, &rows, "name")
    }

    /// Tables with their columns, from one `SHOW COLUMNS IN SCHEMA`.
    async fn tables(
        &self,
        token: &str,
        catalog: &str,
        schema: &str,
    ) -> Result<Vec<Value>, WarehouseError> {
        let sql = format!(
            "SHOW COLUMNS IN SCHEMA {}.{}",
            quoted(catalog),
            quoted(schema)
        );
        let (names, rows) = rows(self.run_short(token, &sql, None).await?)?;
        let tables = column_of(&names, &rows, "table_name")?;
        let columns = column_of(&names, &rows, "column_name")?;
        let types = column_of(&names, &rows, "data_type")?;
        let mut out: Vec<Value> = Vec::new();
        for ((table, column), type_text) in tables.into_iter().zip(columns).zip(types) {
            let entry = json!({"name": column, "type_text": type_text, "type_name": type_text});
            match out.last_mut() {
                Some(t) if t["name"] == table.as_str() => {
                    if let Some(cols) = t["columns"].as_array_mut() {
                        cols.push(entry);
                    }
                }
                _ => out.push(json!({"name": table, "table_type": "TABLE", "columns": [entry]})),
            }
        }
        Ok(out)
    }

    async fn select_one(&self, token: &str, compute_id: &str) -> Result<(), WarehouseError> {
        self.run_short(token, "SELECT 1", Some(compute_id))
            .await
            .map(|_| ())
    }

    async fn submit(&self, token: &str, req: &Submit<'_>) -> Result<Statement, WarehouseError> {
        if !req.parameters.is_empty() {
            return Err(WarehouseError::Upstream {
                status: 400,
                message: "named parameters are not supported on Snowflake connections yet".into(),
            });
        }
        let mut body = json!({"statement": req.statement, "warehouse": req.compute_id});
        if let Some(c) = req.catalog {
            body["database"] = json!(c);
        }
        if let Some(s) = req.schema {
            body["schema"] = json!(s);
        }
        // Always asynchronous: Snowflake would hold the answer ~45 s; Lakegate polls.
        let path = format!(
            "/api/v2/statements?requestId={}&async=true",
            encode(req.request_id)
        );
        let resp = self
            .send(reqwest::Method::POST, &path, token, Some(&body))
            .await?;
        statement(resp.status, &resp.body)
    }

    async fn statement(&self, token: &str, id: &str) -> Result<Statement, WarehouseError> {
        let path = format!("/api/v2/statements/{}", encode(id));
        let resp = self.send(reqwest::Method::GET, &path, token, None).await?;
        statement(resp.status, &resp.body)
    }

    async fn chunk(&self, token: &str, id: &str, index: u64) -> Result<Chunk, WarehouseError> {
        let path = format!("/api/v2/statements/{}?partition={index}", encode(id));
        let resp = self.send(reqwest::Method::GET, &path, token, None).await?;
        let v: Value = serde_json::from_slice(&resp.body).map_err(|_| WarehouseError::Malformed)?;
        if resp.status != 200 {
            return Err(classify(resp.status, &v));
        }
        let data_array: Rows = serde_json::from_value(v.get("data").cloned().unwrap_or_default())
            .map_err(|_| WarehouseError::Malformed)?;
        Ok(Chunk {
            chunk_index: index,
            data_array,
            external_links: vec![],
        })
    }

    /// A statement that already ended (422 "not currently executing") is as good as cancelled.
    async fn cancel(&self, token: &str, id: &str) -> Result<(), WarehouseError> {
        let path = format!("/api/v2/statements/{}/cancel", encode(id));
        let resp = self.send(reqwest::Method::POST, &path, token, None).await?;
        match resp.status {
            200 | 422 => Ok(()),
            s => Err(classify(
                s,
                &serde_json::from_slice(&resp.body).unwrap_or_default(),
            )),
        }
    }
}
