//! BigQuery's result schema and `f`/`v` rows as Lakegate's columns and rows: scalars stay
//! the strings BigQuery sends (typed by `warehouse::values`), REPEATED fields become JSON
//! arrays and RECORDs JSON objects (keyed by their field names), with the same typing
//! inside. Pure.

use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::warehouse::model::{Column, Encoding};
use crate::warehouse::values::{Kind, convert};

#[derive(Debug, Clone, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub fields: Vec<Field>,
    #[serde(default)]
    pub precision: Option<String>,
    #[serde(default)]
    pub scale: Option<String>,
}

impl Field {
    fn repeated(&self) -> bool {
        self.mode.as_deref() == Some("REPEATED")
    }

    fn record(&self) -> bool {
        matches!(self.kind.as_str(), "RECORD" | "STRUCT")
    }

    /// The type as SQL writes it: `NUMERIC(38, 9)`, `ARRAY<INTEGER>`, `STRUCT<a INTEGER>`.
    fn type_text(&self) -> String {
        let base = if self.record() {
            let inner: Vec<String> = self
                .fields
                .iter()
                .map(|f| format!("{} {}", f.name, f.type_text()))
                .collect();
            format!("STRUCT<{}>", inner.join(", "))
        } else {
            match (&self.precision, &self.scale) {
                (Some(p), Some(s)) => format!("{}({p}, {s})", self.kind),
                _ => self.kind.clone(),
            }
        };
        if self.repeated() {
            format!("ARRAY<{base}>")
        } else {
            base
        }
    }
}

/// A schema field as a Lakegate column.
pub fn column(f: &Field) -> Column {
    Column {
        name: f.name.clone(),
        type_name: f.kind.clone(),
        type_text: f.type_text(),
        encoding: Encoding::BigQuery,
    }
}

/// A scalar of `field`'s type, typed as Lakegate types values.
fn scalar(field: &Field, v: &Value) -> Value {
    match v {
        Value::String(s) => convert(
            Kind::of(&column(&Field {
                mode: None,
                ..field.clone()
            })),
            Some(s),
        ),
        Value::Null => Value::Null,
        other => other.clone(),
    }
}

/// A nested value (inside REPEATED or RECORD) as typed JSON.
fn nested(field: &Field, v: &Value, element: bool) -> Value {
    if field.repeated() && !element {
        let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
        return Value::Array(
            items
                .iter()
                .map(|i| nested(field, i.get("v").unwrap_or(&Value::Null), true))
                .collect(),
        );
    }
    if field.record() {
        let cells = v
            .get("f")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut obj = Map::new();
        for (sub, cell) in field.fields.iter().zip(cells) {
            obj.insert(
                sub.name.clone(),
                nested(sub, cell.get("v").unwrap_or(&Value::Null), false),
            );
        }
        return Value::Object(obj);
    }
    // JSON columns hold JSON text; inside a structure it is the value itself.
    if field.kind == "JSON"
        && let Some(s) = v.as_str()
    {
        return serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned()));
    }
    let typed = scalar(field, v);
    // Big integers stay strings; small ones become numbers, as at the top level.
    match typed {
        Value::Number(n) => Value::Number(n),
        Value::String(s) if field.kind == "FLOAT" || field.kind == "FLOAT64" => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or(Value::String(s), Value::Number),
        other => other,
    }
}

/// One result cell as the string Lakegate's rows hold (JSON text for structures).
pub fn cell(field: &Field, v: &Value) -> Option<String> {
    if v.is_null() {
        return None;
    }
    if field.repeated() || field.record() {
        return Some(nested(field, v, false).to_string());
    }
    match v {
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// Rows of `{"f": [{"v": …}]}` as Lakegate's rows.
pub fn rows(fields: &[Field], rows: &[Value]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| {
            let cells = r
                .get("f")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            fields
                .iter()
                .zip(cells)
                .map(|(f, c)| cell(f, c.get("v").unwrap_or(&Value::Null)))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::values::convert_row;
    use serde_json::json;

    fn field(v: Value) -> Field {
        serde_json::from_value(v).unwrap()
    }

    /// One row of every BigQuery type, as it comes over the wire, and what Lakegate answers.
    #[test]
    fn every_bigquery_type_is_typed() {
        let fields: Vec<Field> = [
            json!({"name": "i", "type": "INTEGER"}),
            json!({"name": "big", "type": "INTEGER"}),
            json!({"name": "n", "type": "NUMERIC", "precision": "38", "scale": "9"}),
            json!({"name": "bn", "type": "BIGNUMERIC"}),
            json!({"name": "f", "type": "FLOAT"}),
            json!({"name": "b", "type": "BOOLEAN"}),
            json!({"name": "by", "type": "BYTES"}),
            json!({"name": "d", "type": "DATE"}),
            json!({"name": "t", "type": "TIME"}),
            json!({"name": "dt", "type": "DATETIME"}),
            json!({"name": "ts", "type": "TIMESTAMP"}),
            json!({"name": "g", "type": "GEOGRAPHY"}),
            json!({"name": "j", "type": "JSON"}),
            json!({"name": "arr", "type": "INTEGER", "mode": "REPEATED"}),
            json!({"name": "rec", "type": "RECORD", "fields": [
                {"name": "x", "type": "FLOAT"}, {"name": "tags", "type": "STRING", "mode": "REPEATED"}]}),
            json!({"name": "none", "type": "STRING"}),
        ]
        .into_iter()
        .map(field)
        .collect();
        let wire = json!({"f": [
            {"v": "42"}, {"v": "9007199254740993"}, {"v": "12.340000000"},
            {"v": "123456789012345678901234567890.5"}, {"v": "2.5"}, {"v": "true"}, {"v": "AP8="},
            {"v": "2024-02-29"}, {"v": "12:34:56.789"}, {"v": "2024-02-29T12:34:56"},
            {"v": "1451606482500000"}, {"v": "POINT(1 2)"}, {"v": "{\"a\":[1,2]}"},
            {"v": [{"v": "1"}, {"v": "2"}]},
            {"v": {"f": [{"v": "0.5"}, {"v": [{"v": "red"}]}]}},
            {"v": null}
        ]});
        let columns: Vec<Column> = fields.iter().map(column).collect();
        let kinds: Vec<Kind> = columns.iter().map(Kind::of).collect();
        let row = &rows(&fields, &[wire])[0];
        assert_eq!(
            Value::Array(convert_row(&kinds, row)),
            json!([42, "9007199254740993", 12.34, "123456789012345678901234567890.5", 2.5, true,
                   "AP8=", "2024-02-29", "12:34:56.789", "2024-02-29T12:34:56",
                   "2016-01-01T00:01:22.5Z", "POINT(1 2)", {"a": [1, 2]}, [1, 2],
                   {"x": 0.5, "tags": ["red"]}, null])
        );
        assert_eq!(columns[2].type_text, "NUMERIC(38, 9)");
        assert_eq!(columns[13].type_text, "ARRAY<INTEGER>");
        assert_eq!(columns[14].type_text, "STRUCT<x FLOAT, tags ARRAY<STRING>>");
    }
}
