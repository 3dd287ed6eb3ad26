//! Large results: streamed in bounded memory (measured with the allocation meter), through
//! EXTERNAL_LINKS past the 25 MiB INLINE cap, with expired links replaced, and JSON capped.

use reqwest::StatusCode;
use warehouse_emulator::{EmulatorConfig, Fault, Target};

use crate::harness::Browser;
use crate::queries::{TRIPS, get, ready, run};
use crate::world::{setup, setup_emulating};
use serde_json::json;

crate::on_each_backend!(
    an_expired_result_link_is_replaced_once,
    results_beyond_the_inline_cap_stream_through_external_links,
    a_json_answer_in_one_part_has_its_length_and_a_longer_one_streams,
);
/// Streams `rows` rows as NDJSON and returns (lines, bytes, peak bytes live meanwhile, query id).
async fn stream_metered(b: &Browser, conn: &str, rows: usize) -> (usize, usize, usize, String) {
    // 2,000 trips squared, cut at `rows`: chunks of 20,000.
    let statement = format!(
        "SELECT a.trip_distance FROM samples.nyctaxi.trips a \
         CROSS JOIN samples.nyctaxi.trips b LIMIT {rows}"
    );
    let meter = crate::alloc_meter::start();
    let mut resp = run(
        b,
        conn,
        json!({"statement": statement}),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["lakegate-row-count"],
        rows.to_string().as_str()
    );
    let id = resp.headers()["lakegate-query-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (mut lines, mut bytes) = (0usize, 0usize);
    while let Some(piece) = resp.chunk().await.unwrap() {
        lines += piece.iter().filter(|&&c| c == b'\n').count();
        bytes += piece.len();
    }
    (lines, bytes, meter.peak_bytes(), id)
}

/// A million rows of a one-column result stream through Lakegate with a peak *live heap*
/// (of this test's thread: the emulator runs on threads of its own) that does not grow with
/// the result. A regression guard; the claim about a real process's resident memory is
/// measured by `lakegate-bench memory` (docs/PERFORMANCE.md).
#[tokio::test]
async fn a_million_rows_stream_as_ndjson_in_bounded_memory() {
    let mut config = EmulatorConfig::for_tests();
    config.chunk_rows = 20_000;
    let ws = crate::harness::Workspace::start_isolated(config).await;
    let db = crate::harness::TestDb::new(lakegate::store::Backend::Sqlite)
        .await
        .unwrap();
    let s =
        crate::world::setup_on_workspace(&db, warehouse_emulator::TokenPolicy::default(), ws).await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;

    let (small_lines, small_bytes, small_peak, _) = stream_metered(&b, &conn, 250_000).await;
    let (lines, bytes, peak, id) = stream_metered(&b, &conn, 1_000_000).await;
    assert_eq!(s.ws.emu.counters().storage_requests_with_authorization, 0);
    eprintln!(
        "NDJSON stream peak memory: 250,000 rows ({small_bytes} bytes) {small_peak} bytes; \
         1,000,000 rows ({bytes} bytes) {peak} bytes"
    );
    assert_eq!((small_lines, lines), (250_000, 1_000_000));
    // Four times the rows, not four times the memory: a few chunks are in flight at once,
    // whatever the result size, and far less than the result itself.
    assert!(
        peak < small_peak * 2,
        "memory grew with the result: {small_peak} -> {peak} bytes"
    );
    assert!(peak < bytes, "peak {peak} bytes vs a {bytes}-byte result");

    // The same query fetched as JSON later is capped like any JSON answer.
    let (status, j) = get(&b, &format!("/api/v1/queries/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(j["row_count"], lakegate::queries::JSON_MAX_ROWS);
    assert_eq!(j["truncated"], true);
    db.cleanup().await;
}

async fn an_expired_result_link_is_replaced_once() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    s.ws.emu.fault(
        Fault::status(Target::Storage, 403).body(Some("AccessDenied"), "Request has expired"),
    );
    let resp = run(&b, &conn, json!({"statement": TRIPS}), "text/csv").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap().lines().count(), 2001);
    // Four chunks, one of them downloaded twice.
    assert_eq!(s.ws.emu.counters().storage_requests, 5);

    // Storage that keeps refusing ends the stream early rather than sending a partial
    // result as if it were whole.
    s.ws.emu.fault(Fault::status(Target::Storage, 403).times(8));
    let resp = run(&b, &conn, json!({"statement": TRIPS}), "text/csv").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.is_err(), "the body must end in an error");
}

/// Past Databricks' 25 MiB INLINE cap a result can only come through EXTERNAL_LINKS: the
/// streamed formats ask for them, so size is no limit there.
async fn results_beyond_the_inline_cap_stream_through_external_links() {
    let mut config = EmulatorConfig::for_tests();
    config.chunk_rows = 20_000;
    let s = setup_emulating(config).await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let statement = "SELECT a.* FROM samples.nyctaxi.trips a \
                     CROSS JOIN samples.nyctaxi.trips b LIMIT 300000";
    let mut resp = run(
        &b,
        &conn,
        json!({"statement": statement}),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (mut lines, mut bytes) = (0usize, 0usize);
    while let Some(piece) = resp.chunk().await.unwrap() {
        lines += piece.iter().filter(|&&c| c == b'\n').count();
        bytes += piece.len();
    }
    assert_eq!(lines, 300_000);
    // More than INLINE could ever carry (the emulator fails INLINE results past 25 MiB).
    assert!(bytes > 25 * 1024 * 1024, "{bytes} bytes");
}

/// A result in one part (every small answer) leaves as one body with its length; a result
/// of several parts streams, with every part and the tail in order.
async fn a_json_answer_in_one_part_has_its_length_and_a_longer_one_streams() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let resp = run(
        &b,
        &conn,
        json!({"statement": "SELECT 1 AS one"}),
        "application/json",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let length = resp
        .content_length()
        .expect("a one-part answer has its length");
    let body = resp.bytes().await.unwrap();
    assert_eq!(length, body.len() as u64);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["rows"], json!([[1]]));
    assert_eq!(v["row_count"], 1);

    // Four parts of the trips table: streamed, so no length is known up front.
    let resp = run(&b, &conn, json!({"statement": TRIPS}), "application/json").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.content_length(), None);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["rows"].as_array().unwrap().len(), 2000);
    assert_eq!(v["row_count"], 2000);
    assert_eq!(v["truncated"], false);
}
