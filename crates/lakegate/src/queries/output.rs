//! The encodings a result can be delivered in. Pure: rows in, bytes out, one chunk at a time,
//! so a stream of any length needs memory for one chunk only.

use serde_json::Value;

use crate::warehouse::Column;
use crate::warehouse::values::{Kind, write_json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
    Csv,
    /// Arrow IPC stream, passed through from the warehouse (`queries::arrow`).
    Arrow,
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
                "arrow" => Some(Format::Arrow),
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
                super::arrow::CONTENT_TYPE => Some(Format::Arrow),
                _ => None,
            },
        )
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => super::arrow::CONTENT_TYPE,
        }
    }

    pub fn streaming(self) -> bool {
        self != Format::Json
    }
}

/// A column as the API shows it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct ColumnView {
    pub name: String,
    /// The warehouse's type name (`INT`, `STRING`, `TIMESTAMP`, …).
    #[serde(rename = "type")]
    pub type_name: String,
    pub type_text: String,
}

/// Column descriptions as the API shows them.
pub fn column_views(columns: &[Column]) -> Vec<ColumnView> {
    columns
        .iter()
        .map(|c| ColumnView {
            name: c.name.clone(),
            type_name: c.type_name.clone(),
            type_text: c.type_text.clone(),
        })
        .collect()
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

/// A JSON answer written as it streams: the head (ids, state, columns) and `"rows":[`, the
/// rows as their parts arrive, then the counts and `ran_as`. Only one part is in memory.
pub struct JsonDocument {
    kinds: Vec<Kind>,
    /// Rows written so far, and the most the document may hold.
    written: usize,
    cap: usize,
    pub truncated: bool,
    ran_as: crate::connections::RanAs,
}

#[derive(serde::Serialize)]
struct Head<'a> {
    query_id: &'a str,
    statement_id: &'a str,
    state: &'static str,
    columns: Vec<ColumnView>,
}

impl JsonDocument {
    pub fn new(set: &super::service::ResultSet, cap: usize) -> Self {
        JsonDocument {
            kinds: kinds(&set.columns),
            written: 0,
            cap,
            truncated: set.truncated,
            ran_as: set.ran_as.clone(),
        }
    }

    pub fn head(query_id: &str, statement_id: &str, columns: &[Column]) -> Vec<u8> {
        let head = Head {
            query_id,
            statement_id,
            state: "SUCCEEDED",
            columns: column_views(columns),
        };
        // A struct of strings always serialises; its closing brace makes room for the rest.
        let mut out = serde_json::to_vec(&head).unwrap_or_else(|_| b"{}".to_vec());
        out.pop();
        out.extend_from_slice(b",\"rows\":[");
        out
    }

    /// The rows of one part, as many as still fit; `full()` says when no more will.
    pub fn rows(&mut self, rows: &[Vec<Option<String>>]) -> Vec<u8> {
        let room = self.cap - self.written;
        let rows = if rows.len() > room {
            self.truncated = true;
            &rows[..room]
        } else {
            rows
        };
        let mut out = Vec::with_capacity(rows.len() * 64);
        for r in rows {
            if self.written > 0 {
                out.push(b',');
            }
            out.push(b'[');
            for (i, cell) in r.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(
                    &mut out,
                    self.kinds.get(i).copied().unwrap_or(Kind::Text),
                    cell.as_deref(),
                );
            }
            out.push(b']');
            self.written += 1;
        }
        out
    }

    /// Whether the cap cut the result (no later part is needed).
    pub fn full(&self) -> bool {
        self.truncated && self.written == self.cap
    }

    pub fn tail(&self) -> Vec<u8> {
        let ran_as = serde_json::to_string(&self.ran_as).unwrap_or_else(|_| "null".into());
        format!(
            "],\"row_count\":{},\"truncated\":{},\"ran_as\":{ran_as}}}",
            self.written, self.truncated
        )
        .into_bytes()
    }
}

/// Each key of an NDJSON row as JSON text with its colon (`"name":`), escaped once per
/// stream instead of once per row.
pub fn ndjson_keys(names: &[String]) -> Vec<Vec<u8>> {
    names
        .iter()
        .map(|n| {
            let mut key = Value::String(n.clone()).to_string().into_bytes();
            key.push(b':');
            key
        })
        .collect()
}

/// One line per row, each an object of typed values, written straight into the output
/// (no map per row).
pub fn ndjson(keys: &[Vec<u8>], kinds: &[Kind], rows: &[Vec<Option<String>>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for r in rows {
        out.push(b'{');
        for (i, (key, cell)) in keys.iter().zip(r).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            write_json(
                &mut out,
                kinds.get(i).copied().unwrap_or(Kind::Text),
                cell.as_deref(),
            );
        }
        out.extend_from_slice(b"}\n");
    }
    out
}

/// How CSV cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvCells {
    /// Databricks' values byte for byte (for programs).
    #[default]
    Verbatim,
    /// For spreadsheets (OWASP, CSV injection): a cell that starts with `=`, `+`, `-`, `@`,
    /// tab or carriage return gets a leading `'`, so Excel, LibreOffice or Sheets show it
    /// as text instead of running it as a formula. Plain numbers (`-12.5`, `+3`) are left
    /// alone: a spreadsheet reads them as the numbers they are.
    SpreadsheetSafe,
}

fn is_formula_like(s: &str) -> bool {
    match s.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => s.parse::<f64>().is_err(),
        _ => false,
    }
}

/// RFC 4180 fields: quoted when they hold a comma, quote or line break. NULL is an empty
/// field and the empty string `""`, so the two stay apart (as PostgreSQL's CSV does),
/// except in a one-column row (see `csv_line`).
fn csv_field(out: &mut Vec<u8>, v: Option<&str>, cells: CsvCells) {
    let Some(s) = v else { return };
    let neutralised;
    let s = if cells == CsvCells::SpreadsheetSafe && is_formula_like(s) {
        neutralised = format!("'{s}");
        neutralised.as_str()
    } else {
        s
    };
    if s.is_empty() || s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

fn csv_line<'a>(out: &mut Vec<u8>, fields: impl Iterator<Item = Option<&'a str>>, cells: CsvCells) {
    let start = out.len();
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, f, cells);
    }
    if out.len() == start {
        // A one-column row holding NULL would be an empty line, which many readers (pandas,
        // R, Rust's csv) skip: the row would be lost. It is written as `""` instead, the one
        // place NULL and the empty string meet (found by the CSV round-trip property test).
        out.extend_from_slice(b"\"\"");
    }
    out.extend_from_slice(b"\r\n");
}

/// The header line; column names are the query's aliases, as untrusted as the values.
pub fn csv_header(columns: &[Column], cells: CsvCells) -> Vec<u8> {
    let mut out = Vec::new();
    csv_line(
        &mut out,
        columns.iter().map(|c| Some(c.name.as_str())),
        cells,
    );
    out
}

/// Values as Databricks sent them (CSV has no types to convert to), neutralised for
/// spreadsheets when asked.
pub fn csv(rows: &[Vec<Option<String>>], cells: CsvCells) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 64);
    for r in rows {
        csv_line(&mut out, r.iter().map(Option::as_deref), cells);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Databricks column of type `t`, for tests.
    pub(crate) fn col(name: &str, t: &str) -> Column {
        Column {
            name: name.into(),
            type_name: t.into(),
            type_text: t.to_lowercase(),
            encoding: Default::default(),
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
        let out = ndjson(&ndjson_keys(&unique_names(&cols)), &kinds(&cols), &rows);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"n\":1,\"n_2\":null,\"ok\":true}\n"
        );
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let cols = [col("a", "STRING"), col("b,c", "STRING")];
        let mut out = csv_header(&cols, CsvCells::Verbatim);
        out.extend(csv(
            &[
                vec![Some("x \"y\"".into()), None],
                vec![Some("1\n2".into()), Some("".into())],
            ],
            CsvCells::Verbatim,
        ));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a,\"b,c\"\r\n\"x \"\"y\"\"\",\r\n\"1\n2\",\"\"\r\n"
        );
    }

    #[test]
    fn spreadsheet_safe_cells_cannot_start_a_formula() {
        let cells = |v: &str, how| String::from_utf8(csv(&[vec![Some(v.into())]], how)).unwrap();
        let safe = CsvCells::SpreadsheetSafe;
        for (value, written) in [
            ("=1+1", "'=1+1\r\n"),
            ("@SUM(A1)", "'@SUM(A1)\r\n"),
            ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0\r\n"),
            ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0\r\n"),
            ("\t=1", "'\t=1\r\n"),
            ("\r=1", "\"'\r=1\"\r\n"),
            (
                "=HYPERLINK(\"http://x\",\"y\")",
                "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"\r\n",
            ),
            // Plain numbers and ordinary text stay as they are.
            ("-12.5", "-12.5\r\n"),
            ("+3", "+3\r\n"),
            ("a=b", "a=b\r\n"),
            ("", "\"\"\r\n"),
        ] {
            assert_eq!(cells(value, safe), written, "{value:?}");
        }
        assert_eq!(cells("=1+1", CsvCells::Verbatim), "=1+1\r\n");
        let header = csv_header(&[col("=cmd()", "STRING")], safe);
        assert_eq!(String::from_utf8(header).unwrap(), "'=cmd()\r\n");
    }

    #[test]
    fn a_json_document_streams_into_one_valid_answer_and_stops_at_its_cap() {
        let cols = [col("n", "INT"), col("s", "STRING")];
        let ran_as = crate::connections::RanAs {
            identity: "a".into(),
            connection_id: "c".into(),
            fallback: false,
        };
        let mut doc = JsonDocument {
            kinds: kinds(&cols),
            written: 0,
            cap: 3,
            truncated: false,
            ran_as,
        };
        let part = |n: usize| -> Vec<Vec<Option<String>>> {
            (0..n).map(|i| vec![Some(i.to_string()), None]).collect()
        };
        let mut out = JsonDocument::head("q", "s", &cols);
        out.extend(doc.rows(&part(2)));
        assert!(!doc.full());
        out.extend(doc.rows(&part(2)));
        assert!(doc.full(), "the cap cut the second part");
        out.extend(doc.tail());
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["rows"],
            serde_json::json!([[0, null], [1, null], [0, null]])
        );
        assert_eq!(
            (v["row_count"].clone(), v["truncated"].clone()),
            (3.into(), true.into())
        );
        assert_eq!(v["columns"][1]["name"], "s");
        assert_eq!(v["ran_as"]["connection_id"], "c");
    }
}
