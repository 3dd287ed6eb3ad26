//! Running SQL on a connection's warehouse as the signed-in user: what a query request may
//! hold (here), the lifecycle of
//! a query (`service`) and the encodings results stream in (`output`).

pub mod arrow;
pub mod output;
pub mod service;
mod sweep;

use serde::Deserialize;
use serde_json::Value;

use crate::connections::ConnectionError;
use crate::store::StoreError;
use crate::warehouse::{Parameter, WarehouseError};

/// Rows returned by default in a JSON answer, and the most a JSON answer may hold (it is
/// built in memory; the streaming formats have no such cap).
pub const JSON_DEFAULT_ROWS: u64 = 10_000;
pub const JSON_MAX_ROWS: u64 = 100_000;
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 300;
pub const MAX_TIMEOUT_SECONDS: i64 = 86_400;
const MAX_PARAMETERS: usize = 256;

/// Parameter types Databricks accepts for `:name` markers.
const PARAMETER_TYPES: [&str; 16] = [
    "STRING",
    "BOOLEAN",
    "TINYINT",
    "BYTE",
    "SMALLINT",
    "SHORT",
    "INT",
    "INTEGER",
    "BIGINT",
    "LONG",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP_NTZ",
];

/// The body of `POST /api/v1/connections/{id}/queries`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    #[schemars(regex(pattern = crate::field_rules::NOT_BLANK))]
    pub statement: String,
    /// Each name at most once.
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub parameters: Vec<ParameterIn>,
    #[schemars(length(max = 255), regex(pattern = crate::field_rules::PRINTABLE_OR_BLANK))]
    pub catalog: Option<String>,
    #[schemars(length(max = 255), regex(pattern = crate::field_rules::PRINTABLE_OR_BLANK))]
    pub schema: Option<String>,
    #[schemars(length(max = 255), regex(pattern = crate::field_rules::PRINTABLE_OR_BLANK))]
    pub warehouse_id: Option<String>,
    /// At most 100,000 for a JSON answer (streams take any).
    #[serde(default, deserialize_with = "crate::field_rules::whole_number")]
    #[schemars(range(min = 1, max = 100_000))]
    pub row_limit: Option<i64>,
    /// Default 300.
    #[serde(default, deserialize_with = "crate::field_rules::whole_number")]
    #[schemars(range(min = 1, max = 86_400))]
    pub timeout_seconds: Option<i64>,
    pub wait: Option<bool>,
    /// Estimate instead of running (where the warehouse offers it: BigQuery): the answer is
    /// `{dry_run: true, bytes_processed}`, JSON only, and nothing runs or is recorded.
    pub dry_run: Option<bool>,
    /// Run as the connection's fallback (a service principal) if my own credential needs a
    /// sign-in; the answer's `ran_as` says which identity ran it. Default false.
    pub allow_fallback: Option<bool>,
}

/// A parameter as clients send it: the value may be a JSON string, number, boolean or null.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParameterIn {
    #[schemars(length(max = 128), regex(pattern = crate::field_rules::PARAMETER_NAME))]
    pub name: String,
    #[serde(default)]
    #[schemars(schema_with = "crate::field_rules::scalar")]
    pub value: Value,
    /// Also in lower case, and with a precision such as `DECIMAL(10,2)`.
    #[serde(rename = "type")]
    #[schemars(extend("enum" = ["STRING", "BOOLEAN", "TINYINT", "BYTE", "SMALLINT", "SHORT", "INT",
        "INTEGER", "BIGINT", "LONG", "FLOAT", "DOUBLE", "DECIMAL", "DATE", "TIMESTAMP",
        "TIMESTAMP_NTZ", null]))]
    pub type_name: Option<String>,
}

/// A validated query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySpec {
    pub statement: String,
    pub parameters: Vec<Parameter>,
    pub catalog: Option<String>,
    pub schema: Option<String>,
    pub warehouse_id: Option<String>,
    pub row_limit: Option<u64>,
    pub timeout_seconds: i64,
    pub wait: bool,
    /// Ask for EXTERNAL_LINKS: streamed answers may be far larger than Databricks' 25 MiB
    /// INLINE cap; JSON answers (at most 100,000 rows) stay INLINE.
    pub external_links: bool,
    /// Ask for Arrow IPC streams (an `application/vnd.apache.arrow.stream` answer).
    pub arrow: bool,
    /// Estimate what it would read instead of running it.
    pub dry_run: bool,
    /// May run as the connection's fallback when the caller must sign in.
    pub allow_fallback: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Invalid(String),
    #[error("query not found")]
    NotFound,
    #[error("{message}")]
    Failed {
        error_code: String,
        message: String,
        sql_state: Option<String>,
    },
    #[error("the query was cancelled")]
    Canceled,
    #[error(
        "the query's result is no longer available in the warehouse (results expire after an hour)"
    )]
    Expired,
    #[error("the query ran longer than its limit of {0} seconds and was cancelled")]
    TimedOut(i64),
    /// The answer cannot be given in the format asked for.
    #[error("{0}")]
    NotAcceptable(String),
    #[error(transparent)]
    Connection(#[from] ConnectionError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<WarehouseError> for QueryError {
    fn from(e: WarehouseError) -> Self {
        QueryError::Connection(e.into())
    }
}

fn invalid(m: impl Into<String>) -> QueryError {
    QueryError::Invalid(m.into())
}

fn parameter(p: ParameterIn) -> Result<Parameter, QueryError> {
    let name_ok = p
        .name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && p.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && p.name.len() <= 128;
    if !name_ok {
        return Err(invalid(format!(
            "parameter name {:?} must be letters, digits and underscores (the marker is :name)",
            p.name
        )));
    }
    let (value, inferred) = match p.value {
        Value::Null => (None, None),
        Value::String(s) => (Some(s), None),
        Value::Bool(b) => (Some(b.to_string()), Some("BOOLEAN")),
        Value::Number(n) => {
            let t = if n.is_i64() || n.is_u64() {
                "BIGINT"
            } else {
                "DOUBLE"
            };
            (Some(n.to_string()), Some(t))
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(invalid(format!(
                "parameter {}: the value must be a string, number, boolean or null",
                p.name
            )));
        }
    };
    let type_name = match p.type_name {
        None => inferred.map(str::to_owned),
        Some(t) => {
            let upper = t.trim().to_ascii_uppercase();
            let base = upper.split('(').next().unwrap_or_default().trim();
            if !PARAMETER_TYPES.contains(&base) {
                return Err(invalid(format!(
                    "parameter {}: type {t:?} is not one of {}",
                    p.name,
                    PARAMETER_TYPES.join(", ")
                )));
            }
            Some(upper)
        }
    };
    Ok(Parameter {
        name: p.name,
        value,
        type_name,
    })
}

/// Checks a request; `streaming` is true for NDJSON and CSV answers.
pub fn validate(req: QueryRequest, streaming: bool) -> Result<QuerySpec, QueryError> {
    if req.statement.trim().is_empty() {
        return Err(invalid("statement must not be empty"));
    }
    if req.parameters.len() > MAX_PARAMETERS {
        return Err(invalid(format!("at most {MAX_PARAMETERS} parameters")));
    }
    let mut parameters = Vec::with_capacity(req.parameters.len());
    for p in req.parameters {
        let p = parameter(p)?;
        if parameters.iter().any(|q: &Parameter| q.name == p.name) {
            return Err(invalid(format!("parameter {} is given twice", p.name)));
        }
        parameters.push(p);
    }
    let row_limit = match (req.row_limit, streaming) {
        (Some(n), _) if n < 1 => return Err(invalid("row_limit must be at least 1")),
        (Some(n), false) if n as u64 > JSON_MAX_ROWS => {
            return Err(invalid(format!(
                "row_limit is at most {JSON_MAX_ROWS} for JSON answers; ask for application/x-ndjson or text/csv to stream more"
            )));
        }
        (Some(n), _) => Some(n as u64),
        (None, false) => Some(JSON_DEFAULT_ROWS),
        (None, true) => None,
    };
    let timeout_seconds = req.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS);
    if !(1..=MAX_TIMEOUT_SECONDS).contains(&timeout_seconds) {
        return Err(invalid(format!(
            "timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS}"
        )));
    }
    let name = |v: Option<String>, what: &str| -> Result<Option<String>, QueryError> {
        match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
            Some(s) if s.chars().count() > 255 || s.chars().any(char::is_control) => Err(invalid(
                format!("{what} must be at most 255 printable characters"),
            )),
            other => Ok(other),
        }
    };
    Ok(QuerySpec {
        statement: req.statement,
        parameters,
        catalog: name(req.catalog, "catalog")?,
        schema: name(req.schema, "schema")?,
        warehouse_id: name(req.warehouse_id, "warehouse_id")?,
        row_limit,
        timeout_seconds,
        wait: req.wait.unwrap_or(true),
        external_links: streaming,
        arrow: false,
        dry_run: req.dry_run.unwrap_or(false),
        allow_fallback: req.allow_fallback.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> QueryRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn defaults_differ_between_json_and_streams() {
        let j = validate(req(json!({"statement": "SELECT 1"})), false).unwrap();
        assert_eq!(j.row_limit, Some(JSON_DEFAULT_ROWS));
        assert_eq!(j.timeout_seconds, DEFAULT_TIMEOUT_SECONDS);
        assert!(j.wait);
        let s = validate(req(json!({"statement": "SELECT 1"})), true).unwrap();
        assert_eq!(s.row_limit, None);
    }

    #[test]
    fn parameters_are_typed_from_json_or_checked() {
        let q = validate(
            req(
                json!({"statement": "SELECT :a, :b, :c, :d, :e", "parameters": [
                    {"name": "a", "value": 7},
                    {"name": "b", "value": 2.5},
                    {"name": "c", "value": true},
                    {"name": "d", "value": null, "type": "int"},
                    {"name": "e", "value": "2024-01-01", "type": "DATE"},
                ]}),
            ),
            false,
        )
        .unwrap();
        let got: Vec<(Option<&str>, Option<&str>)> = q
            .parameters
            .iter()
            .map(|p| (p.value.as_deref(), p.type_name.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some("7"), Some("BIGINT")),
                (Some("2.5"), Some("DOUBLE")),
                (Some("true"), Some("BOOLEAN")),
                (None, Some("INT")),
                (Some("2024-01-01"), Some("DATE")),
            ]
        );
    }

    #[test]
    fn bad_requests_are_refused_with_reasons() {
        let bad = [
            json!({"statement": "  "}),
            json!({"statement": "SELECT 1", "row_limit": 0}),
            json!({"statement": "SELECT 1", "row_limit": 100001}),
            json!({"statement": "SELECT 1", "timeout_seconds": 0}),
            json!({"statement": "SELECT :x", "parameters": [{"name": "x-y", "value": 1}]}),
            json!({"statement": "SELECT :x", "parameters": [{"name": "x", "value": [1]}]}),
            json!({"statement": "SELECT :x", "parameters": [{"name": "x", "value": 1, "type": "GEOGRAPHY"}]}),
            json!({"statement": "SELECT :x", "parameters": [{"name": "x"}, {"name": "x"}]}),
        ];
        for b in bad {
            assert!(
                matches!(validate(req(b.clone()), false), Err(QueryError::Invalid(_))),
                "{b}"
            );
        }
        assert!(
            serde_json::from_value::<QueryRequest>(json!({"statement": "x", "sql": 1})).is_err()
        );
    }
}
