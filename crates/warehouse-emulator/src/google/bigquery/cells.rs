//! The engine's results as BigQuery sends them: a `schema` with legacy type names
//! (INTEGER, FLOAT, BOOLEAN) and rows of `{"f": [{"v": …}]}` where every non-null cell is a
//! string — TIMESTAMP as float epoch seconds in scientific notation, or epoch microseconds
//! with `formatOptions.useInt64Timestamp`. Pure.

use serde_json::{Value, json};

use crate::engine::sql::epoch::epoch_nanos;
use crate::engine::sql::{ResultColumn, ResultSet};

/// BigQuery's type (as query results name it) for an engine column type.
pub fn bq_type(type_text: &str) -> (&'static str, Option<(i64, i64)>) {
    let base = type_text.split('(').next().unwrap_or("").trim();
    match base {
        "int" | "integer" | "bigint" | "long" | "smallint" | "tinyint" => ("INTEGER", None),
        "double" | "float" | "real" => ("FLOAT", None),
        "decimal" | "numeric" => {
            let inner = type_text
                .split_once('(')
                .and_then(|(_, r)| r.strip_suffix(')'))
                .unwrap_or("38,9");
            let mut p = inner.split(',').map(|x| x.trim().parse().unwrap_or(0));
            (
                "NUMERIC",
                Some((p.next().unwrap_or(38), p.next().unwrap_or(9))),
            )
        }
        "boolean" => ("BOOLEAN", None),
        "date" => ("DATE", None),
        "timestamp" => ("TIMESTAMP", None),
        "binary" => ("BYTES", None),
        _ => ("STRING", None),
    }
}

/// One schema field.
pub fn field(name: &str, type_text: &str) -> Value {
    let (t, shape) = bq_type(type_text);
    let mut f = json!({"name": name, "type": t, "mode": "NULLABLE"});
    if let Some((p, s)) = shape {
        f["precision"] = json!(p.to_string());
        f["scale"] = json!(s.to_string());
    }
    f
}

pub fn schema(columns: &[ResultColumn]) -> Value {
    json!({"fields": columns.iter().map(|c| field(&c.name, &c.type_text)).collect::<Vec<_>>()})
}

/// A TIMESTAMP cell: epoch microseconds, or — BigQuery's REST default — float seconds in
/// scientific notation (`1.4516064825E9`).
fn timestamp(raw: &str, int64: bool) -> Option<String> {
    let (secs, nanos) = epoch_nanos(raw)?;
    let micros = secs * 1_000_000 + i64::from(nanos / 1_000);
    if int64 {
        return Some(micros.to_string());
    }
    let f = micros as f64 / 1e6;
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    let mantissa = f / 10f64.powi(exp);
    Some(format!("{mantissa}E{exp}"))
}

/// One cell as BigQuery encodes it for its column.
pub fn cell(c: &ResultColumn, raw: &Option<String>, int64_timestamps: bool) -> Value {
    let Some(s) = raw else {
        return json!({"v": null});
    };
    let (t, _) = bq_type(&c.type_text);
    let v = match t {
        "TIMESTAMP" => timestamp(s, int64_timestamps).unwrap_or_else(|| s.clone()),
        // The engine writes doubles in Rust's shortest form; BigQuery's are the same digits.
        "BYTES" => {
            let bytes: Vec<u8> = (0..s.len() / 2)
                .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
                .collect();
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        }
        _ => s.clone(),
    };
    json!({"v": v})
}

/// Rows `from..from+count` in f/v form.
pub fn rows(r: &ResultSet, from: usize, count: usize, int64_timestamps: bool) -> Vec<Value> {
    r.rows
        .iter()
        .skip(from)
        .take(count)
        .map(|row| {
            let f: Vec<Value> = r
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| cell(c, v, int64_timestamps))
                .collect();
            json!({"f": f})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(text: &str) -> ResultColumn {
        ResultColumn {
            name: "c".into(),
            type_name: String::new(),
            type_text: text.into(),
        }
    }

    #[test]
    fn cells_are_strings_as_bigquery_sends_them() {
        let ts = Some("2016-01-01T00:01:22.5Z".to_owned());
        assert_eq!(
            cell(&col("timestamp"), &ts, true),
            json!({"v": "1451606482500000"})
        );
        assert_eq!(
            cell(&col("timestamp"), &ts, false),
            json!({"v": "1.4516064825E9"})
        );
        assert_eq!(
            cell(&col("bigint"), &Some("42".into()), true),
            json!({"v": "42"})
        );
        assert_eq!(
            cell(&col("binary"), &Some("00ff".into()), true),
            json!({"v": "AP8="})
        );
        assert_eq!(cell(&col("string"), &None, true), json!({"v": null}));
        assert_eq!(field("x", "decimal(18,2)")["scale"], "2");
        assert_eq!(field("x", "boolean")["type"], "BOOLEAN");
    }
}
