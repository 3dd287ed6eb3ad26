//! SQL Statement Execution API 2.0: execute with wait/continue/cancel semantics, the
//! asynchronous states, chunked JSON_ARRAY results — INLINE, or as EXTERNAL_LINKS to the
//! emulated cloud storage (`storage.rs`) —, cancel, and expiry.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{Value, json};
use tokio::sync::watch;

mod request;
mod results;

use request::{ExecRequest, validate};
pub use request::{StState, StatementRecord};
use results::{chunk_json, statement_json};

use crate::databricks::errors;
use crate::databricks::rest::{Caller, Need};
use crate::engine::sql::{self, Param, SqlError};
use crate::state::{Shared, lock};

/// Results stay fetchable this long after a statement ends.
const RESULT_TTL_SECONDS: i64 = 3600;
/// Databricks caps INLINE results at 25 MiB.
pub const INLINE_LIMIT_BYTES: usize = 25 * 1024 * 1024;
/// …and EXTERNAL_LINKS results at 100 GiB.
const EXTERNAL_LIMIT_BYTES: usize = 100 * 1024 * 1024 * 1024;

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
        link_key: opts.external.then(crate::databricks::storage::new_link_key),
        arrow: opts.arrow,
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
    let ended = || {
        lock(&s.statements)
            .get(&id)
            .is_none_or(|r| r.state.terminal())
    };
    if !crate::databricks::warehouses::wait_running(&s, &warehouse_id, ended).await {
        return;
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
pub fn external_chunk(s: &Shared, id: &str, index: usize) -> Option<(String, StoredChunk)> {
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
    let rows = result.rows.get(offset..end)?;
    let chunk = if r.arrow {
        StoredChunk::Arrow(result.columns.clone(), rows.to_vec())
    } else {
        StoredChunk::Json(rows.to_vec())
    };
    Some((key, chunk))
}

/// What a chunk in storage holds: JSON rows, or rows to serve as an Arrow IPC stream.
pub enum StoredChunk {
    Json(Vec<Vec<Option<String>>>),
    Arrow(Vec<sql::ResultColumn>, Vec<Vec<Option<String>>>),
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

/// The text of every statement submitted so far (as a query history shows it).
pub fn texts(s: &Shared) -> Vec<String> {
    lock(&s.statements)
        .values()
        .map(|r| r.text.clone())
        .collect()
}
