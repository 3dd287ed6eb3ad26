//! Snowflake's SQL API v2 cells (every non-null cell a JSON string) as typed JSON, from the
//! result's `rowType`: FIXED with its scale, REAL, BOOLEAN, DATE (days since the epoch),
//! TIME and TIMESTAMP_NTZ/LTZ (epoch seconds with nine decimals), TIMESTAMP_TZ (with its
//! offset encoding), BINARY (hex), VARIANT/OBJECT/ARRAY (JSON text). Numbers follow the
//! same precision rules as Databricks' (`warehouse::values`). Pure: no I/O. Anything that
//! does not parse as its type stays the string it was.

use serde_json::Value;
use time::OffsetDateTime;

use crate::warehouse::values::{Kind, convert as convert_generic};

/// How one column's cells are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Generic(Kind),
    Date,
    Time,
    /// Wall-clock time without a zone.
    TimestampNtz,
    /// An instant, shown in UTC.
    TimestampLtz,
    /// An instant with the offset it was stored with.
    TimestampTz,
}

impl Cell {
    /// The reading of a `rowType` entry (`type` compared case-insensitively: real answers
    /// send `fixed`, the spec's examples `FIXED`).
    pub fn of(type_name: &str, scale: Option<i64>) -> Cell {
        match type_name.to_ascii_lowercase().as_str() {
            "fixed" if scale.unwrap_or(0) == 0 => Cell::Generic(Kind::Integer),
            "fixed" => Cell::Generic(Kind::Decimal),
            "real" | "float" | "double" => Cell::Generic(Kind::Float),
            "boolean" => Cell::Generic(Kind::Boolean),
            "variant" | "object" | "array" => Cell::Generic(Kind::Nested),
            "date" => Cell::Date,
            "time" => Cell::Time,
            "timestamp_ntz" => Cell::TimestampNtz,
            "timestamp_ltz" => Cell::TimestampLtz,
            "timestamp_tz" => Cell::TimestampTz,
            // TEXT, BINARY (already hex) and anything newer.
            _ => Cell::Generic(Kind::Text),
        }
    }
}

/// One cell as typed JSON.
pub fn convert(cell: Cell, raw: Option<&str>) -> Value {
    let Some(s) = raw else { return Value::Null };
    let typed = match cell {
        Cell::Generic(kind) => return convert_generic(kind, Some(s)),
        Cell::Date => date(s),
        Cell::Time => nanos(s).and_then(time_of_day),
        Cell::TimestampNtz => nanos(s).and_then(|n| instant(n, 0)).map(|t| local(&t)),
        Cell::TimestampLtz => nanos(s).and_then(|n| instant(n, 0)).map(|t| zoned(&t)),
        Cell::TimestampTz => timestamp_tz(s),
    };
    Value::String(typed.unwrap_or_else(|| s.to_owned()))
}

/// `"18262"` (days since 1970-01-01) → `2020-01-01`.
fn date(s: &str) -> Option<String> {
    let days: i64 = s.trim().parse().ok()?;
    let t = OffsetDateTime::from_unix_timestamp(days.checked_mul(86_400)?).ok()?;
    Some(t.date().to_string())
}

/// `"1577836800.123456789"` (or negative) → nanoseconds since the epoch.
fn nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i128 = whole.parse().ok()?;
    let frac: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let n = whole.checked_mul(1_000_000_000)?.checked_add(frac)?;
    Some(if negative { -n } else { n })
}

fn instant(nanos: i128, offset_minutes: i64) -> Option<OffsetDateTime> {
    let offset =
        time::UtcOffset::from_whole_seconds(i32::try_from(offset_minutes * 60).ok()?).ok()?;
    Some(
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .ok()?
            .to_offset(offset),
    )
}

/// `.123` style fraction: the digits that carry information, none when zero.
fn fraction(t: &OffsetDateTime) -> String {
    let n = t.nanosecond();
    if n == 0 {
        return String::new();
    }
    format!(".{n:09}").trim_end_matches('0').to_owned()
}

fn local(t: &OffsetDateTime) -> String {
    format!(
        "{}T{:02}:{:02}:{:02}{}",
        t.date(),
        t.hour(),
        t.minute(),
        t.second(),
        fraction(t)
    )
}

fn zoned(t: &OffsetDateTime) -> String {
    let mut out = local(t);
    let o = t.offset();
    if o.is_utc() {
        out.push('Z');
    } else {
        let total = o.whole_minutes();
        let sign = if total < 0 { '-' } else { '+' };
        out.push_str(&format!(
            "{sign}{:02}:{:02}",
            total.abs() / 60,
            total.abs() % 60
        ));
    }
    out
}

/// Seconds since midnight → `HH:MM:SS[.fff]`.
fn time_of_day(n: i128) -> Option<String> {
    if !(0..86_400 * 1_000_000_000).contains(&n) {
        return None;
    }
    let t = instant(n, 0)?;
    Some(local(&t).split_once('T')?.1.to_owned())
}

/// `"<epoch seconds> <offset>"` where the offset in minutes is `offset − 1440`.
fn timestamp_tz(s: &str) -> Option<String> {
    let (epoch, encoded) = s.trim().split_once(' ')?;
    let minutes = encoded.parse::<i64>().ok()? - 1440;
    if minutes.abs() >= 24 * 60 {
        return None;
    }
    Some(zoned(&instant(nanos(epoch)?, minutes)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
            let got = convert(Cell::of(t, *scale), *raw);
            assert_eq!(got, *want, "{t} {raw:?}");
            // Instants come out as RFC 3339.
            if matches!(Cell::of(t, *scale), Cell::TimestampLtz | Cell::TimestampTz) {
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
            assert_eq!(
                convert(Cell::of(t, Some(0)), Some(raw)),
                json!(raw),
                "{t} {raw}"
            );
        }
    }
}
