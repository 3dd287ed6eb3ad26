//! Turning result cells (always a string or null) into typed JSON, using the columns'
//! types and how their provider encodes them (Databricks' JSON_ARRAY strings, Snowflake's
//! SQL API strings). Pure: no I/O.

use serde_json::{Number, Value};

use super::epoch;
use super::model::{Column, Encoding};

/// Integers beyond ±2^53 lose precision in JavaScript's numbers: send them as strings.
const SAFE_INTEGER: i64 = (1 << 53) - 1;
/// Decimal digits an f64 carries exactly through a decimal round trip.
const SAFE_DIGITS: usize = 15;

/// How one column's values are converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boolean,
    Integer,
    Float,
    Decimal,
    Timestamp,
    TimestampNtz,
    /// ARRAY, MAP, STRUCT: Databricks sends them as JSON text.
    Nested,
    /// STRING, DATE (already ISO 8601), BINARY, INTERVAL and anything unknown.
    Text,
    /// Snowflake's encodings (`warehouse::epoch`): DATE as days, TIME as seconds since
    /// midnight, TIMESTAMP_NTZ/LTZ as epoch seconds, TIMESTAMP_TZ with its offset.
    EpochDays,
    TimeOfDay,
    EpochNtz,
    EpochLtz,
    EpochTz,
    /// BigQuery's TIMESTAMP with `useInt64Timestamp`: microseconds since the epoch.
    EpochMicros,
}

impl Kind {
    pub fn of(column: &Column) -> Kind {
        match column.encoding {
            Encoding::Snowflake => return Kind::snowflake(column),
            Encoding::BigQuery => return Kind::bigquery(column),
            Encoding::Databricks => {}
        }
        match column.type_name.to_ascii_uppercase().as_str() {
            "BOOLEAN" => Kind::Boolean,
            "BYTE" | "SHORT" | "INT" | "LONG" => Kind::Integer,
            "FLOAT" | "DOUBLE" => Kind::Float,
            "DECIMAL" => Kind::Decimal,
            "TIMESTAMP" => Kind::Timestamp,
            "TIMESTAMP_NTZ" => Kind::TimestampNtz,
            "ARRAY" | "MAP" | "STRUCT" => Kind::Nested,
            _ => Kind::Text,
        }
    }
}

impl Kind {
    /// A Snowflake `rowType` entry: `type_name` its type, `type_text` `NUMBER(p,s)` for
    /// FIXED (the scale decides between integers and decimals).
    fn snowflake(column: &Column) -> Kind {
        let scale = column
            .type_text
            .split_once(',')
            .and_then(|(_, s)| s.trim_end_matches(')').trim().parse::<i64>().ok())
            .unwrap_or(0);
        match column.type_name.to_ascii_uppercase().as_str() {
            "FIXED" if scale == 0 => Kind::Integer,
            "FIXED" => Kind::Decimal,
            "REAL" | "FLOAT" | "DOUBLE" => Kind::Float,
            "BOOLEAN" => Kind::Boolean,
            "VARIANT" | "OBJECT" | "ARRAY" => Kind::Nested,
            "DATE" => Kind::EpochDays,
            "TIME" => Kind::TimeOfDay,
            "TIMESTAMP_NTZ" => Kind::EpochNtz,
            "TIMESTAMP_LTZ" => Kind::EpochLtz,
            "TIMESTAMP_TZ" => Kind::EpochTz,
            // TEXT, BINARY (already hex) and anything newer.
            _ => Kind::Text,
        }
    }
}

impl Kind {
    /// A BigQuery schema field: legacy or standard type names; REPEATED fields and
    /// RECORDs arrive as JSON text (`providers::bigquery::columns`).
    fn bigquery(column: &Column) -> Kind {
        if column.type_text.starts_with("ARRAY<") || column.type_text.starts_with("STRUCT<") {
            return Kind::Nested;
        }
        match column.type_name.to_ascii_uppercase().as_str() {
            "INTEGER" | "INT64" => Kind::Integer,
            "FLOAT" | "FLOAT64" => Kind::Float,
            "NUMERIC" | "BIGNUMERIC" => Kind::Decimal,
            "BOOLEAN" | "BOOL" => Kind::Boolean,
            "TIMESTAMP" => Kind::EpochMicros,
            "RECORD" | "STRUCT" | "JSON" => Kind::Nested,
            // STRING, BYTES (base64), DATE, TIME, DATETIME (ISO text), GEOGRAPHY (WKT).
            _ => Kind::Text,
        }
    }
}

/// One value as typed JSON. Anything that does not parse as its type stays a string:
/// Lakegate never invents or drops data.
pub fn convert(kind: Kind, raw: Option<&str>) -> Value {
    let Some(s) = raw else { return Value::Null };
    let text = || Value::String(s.to_owned());
    match kind {
        Kind::Boolean => match s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => text(),
        },
        Kind::Integer => match s.parse::<i64>() {
            Ok(i) if i.abs() <= SAFE_INTEGER => Value::Number(i.into()),
            _ => text(),
        },
        // NaN and ±Infinity have no JSON number form.
        Kind::Float => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(text, Value::Number),
        Kind::Decimal if significant_digits(s) <= SAFE_DIGITS => s
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(text, Value::Number),
        Kind::Decimal => text(),
        Kind::Timestamp => Value::String(iso_timestamp(s, true)),
        Kind::TimestampNtz => Value::String(iso_timestamp(s, false)),
        Kind::Nested => serde_json::from_str(s).unwrap_or_else(|_| text()),
        Kind::Text => text(),
        Kind::EpochDays => epoch::date(s).map_or_else(text, Value::String),
        Kind::TimeOfDay => epoch::time_of_day(s).map_or_else(text, Value::String),
        Kind::EpochNtz => epoch::timestamp_ntz(s).map_or_else(text, Value::String),
        Kind::EpochLtz => epoch::timestamp_ltz(s).map_or_else(text, Value::String),
        Kind::EpochTz => epoch::timestamp_tz(s).map_or_else(text, Value::String),
        Kind::EpochMicros => epoch::timestamp_micros(s).map_or_else(text, Value::String),
    }
}

/// Writes a cell's typed value (what [`convert`] gives) as JSON text, straight from the
/// raw text where it already is the JSON form — null, booleans, numbers, text — and
/// through [`convert`] otherwise. A number keeps the warehouse's digits (`5.760` stays
/// `5.760`, the same number).
pub fn write_json(out: &mut Vec<u8>, kind: Kind, raw: Option<&str>) {
    let Some(s) = raw else {
        out.extend_from_slice(b"null");
        return;
    };
    let verbatim = match kind {
        Kind::Boolean => s == "true" || s == "false",
        Kind::Integer => json_number(s) && s.parse::<i64>().is_ok_and(|i| i.abs() <= SAFE_INTEGER),
        // Only text that reads as a float (`0` would read as an integer: `0.0` is written).
        Kind::Float => {
            json_number(s)
                && s.contains(['.', 'e', 'E'])
                && (fits_f64_without_parsing(s) || s.parse::<f64>().is_ok_and(f64::is_finite))
        }
        _ => false,
    };
    // Writing into memory cannot fail.
    if verbatim {
        out.extend_from_slice(s.as_bytes());
    } else if kind == Kind::Text {
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        let _ = serde_json::to_writer(&mut *out, &convert(kind, Some(s)));
    }
}

/// Whether `s` is a number in JSON's grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    let int_start = i;
    if !digits(&mut i) || (b[int_start] == b'0' && i - int_start > 1) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// A JSON number without an exponent and with fewer than 300 integer digits is finite as
/// an f64 (the largest is about 1.8e308): the common case skips a float parse per cell.
fn fits_f64_without_parsing(s: &str) -> bool {
    !s.contains(['e', 'E']) && s.len() < 300
}

fn significant_digits(s: &str) -> usize {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    trimmed.len().max(1)
}

/// `2024-01-02 03:04:05[.fff]` or `2024-01-02T03:04:05[.fff][Z]` → ISO 8601 with a `T`,
/// and `Z` for zoned timestamps (Databricks reports TIMESTAMP values in UTC).
/// Anything else is left exactly as it came (found by the value-typing property test: the
/// first space of any string used to become a `T`).
fn iso_timestamp(s: &str, zoned: bool) -> String {
    if !looks_like_timestamp(s) {
        return s.to_owned();
    }
    let mut out = s.replacen(' ', "T", 1);
    let has_zone = out.ends_with('Z') || out.get(19..).is_some_and(|t| t.contains(['+', '-']));
    if zoned && !has_zone && out.len() >= 19 {
        out.push('Z');
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` or with a `T`, at the start.
fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && matches!(b.get(10), Some(b' ' | b'T'))
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
}

/// A row converted with the columns' kinds.
pub fn convert_row(kinds: &[Kind], row: &[Option<String>]) -> Vec<Value> {
    row.iter()
        .enumerate()
        .map(|(i, v)| convert(kinds.get(i).copied().unwrap_or(Kind::Text), v.as_deref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(t: &str) -> Kind {
        Kind::of(&Column {
            name: "c".into(),
            type_name: t.into(),
            type_text: t.to_lowercase(),
            encoding: Default::default(),
        })
    }

    #[test]
    fn cells_are_written_as_convert_types_them() {
        let cases = [
            ("INT", Some("42")),
            ("INT", Some("007")),
            ("INT", Some("+5")),
            ("LONG", Some("9007199254740993")),
            ("DOUBLE", Some("5.760")),
            ("DOUBLE", Some("1e400")),
            ("DOUBLE", Some("NaN")),
            ("DOUBLE", Some("-0.5E3")),
            ("DOUBLE", Some(".5")),
            ("DOUBLE", Some("0")),
            ("BOOLEAN", Some("true")),
            ("BOOLEAN", Some("yes")),
            ("STRING", Some("a\"b\n")),
            ("TIMESTAMP", Some("2024-01-02 03:04:05")),
            ("DECIMAL(38,2)", Some("1.10")),
            ("INT", None),
        ];
        for (t, raw) in cases {
            let mut out = Vec::new();
            write_json(&mut out, kind(t), raw);
            let written: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(written, convert(kind(t), raw), "{t} {raw:?}");
        }
        assert!(
            json_number("-0.5E+3") && json_number("0") && !json_number("01") && !json_number("1.")
        );
        // Past f64's range without an exponent: text, like `1e400`; just inside: a number.
        for digits in [320, 297] {
            let raw = format!("{}.5", "9".repeat(digits));
            let mut out = Vec::new();
            write_json(&mut out, kind("DOUBLE"), Some(&raw));
            let written: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(
                written,
                convert(kind("DOUBLE"), Some(&raw)),
                "{digits} digits"
            );
            assert_eq!(written.is_string(), digits == 320);
        }
    }

    #[test]
    fn numbers_become_numbers_unless_precision_would_be_lost() {
        assert_eq!(convert(kind("INT"), Some("42")), json!(42));
        assert_eq!(
            convert(kind("LONG"), Some("-9007199254740991")),
            json!(-9007199254740991i64)
        );
        assert_eq!(
            convert(kind("LONG"), Some("9007199254740993")),
            json!("9007199254740993")
        );
        assert_eq!(convert(kind("DOUBLE"), Some("2.5")), json!(2.5));
        assert_eq!(convert(kind("DOUBLE"), Some("NaN")), json!("NaN"));
        assert_eq!(convert(kind("DECIMAL"), Some("12.34")), json!(12.34));
        assert_eq!(
            convert(kind("DECIMAL"), Some("12345678901234567.89")),
            json!("12345678901234567.89")
        );
    }

    #[test]
    fn booleans_times_nested_and_nulls() {
        assert_eq!(convert(kind("BOOLEAN"), Some("true")), json!(true));
        assert_eq!(convert(kind("BOOLEAN"), Some("maybe")), json!("maybe"));
        assert_eq!(convert(kind("INT"), None), Value::Null);
        assert_eq!(
            convert(kind("DATE"), Some("2024-02-29")),
            json!("2024-02-29")
        );
        assert_eq!(
            convert(kind("TIMESTAMP"), Some("2024-02-29 10:11:12.5")),
            json!("2024-02-29T10:11:12.5Z")
        );
        assert_eq!(
            convert(kind("TIMESTAMP"), Some("2016-02-14T16:52:13.000Z")),
            json!("2016-02-14T16:52:13.000Z")
        );
        assert_eq!(
            convert(kind("TIMESTAMP_NTZ"), Some("2024-02-29 10:11:12")),
            json!("2024-02-29T10:11:12")
        );
        assert_eq!(convert(kind("ARRAY"), Some("[1,2]")), json!([1, 2]));
        assert_eq!(convert(kind("STRING"), Some("007")), json!("007"));
        assert_eq!(convert(kind("INT"), Some("x")), json!("x"));
    }
}
