//! A `jobs.query` request as Google reads it: unknown fields refused (Google rejects
//! unknown JSON names), named parameters typed for the engine.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::error;
use crate::engine::sql::Param;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QueryRequest {
    pub query: String,
    pub use_legacy_sql: Option<bool>,
    pub default_dataset: Option<DatasetRef>,
    pub timeout_ms: Option<u64>,
    pub max_results: Option<usize>,
    pub location: Option<String>,
    parameter_mode: Option<String>,
    #[serde(default)]
    query_parameters: Vec<QueryParameter>,
    pub request_id: Option<String>,
    pub dry_run: Option<bool>,
    pub format_options: Option<FormatOptions>,
    // Accepted as Google does, not emulated (declared so unknown names can be refused).
    #[allow(dead_code)]
    kind: Option<String>,
    #[allow(dead_code)]
    use_query_cache: Option<bool>,
    #[allow(dead_code)]
    labels: Option<HashMap<String, String>>,
    #[allow(dead_code)]
    maximum_bytes_billed: Option<String>,
    #[allow(dead_code)]
    job_creation_mode: Option<String>,
    #[allow(dead_code)]
    job_timeout_ms: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRef {
    pub project_id: Option<String>,
    pub dataset_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatOptions {
    pub use_int64_timestamp: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryParameter {
    name: Option<String>,
    parameter_type: ParameterType,
    parameter_value: ParameterValue,
}

#[derive(Deserialize)]
struct ParameterType {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
struct ParameterValue {
    value: Option<String>,
}

pub fn invalid(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid", message, None)
}

/// The engine's type for a BigQuery parameter type.
fn engine_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "INT64" | "INTEGER" => "BIGINT",
        "FLOAT64" | "FLOAT" => "DOUBLE",
        "NUMERIC" | "BIGNUMERIC" => "DECIMAL",
        "BOOL" | "BOOLEAN" => "BOOLEAN",
        "STRING" => "STRING",
        "DATE" => "DATE",
        "TIMESTAMP" | "DATETIME" => "TIMESTAMP",
        _ => return None,
    })
}

pub fn params(r: &QueryRequest) -> Result<Vec<Param>, Response> {
    if r.query_parameters.is_empty() {
        return Ok(vec![]);
    }
    if r.parameter_mode.as_deref() != Some("NAMED") {
        return Err(invalid(
            "Positional parameters are not supported by the emulator; use parameterMode NAMED.",
        ));
    }
    r.query_parameters
        .iter()
        .map(|p| {
            let name = p
                .name
                .clone()
                .ok_or_else(|| invalid("Named query parameters must have a name."))?;
            let t = engine_type(&p.parameter_type.kind).ok_or_else(|| {
                invalid(&format!(
                    "Unsupported query parameter type {}.",
                    p.parameter_type.kind
                ))
            })?;
            Ok(Param {
                name,
                value: p.parameter_value.value.clone(),
                type_name: t.into(),
            })
        })
        .collect()
}
