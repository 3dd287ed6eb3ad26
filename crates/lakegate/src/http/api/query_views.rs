//! What the query routes answer, typed so the OpenAPI document describes exactly what is
//! sent.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::connections::RanAs;
use crate::http::error::ApiError;
use crate::http::routes::{Registry, schema_of};
use crate::queries::output::ColumnView;
use crate::store::{QueryFilter, QueryRow, QueryState};

/// A query still running (202): where to look next.
#[derive(Serialize, schemars::JsonSchema)]
pub struct Pending {
    pub query_id: String,
    pub statement_id: String,
    pub state: QueryState,
    pub submitted_at: String,
    pub elapsed_seconds: i64,
    /// The path to poll (also in `Location`).
    pub poll: String,
    /// Whose identity runs it.
    pub ran_as: RanAs,
}

/// A finished query's result as one JSON document (its schema: the document is written as
/// it streams, by `queries::output::JsonDocument`).
#[derive(schemars::JsonSchema)]
#[allow(dead_code)] // describes the answer for OpenAPI; never built
pub struct QueryResult {
    pub query_id: String,
    pub statement_id: String,
    /// Always `SUCCEEDED` (other endings are errors).
    pub state: &'static str,
    pub columns: Vec<ColumnView>,
    pub row_count: usize,
    /// More rows exist than this answer holds (`row_limit`, or the JSON cap).
    pub truncated: bool,
    /// One array of typed values per row, in column order.
    pub rows: Vec<Vec<Value>>,
    /// Whose identity ran it.
    pub ran_as: RanAs,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct Cancelled {
    pub query_id: String,
    pub state: QueryState,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct HistoryEntry {
    pub query_id: String,
    pub connection_id: String,
    pub statement: String,
    pub state: QueryState,
    pub submitted_at: String,
    pub duration_seconds: Option<i64>,
    pub row_count: Option<i64>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The connection whose credential ran it, when not the caller's own on
    /// `connection_id` (a shared identity's, or the fallback's).
    pub ran_as_connection_id: Option<String>,
    /// It ran as the connection's fallback.
    pub fallback: bool,
}

impl From<QueryRow> for HistoryEntry {
    fn from(q: QueryRow) -> Self {
        HistoryEntry {
            fallback: q
                .ran_as_connection_id
                .as_ref()
                .is_some_and(|r| *r != q.connection_id),
            ran_as_connection_id: q.ran_as_connection_id,
            duration_seconds: q.finished_at.map(|f| f - q.submitted_at),
            submitted_at: rfc3339(q.submitted_at),
            query_id: q.id,
            connection_id: q.connection_id,
            statement: q.statement,
            state: q.state,
            row_count: q.row_count,
            error_code: q.error_code,
            error_message: q.error_message,
        }
    }
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct History {
    pub queries: Vec<HistoryEntry>,
    /// `before` for the next (older) page; null on the last one.
    pub next_before: Option<String>,
}

/// Which of my queries to list.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only this connection's.
    #[schemars(length(max = 64))]
    pub connection: Option<String>,
    /// Only those in this state (`SUCCEEDED`, `FAILED`, `CANCELED`, `TIMED_OUT`, …).
    #[schemars(extend("enum" = ["", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELED", "CLOSED", "TIMED_OUT", "ABANDONED"]))]
    pub outcome: Option<String>,
    /// `next_before` of the previous page (`<submitted_at>.<query id>`).
    #[schemars(regex(pattern = r"^(-?[0-9]{1,18}\.[0-9a-fA-F-]{1,64})?$"))]
    pub before: Option<String>,
    /// Default 100.
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
}

impl HistoryQuery {
    pub fn to_filter(&self) -> Result<QueryFilter, ApiError> {
        let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        let state = match nonempty(&self.outcome) {
            None => None,
            Some(o) => Some(QueryState::parse(&o).ok_or_else(|| {
                ApiError::bad_request(format!("outcome {o:?} is not a query state"))
            })?),
        };
        let before = match nonempty(&self.before) {
            None => None,
            Some(b) => Some(parse_cursor(&b).ok_or_else(|| {
                ApiError::bad_request("before must be a next_before value of a previous page")
            })?),
        };
        let limit = self.limit.unwrap_or(100);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::bad_request("limit must be between 1 and 100"));
        }
        connection_filter(self.connection.as_deref())?;
        Ok(QueryFilter {
            connection_id: nonempty(&self.connection),
            state,
            before,
            limit,
        })
    }
}

/// A page cursor: `<submitted_at>.<query id>` of the last query shown.
pub fn cursor(q: &QueryRow) -> String {
    format!("{}.{}", q.submitted_at, q.id)
}

fn parse_cursor(s: &str) -> Option<(i64, String)> {
    let (at, id) = s.split_once('.')?;
    let id_ok =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    Some((at.parse().ok()?, id.to_owned())).filter(|_| id_ok)
}

/// The history page `f` selects, with the cursor of the next one.
pub fn history_page(rows: Vec<QueryRow>, f: &QueryFilter) -> History {
    let next_before = rows
        .last()
        .filter(|_| rows.len() as i64 == f.limit)
        .map(cursor);
    History {
        queries: rows.into_iter().map(HistoryEntry::from).collect(),
        next_before,
    }
}

/// The answers of a route that returns a result: 200 in one of three formats, or 202.
/// A dry run's answer: what the query would read, without running it.
#[derive(Serialize, schemars::JsonSchema)]
pub struct DryRun {
    /// Always true.
    pub dry_run: bool,
    /// The bytes the warehouse says the query would process.
    pub bytes_processed: u64,
}

/// A `connection` filter (history, activity) is a connection's id: longer is refused.
pub(super) fn connection_filter(c: Option<&str>) -> Result<(), ApiError> {
    if c.is_some_and(|c| c.chars().count() > 64) {
        return Err(ApiError::bad_request(
            "connection must be a connection's id",
        ));
    }
    Ok(())
}

/// An Arrow IPC stream, as OpenAPI describes bytes.
fn binary() -> serde_json::Value {
    json!({"type": "string", "format": "binary"})
}

/// Running a query's answers: its results, or with `dry_run` an estimate.
pub fn results_or_estimate(reg: &mut Registry) {
    let text = json!({"type": "string"});
    let json = json!({"oneOf": [schema_of::<QueryResult>(), schema_of::<DryRun>()]});
    reg.answer(
        200,
        vec![
            ("application/json", json),
            ("application/x-ndjson", text.clone()),
            ("text/csv", text),
            (crate::queries::arrow::CONTENT_TYPE, binary()),
        ],
    );
    reg.answers::<Pending>(202);
}

pub fn results(reg: &mut Registry) {
    let text = json!({"type": "string"});
    reg.answer(
        200,
        vec![
            ("application/json", schema_of::<QueryResult>()),
            ("application/x-ndjson", text.clone()),
            ("text/csv", text),
            (crate::queries::arrow::CONTENT_TYPE, binary()),
        ],
    );
    reg.answers::<Pending>(202);
}
