//! A statement's JSON as Databricks shows it: status, manifest, and chunks (inline rows or
//! external links).

use serde_json::{Value, json};

use super::*;
use crate::engine::sql::ResultSet;
use crate::state::Shared;

pub(super) fn statement_json(
    s: &Shared,
    id: &str,
    r: &StatementRecord,
    chunk_rows: usize,
    now: i64,
) -> Value {
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
            "format": if r.arrow { "ARROW_STREAM" } else { "JSON_ARRAY" },
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

pub(super) fn chunk_json(
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
            "external_links": [crate::databricks::storage::link_json(&s.base_url, id, key, index, offset, rows.len(), now)]}),
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
