//! Arrow answers: the warehouse's Arrow IPC streams (one per result part, Databricks'
//! `ARROW_STREAM`), spliced into one stream without decoding a value. Each part repeats
//! the schema and ends with an end-of-stream marker; the first part's schema is kept, every
//! later part's is checked against it and dropped, and one marker ends the answer. Pure:
//! bytes in, byte slices out (no copies: each message is a slice of the part it came in).

use std::sync::Arc;

use arrow_ipc::MessageHeader;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use axum::body::Bytes;

use crate::warehouse::Column;

pub const CONTENT_TYPE: &str = "application/vnd.apache.arrow.stream";

/// The end-of-stream marker: continuation, then a zero metadata length.
const END: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];
const CONTINUATION: [u8; 4] = [0xFF; 4];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpliceError {
    #[error("a result part is not an Arrow IPC stream")]
    Malformed,
    #[error("a result part has another schema than the first")]
    SchemaChanged,
}

/// Joins parts into one stream.
#[derive(Debug, Default)]
pub struct Splice {
    /// The first part's schema message (metadata only: the body of a schema is empty).
    schema: Option<Bytes>,
}

impl Splice {
    /// The messages of one part to send on: all but its end marker, and its schema only if
    /// it is the first.
    pub fn part(&mut self, part: Bytes) -> Result<Vec<Bytes>, SpliceError> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < part.len() {
            let Some((len, header)) = message_at(&part, at)? else {
                break; // end of stream
            };
            let message = part.slice(at..at + len);
            at += len;
            if header == MessageHeader::Schema {
                match &self.schema {
                    None => {
                        self.schema = Some(message.clone());
                        out.push(message);
                    }
                    Some(first) if *first == message => {}
                    Some(_) => return Err(SpliceError::SchemaChanged),
                }
            } else if self.schema.is_none() {
                return Err(SpliceError::Malformed);
            } else {
                out.push(message);
            }
        }
        Ok(out)
    }

    /// Whether a schema was sent (an answer without parts needs one built from columns).
    pub fn started(&self) -> bool {
        self.schema.is_some()
    }

    pub fn end() -> Bytes {
        Bytes::from_static(&END)
    }
}

/// The length of the message at `at` (prefix, metadata, body) and its kind, or `None` at
/// an end marker.
fn message_at(part: &[u8], at: usize) -> Result<Option<(usize, MessageHeader)>, SpliceError> {
    let word = |i: usize| -> Result<[u8; 4], SpliceError> {
        part.get(i..i + 4)
            .and_then(|b| b.try_into().ok())
            .ok_or(SpliceError::Malformed)
    };
    // Streams since Arrow 0.15 prefix each message with a continuation marker.
    let (prefix, meta_len) = if word(at)? == CONTINUATION {
        (8, i32::from_le_bytes(word(at + 4)?))
    } else {
        (4, i32::from_le_bytes(word(at)?))
    };
    if meta_len == 0 {
        return Ok(None);
    }
    let meta_len = usize::try_from(meta_len).map_err(|_| SpliceError::Malformed)?;
    let start = at + prefix;
    let meta = part
        .get(start..start + meta_len)
        .ok_or(SpliceError::Malformed)?;
    let message = arrow_ipc::root_as_message(meta).map_err(|_| SpliceError::Malformed)?;
    let body = usize::try_from(message.bodyLength()).map_err(|_| SpliceError::Malformed)?;
    let len = prefix + meta_len + body;
    if at + len > part.len() {
        return Err(SpliceError::Malformed);
    }
    Ok(Some((len, message.header_type())))
}

/// A stream with the schema of `columns` and no rows, for a result without parts. Types as
/// Databricks' ARROW_STREAM gives them.
pub fn empty(columns: &[Column]) -> Bytes {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(&c.name, data_type(c), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut out = Vec::new();
    // Writing a schema into memory cannot fail; an empty answer would still end cleanly.
    if let Ok(mut w) = arrow_ipc::writer::StreamWriter::try_new(&mut out, &schema) {
        let _ = w.finish();
    }
    Bytes::from(out)
}

/// Databricks' types in Arrow, as its ARROW_STREAM results carry them. The emulator keeps
/// its own copy of this table (`warehouse-emulator/src/databricks/arrow.rs`): neither crate
/// may depend on the other.
fn data_type(c: &Column) -> DataType {
    match c.type_name.as_str() {
        "INT" => DataType::Int32,
        "LONG" => DataType::Int64,
        "SHORT" => DataType::Int16,
        "BYTE" => DataType::Int8,
        "DOUBLE" => DataType::Float64,
        "FLOAT" => DataType::Float32,
        "BOOLEAN" => DataType::Boolean,
        "DATE" => DataType::Date32,
        "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, Some("Etc/UTC".into())),
        "BINARY" => DataType::Binary,
        // Precision and scale only matter with values; an empty answer has none.
        "DECIMAL" => DataType::Decimal128(38, 0),
        _ => DataType::Utf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::queries::output::tests::col;

    /// A part as a warehouse sends it: schema, no batch, end marker.
    fn part(columns: &[Column]) -> Bytes {
        empty(columns)
    }

    #[test]
    fn parts_join_into_one_stream_with_one_schema_and_one_end() {
        let cols = [col("a", "INT"), col("b", "STRING")];
        let mut s = Splice::default();
        let first = s.part(part(&cols)).unwrap();
        assert_eq!(first.len(), 1, "the schema");
        assert!(s.started());
        assert!(
            s.part(part(&cols)).unwrap().is_empty(),
            "a repeated schema is dropped"
        );
        let mut joined: Vec<u8> = first.concat();
        joined.extend_from_slice(&Splice::end());
        assert_eq!(joined, part(&cols).to_vec());
    }

    #[test]
    fn another_schema_or_broken_bytes_are_refused() {
        let mut s = Splice::default();
        s.part(part(&[col("a", "INT")])).unwrap();
        assert_eq!(
            s.part(part(&[col("a", "LONG")])),
            Err(SpliceError::SchemaChanged)
        );
        let cut = part(&[col("a", "INT")]).slice(0..10);
        assert_eq!(Splice::default().part(cut), Err(SpliceError::Malformed));
        assert_eq!(
            Splice::default().part(Bytes::from_static(b"{\"rows\":[]}")),
            Err(SpliceError::Malformed)
        );
    }
}
