//! `ARROW_STREAM` results: each chunk in cloud storage is a complete Arrow IPC stream (a
//! schema, one record batch, the end-of-stream marker), typed as Databricks types its
//! columns: INT → int32, LONG → int64, SHORT → int16, BYTE → int8, DOUBLE → float64,
//! FLOAT → float32, BOOLEAN → bool, DATE → date32, TIMESTAMP → timestamp[us, tz=Etc/UTC],
//! DECIMAL(p,s) → decimal128(p,s), BINARY → binary, everything else → utf8.
//!
//! Not documented, emulated strictly: every chunk repeats the schema (a reader must not
//! concatenate chunks byte for byte), and chunks are uncompressed (`result_compression`
//! is not emulated).

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{ArrowError, DataType, Field, Schema, TimeUnit};
use base64::Engine;

use crate::engine::sql::ResultColumn;

/// The time zone Databricks names on TIMESTAMP columns.
const UTC: &str = "Etc/UTC";

/// The Arrow type of a Databricks column.
pub fn data_type(c: &ResultColumn) -> DataType {
    match c.type_name.as_str() {
        "INT" => DataType::Int32,
        "LONG" => DataType::Int64,
        "SHORT" => DataType::Int16,
        "BYTE" => DataType::Int8,
        "DOUBLE" => DataType::Float64,
        "FLOAT" => DataType::Float32,
        "BOOLEAN" => DataType::Boolean,
        "DATE" => DataType::Date32,
        "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        "DECIMAL" => {
            let (p, s) = precision_scale(&c.type_text);
            DataType::Decimal128(p, s)
        }
        "BINARY" => DataType::Binary,
        _ => DataType::Utf8,
    }
}

/// `decimal(10,2)` → (10, 2); Databricks' default is (10, 0).
fn precision_scale(type_text: &str) -> (u8, i8) {
    let inner = type_text
        .split_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .unwrap_or("10,0");
    let mut parts = inner.split(',').map(|p| p.trim().parse::<i64>().ok());
    let p = parts.next().flatten().unwrap_or(10).clamp(1, 38) as u8;
    let s = parts.next().flatten().unwrap_or(0).clamp(0, i64::from(p)) as i8;
    (p, s)
}

/// One chunk as an Arrow IPC stream.
pub fn ipc_stream(
    columns: &[ResultColumn],
    rows: &[Vec<Option<String>>],
) -> Result<Vec<u8>, ArrowError> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, data_type(c), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            column(
                &data_type(c),
                rows.iter().map(|r| r.get(i).cloned().flatten()),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    let mut out = Vec::new();
    let mut w = StreamWriter::try_new(&mut out, &schema)?;
    w.write(&batch)?;
    w.finish()?;
    drop(w);
    Ok(out)
}

fn bad(v: &str, t: &DataType) -> ArrowError {
    ArrowError::ParseError(format!("{v:?} is not a {t}"))
}

fn column<I>(t: &DataType, cells: I) -> Result<ArrayRef, ArrowError>
where
    I: Iterator<Item = Option<String>>,
{
    macro_rules! parsed {
        ($builder:ty) => {{
            let mut b = <$builder>::new();
            for cell in cells {
                b.append_option(
                    cell.map(|v| v.parse().map_err(|_| bad(&v, t)))
                        .transpose()?,
                );
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match t {
        DataType::Int32 => parsed!(Int32Builder),
        DataType::Int64 => parsed!(Int64Builder),
        DataType::Int16 => parsed!(Int16Builder),
        DataType::Int8 => parsed!(Int8Builder),
        DataType::Float64 => parsed!(Float64Builder),
        DataType::Float32 => parsed!(Float32Builder),
        DataType::Boolean => parsed!(BooleanBuilder),
        DataType::Date32 => {
            let mut b = Date32Builder::new();
            for cell in cells {
                let days = cell
                    .map(|v| date_days(&v).ok_or_else(|| bad(&v, t)))
                    .transpose()?;
                b.append_option(days.map(|d| d as i32));
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, tz) => {
            let mut b = TimestampMicrosecondBuilder::new();
            for cell in cells {
                b.append_option(
                    cell.map(|v| micros(&v).ok_or_else(|| bad(&v, t)))
                        .transpose()?,
                );
            }
            Arc::new(b.finish().with_timezone_opt(tz.clone()))
        }
        DataType::Decimal128(p, s) => {
            let mut b = Decimal128Builder::new();
            for cell in cells {
                b.append_option(
                    cell.map(|v| unscaled(&v, *s).ok_or_else(|| bad(&v, t)))
                        .transpose()?,
                );
            }
            Arc::new(b.finish().with_precision_and_scale(*p, *s)?)
        }
        DataType::Binary => {
            let mut b = BinaryBuilder::new();
            for cell in cells {
                let bytes = cell
                    .map(|v| {
                        base64::engine::general_purpose::STANDARD
                            .decode(&v)
                            .map_err(|_| bad(&v, t))
                    })
                    .transpose()?;
                b.append_option(bytes);
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = StringBuilder::new();
            for cell in cells {
                b.append_option(cell);
            }
            Arc::new(b.finish())
        }
    })
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn date_days(v: &str) -> Option<i64> {
    let mut p = v.get(..10)?.split('-');
    let (y, m, d) = (
        p.next()?.parse().ok()?,
        p.next()?.parse().ok()?,
        p.next()?.parse().ok()?,
    );
    Some(days_from_civil(y, m, d))
}

/// Microseconds since the epoch of Databricks' `YYYY-MM-DDTHH:MM:SS[.fff…]Z`.
fn micros(v: &str) -> Option<i64> {
    let days = date_days(v)?;
    let time = v.get(11..)?.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|n| n.parse::<i64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    let mut us: i64 = 0;
    for (i, c) in frac.chars().take(6).enumerate() {
        us += i64::from(c.to_digit(10)?) * 10_i64.pow(5 - i as u32);
    }
    Some(((days * 86_400 + h * 3600 + m * 60 + s) * 1_000_000) + us)
}

/// `-12.345` at scale 2 → -1234 (truncated, as a cast would).
fn unscaled(v: &str, scale: i8) -> Option<i128> {
    let (neg, digits) = v.strip_prefix('-').map_or((false, v), |d| (true, d));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let mut n: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac: Vec<char> = frac.chars().collect();
    for i in 0..scale.max(0) as usize {
        n = n * 10 + i128::from(frac.get(i).map_or(Some(0), |c| c.to_digit(10))?);
    }
    Some(if neg { -n } else { n })
}

/// Days since the epoch of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn databricks_strings_become_typed_values() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(date_days("2024-03-01"), Some(19_783));
        assert_eq!(micros("1970-01-02T00:00:01.250Z"), Some(86_401_250_000));
        assert_eq!(unscaled("-12.345", 2), Some(-1234));
        assert_eq!(unscaled("7", 2), Some(700));
        assert_eq!(precision_scale("decimal(12,3)"), (12, 3));
    }
}
