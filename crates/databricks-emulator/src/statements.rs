//! SQL Statement Execution API 2.0: execute with wait/continue/cancel semantics, the
//! asynchronous states, chunked JSON_ARRAY results — INLINE, or as EXTERNAL_LINKS to the
//! emulated cloud storage (`storage.rs`) —, cancel, and expiry.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use rusqlite::InterruptHandle;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::errors;
use crate::rest::{Caller, Need};
use crate::sql::{self, Param, ResultSet, SqlError};
use crate::state::{Shared, lock};
use crate::warehouses::WhState;

/// Results stay fetchable this long after a statement ends.
const RESULT_TTL_SECONDS: i64 = 3600;
/// Databricks caps INLINE results at 25 MiB.
pub const INLINE_LIMIT_BYTES: usize = 25 * 1024 * 1024;
/// …and EXTERNAL_LINKS results at 100 GiB.
const EXTERNAL_LIMIT_BYTES: usize = 100 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl StState {
    fn name(self) -> &'static str {
        match self {
            StState::Pending => "PENDING",
            StState::Running => "RUNNING",
            StState::Succeeded => "SUCCEEDED",
            StState::Failed => "FAILED",
            StState::Canceled => "CANCELED",
        }
    }
    fn terminal(self) -> bool {
        matches!(
            self,
            StState::Succeeded | StState::Failed | StState::Canceled
        )
    }
}

pub struct StatementRecord {
    owner: String,
    /// The statement as submitted, and when (for the query history).
    text: String,
    submitted_at: i64,
    state: StState,
    finished_at: Option<i64>,
    result: Option<Arc<ResultSet>>,
    error: Option<SqlError>,
    interrupt: Option<Arc<InterruptHandle>>,
    done: watch::Sender<bool>,
    /// Signs this statement's external links (EXTERNAL_LINKS only).
    link_key: Option<String>,
}

impl StatementRecord {
    fn finish(&mut self, state: StState, now: i64) {
        if !self.state.terminal() {
            self.state = state;
            self.finished_at = Some(now);
            let _ = self.done.send(true);
        }
    }
}

#[derive(Debug, Deserialize)]
struct ParamReq {
    name: String,
    value: Option<String>,
    #[serde(rename = "type")]
    type_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ExecRequest {
    warehouse_id: Option<String>,
    statement: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    #[serde(default)]
    parameters: Vec<ParamReq>,
    wait_timeout: Option<String>,
    on_wait_timeout: Option<String>,
    disposition: Option<String>,
    format: Option<String>,
    row_limit: Option<i64>,
    byte_limit: Option<i64>,
    #[allow(dead_code)]
    query_tags: Option<Value>,
}

/// Validated execution options.
struct Options {
    external: bool,
    wait_seconds: u64,
    cancel_on_timeout: bool,
    row_limit: Option<usize>,
    byte_limit: usize,
}

fn validate(r: &ExecRequest) -> Result<Options, Response> {
    let bad = |m: &str| Err(errors::invalid_parameter(m));
    if r.warehouse_id.as_deref().is_none_or(str::is_empty) {
        return bad("Missing required field: warehouse_id");
    }
    if r.statement.as_deref().is_none_or(|s| s.trim().is_empty()) {
        return bad("Missing required field: statement");
    }
    let wait = r.wait_timeout.as_deref().unwrap_or("10s");
    let wait_seconds = match wait.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()) {
        Some(n) if n == 0 || (5..=50).contains(&n) => n,
        _ => {
            return bad(
                "wait_timeout must be 0 seconds (disables wait), or between 5 seconds and 50 seconds, e.g. \"10s\".",
            );
        }
    };
    let cancel_on_timeout = match r.on_wait_timeout.as_deref().unwrap_or("CONTINUE") {
        "CONTINUE" => false,
        "CANCEL" => true,
        _ => return bad("on_wait_timeout must be CONTINUE or CANCEL."),
    };
    let disposition = r.disposition.as_deref().unwrap_or("INLINE");
    let format = r.format.as_deref().unwrap_or("JSON_ARRAY");
    let external = match (disposition, format) {
        ("INLINE", "JSON_ARRAY") => false,
        ("INLINE", "ARROW_STREAM" | "CSV") => {
            return bad("The ARROW_STREAM and CSV formats require disposition EXTERNAL_LINKS.");
        }
        ("EXTERNAL_LINKS", "JSON_ARRAY") => true,
        ("EXTERNAL_LINKS", "ARROW_STREAM" | "CSV") => {
            return bad(
                "format ARROW_STREAM and CSV are not available on this (emulated) warehouse; use JSON_ARRAY.",
            );
        }
        ("INLINE" | "EXTERNAL_LINKS", _) => {
            return bad("format must be JSON_ARRAY, ARROW_STREAM or CSV.");
        }
        _ => return bad("disposition must be INLINE or EXTERNAL_LINKS."),
    };
    let cap = if external {
        EXTERNAL_LIMIT_BYTES
    } else {
        INLINE_LIMIT_BYTES
    };
    let row_limit = match r.row_limit {
        None => None,
        Some(n) if n >= 0 => Some(n as usize),
        Some(_) => return bad("row_limit must not be negative."),
    };
    let byte_limit = match r.byte_limit {
        None => cap,
        Some(n) if n > 0 => (n as usize).min(cap),
        Some(_) => return bad("byte_limit must be positive."),
    };
    if let Some(p) = r.parameters.iter().find(|p| p.name.is_empty()) {
        return bad(&format!(
            "Every parameter needs a name (got {:?}).",
            p.value
        ));
    }
    Ok(Options {
        external,
        wait_seconds,
        cancel_on_timeout,
        row_limit,
        byte_limit,
    })
}

pub async fn execute(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Response {
    if let Err(r) = c.require(Need::Sql) {
        return r;
    }
    let req: ExecRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return errors::invalid_parameter(format!("Invalid request body: {e}")),
    };
    let opts = match validate(&req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let warehouse_id = req.warehouse_id.clone().unwrap_or_default();
    let now = s.clock.now();
    {
        let mut whs = lock(&s.warehouses);
        let Some(w) = whs.iter_mut().find(|w| w.id == warehouse_id) else {
            return errors::not_found(
                "RESOURCE_DOES_NOT_EXIST",
                format!("Warehouse {warehouse_id} does not exist."),
            );
        };
        w.wake(now);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let (done, _) = watch::channel(false);
    let mut record = StatementRecord {
        owner: c.email.clone(),
        text: req.statement.clone().unwrap_or_default(),
        submitted_at: now,
        state: StState::Pending,
        finished_at: None,
        result: None,
        error: None,
        interrupt: None,
        done,
        link_key: opts.external.then(crate::storage::new_link_key),
    };
    let catalog = req.catalog.as_deref().unwrap_or("main");
    let schema = req.schema.as_deref().unwrap_or("default");
    let planned = sql::plan(
        req.statement.as_deref().unwrap_or_default(),
        catalog,
        schema,
        &c.grants,
    );
    let params: Vec<Param> = req
        .parameters
        .into_iter()
        .map(|p| Param {
            name: p.name,
            value: p.value,
            type_name: p.type_name.unwrap_or_else(|| "STRING".into()),
        })
        .collect();
    let mut waiter = record.done.subscribe();
    match planned {
        Err(e) => {
            record.error = Some(e);
            record.finish(StState::Failed, now);
            lock(&s.statements).insert(id.clone(), record);
        }
        Ok(plan) => {
            lock(&s.statements).insert(id.clone(), record);
            tokio::spawn(run(
                s.clone(),
                id.clone(),
                warehouse_id,
                plan,
                params,
                opts.row_limit,
                opts.byte_limit,
            ));
        }
    }
    if opts.wait_seconds > 0 {
        let finished = tokio::time::timeout(
            Duration::from_secs(opts.wait_seconds),
            waiter.wait_for(|d| *d),
        )
        .await;
        if finished.is_err() && opts.cancel_on_timeout {
            cancel_statement(&s, &id);
        }
    }
    respond(&s, &c, &id)
}

/// Waits for the warehouse, then runs the plan on the blocking pool.
async fn run(
    s: Arc<Shared>,
    id: String,
    warehouse_id: String,
    plan: sql::Plan,
    params: Vec<Param>,
    row_limit: Option<usize>,
    byte_limit: usize,
) {
    loop {
        let running = {
            let now = s.clock.now();
            let mut whs = lock(&s.warehouses);
            whs.iter_mut().find(|w| w.id == warehouse_id).map(|w| {
                w.tick(now);
                w.state == WhState::Running
            })
        };
        let canceled = lock(&s.statements)
            .get(&id)
            .is_none_or(|r| r.state.terminal());
        if canceled || running.is_none() {
            return;
        }
        if running == Some(true) {
            break;
        }
        // The warehouse starts on the emulator clock; look again shortly.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let owner = lock(&s.statements)
        .get(&id)
        .map(|r| r.owner.clone())
        .unwrap_or_default();
    let (conn, handle) = match s.engine.connect(&owner) {
        Ok(c) => c,
        Err(e) => return fail(&s, &id, e),
    };
    {
        let mut st = lock(&s.statements);
        let Some(r) = st.get_mut(&id).filter(|r| !r.state.terminal()) else {
            return;
        };
        r.state = StState::Running;
        r.interrupt = Some(Arc::new(handle));
    }
    let outcome = tokio::task::spawn_blocking(move || {
        sql::execute(&conn, &plan, &params, row_limit, byte_limit)
    })
    .await;
    let now = s.clock.now();
    let mut st = lock(&s.statements);
    let Some(r) = st.get_mut(&id) else { return };
    match outcome {
        Ok(Ok(result)) => {
            r.result = Some(Arc::new(result));
            r.finish(StState::Succeeded, now);
        }
        Ok(Err(e)) => {
            r.error = Some(e);
            r.finish(StState::Failed, now);
        }
        Err(_) => {
            r.error = Some(SqlError::new(
                "INTERNAL_ERROR",
                "The statement crashed.",
                "XX000",
            ));
            r.finish(StState::Failed, now);
        }
    }
}

fn fail(s: &Shared, id: &str, e: SqlError) {
    let now = s.clock.now();
    if let Some(r) = lock(&s.statements).get_mut(id) {
        r.error = Some(e);
        r.finish(StState::Failed, now);
    }
}

fn cancel_statement(s: &Shared, id: &str) {
    let now = s.clock.now();
    if let Some(r) = lock(&s.statements).get_mut(id) {
        if let Some(h) = &r.interrupt {
            h.interrupt();
        }
        r.finish(StState::Canceled, now);
    }
}

/// The statement of this caller, unless unknown, foreign or expired.
fn with_record<T>(
    s: &Shared,
    c: &Caller,
    id: &str,
    f: impl FnOnce(&StatementRecord) -> T,
) -> Option<T> {
    let now = s.clock.now();
    let st = lock(&s.statements);
    let r = st.get(id)?;
    if r.owner != c.email || r.finished_at.is_some_and(|t| now >= t + RESULT_TTL_SECONDS) {
        return None;
    }
    Some(f(r))
}

fn unknown(id: &str) -> Response {
    errors::not_found(
        "NOT_FOUND",
        format!("The statement {id} was not found or its results have expired."),
    )
}

fn respond(s: &Shared, c: &Caller, id: &str) -> Response {
    let chunk_rows = s.config.chunk_rows.max(1);
    let now = s.clock.now();
    match with_record(s, c, id, |r| statement_json(s, id, r, chunk_rows, now)) {
        Some(v) => Json(v).into_response(),
        None => unknown(id),
    }
}

fn statement_json(s: &Shared, id: &str, r: &StatementRecord, chunk_rows: usize, now: i64) -> Value {
    let mut status = json!({"state": r.state.name()});
    if let Some(e) = &r.error {
        status["error"] = json!({"error_code": e.error_code, "message": e.message});
        status["sql_state"] = json!(e.sql_state);
    }
    let mut v = json!({"statement_id": id, "status": status});
    if let (StState::Succeeded, Some(result)) = (r.state, &r.result) {
        let total = result.rows.len();
        let chunk_count = total.div_ceil(chunk_rows);
        let chunks: Vec<Value> = (0..chunk_count)
            .map(|i| {
                let offset = i * chunk_rows;
                json!({"chunk_index": i, "row_offset": offset, "row_count": (total - offset).min(chunk_rows)})
            })
            .collect();
        let columns: Vec<Value> = result
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"name": c.name, "position": i, "type_name": c.type_name, "type_text": c.type_text}))
            .collect();
        v["manifest"] = json!({
            "format": "JSON_ARRAY",
            "schema": {"column_count": columns.len(), "columns": columns},
            "total_chunk_count": chunk_count,
            "chunks": chunks,
            "total_row_count": total,
            "truncated": result.truncated,
        });
        v["result"] = if chunk_count == 0 {
            json!({})
        } else {
            chunk_json(s, id, r, result, 0, chunk_rows, now)
        };
    }
    v
}

fn chunk_json(
    s: &Shared,
    id: &str,
    r: &StatementRecord,
    result: &ResultSet,
    index: usize,
    chunk_rows: usize,
    now: i64,
) -> Value {
    let total = result.rows.len();
    let offset = index * chunk_rows;
    let end = (offset + chunk_rows).min(total);
    let rows = result.rows.get(offset..end).unwrap_or_default();
    let mut v = match &r.link_key {
        // The rows wait in cloud storage behind a presigned link.
        Some(key) => json!({"chunk_index": index, "row_offset": offset, "row_count": rows.len(),
            "external_links": [crate::storage::link_json(&s.base_url, id, key, index, offset, rows.len(), now)]}),
        None => {
            json!({"chunk_index": index, "row_offset": offset, "row_count": rows.len(), "data_array": rows})
        }
    };
    if end < total {
        v["next_chunk_index"] = json!(index + 1);
        v["next_chunk_internal_link"] = json!(format!(
            "/api/2.0/sql/statements/{id}/result/chunks/{}",
            index + 1
        ));
    }
    v
}

pub async fn status(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = c.require(Need::Sql) {
        return r;
    }
    respond(&s, &c, &id)
}

pub async fn chunk(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path((id, index)): Path<(String, String)>,
) -> Response {
    if let Err(r) = c.require(Need::Sql) {
        return r;
    }
    let chunk_rows = s.config.chunk_rows.max(1);
    let Ok(index) = index.parse::<usize>() else {
        return errors::invalid_parameter(format!("Invalid chunk index: {index}"));
    };
    let now = s.clock.now();
    let answer = with_record(&s, &c, &id, |r| match (r.state, &r.result) {
        (StState::Succeeded, Some(result)) if index < result.rows.len().div_ceil(chunk_rows) => {
            Ok(chunk_json(&s, &id, r, result, index, chunk_rows, now))
        }
        (StState::Succeeded, _) => Err(errors::invalid_parameter(format!(
            "Chunk index {index} is out of range."
        ))),
        (state, _) => Err(errors::rest(
            axum::http::StatusCode::BAD_REQUEST,
            "INVALID_STATE",
            format!(
                "The statement is {}; results are available once it SUCCEEDED.",
                state.name()
            ),
        )),
    });
    match answer {
        Some(Ok(v)) => Json(v).into_response(),
        Some(Err(r)) => r,
        None => unknown(&id),
    }
}

pub async fn cancel(
    State(s): State<Arc<Shared>>,
    Extension(c): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = c.require(Need::Sql) {
        return r;
    }
    if with_record(&s, &c, &id, |_| ()).is_none() {
        return unknown(&id);
    }
    cancel_statement(&s, &id);
    Json(json!({})).into_response()
}

/// The rows of chunk `index` of a succeeded EXTERNAL_LINKS statement, with the key its links
/// are signed with (for the storage endpoint, which has no caller to check: the link is the
/// capability).
pub fn external_chunk(
    s: &Shared,
    id: &str,
    index: usize,
) -> Option<(String, Vec<Vec<Option<String>>>)> {
    let chunk_rows = s.config.chunk_rows.max(1);
    let st = lock(&s.statements);
    let r = st.get(id)?;
    let key = r.link_key.clone()?;
    let result = r
        .result
        .as_ref()
        .filter(|_| r.state == StState::Succeeded)?;
    let offset = index * chunk_rows;
    let end = (offset + chunk_rows).min(result.rows.len());
    let rows = result.rows.get(offset..end)?.to_vec();
    Some((key, rows))
}

/// `GET /api/2.0/sql/history/queries`: the caller's statements, newest first, with their
/// text as submitted (where tags a client adds, e.g. in a comment, show up).
pub async fn history(State(s): State<Arc<Shared>>, Extension(c): Extension<Caller>) -> Response {
    if let Err(r) = c.require(Need::Sql) {
        return r;
    }
    let st = lock(&s.statements);
    let mut mine: Vec<(&String, &StatementRecord)> =
        st.iter().filter(|(_, r)| r.owner == c.email).collect();
    mine.sort_by_key(|(_, r)| std::cmp::Reverse(r.submitted_at));
    let res: Vec<Value> = mine
        .into_iter()
        .map(|(id, r)| {
            json!({
                "query_id": id,
                "query_text": r.text,
                "user_name": r.owner,
                "status": match r.state {
                    StState::Pending => "QUEUED",
                    StState::Running => "RUNNING",
                    StState::Succeeded => "FINISHED",
                    StState::Failed => "FAILED",
                    StState::Canceled => "CANCELED",
                },
                "query_start_time_ms": r.submitted_at * 1000,
            })
        })
        .collect();
    Json(json!({"res": res, "has_next_page": false})).into_response()
}
