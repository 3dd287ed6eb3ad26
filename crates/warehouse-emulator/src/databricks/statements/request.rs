//! A statement request as Databricks checks it (every field validated, its words in the
//! errors), and the record the emulator keeps of a statement.

use std::sync::Arc;

use axum::response::Response;
use rusqlite::InterruptHandle;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::watch;

use super::*;
use crate::databricks::errors;
use crate::engine::sql::{ResultSet, SqlError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StState {
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl StState {
    pub(super) fn name(self) -> &'static str {
        match self {
            StState::Pending => "PENDING",
            StState::Running => "RUNNING",
            StState::Succeeded => "SUCCEEDED",
            StState::Failed => "FAILED",
            StState::Canceled => "CANCELED",
        }
    }
    pub(super) fn terminal(self) -> bool {
        matches!(
            self,
            StState::Succeeded | StState::Failed | StState::Canceled
        )
    }
}

pub struct StatementRecord {
    pub(super) owner: String,
    /// The statement as submitted, and when (for the query history).
    pub(super) text: String,
    pub(super) submitted_at: i64,
    pub(super) state: StState,
    pub(super) finished_at: Option<i64>,
    pub(super) result: Option<Arc<ResultSet>>,
    pub(super) error: Option<SqlError>,
    pub(super) interrupt: Option<Arc<InterruptHandle>>,
    pub(super) done: watch::Sender<bool>,
    /// Signs this statement's external links (EXTERNAL_LINKS only).
    pub(super) link_key: Option<String>,
    /// The result format: chunks are Arrow IPC streams (`ARROW_STREAM`) or JSON arrays.
    pub(super) arrow: bool,
}

impl StatementRecord {
    pub(super) fn finish(&mut self, state: StState, now: i64) {
        if !self.state.terminal() {
            self.state = state;
            self.finished_at = Some(now);
            let _ = self.done.send(true);
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ParamReq {
    pub(super) name: String,
    pub(super) value: Option<String>,
    #[serde(rename = "type")]
    pub(super) type_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ExecRequest {
    pub(super) warehouse_id: Option<String>,
    pub(super) statement: Option<String>,
    pub(super) catalog: Option<String>,
    pub(super) schema: Option<String>,
    #[serde(default)]
    pub(super) parameters: Vec<ParamReq>,
    pub(super) wait_timeout: Option<String>,
    pub(super) on_wait_timeout: Option<String>,
    pub(super) disposition: Option<String>,
    pub(super) format: Option<String>,
    pub(super) row_limit: Option<i64>,
    pub(super) byte_limit: Option<i64>,
    #[allow(dead_code)]
    pub(super) query_tags: Option<Value>,
}

/// Validated execution options.
pub(super) struct Options {
    pub(super) external: bool,
    /// `ARROW_STREAM`: chunks in storage are Arrow IPC streams (`arrow.rs`).
    pub(super) arrow: bool,
    pub(super) wait_seconds: u64,
    pub(super) cancel_on_timeout: bool,
    pub(super) row_limit: Option<usize>,
    pub(super) byte_limit: usize,
}

pub(super) fn validate(r: &ExecRequest) -> Result<Options, Response> {
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
    let (external, arrow) = match (disposition, format) {
        ("INLINE", "JSON_ARRAY") => (false, false),
        ("INLINE", "ARROW_STREAM" | "CSV") => {
            return bad("The ARROW_STREAM and CSV formats require disposition EXTERNAL_LINKS.");
        }
        ("EXTERNAL_LINKS", "JSON_ARRAY") => (true, false),
        ("EXTERNAL_LINKS", "ARROW_STREAM") => (true, true),
        ("EXTERNAL_LINKS", "CSV") => {
            return bad(
                "format CSV is not available on this (emulated) warehouse; use JSON_ARRAY or ARROW_STREAM.",
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
        arrow,
        wait_seconds,
        cancel_on_timeout,
        row_limit,
        byte_limit,
    })
}
