//! What the query routes answer, typed so the OpenAPI document describes exactly what is
//! sent.

use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::rfc3339;
use crate::connections::RanAs;
use crate::http::routes::{Registry, schema_of};
use crate::queries::output::ColumnView;
use crate::store::{QueryRow, QueryState};

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

/// A finished query's result as one JSON document.
#[derive(Serialize, schemars::JsonSchema)]
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
        ],
    );
    reg.answers::<Pending>(202);
}
