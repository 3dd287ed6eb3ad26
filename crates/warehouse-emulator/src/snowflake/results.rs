//! The engine's results in the SQL API v2's words: `rowType` (lower-case types, as real
//! answers send them), cells re-encoded as Snowflake sends them (every non-null cell a
//! string: decimals unscaled, DATE as days since the epoch, TIMESTAMP as epoch seconds
//! with nine decimals), column names upper case (unquoted identifiers), partitions, and
//! Snowflake's codes for failures. Pure.

use serde_json::{Value, json};

use crate::engine::sql::epoch::{days, epoch_nanos};
use crate::engine::sql::{ResultColumn, ResultSet, SqlError};

/// One `rowType` entry for an engine column.
pub fn row_type(c: &ResultColumn) -> Value {
    let (kind, precision, scale) = match c.type_name.as_str() {
        "INT" | "LONG" | "SHORT" | "BYTE" => ("fixed", Some(38), Some(0)),
        "DECIMAL" => {
            let (p, s) = decimal_shape(&c.type_text);
            ("fixed", Some(p), Some(s))
        }
        "DOUBLE" | "FLOAT" => ("real", None, None),
        "BOOLEAN" => ("boolean", None, None),
        "DATE" => ("date", None, None),
        "TIMESTAMP" => ("timestamp_ntz", Some(0), Some(9)),
        "BINARY" => ("binary", None, None),
        _ => ("text", None, None),
    };
    json!({
        "name": c.name.to_uppercase(), "database": "", "schema": "", "table": "",
        "type": kind, "precision": precision, "scale": scale,
        "length": (kind == "text").then_some(16_777_216), "byteLength": null,
        "nullable": true, "collation": null,
    })
}

/// `decimal(10,2)` → (10, 2).
fn decimal_shape(type_text: &str) -> (i64, i64) {
    let inner = type_text
        .split_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or("38,0");
    let mut parts = inner
        .split(',')
        .map(|p| p.trim().parse::<i64>().unwrap_or(0));
    (parts.next().unwrap_or(38), parts.next().unwrap_or(0))
}

/// One engine cell (Databricks' string form) as Snowflake encodes it for its column.
pub fn cell(c: &ResultColumn, raw: &Option<String>) -> Value {
    let Some(s) = raw else { return Value::Null };
    let encoded = match c.type_name.as_str() {
        "DATE" => days(s).map(|d| d.to_string()),
        "TIMESTAMP" => epoch_nanos(s).map(|(secs, nanos)| format!("{secs}.{nanos:09}")),
        _ => None,
    };
    Value::String(encoded.unwrap_or_else(|| s.clone()))
}

/// The rows of partition `n` of `rows_per_partition`.
pub fn partition(r: &ResultSet, rows_per_partition: usize, n: usize) -> Vec<Value> {
    r.rows
        .iter()
        .skip(n * rows_per_partition)
        .take(rows_per_partition)
        .map(|row| {
            let cells = r.columns.iter().zip(row).map(|(c, v)| cell(c, v)).collect();
            Value::Array(cells)
        })
        .collect()
}

/// `partitionInfo`: one entry per partition (at least one, even for no rows).
pub fn partition_info(r: &ResultSet, rows_per_partition: usize) -> Vec<Value> {
    let count = r.rows.len().div_ceil(rows_per_partition).max(1);
    (0..count)
        .map(|n| {
            let rows = partition(r, rows_per_partition, n);
            let size = serde_json::to_string(&rows).map_or(0, |t| t.len());
            json!({"rowCount": rows.len(), "uncompressedSize": size})
        })
        .collect()
}

/// Snowflake's code, SQL state and words for an engine failure.
pub fn failure(e: &SqlError) -> (&'static str, String, String) {
    let class = e
        .message
        .strip_prefix('[')
        .and_then(|m| m.split_once(']'))
        .map_or("", |(c, _)| c);
    let detail = e
        .message
        .split_once("] ")
        .map_or(e.message.as_str(), |(_, d)| d)
        .rsplit_once(" SQLSTATE:")
        .map_or(e.message.as_str(), |(d, _)| d)
        .to_owned();
    match class {
        "TABLE_OR_VIEW_NOT_FOUND" | "INSUFFICIENT_PERMISSIONS" => (
            "002003",
            "42S02".into(),
            format!("SQL compilation error:\n{detail} Object does not exist or not authorized."),
        ),
        "PARSE_SYNTAX_ERROR" => (
            "001003",
            "42000".into(),
            format!("SQL compilation error:\n{detail}"),
        ),
        c if c.starts_with("UNRESOLVED") => (
            "000904",
            "42000".into(),
            format!("SQL compilation error: {detail}"),
        ),
        _ if e.sql_state == "57014" => ("000604", "57014".into(), "SQL execution canceled".into()),
        _ => ("100000", e.sql_state.clone(), detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: &str, text: &str) -> ResultColumn {
        ResultColumn {
            name: "c".into(),
            type_name: t.into(),
            type_text: text.into(),
        }
    }

    #[test]
    fn cells_are_encoded_as_snowflake_sends_them() {
        let v = |t: &str, text: &str, raw: &str| cell(&col(t, text), &Some(raw.into()));
        assert_eq!(v("DATE", "date", "2020-01-01"), json!("18262"));
        assert_eq!(v("DATE", "date", "1969-12-31"), json!("-1"));
        assert_eq!(
            v("TIMESTAMP", "timestamp", "2016-01-01T00:01:22.000Z"),
            json!("1451606482.000000000")
        );
        assert_eq!(
            v("TIMESTAMP", "timestamp", "2020-01-01T00:00:00.5Z"),
            json!("1577836800.500000000")
        );
        assert_eq!(v("DECIMAL", "decimal(10,2)", "12.34"), json!("12.34"));
        assert_eq!(cell(&col("INT", "int"), &None), Value::Null);
        let rt = row_type(&col("DECIMAL", "decimal(10,2)"));
        assert_eq!(
            (rt["type"].as_str(), rt["scale"].as_i64()),
            (Some("fixed"), Some(2))
        );
        assert_eq!(row_type(&col("INT", "int"))["name"], "C");
    }
}
