//! The encodings a result can be delivered in. Pure: rows in, bytes out, one chunk at a time,
//! so a stream of any length needs memory for one chunk only.

use serde_json::{Map, Value, json};

use crate::warehouse::Column;
use crate::warehouse::values::{Kind, convert_row};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
}

impl Format {
    pub const NDJSON: &'static str = "application/x-ndjson";
    pub const CSV: &'static str = "text/csv";

    /// The format an `Accept` header (or an explicit `format` name) asks for; `None` when
    /// nothing Lakegate can produce is acceptable.
    pub fn negotiate(accept: Option<&str>, explicit: Option<&str>) -> Option<Format> {
        if let Some(f) = explicit {
            return match f {
                "json" => Some(Format::Json),
                "ndjson" => Some(Format::Ndjson),
                "csv" => Some(Format::Csv),
                _ => None,
            };
        }
        let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
            return Some(Format::Json);
        };
        // First acceptable type in the client's order (q-values are not weighed).
        accept.split(',').find_map(
            |part| match part.split(';').next().unwrap_or_default().trim() {
                "application/json" | "application/*" | "*/*" => Some(Format::Json),
                Self::NDJSON => Some(Format::Ndjson),
                Self::CSV | "text/*" => Some(Format::Csv),
                _ => None,
            },
        )
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    pub fn streaming(self) -> bool {
        self != Format::Json
    }
}

/// Column descriptions as the API shows them.
pub fn columns_json(columns: &[Column]) -> Value {
    Value::Array(
        columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.type_name, "type_text": c.type_text}))
            .collect(),
    )
}

pub fn kinds(columns: &[Column]) -> Vec<Kind> {
    columns.iter().map(Kind::of).collect()
}

/// Object keys for NDJSON rows: column names, with `_2`, `_3`… on repeats so no value is lost.
pub fn unique_names(columns: &[Column]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(columns.len());
    for c in columns {
        let mut name = c.name.clone();
        let mut n = 1;
        while out.contains(&name) {
            n += 1;
            name = format!("{}_{n}", c.name);
        }
        out.push(name);
    }
    out
}

/// Typed rows for a JSON answer.
pub fn json_rows(kinds: &[Kind], rows: &[Vec<Option<String>>]) -> Vec<Value> {
    rows.iter()
        .map(|r| Value::Array(convert_row(kinds, r)))
        .collect()
}

/// One line per row, each an object of typed values.
pub fn ndjson(names: &[String], kinds: &[Kind], rows: &[Vec<Option<String>>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for r in rows {
        let obj: Map<String, Value> = names.iter().cloned().zip(convert_row(kinds, r)).collect();
        // Serialising a map of JSON values cannot fail.
        if serde_json::to_writer(&mut out, &obj).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

/// RFC 4180 fields: quoted when they hold a comma, quote or line break. NULL is an empty
/// field and the empty string `""`, so the two stay apart (as PostgreSQL's CSV does).
fn csv_field(out: &mut Vec<u8>, v: Option<&str>) {
    let Some(s) = v else { return };
    if s.is_empty() || s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_line<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = Option<&'a str>>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, f);
    }
    out.extend_from_slice(b"\r\n");
}

pub fn csv_header(columns: &[Column]) -> Vec<u8> {
    let mut out = Vec::new();
    csv_line(&mut out, columns.iter().map(|c| Some(c.name.as_str())));
    out
}

/// Values exactly as Databricks sent them (CSV has no types to convert to).
pub fn csv(rows: &[Vec<Option<String>>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for r in rows {
        csv_line(&mut out, r.iter().map(Option::as_deref));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, t: &str) -> Column {
        Column {
            name: name.into(),
            type_name: t.into(),
            type_text: t.to_lowercase(),
        }
    }

    #[test]
    fn negotiation() {
        assert_eq!(Format::negotiate(None, None), Some(Format::Json));
        assert_eq!(
            Format::negotiate(Some("application/x-ndjson"), None),
            Some(Format::Ndjson)
        );
        assert_eq!(
            Format::negotiate(Some("text/csv;q=0.9, */*"), None),
            Some(Format::Csv)
        );
        assert_eq!(Format::negotiate(Some("image/png"), None), None);
        assert_eq!(
            Format::negotiate(Some("image/png"), Some("csv")),
            Some(Format::Csv)
        );
        assert_eq!(Format::negotiate(None, Some("xml")), None);
    }

    #[test]
    fn ndjson_rows_are_typed_objects_with_unique_keys() {
        let cols = [col("n", "INT"), col("n", "STRING"), col("ok", "BOOLEAN")];
        let rows = vec![vec![Some("1".into()), None, Some("true".into())]];
        let out = ndjson(&unique_names(&cols), &kinds(&cols), &rows);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"n\":1,\"n_2\":null,\"ok\":true}\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let cols = [col("a", "STRING"), col("b,c", "STRING")];
        let mut out = csv_header(&cols);
        out.extend(csv(&[
            vec![Some("x \"y\"".into()), None],
            vec![Some("1\n2".into()), Some("".into())],
        ]));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a,\"b,c\"\r\n\"x \"\"y\"\"\",\r\n\"1\n2\",\"\"\r\n"
        );
    }
}
