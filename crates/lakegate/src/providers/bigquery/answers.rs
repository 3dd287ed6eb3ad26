//! BigQuery's answers read as Lakegate's statements: a job named by project, location
//! and id (`JobRef`), Google's error envelope, and `jobs.query` / `getQueryResults`
//! answers — running, succeeded with the first chunk when the page holds all of it,
//! failed with BigQuery's reason, or cancelled. Pure.

use serde::Deserialize;
use serde_json::Value;

use super::columns::{Field, column, rows};
use super::rest::CHUNK_ROWS;
use crate::warehouse::model::{StatementError, Status};
use crate::warehouse::{Chunk, Manifest, State, Statement, WarehouseError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRef {
    pub project: String,
    pub location: String,
    pub job: String,
}

impl JobRef {
    pub fn id(&self) -> String {
        format!("{}|{}|{}", self.project, self.location, self.job)
    }

    pub fn parse(id: &str) -> Result<JobRef, WarehouseError> {
        let mut parts = id.splitn(3, '|');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(p), Some(l), Some(j)) if !p.is_empty() && !j.is_empty() => Ok(JobRef {
                project: p.into(),
                location: l.into(),
                job: j.into(),
            }),
            _ => Err(WarehouseError::NotFound(format!("query job {id}"))),
        }
    }
}

/// Google's error envelope: (HTTP status, first reason, details reason, message).
pub(super) fn envelope(status: u16, body: &[u8]) -> (String, String, String) {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let e = &v["error"];
    let text = |x: &Value| x.as_str().unwrap_or_default().to_owned();
    let message = match text(&e["message"]) {
        m if m.is_empty() => format!("BigQuery answered {status}"),
        m => m,
    };
    (
        text(&e["errors"][0]["reason"]),
        text(&e["details"][0]["reason"]),
        message,
    )
}

/// A non-2xx answer that is not a query's own failure.
pub(super) fn classify(status: u16, body: &[u8]) -> WarehouseError {
    let (reason, detail, message) = envelope(status, body);
    match (status, reason.as_str(), detail.as_str()) {
        (401, ..) => WarehouseError::TokenRejected(detail),
        (403, _, "ACCESS_TOKEN_SCOPE_INSUFFICIENT") | (403, "insufficientPermissions", _) => {
            WarehouseError::PermissionDenied(
                "this sign-in did not allow BigQuery: sign in again and allow it on Google's consent page".into(),
            )
        }
        (403, "rateLimitExceeded" | "quotaExceeded", _) => WarehouseError::Upstream { status: 429, message },
        (403, ..) => WarehouseError::PermissionDenied(message),
        (404, ..) => WarehouseError::NotFound(message),
        _ => WarehouseError::Upstream { status, message },
    }
}

/// Whether a refusal is the query's own failure (bad SQL, a table it may not read) rather
/// than the call's.
pub(super) fn query_failure(status: u16, body: &[u8]) -> Option<StatementError> {
    let (reason, _, message) = envelope(status, body);
    matches!(
        (status, reason.as_str()),
        (400, "invalidQuery" | "invalid") | (403, "accessDenied") | (404, "notFound")
    )
    .then_some(StatementError {
        error_code: Some(reason),
        message: Some(message),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct JobReference {
    project_id: String,
    job_id: String,
    #[serde(default)]
    location: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Schema {
    #[serde(default)]
    pub(super) fields: Vec<Field>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueryResponse {
    pub(super) job_reference: Option<JobReference>,
    #[serde(default)]
    pub(super) job_complete: bool,
    pub(super) schema: Option<Schema>,
    pub(super) total_rows: Option<String>,
    #[serde(default)]
    pub(super) rows: Vec<Value>,
}

/// A job's state from a `jobs.query` or `getQueryResults` answer.
pub fn statement(
    status: u16,
    body: &[u8],
    fallback: Option<&JobRef>,
) -> Result<Statement, WarehouseError> {
    if !(200..300).contains(&status) {
        let (reason, _, _) = envelope(status, body);
        let (state, error) = if status == 400 && reason == "stopped" {
            (State::Canceled, None)
        } else {
            match query_failure(status, body) {
                Some(e) => (State::Failed, Some(e)),
                None => return Err(classify(status, body)),
            }
        };
        return Ok(Statement {
            statement_id: fallback.map(JobRef::id).unwrap_or_default(),
            status: Status {
                state,
                error,
                sql_state: None,
            },
            manifest: None,
            result: None,
        });
    }
    let r: QueryResponse = serde_json::from_slice(body).map_err(|_| WarehouseError::Malformed)?;
    let job = match (r.job_reference, fallback) {
        (Some(j), _) => JobRef {
            project: j.project_id,
            location: j.location.unwrap_or_default(),
            job: j.job_id,
        },
        (None, Some(f)) => f.clone(),
        (None, None) => return Err(WarehouseError::Malformed),
    };
    if !r.job_complete {
        return Ok(Statement {
            statement_id: job.id(),
            status: Status {
                state: State::Running,
                error: None,
                sql_state: None,
            },
            manifest: None,
            result: None,
        });
    }
    let fields = r.schema.map(|s| s.fields).unwrap_or_default();
    let total: u64 = r
        .total_rows
        .as_deref()
        .unwrap_or("0")
        .parse()
        .map_err(|_| WarehouseError::Malformed)?;
    let first = rows(&fields, &r.rows);
    // Chunk 0 comes with the answer only when the page holds all of it.
    let whole = first.len() as u64 == total.min(CHUNK_ROWS);
    Ok(Statement {
        statement_id: job.id(),
        status: Status {
            state: State::Succeeded,
            error: None,
            sql_state: None,
        },
        manifest: Some(Manifest::new(
            fields.iter().map(column).collect(),
            total.div_ceil(CHUNK_ROWS),
            total,
        )),
        result: whole.then_some(Chunk {
            chunk_index: 0,
            data_array: first,
            external_links: vec![],
        }),
    })
}

/// BigQuery's type for a parameter's declared type (Lakegate's API speaks Databricks' names).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_round_trip_and_answers_become_statements() {
        let j = JobRef {
            project: "example.com:p".into(),
            location: "europe-west2".into(),
            job: "job_1".into(),
        };
        assert_eq!(JobRef::parse(&j.id()).unwrap(), j);
        assert!(JobRef::parse("nope").is_err());
        let running = statement(200, br#"{"jobReference":{"projectId":"p","jobId":"j","location":"US"},"jobComplete":false}"#, None).unwrap();
        assert_eq!(
            (running.status.state, running.statement_id.as_str()),
            (State::Running, "p|US|j")
        );
        let done = statement(
            200,
            br#"{"jobReference":{"projectId":"p","jobId":"j","location":"US"},"jobComplete":true,
                 "schema":{"fields":[{"name":"n","type":"INTEGER"}]},"totalRows":"1","rows":[{"f":[{"v":"7"}]}]}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            done.result.unwrap().data_array,
            vec![vec![Some("7".to_owned())]]
        );
        let failed = statement(400, br#"{"error":{"code":400,"message":"Syntax error","errors":[{"reason":"invalidQuery"}]}}"#, Some(&j)).unwrap();
        assert_eq!(failed.status.state, State::Failed);
        let stopped = statement(
            400,
            br#"{"error":{"code":400,"message":"cancelled","errors":[{"reason":"stopped"}]}}"#,
            Some(&j),
        )
        .unwrap();
        assert_eq!(stopped.status.state, State::Canceled);
        assert!(matches!(
            statement(
                401,
                br#"{"error":{"code":401,"details":[{"reason":"ACCESS_TOKEN_EXPIRED"}]}}"#,
                Some(&j)
            ),
            Err(WarehouseError::TokenRejected(_))
        ));
        assert!(matches!(
            statement(
                403,
                br#"{"error":{"code":403,"errors":[{"reason":"rateLimitExceeded"}]}}"#,
                Some(&j)
            ),
            Err(WarehouseError::Upstream { status: 429, .. })
        ));
    }
}
