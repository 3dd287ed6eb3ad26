//! Snowflake's SQL API v2 `rowType` as the core's columns: each keeps Snowflake's type
//! (FIXED with its scale, REAL, BOOLEAN, DATE, TIME, TIMESTAMP_NTZ/LTZ/TZ, BINARY,
//! VARIANT/OBJECT/ARRAY, TEXT) and says its cells are Snowflake-encoded, so
//! `warehouse::values` reads days and epoch seconds as dates and times. Pure.

use serde::Deserialize;

use crate::warehouse::{Column, Encoding};

/// One `rowType` entry (real answers send more fields, and types in lower case).
#[derive(Debug, Clone, Deserialize)]
pub struct RowType {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(default)]
    pub precision: Option<i64>,
    #[serde(default)]
    pub scale: Option<i64>,
}

/// The core's column for a `rowType` entry.
pub fn column(r: &RowType) -> Column {
    let type_name = r.type_name.to_ascii_uppercase();
    let type_text = match type_name.as_str() {
        "FIXED" => format!(
            "NUMBER({},{})",
            r.precision.unwrap_or(38),
            r.scale.unwrap_or(0)
        ),
        other => other.to_owned(),
    };
    Column {
        name: r.name.clone(),
        type_name,
        type_text,
        encoding: Encoding::Snowflake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::warehouse::values::{Kind, convert as convert_cell};
    use serde_json::{Value, json};
    use time::OffsetDateTime;

    fn convert(t: &str, scale: Option<i64>, raw: Option<&str>) -> Value {
        let c = column(&RowType {
            name: "C".into(),
            type_name: t.into(),
            precision: Some(38),
            scale,
        });
        convert_cell(Kind::of(&c), raw)
    }

    /// Every encoding of the SQL API v2, pinned (docs: "Handling responses").
    #[test]
    fn each_encoding_reads_as_documented() {
        let cases: &[(&str, Option<i64>, Option<&str>, Value)] = &[
            ("fixed", Some(0), Some("42"), json!(42)),
            (
                "FIXED",
                Some(0),
                Some("-9007199254740991"),
                json!(-9007199254740991i64),
            ),
            (
                "fixed",
                Some(0),
                Some("9007199254740993"),
                json!("9007199254740993"),
            ),
            (
                "fixed",
                Some(0),
                Some("99999999999999999999999999999999999999"),
                json!("99999999999999999999999999999999999999"),
            ),
            ("fixed", Some(2), Some("12.34"), json!(12.34)),
            (
                "fixed",
                Some(2),
                Some("1234567890123456.78"),
                json!("1234567890123456.78"),
            ),
            ("real", None, Some("2.5"), json!(2.5)),
            ("real", None, Some("NaN"), json!("NaN")),
            ("boolean", None, Some("true"), json!(true)),
            ("boolean", None, Some("false"), json!(false)),
            ("date", None, Some("18262"), json!("2020-01-01")),
            ("date", None, Some("-1"), json!("1969-12-31")),
            ("time", None, Some("45296.500000000"), json!("12:34:56.5")),
            ("time", None, Some("0.000000000"), json!("00:00:00")),
            (
                "timestamp_ntz",
                None,
                Some("1577836800.000000000"),
                json!("2020-01-01T00:00:00"),
            ),
            (
                "timestamp_ntz",
                None,
                Some("1577836800.123456789"),
                json!("2020-01-01T00:00:00.123456789"),
            ),
            (
                "timestamp_ntz",
                None,
                Some("-1.500000000"),
                json!("1969-12-31T23:59:58.5"),
            ),
            (
                "timestamp_ltz",
                None,
                Some("1577836800.000000000"),
                json!("2020-01-01T00:00:00Z"),
            ),
            // 1500 − 1440 = +60 minutes; 1380 − 1440 = −60.
            (
                "timestamp_tz",
                None,
                Some("1577836800.000000000 1500"),
                json!("2020-01-01T01:00:00+01:00"),
            ),
            (
                "timestamp_tz",
                None,
                Some("1577836800.000000000 1380"),
                json!("2019-12-31T23:00:00-01:00"),
            ),
            (
                "timestamp_tz",
                None,
                Some("1577836800.000000000 1440"),
                json!("2020-01-01T00:00:00Z"),
            ),
            ("binary", None, Some("48656c6c6f"), json!("48656c6c6f")),
            ("variant", None, Some("{\"a\":[1,2]}"), json!({"a": [1, 2]})),
            ("array", None, Some("[1,\"x\"]"), json!([1, "x"])),
            ("object", None, Some("{}"), json!({})),
            ("text", None, Some("007"), json!("007")),
            ("text", None, None, Value::Null),
            ("fixed", Some(0), None, Value::Null),
        ];
        for (t, scale, raw, want) in cases {
            let got = convert(t, *scale, *raw);
            assert_eq!(got, *want, "{t} {raw:?}");
            // Instants come out as RFC 3339.
            if matches!(*t, "timestamp_ltz" | "timestamp_tz") {
                let rfc = time::format_description::well_known::Rfc3339;
                assert!(
                    OffsetDateTime::parse(got.as_str().unwrap(), &rfc).is_ok(),
                    "{got}"
                );
            }
        }
    }

    #[test]
    fn what_does_not_parse_stays_as_it_came() {
        for (t, raw) in [
            ("date", "x"),
            ("time", "90000.0"),
            ("timestamp_ntz", "1.1234567890"),
            ("timestamp_tz", "1577836800.0"),
            ("timestamp_tz", "1577836800.0 9999"),
            ("fixed", "12abc"),
        ] {
            assert_eq!(convert(t, Some(0), Some(raw)), json!(raw), "{t} {raw}");
        }
    }
}
