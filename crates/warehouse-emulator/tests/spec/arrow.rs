//! `ARROW_STREAM` results: with `EXTERNAL_LINKS` only; each chunk in storage is a complete
//! Arrow IPC stream, typed as Databricks types the columns, behind the same presigned,
//! expiring links as JSON chunks.

use arrow_array::{Array, Float64Array, Int32Array, TimestampMicrosecondArray};
use arrow_ipc::reader::StreamReader;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Sent, Ws};

const WH: &str = "abcdef1234567890";

async fn submit(ws: &Ws, token: &str, body: Value) -> Value {
    let resp = ws.post(token, "/api/2.0/sql/statements", &body).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn arrow_chunks_are_typed_ipc_streams_behind_presigned_links() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    let sql = "SELECT * FROM samples.nyctaxi.trips ORDER BY tpep_pickup_datetime";
    let arrow = submit(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "30s", "disposition": "EXTERNAL_LINKS",
               "format": "ARROW_STREAM", "statement": sql}),
    )
    .await;
    let json = submit(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "30s", "disposition": "INLINE", "statement": sql}),
    )
    .await;
    assert_eq!(arrow["manifest"]["format"], "ARROW_STREAM");
    assert_eq!(arrow["manifest"]["total_chunk_count"], 4);
    let link = arrow["result"]["external_links"][0]["external_link"]
        .as_str()
        .unwrap()
        .to_owned();
    let bytes = ws.http.get(&link).sent().await.bytes().await.unwrap();
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None).unwrap();
    let schema = reader.schema();
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().to_string())
        .collect();
    assert_eq!(types[0], "Timestamp(µs, \"Etc/UTC\")");
    assert_eq!(types[2], "Float64");
    assert_eq!(types[4], "Int32");
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 500);

    // The same values as the JSON_ARRAY strings of the same rows.
    let b = &batches[0];
    let first = &json["result"]["data_array"][0];
    let distance = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
    assert_eq!(
        distance.value(0).to_string(),
        first[2].as_str().unwrap().trim_end_matches(".0")
    );
    let zip = b.column(4).as_any().downcast_ref::<Int32Array>().unwrap();
    assert_eq!(zip.value(0).to_string(), first[4].as_str().unwrap());
    let pickup = b
        .column(0)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap();
    assert!(!pickup.is_null(0));
    assert_eq!(
        pickup.value(0) % 1_000_000,
        0,
        "whole seconds, as the strings say"
    );

    // INLINE carries JSON only.
    let resp = ws
        .post(
            &at,
            "/api/2.0/sql/statements",
            &json!({"warehouse_id": WH, "statement": "SELECT 1", "disposition": "INLINE", "format": "ARROW_STREAM"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // The link is the credential and expires as JSON links do.
    ws.emu.advance_clock(901);
    let late = ws.http.get(&link).sent().await;
    assert_eq!(late.status(), StatusCode::FORBIDDEN);
}
