//! Arrow answers (`Accept: application/vnd.apache.arrow.stream`): Databricks' ARROW_STREAM
//! parts spliced into one IPC stream — one schema, every row of every part in order, the
//! same values as the JSON answer — also for an empty result; a follow-up cannot switch
//! between rows and Arrow, and providers without Arrow results say so. On both backends.

use arrow_array::{Array, Float64Array, Int32Array, RecordBatch, TimestampMicrosecondArray};
use arrow_ipc::reader::StreamReader;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Browser;
use crate::queries::{TRIPS, get, poll_until_done, ready, run};
use crate::world::setup;

crate::on_each_backend!(
    an_arrow_answer_is_one_stream_with_every_row_of_every_part,
    an_empty_result_is_a_stream_with_its_schema_and_no_rows,
    a_follow_up_answers_in_the_kind_the_query_was_submitted_for,
    a_warehouse_without_arrow_results_refuses_an_arrow_answer,
);

const ARROW: &str = "application/vnd.apache.arrow.stream";

/// Runs `statement` for an Arrow answer: the response's headers and its record batches.
async fn arrow(
    b: &Browser,
    conn: &str,
    statement: &str,
) -> (reqwest::header::HeaderMap, Vec<RecordBatch>) {
    let resp = run(b, conn, json!({"statement": statement}), ARROW).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], ARROW);
    let bytes = resp.bytes().await.unwrap();
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None).unwrap();
    (headers, reader.map(Result::unwrap).collect())
}

async fn an_arrow_answer_is_one_stream_with_every_row_of_every_part() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let (headers, batches) = arrow(&b, &conn, TRIPS).await;
    let resp = run(&b, &conn, json!({"statement": TRIPS}), "application/json").await;
    let json: Value = resp.json().await.unwrap();
    let rows = json["rows"].as_array().unwrap();

    // 2,000 trips in parts of 500: four parts, one stream, in order.
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(total, rows.len());
    assert_eq!(
        headers["lakegate-row-count"],
        rows.len().to_string().as_str()
    );
    assert!(batches.len() >= 4, "one batch per part at least");
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "trip_distance",
            "fare_amount",
            "pickup_zip",
            "tpep_pickup_datetime"
        ]
    );

    // Every value equals the JSON answer's.
    let mut i = 0;
    for batch in &batches {
        let fare = batch
            .column(1)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        let zip = batch
            .column(2)
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        let at = batch
            .column(3)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        for r in 0..batch.num_rows() {
            let row = &rows[i];
            assert_eq!(json!(fare.value(r)), row[1], "row {i}");
            assert_eq!(json!(zip.value(r)), row[2], "row {i}");
            let expected = time::OffsetDateTime::parse(
                row[3].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            assert_eq!(
                i128::from(at.value(r)) * 1000,
                expected.unix_timestamp_nanos(),
                "row {i}"
            );
            i += 1;
        }
    }
    // Storage was read through the links, never with a token.
    assert_eq!(s.ws.emu.counters().storage_requests_with_authorization, 0);
}

async fn an_empty_result_is_a_stream_with_its_schema_and_no_rows() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let (_, batches) = arrow(
        &b,
        &conn,
        "SELECT fare_amount, pickup_zip FROM samples.nyctaxi.trips WHERE 1 = 0",
    )
    .await;
    assert!(batches.iter().all(|b| b.num_rows() == 0));
    let resp = run(
        &b,
        &conn,
        json!({"statement": "SELECT fare_amount, pickup_zip FROM samples.nyctaxi.trips WHERE 1 = 0"}),
        ARROW,
    )
    .await;
    let bytes = resp.bytes().await.unwrap();
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes.to_vec()), None).unwrap();
    let schema = reader.schema();
    let fields: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    assert_eq!(fields, ["fare_amount Float64", "pickup_zip Int32"]);
}

async fn a_follow_up_answers_in_the_kind_the_query_was_submitted_for() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    // Submitted for Arrow without waiting: the follow-up as NDJSON is refused, as Arrow works.
    let resp = run(&b, &conn, json!({"statement": TRIPS, "wait": false}), ARROW).await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let id = resp.json::<Value>().await.unwrap()["query_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = poll_until_done(&b, &id).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "as JSON: {body}");
    let (status, body) = get(&b, &format!("/api/v1/queries/{id}?format=ndjson")).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(body["error"]["code"], "not_acceptable");
    let resp = b.get(&format!("/api/v1/queries/{id}?format=arrow")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], ARROW);

    // Submitted for rows: Arrow is refused, with what to do instead.
    let resp = run(
        &b,
        &conn,
        json!({"statement": TRIPS, "wait": false}),
        "application/x-ndjson",
    )
    .await;
    let id = resp.json::<Value>().await.unwrap()["query_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(poll_until_done(&b, &id).await.0, StatusCode::OK);
    let (status, body) = get(&b, &format!("/api/v1/queries/{id}?format=arrow")).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert!(body["error"]["message"].as_str().unwrap().contains(ARROW));
}

async fn a_warehouse_without_arrow_results_refuses_an_arrow_answer() {
    let s = setup().await;
    let (ed, conn) = crate::bigquery_queries::connected(&s).await;
    let statement = "SELECT COUNT(*) AS n FROM `lakegate-samples.nyctaxi.trips`";
    let resp = run(&ed, &conn, json!({"statement": statement}), ARROW).await;
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_acceptable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("BigQuery"),
        "{body}"
    );
    let (history_status, history) = get(&ed, "/api/v1/queries").await;
    assert_eq!(history_status, StatusCode::OK);
    assert_eq!(
        history["queries"].as_array().unwrap().len(),
        0,
        "nothing was submitted"
    );
}
