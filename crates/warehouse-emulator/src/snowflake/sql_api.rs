//! The SQL API v2: `POST /api/v2/statements` (with `requestId` making a resubmission safe,
//! a synchronous wait that ends in 202, `async=true`), `GET /api/v2/statements/{handle}`
//! (status, or one partition of the result — gzip-encoded after the first), and
//! `POST …/cancel`; 401 with 390303 (invalid) or 390318 (expired), 408 when the statement's
//! `timeout` passes on the emulator clock, 422 for failures with Snowflake's codes, and
//! injected faults (429, 5xx, resets) on submissions and polls.
//!
//! Strictest readings (README): a `User-Agent` is required (the spec marks it so); a
//! `role` other than the token's session role is refused; `bindings` are not emulated.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rusqlite::InterruptHandle;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use super::results::{failure, partition, partition_info, row_type};
use crate::engine::authz::AccessError;
use crate::engine::sql::{self, ResultSet, SqlError};
use crate::state::{Shared, lock};

/// What a statement came to.
#[derive(Clone)]
pub enum Outcome {
    Running,
    Done(Arc<ResultSet>),
    Failed(SqlError),
    Canceled,
    TimedOut,
}

pub struct SfStatement {
    owner: String,
    created_on_ms: i64,
    timeout_at: i64,
    timeout: i64,
    outcome: Outcome,
    interrupt: Option<Arc<InterruptHandle>>,
    done: watch::Sender<bool>,
}

impl SfStatement {
    fn end(&mut self, outcome: Outcome) {
        if matches!(self.outcome, Outcome::Running) {
            self.outcome = outcome;
            if let Some(i) = &self.interrupt {
                i.interrupt();
            }
            self.done.send_replace(true);
        }
    }
}

pub fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v2/statements", post(execute))
        .route("/api/v2/statements/{handle}", get(status))
        .route("/api/v2/statements/{handle}/cancel", post(cancel))
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// The caller: email and session role, from an OAuth token of a security integration.
fn caller(s: &Shared, headers: &HeaderMap) -> Result<(String, String), Response> {
    lock(&s.oauth).counters.rest_calls += 1;
    let unauthorized = |code: &str, message: &str| {
        answer(
            StatusCode::UNAUTHORIZED,
            json!({"code": code, "message": message}),
        )
    };
    let token_type = headers
        .get("x-snowflake-authorization-token-type")
        .and_then(|v| v.to_str().ok());
    if token_type.is_some_and(|t| !t.eq_ignore_ascii_case("OAUTH")) {
        return Err(unauthorized("390303", "Invalid OAuth access token. "));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("390303", "Invalid OAuth access token. "))?;
    let record = match lock(&s.oauth).bearer(token.trim(), s.clock.now()) {
        Ok(r) => r,
        Err(AccessError::Expired) => {
            return Err(unauthorized(
                "390318",
                "OAuth access token expired. [redacted]",
            ));
        }
        Err(_) => return Err(unauthorized("390303", "Invalid OAuth access token. ")),
    };
    if !lock(&s.snowflake).contains_key(&record.client_id) {
        return Err(unauthorized("390303", "Invalid OAuth access token. "));
    }
    let role = record
        .scopes
        .iter()
        .find_map(|t| t.strip_prefix("session:role:"))
        .unwrap_or("PUBLIC")
        .to_owned();
    Ok((record.user, role))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Submit {
    statement: Option<String>,
    timeout: Option<i64>,
    database: Option<String>,
    schema: Option<String>,
    warehouse: Option<String>,
    role: Option<String>,
    bindings: Option<Value>,
    // Accepted as Snowflake accepts them; the emulator applies none.
    #[serde(rename = "parameters")]
    _parameters: Option<Value>,
    #[serde(rename = "resultSetMetaData")]
    _result_set_meta_data: Option<Value>,
}

fn status_url(handle: &str) -> String {
    format!("/api/v2/statements/{handle}")
}

/// The emulated warehouses by Snowflake name: `Starter Warehouse` is `STARTER_WAREHOUSE`.
pub fn warehouse_name(name: &str) -> String {
    name.to_uppercase().replace(' ', "_")
}

async fn execute(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(fault) = super::faults::sql_api(&s).await {
        return fault;
    }
    let (email, role) = match caller(&s, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let bad = |m: &str| {
        answer(
            StatusCode::BAD_REQUEST,
            json!({"code": "390142", "message": m}),
        )
    };
    if headers.get(header::USER_AGENT).is_none() {
        return bad("A User-Agent header is required.");
    }
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"code": "391901", "message": "Unsupported media type."}),
        );
    }
    let Ok(req) = serde_json::from_slice::<Submit>(&body) else {
        return bad("Incoming request does not contain a valid payload.");
    };
    let Some(statement) = req.statement.filter(|t| !t.trim().is_empty()) else {
        return bad("Statement is required.");
    };
    if req.bindings.is_some() {
        return bad("bindings are not supported by the emulator.");
    }
    if let Some(asked) = req.role.filter(|r| *r != role) {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": "390186", "sqlState": "08004",
            "message": format!("The role requested in the connection or the default role if none was requested in the connection ('{asked}') is not listed in the Access Token or was filtered. Please specify another role, or contact your OAuth Authorization server administrator.")}),
        );
    }
    let key = q.get("requestId").map(|r| (email.clone(), r.clone()));
    if let Some(handle) = key
        .as_ref()
        .and_then(|k| lock(&s.sf_requests).get(k).cloned())
    {
        return respond(&s, &handle);
    }
    let wanted = warehouse_name(req.warehouse.as_deref().unwrap_or("Starter Warehouse"));
    let now = s.clock.now();
    let found = {
        let mut whs = lock(&s.warehouses);
        whs.iter_mut()
            .find(|w| warehouse_name(&w.name) == wanted)
            .map(|w| {
                w.wake(now);
                w.id.clone()
            })
    };
    let Some(warehouse_id) = found else {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": "000606", "sqlState": "57P03",
            "message": "No active warehouse selected in the current session.  Select an active warehouse with the 'use warehouse' command."}),
        );
    };
    let handle = uuid::Uuid::new_v4().to_string();
    let timeout = req.timeout.filter(|t| *t > 0).unwrap_or(172_800);
    let (done, _) = watch::channel(false);
    let mut waiter = done.subscribe();
    let grants = s
        .user(&email)
        .map(|u| u.config.grants.clone())
        .unwrap_or_default();
    let shown = {
        let whs = lock(&s.warehouses);
        super::show::answer(&statement, &grants, &whs)
    };
    let planned = sql::plan(
        &statement,
        &req.database.unwrap_or_else(|| "main".into()).to_lowercase(),
        &req.schema
            .unwrap_or_else(|| "default".into())
            .to_lowercase(),
        &grants,
    );
    let mut record = SfStatement {
        owner: email.clone(),
        created_on_ms: now * 1000,
        timeout_at: now + timeout,
        timeout,
        outcome: Outcome::Running,
        interrupt: None,
        done,
    };
    // SHOW commands are answered from the catalog at once; the rest is planned and run.
    let plan = match (shown, planned) {
        (Some(Ok(result)), _) => {
            record.end(Outcome::Done(Arc::new(result)));
            None
        }
        (Some(Err(e)), _) | (None, Err(e)) => {
            record.end(Outcome::Failed(e));
            None
        }
        (None, Ok(p)) => Some(p),
    };
    lock(&s.sf_statements).insert(handle.clone(), record);
    if let Some(k) = key {
        lock(&s.sf_requests).insert(k, handle.clone());
    }
    if let Some(plan) = plan {
        let session = [
            ("current_role", role.clone()),
            ("current_warehouse", wanted.clone()),
        ];
        tokio::spawn(run(
            s.clone(),
            handle.clone(),
            warehouse_id,
            plan,
            email,
            session,
        ));
    }
    let asynchronous = q.get("async").is_some_and(|a| a == "true");
    if !asynchronous {
        let wait = Duration::from_millis(s.config.snowflake_sync_wait_ms);
        let _ = tokio::time::timeout(wait, waiter.wait_for(|d| *d)).await;
    }
    respond(&s, &handle)
}

/// Waits for the warehouse (emulator clock), then runs the plan on the blocking pool.
async fn run(
    s: Arc<Shared>,
    handle: String,
    warehouse_id: String,
    plan: sql::Plan,
    email: String,
    session: [(&'static str, String); 2],
) {
    let ended = || {
        lock(&s.sf_statements)
            .get(&handle)
            .is_none_or(|r| !matches!(r.outcome, Outcome::Running))
    };
    if !crate::databricks::warehouses::wait_running(&s, &warehouse_id, ended).await {
        return;
    }
    let session: Vec<(&str, &str)> = session.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (conn, interrupt) = match s.engine.connect_with(&s.login_name(&email), &session) {
        Ok(c) => c,
        Err(e) => return end(&s, &handle, Outcome::Failed(e)),
    };
    if let Some(r) = lock(&s.sf_statements).get_mut(&handle) {
        r.interrupt = Some(Arc::new(interrupt));
    }
    let limit = crate::databricks::statements::INLINE_LIMIT_BYTES;
    let outcome =
        tokio::task::spawn_blocking(move || sql::execute(&conn, &plan, &[], None, limit)).await;
    let outcome = match outcome {
        Ok(Ok(result)) => Outcome::Done(Arc::new(result)),
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Failed(SqlError::new(
            "INTERNAL_ERROR",
            "The statement crashed.",
            "XX000",
        )),
    };
    end(&s, &handle, outcome);
}

fn end(s: &Shared, handle: &str, outcome: Outcome) {
    if let Some(r) = lock(&s.sf_statements).get_mut(handle) {
        r.end(outcome);
    }
}

/// The answer for a statement now: 202, 200 (the first partition), 408 or 422.
fn respond(s: &Shared, handle: &str) -> Response {
    let now = s.clock.now();
    let mut all = lock(&s.sf_statements);
    let Some(r) = all.get_mut(handle) else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": "333333", "message": "Statement not found."}),
        );
    };
    if matches!(r.outcome, Outcome::Running) && now >= r.timeout_at {
        r.end(Outcome::TimedOut);
    }
    let base = json!({"statementHandle": handle, "statementStatusUrl": status_url(handle), "createdOn": r.created_on_ms});
    let with = |mut v: Value, extra: Value| {
        if let (Some(v), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(e.clone());
        }
        v
    };
    let rows_per = s.config.chunk_rows.max(1);
    match &r.outcome {
        Outcome::Running => answer(
            StatusCode::ACCEPTED,
            with(
                base,
                json!({"code": "333334",
            "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management."}),
            ),
        ),
        Outcome::TimedOut => answer(
            StatusCode::REQUEST_TIMEOUT,
            with(
                base,
                json!({"code": "000630", "sqlState": "57014",
            "message": format!("Statement reached its statement or warehouse timeout of {} second(s) and was canceled.", r.timeout)}),
            ),
        ),
        Outcome::Canceled => answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            with(
                base,
                json!({"code": "000604", "sqlState": "57014", "message": "SQL execution canceled"}),
            ),
        ),
        Outcome::Failed(e) => {
            let (code, state, message) = failure(e);
            answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                with(
                    base,
                    json!({"code": code, "sqlState": state, "message": message}),
                ),
            )
        }
        Outcome::Done(result) => {
            let meta = json!({
                "numRows": result.rows.len(), "format": "jsonv2",
                "rowType": result.columns.iter().map(row_type).collect::<Vec<_>>(),
                "partitionInfo": partition_info(result, rows_per),
            });
            answer(
                StatusCode::OK,
                with(
                    base,
                    json!({"code": "090001", "sqlState": "00000",
                "message": "Statement executed successfully.", "resultSetMetaData": meta,
                "data": partition(result, rows_per, 0)}),
                ),
            )
        }
    }
}

fn owned(s: &Shared, handle: &str, email: &str) -> bool {
    lock(&s.sf_statements)
        .get(handle)
        .is_some_and(|r| r.owner == email)
}

async fn status(
    State(s): State<Arc<Shared>>,
    Path(handle): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(fault) = super::faults::sql_api(&s).await {
        return fault;
    }
    let email = match caller(&s, &headers) {
        Ok((email, _)) => email,
        Err(r) => return r,
    };
    if !owned(&s, &handle, &email) {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": "333333", "message": "Statement not found."}),
        );
    }
    let Some(n) = q.get("partition") else {
        return respond(&s, &handle);
    };
    let result = match lock(&s.sf_statements)
        .get(&handle)
        .map(|r| r.outcome.clone())
    {
        Some(Outcome::Done(r)) => r,
        _ => return respond(&s, &handle),
    };
    let rows_per = s.config.chunk_rows.max(1);
    let count = result.rows.len().div_ceil(rows_per).max(1);
    let Some(n) = n.parse::<usize>().ok().filter(|n| *n < count) else {
        return answer(
            StatusCode::BAD_REQUEST,
            json!({"code": "391904", "message": "Invalid partition number."}),
        );
    };
    let body = json!({"data": partition(&result, rows_per, n)}).to_string();
    if n == 0 {
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    // Later partitions come gzip-encoded.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(body.as_bytes());
    let bytes = gz.finish().unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
        ],
        bytes,
    )
        .into_response()
}

async fn cancel(
    State(s): State<Arc<Shared>>,
    Path(handle): Path<String>,
    headers: HeaderMap,
) -> Response {
    let email = match caller(&s, &headers) {
        Ok((email, _)) => email,
        Err(r) => return r,
    };
    if !owned(&s, &handle, &email) {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": "333333", "message": "Statement not found."}),
        );
    }
    let mut all = lock(&s.sf_statements);
    let Some(r) = all.get_mut(&handle) else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"code": "333333", "message": "Statement not found."}),
        );
    };
    if !matches!(r.outcome, Outcome::Running) {
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"code": "000605", "message": "Identified SQL statement is not currently executing.", "statementHandle": handle}),
        );
    }
    r.end(Outcome::Canceled);
    answer(
        StatusCode::OK,
        json!({"code": "000000", "sqlState": "00000", "message": "successfully canceled",
        "statementHandle": handle, "statementStatusUrl": status_url(&handle)}),
    )
}
