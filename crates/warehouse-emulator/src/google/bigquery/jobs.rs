//! Queries as BigQuery jobs: `jobs.query` (standard SQL only when `useLegacySql: false` —
//! the REST default is legacy SQL —, a `requestId` that makes a resent request the same
//! job, named parameters, `jobComplete: false` while the job runs), `getQueryResults`
//! (the job's `location` required outside the US and EU multi-regions, pages by
//! `pageToken`), and `jobs.cancel`. Jobs run on the shared engine; `bigquery_job_ms`
//! makes them take a while.
//!
//! Strictest readings (README): legacy SQL is refused rather than emulated; unknown request
//! fields are refused (Google rejects unknown JSON names).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rusqlite::InterruptHandle;
use serde_json::{Value, json};
use sqlparser::dialect::BigQueryDialect;
use tokio::sync::watch;

use super::request::{QueryRequest, invalid, params};
use super::{caller, cells, error, grants, ok, page, project};
use crate::engine::sql::{self, Param, ResultSet, SqlError};
use crate::state::{Shared, lock};

/// Most a single request waits for a job (Google: about 10 s by default, 200 s at most).
const MOST_WAIT_MS: u64 = 10_000;
/// Largest result the emulator keeps for a job.
const RESULT_LIMIT_BYTES: usize = 100 * 1024 * 1024;

#[derive(Clone)]
pub enum Outcome {
    Running,
    Done(Arc<ResultSet>),
    Failed(SqlError),
    Cancelled,
}

pub struct Job {
    pub owner: String,
    pub project: String,
    pub location: String,
    pub outcome: Outcome,
    pub tables: Vec<String>,
    interrupt: Option<Arc<InterruptHandle>>,
    done: watch::Sender<bool>,
}

/// BigQuery's answer for a failed job.
fn failure(e: &SqlError, project: &str, location: &str) -> Response {
    let class = e
        .message
        .strip_prefix('[')
        .and_then(|m| m.split_once(']'))
        .map_or("", |(c, _)| c);
    match class {
        "TABLE_OR_VIEW_NOT_FOUND" => error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!(
                "Not found: Table {project}:{} was not found in location {location}",
                e.message.split('`').nth(1).unwrap_or("?")
            ),
            None,
        ),
        "INSUFFICIENT_PERMISSIONS" => error(
            StatusCode::FORBIDDEN,
            "accessDenied",
            &format!(
                "Access Denied: {}",
                e.message.split_once("] ").map_or("", |(_, m)| m)
            ),
            None,
        ),
        _ if e.sql_state == "57014" => cancelled(),
        _ => error(StatusCode::BAD_REQUEST, "invalidQuery", &e.message, None),
    }
}

fn cancelled() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "stopped",
        "Job execution was cancelled: User requested cancellation",
        None,
    )
}

/// Table names as written (one quoted identifier may hold `project.dataset.table`), the
/// project standing for its catalog.
fn names(s: &Shared, default_catalog: String) -> impl Fn(Vec<String>) -> Option<Vec<String>> + '_ {
    move |written: Vec<String>| {
        let parts: Vec<String> = written
            .iter()
            .flat_map(|p| p.split('.'))
            .map(str::to_owned)
            .collect();
        match parts.as_slice() {
            [_] => Some(parts),
            [d, t] => Some(vec![default_catalog.clone(), d.clone(), t.clone()]),
            [p, d, t] => {
                let project = s
                    .config
                    .google_projects
                    .iter()
                    .find(|x| x.id.eq_ignore_ascii_case(p))?;
                Some(vec![project.catalog.clone(), d.clone(), t.clone()])
            }
            _ => None,
        }
    }
}

/// The location of the projects a plan reads, if it reads any tables.
fn data_location(s: &Shared, tables: &[String]) -> Option<String> {
    let catalog = tables.first()?.split('.').next()?;
    s.config
        .google_projects
        .iter()
        .find(|p| p.catalog == catalog)
        .map(|p| p.location.clone())
}

pub async fn query(
    State(s): State<Arc<Shared>>,
    Path(project_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let email = match caller(&s, &headers).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let billing = match project(&s, &project_id) {
        Ok(p) => p.clone(),
        Err(r) => return r,
    };
    let req: QueryRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return invalid(&format!("Invalid JSON payload received. {e}")),
    };
    if !billing
        .members
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&email))
    {
        return error(
            StatusCode::FORBIDDEN,
            "accessDenied",
            &format!(
                "Access Denied: Project {0}: User does not have bigquery.jobs.create permission in project {0}.",
                billing.id
            ),
            None,
        );
    }
    if req.use_legacy_sql != Some(false) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalidQuery",
            "This emulator runs standard SQL only: legacy SQL is the REST default, so set useLegacySql: false.",
            None,
        );
    }
    let int64 = req
        .format_options
        .as_ref()
        .and_then(|f| f.use_int64_timestamp)
        .unwrap_or(false);
    if let Some(rid) = &req.request_id {
        let known = lock(&s.google)
            .requests
            .get(&(email.clone(), rid.clone()))
            .cloned();
        if let Some(job_id) = known {
            return respond(&s, &job_id, &email, 0, req.max_results, None, int64).await;
        }
    }
    let parameters = match params(&req) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let default_catalog = req
        .default_dataset
        .as_ref()
        .and_then(|d| d.project_id.as_deref())
        .and_then(|p| s.config.google_projects.iter().find(|x| x.id == p))
        .map_or(billing.catalog.clone(), |p| p.catalog.clone());
    let default_schema = req
        .default_dataset
        .as_ref()
        .map_or("default".to_owned(), |d| d.dataset_id.clone());
    let resolve = names(&s, default_catalog.clone());
    let planned = sql::plan::plan_with(
        &BigQueryDialect {},
        &req.query,
        &default_catalog,
        &default_schema,
        &grants(&s, &email),
        &resolve,
    );
    let plan = match planned {
        Ok(p) => p,
        Err(e) => return failure(&e, &billing.id, req.location.as_deref().unwrap_or("US")),
    };
    let location = data_location(&s, &plan.tables)
        .or_else(|| req.location.clone())
        .unwrap_or_else(|| "US".into());
    if let (Some(asked), Some(data)) = (&req.location, data_location(&s, &plan.tables))
        && !asked.eq_ignore_ascii_case(&data)
    {
        {
            return error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!(
                    "Not found: Dataset {}:{} was not found in location {asked}",
                    billing.id,
                    plan.tables[0].split('.').nth(1).unwrap_or("?")
                ),
                None,
            );
        }
    }
    if req.dry_run == Some(true) {
        return ok(json!({
            "kind": "bigquery#queryResponse", "jobComplete": true,
            "totalBytesProcessed": dry_run_bytes(&plan.tables).to_string(), "cacheHit": false,
        }));
    }
    let job_id = format!("job_{}", crate::engine::authz::random_id(12));
    let (done, _) = watch::channel(false);
    lock(&s.bq_jobs).insert(
        job_id.clone(),
        Job {
            owner: email.clone(),
            project: billing.id.clone(),
            location,
            outcome: Outcome::Running,
            tables: plan.tables.clone(),
            interrupt: None,
            done,
        },
    );
    if let Some(rid) = &req.request_id {
        lock(&s.google)
            .requests
            .insert((email.clone(), rid.clone()), job_id.clone());
    }
    tokio::spawn(run(
        s.clone(),
        job_id.clone(),
        plan,
        parameters,
        email.clone(),
    ));
    let wait = req.timeout_ms.unwrap_or(MOST_WAIT_MS).min(MOST_WAIT_MS);
    respond(&s, &job_id, &email, 0, req.max_results, Some(wait), int64).await
}

/// What a dry run says it would read: the tables' stored size, as BigQuery estimates it
/// from table metadata (here: 64 bytes a row).
fn dry_run_bytes(tables: &[String]) -> u64 {
    tables.len() as u64 * 64 * 1_000
}

async fn run(s: Arc<Shared>, job_id: String, plan: sql::Plan, params: Vec<Param>, email: String) {
    if s.config.bigquery_job_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.config.bigquery_job_ms)).await;
    }
    let still_running = lock(&s.bq_jobs)
        .get(&job_id)
        .is_some_and(|j| matches!(j.outcome, Outcome::Running));
    if !still_running {
        return;
    }
    let (conn, interrupt) = match s
        .engine
        .connect_with(&email, &[("session_user", email.as_str())])
    {
        Ok(c) => c,
        Err(e) => return end(&s, &job_id, Outcome::Failed(e)),
    };
    if let Some(j) = lock(&s.bq_jobs).get_mut(&job_id) {
        j.interrupt = Some(Arc::new(interrupt));
    }
    let outcome = tokio::task::spawn_blocking(move || {
        sql::execute(&conn, &plan, &params, None, RESULT_LIMIT_BYTES)
    })
    .await;
    let outcome = match outcome {
        Ok(Ok(r)) => Outcome::Done(Arc::new(r)),
        Ok(Err(e)) => Outcome::Failed(e),
        Err(_) => Outcome::Failed(SqlError::new("INTERNAL_ERROR", "The job crashed.", "XX000")),
    };
    end(&s, &job_id, outcome);
}

fn end(s: &Shared, job_id: &str, outcome: Outcome) {
    if let Some(j) = lock(&s.bq_jobs).get_mut(job_id) {
        if matches!(j.outcome, Outcome::Running) {
            j.outcome = outcome;
        }
        j.done.send_replace(true);
    }
}

/// A job's answer now (after waiting up to `wait` ms for it): results from `from`.
async fn respond(
    s: &Shared,
    job_id: &str,
    email: &str,
    from: usize,
    max: Option<usize>,
    wait: Option<u64>,
    int64: bool,
) -> Response {
    let waiter = lock(&s.bq_jobs).get(job_id).map(|j| j.done.subscribe());
    if let (Some(mut w), Some(ms)) = (waiter, wait) {
        let _ = tokio::time::timeout(Duration::from_millis(ms), w.wait_for(|d| *d)).await;
    }
    let (outcome, project, location) = {
        let jobs = lock(&s.bq_jobs);
        let Some(j) = jobs.get(job_id).filter(|j| j.owner == email) else {
            return error(
                StatusCode::NOT_FOUND,
                "notFound",
                &format!("Not found: Job {job_id}"),
                None,
            );
        };
        (j.outcome.clone(), j.project.clone(), j.location.clone())
    };
    let reference = json!({"projectId": project, "jobId": job_id, "location": location});
    match outcome {
        Outcome::Running => ok(
            json!({"kind": "bigquery#queryResponse", "jobReference": reference, "jobComplete": false}),
        ),
        Outcome::Cancelled => cancelled(),
        Outcome::Failed(e) => failure(&e, &project, &location),
        Outcome::Done(r) => {
            let size = max
                .unwrap_or(s.config.bigquery_page_rows)
                .min(s.config.bigquery_page_rows);
            let (_, next) = page(&r.rows, Some(&from.to_string()), Some(size), size);
            let mut body = json!({
                "kind": "bigquery#queryResponse", "schema": cells::schema(&r.columns),
                "jobReference": reference, "totalRows": r.rows.len().to_string(),
                "rows": cells::rows(&r, from, size, int64),
                "totalBytesProcessed": (r.bytes as u64).to_string(),
                "jobComplete": true, "cacheHit": false,
            });
            if let Some(n) = next {
                body["pageToken"] = json!(n);
            }
            ok(body)
        }
    }
}

/// Whether `asked` addresses a job in `location`: required outside the US and EU.
fn location_matches(location: &str, asked: Option<&str>) -> bool {
    match asked {
        Some(a) => a.eq_ignore_ascii_case(location),
        None => location == "US" || location == "EU",
    }
}

fn job_location(s: &Shared, job_id: &str) -> Option<String> {
    lock(&s.bq_jobs).get(job_id).map(|j| j.location.clone())
}

pub async fn results(
    State(s): State<Arc<Shared>>,
    Path((project_id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let email = match caller(&s, &headers).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Job {project_id}:{job_id}"),
            None,
        )
    };
    let Some(location) = job_location(&s, &job_id) else {
        return not_found();
    };
    if !location_matches(&location, q.get("location").map(String::as_str)) {
        return not_found();
    }
    let from = q
        .get("pageToken")
        .or_else(|| q.get("startIndex"))
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let max = q.get("maxResults").and_then(|m| m.parse().ok());
    let wait = q
        .get("timeoutMs")
        .and_then(|t| t.parse().ok())
        .unwrap_or(MOST_WAIT_MS)
        .min(MOST_WAIT_MS);
    let int64 = q
        .get("formatOptions.useInt64Timestamp")
        .is_some_and(|v| v == "true");
    let mut resp = respond(&s, &job_id, &email, from, max, Some(wait), int64).await;
    if resp.status() == StatusCode::OK {
        // getQueryResults names itself differently from jobs.query.
        resp = rekind(resp).await;
    }
    resp
}

async fn rekind(resp: Response) -> Response {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap_or_default();
    let mut v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    v["kind"] = json!("bigquery#getQueryResultsResponse");
    v["etag"] = json!("\"emulated\"");
    ok(v)
}

pub async fn cancel(
    State(s): State<Arc<Shared>>,
    Path((project_id, job_id)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let email = match caller(&s, &headers).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    let mut jobs = lock(&s.bq_jobs);
    let Some(j) = jobs.get_mut(&job_id).filter(|j| {
        j.owner == email && location_matches(&j.location, q.get("location").map(String::as_str))
    }) else {
        return error(
            StatusCode::NOT_FOUND,
            "notFound",
            &format!("Not found: Job {project_id}:{job_id}"),
            None,
        );
    };
    if matches!(j.outcome, Outcome::Running) {
        j.outcome = Outcome::Cancelled;
        if let Some(i) = &j.interrupt {
            i.interrupt();
        }
        j.done.send_replace(true);
    }
    let state = json!({"state": "DONE", "errorResult": {"reason": "stopped", "message": "Job execution was cancelled: User requested cancellation"}});
    ok(json!({"kind": "bigquery#jobCancelResponse", "job": {
        "kind": "bigquery#job", "id": format!("{}:{}.{job_id}", j.project, j.location),
        "jobReference": {"projectId": j.project, "jobId": job_id, "location": j.location},
        "status": state,
    }}))
}
