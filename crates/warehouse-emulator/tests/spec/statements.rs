//! SQL Statement Execution API 2.0 over the embedded engine.

use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::{EmulatorConfig, TokenPolicy, WarehouseConfig};

use crate::harness::{Sent, Ws};

const WH: &str = "abcdef1234567890";

async fn run(ws: &Ws, token: &str, body: Value) -> Value {
    let resp = ws.post(token, "/api/2.0/sql/statements", &body).await;
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "HTTP 200 even when the statement fails"
    );
    resp.json().await.unwrap()
}

async fn sql(ws: &Ws, token: &str, statement: &str) -> Value {
    run(
        ws,
        token,
        json!({"warehouse_id": WH, "statement": statement, "wait_timeout": "30s"}),
    )
    .await
}

#[tokio::test]
async fn a_multi_chunk_query_pages_through_every_row_in_any_order() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    let r = sql(&ws, &at, "SELECT * FROM samples.nyctaxi.trips").await;
    assert_eq!(r["status"]["state"], "SUCCEEDED");
    let m = &r["manifest"];
    assert_eq!(m["total_row_count"], 2000);
    assert_eq!(
        m["total_chunk_count"], 4,
        "500-row chunks in the test config"
    );
    assert_eq!(m["schema"]["column_count"], 10);
    assert_eq!(m["schema"]["columns"][0]["type_name"], "TIMESTAMP");
    assert_eq!(m["schema"]["columns"][4]["type_name"], "INT");
    assert_eq!(r["result"]["chunk_index"], 0);
    assert_eq!(r["result"]["next_chunk_index"], 1);
    let id = r["statement_id"].as_str().unwrap();
    assert_eq!(
        r["result"]["next_chunk_internal_link"],
        format!("/api/2.0/sql/statements/{id}/result/chunks/1")
    );
    let mut rows = r["result"]["data_array"].as_array().unwrap().len();
    for i in [3, 1, 2] {
        let c: Value = ws
            .get(
                &at,
                &format!("/api/2.0/sql/statements/{id}/result/chunks/{i}"),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(c["chunk_index"], i);
        assert_eq!(c["row_offset"], i * 500);
        rows += c["data_array"].as_array().unwrap().len();
        assert_eq!(c.get("next_chunk_index").is_some(), i < 3);
    }
    assert_eq!(rows, 2000);
    let first = &r["result"]["data_array"][0];
    assert!(
        first
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v.is_string() || v.is_null()),
        "values are strings or null: {first}"
    );
    assert!(first[0].as_str().unwrap().ends_with(".000Z"));
    assert_eq!(
        ws.get(
            &at,
            &format!("/api/2.0/sql/statements/{id}/result/chunks/4")
        )
        .await
        .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn results_differ_between_users_with_different_grants() {
    let ws = Ws::start().await;
    let alice = ws.alice().await;
    let bob = ws.bob().await;
    let q = "SELECT count(*) AS n FROM samples.tpch.nation";
    let a = sql(&ws, &alice, q).await;
    assert_eq!(a["result"]["data_array"], json!([["25"]]));
    assert_eq!(a["manifest"]["schema"]["columns"][0]["type_name"], "LONG");
    let b = sql(&ws, &bob, q).await;
    assert_eq!(b["status"]["state"], "FAILED");
    assert_eq!(b["status"]["sql_state"], "42501");
    assert!(
        b["status"]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("[INSUFFICIENT_PERMISSIONS]")
    );
    // current_user() answers who runs the statement.
    assert_eq!(
        sql(&ws, &alice, "SELECT current_user() AS me").await["result"]["data_array"],
        json!([["alice@example.com"]])
    );
    assert_eq!(
        sql(&ws, &bob, "SELECT current_user() AS me").await["result"]["data_array"],
        json!([["bob@example.com"]])
    );
    // Both read the trips they share.
    assert_eq!(
        sql(&ws, &bob, "SELECT count(*) FROM samples.nyctaxi.trips").await["result"]["data_array"],
        json!([["2000"]])
    );
}

#[tokio::test]
async fn failures_come_back_as_http_200_with_databricks_error_classes() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    for (statement, class, sql_state) in [
        ("SELEC 1", "[PARSE_SYNTAX_ERROR]", "42601"),
        (
            "SELECT * FROM samples.nyctaxi.nope",
            "[TABLE_OR_VIEW_NOT_FOUND]",
            "42P01",
        ),
        (
            "SELECT nope FROM samples.nyctaxi.trips",
            "[UNRESOLVED_COLUMN",
            "42703",
        ),
        (
            "DELETE FROM samples.nyctaxi.trips",
            "[UNSUPPORTED_FEATURE]",
            "0A000",
        ),
    ] {
        let r = sql(&ws, &at, statement).await;
        assert_eq!(r["status"]["state"], "FAILED", "{statement}");
        assert!(
            r["status"]["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(class),
            "{statement}: {r}"
        );
        assert_eq!(r["status"]["sql_state"], sql_state, "{statement}");
        assert!(r.get("manifest").is_none());
    }
}

#[tokio::test]
async fn zero_rows_have_no_chunks_and_an_empty_result() {
    let ws = Ws::start().await;
    let r = sql(
        &ws,
        &ws.alice().await,
        "SELECT * FROM samples.nyctaxi.trips WHERE fare_amount < 0",
    )
    .await;
    assert_eq!(r["status"]["state"], "SUCCEEDED");
    assert_eq!(r["manifest"]["total_chunk_count"], 0);
    assert_eq!(r["manifest"]["total_row_count"], 0);
    assert_eq!(r["result"], json!({}));
}

#[tokio::test]
async fn named_parameters_are_typed_and_must_be_bound() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    let r = run(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "30s", "catalog": "samples", "schema": "tpch",
               "statement": "SELECT n_name, :flag AS flag, :nothing AS absent FROM nation WHERE n_nationkey = :key",
               "parameters": [{"name": "key", "value": "7", "type": "INT"}, {"name": "flag", "value": "true", "type": "BOOLEAN"}, {"name": "nothing"}]}),
    )
    .await;
    assert_eq!(
        r["result"]["data_array"],
        json!([["GERMANY", "1", null]]),
        "{r}"
    );
    let unbound = run(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "30s", "statement": "SELECT :missing"}),
    )
    .await;
    assert!(
        unbound["status"]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("[UNBOUND_SQL_PARAMETER]")
    );
    let bad = run(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "30s", "statement": "SELECT :n", "parameters": [{"name": "n", "value": "x", "type": "INT"}]}),
    )
    .await;
    assert_eq!(bad["status"]["state"], "FAILED");
}

#[tokio::test]
async fn request_validation_answers_400_invalid_parameter_value() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    for body in [
        json!({"statement": "SELECT 1"}),
        json!({"warehouse_id": WH}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "wait_timeout": "4s"}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "wait_timeout": "51s"}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "wait_timeout": "10"}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "on_wait_timeout": "WAIT"}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "format": "CSV"}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "format": "ARROW_STREAM", "disposition": "INLINE"}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "disposition": "ELSEWHERE"}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "row_limit": -1}),
        json!({"warehouse_id": WH, "statement": "SELECT 1", "parameters": "nope"}),
    ] {
        let resp = ws.post(&at, "/api/2.0/sql/statements", &body).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error_code"],
            "INVALID_PARAMETER_VALUE",
            "{body}"
        );
    }
    let unknown = ws
        .post(
            &at,
            "/api/2.0/sql/statements",
            &json!({"warehouse_id": "nope", "statement": "SELECT 1"}),
        )
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn row_limit_truncates_and_the_inline_cap_fails_the_statement() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    let r = run(&ws, &at, json!({"warehouse_id": WH, "wait_timeout": "30s", "statement": "SELECT * FROM samples.nyctaxi.trips", "row_limit": 3})).await;
    assert_eq!(r["manifest"]["total_row_count"], 3);
    assert_eq!(r["manifest"]["truncated"], true);
    let capped = run(&ws, &at, json!({"warehouse_id": WH, "wait_timeout": "30s", "statement": "SELECT * FROM samples.nyctaxi.trips", "byte_limit": 1000})).await;
    assert_eq!(capped["status"]["state"], "FAILED");
    assert!(
        capped["status"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("INLINE_RESULT_TOO_LARGE")
    );
}

#[tokio::test]
async fn zero_wait_returns_pending_and_polling_reaches_a_terminal_state() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    let r = run(&ws, &at, json!({"warehouse_id": WH, "wait_timeout": "0s", "statement": "SELECT count(*) FROM samples.nyctaxi.trips"})).await;
    assert_eq!(r["status"]["state"], "PENDING");
    assert!(r.get("manifest").is_none());
    let id = r["statement_id"].as_str().unwrap();
    let mut state = String::new();
    for _ in 0..500 {
        let s: Value = ws
            .get(&at, &format!("/api/2.0/sql/statements/{id}"))
            .await
            .json()
            .await
            .unwrap();
        state = s["status"]["state"].as_str().unwrap().to_owned();
        if state == "SUCCEEDED" {
            assert_eq!(s["result"]["data_array"], json!([["2000"]]));
            break;
        }
        assert!(["PENDING", "RUNNING"].contains(&state.as_str()), "{state}");
        tokio::task::yield_now().await;
    }
    assert_eq!(state, "SUCCEEDED");
}

fn stopped_warehouse() -> EmulatorConfig {
    EmulatorConfig {
        warehouses: vec![WarehouseConfig {
            id: WH.into(),
            name: "Sleepy".into(),
            state: "STOPPED".into(),
            start_seconds: 120,
        }],
        ..EmulatorConfig::for_tests()
    }
}

#[tokio::test]
async fn a_stopped_warehouse_starts_and_statements_stay_pending_meanwhile() {
    let ws = Ws::with(stopped_warehouse(), TokenPolicy::default(), &["all-apis"]).await;
    let at = ws.alice().await;
    let r = run(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "5s", "statement": "SELECT 1 AS one"}),
    )
    .await;
    assert_eq!(
        r["status"]["state"], "PENDING",
        "the warehouse needs 120 s of emulator time"
    );
    let wh: Value = ws
        .get(&at, &format!("/api/2.0/sql/warehouses/{WH}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wh["state"], "STARTING");
    ws.emu.advance_clock(120);
    let id = r["statement_id"].as_str().unwrap();
    let mut last = Value::Null;
    for _ in 0..500 {
        last = ws
            .get(&at, &format!("/api/2.0/sql/statements/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if last["status"]["state"] == "SUCCEEDED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(last["result"]["data_array"], json!([["1"]]));
}

#[tokio::test]
async fn cancel_and_on_wait_timeout_cancel_end_in_canceled() {
    let ws = Ws::with(stopped_warehouse(), TokenPolicy::default(), &["all-apis"]).await;
    let at = ws.alice().await;
    let r = run(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "0s", "statement": "SELECT 1"}),
    )
    .await;
    let id = r["statement_id"].as_str().unwrap();
    let c = ws
        .post(
            &at,
            &format!("/api/2.0/sql/statements/{id}/cancel"),
            &json!({}),
        )
        .await;
    assert_eq!(c.status(), StatusCode::OK);
    assert_eq!(c.json::<Value>().await.unwrap(), json!({}));
    let s: Value = ws
        .get(&at, &format!("/api/2.0/sql/statements/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["status"]["state"], "CANCELED");
    let r = run(&ws, &at, json!({"warehouse_id": WH, "wait_timeout": "5s", "on_wait_timeout": "CANCEL", "statement": "SELECT 1"})).await;
    assert_eq!(r["status"]["state"], "CANCELED");
}

#[tokio::test]
async fn statements_are_private_unknown_ids_404_and_results_expire_after_an_hour() {
    let ws = Ws::start().await;
    let alice = ws.alice().await;
    let bob = ws.bob().await;
    let r = sql(&ws, &alice, "SELECT 1").await;
    let id = r["statement_id"].as_str().unwrap();
    assert_eq!(
        ws.get(&bob, &format!("/api/2.0/sql/statements/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        ws.get(&alice, "/api/2.0/sql/statements/nope")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    ws.emu.advance_clock(1800);
    let alice = ws.alice().await;
    assert_eq!(
        ws.get(&alice, &format!("/api/2.0/sql/statements/{id}"))
            .await
            .status(),
        StatusCode::OK
    );
    ws.emu.advance_clock(1800);
    let alice = ws.alice().await;
    assert_eq!(
        ws.get(&alice, &format!("/api/2.0/sql/statements/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn databricks_functions_used_by_the_demo_work() {
    let ws = Ws::start().await;
    let r = sql(
        &ws,
        &ws.alice().await,
        "SELECT hour(tpep_pickup_datetime) AS h, round(avg(fare_amount), 2) AS fare, nvl(NULL, 'x') AS n, \
         date_trunc('MONTH', tpep_pickup_datetime) AS m FROM samples.nyctaxi.trips GROUP BY 1, 4 ORDER BY 1, 4 LIMIT 1",
    )
    .await;
    assert_eq!(r["status"]["state"], "SUCCEEDED", "{r}");
    let row = &r["result"]["data_array"][0];
    assert_eq!(row[0], "0");
    assert_eq!(row[2], "x");
    assert_eq!(row[3], "2016-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn external_links_serve_chunks_from_storage_that_refuses_authorization_headers() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    let r = run(
        &ws,
        &at,
        json!({"warehouse_id": WH, "wait_timeout": "30s", "disposition": "EXTERNAL_LINKS", "format": "JSON_ARRAY",
               "statement": "SELECT trip_distance FROM samples.nyctaxi.trips ORDER BY tpep_pickup_datetime"}),
    )
    .await;
    assert_eq!(r["status"]["state"], "SUCCEEDED");
    assert_eq!(r["manifest"]["total_chunk_count"], 4);
    assert!(
        r["result"].get("data_array").is_none(),
        "rows are in storage"
    );
    let link = r["result"]["external_links"][0].clone();
    assert_eq!(link["chunk_index"], 0);
    assert_eq!(link["row_count"], 500);
    assert!(link["expiration"].is_string());
    let url = link["external_link"].as_str().unwrap().to_owned();

    // The link is the credential: no Authorization header, or S3 refuses.
    let rows: Value = ws.http.get(&url).sent().await.json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 500);
    let with_auth = ws.http.get(&url).bearer_auth(&at).sent().await;
    assert_eq!(with_auth.status(), StatusCode::BAD_REQUEST);
    assert!(with_auth.text().await.unwrap().contains("InvalidArgument"));
    let counters = ws.emu.counters();
    assert_eq!(
        (
            counters.storage_requests,
            counters.storage_requests_with_authorization
        ),
        (2, 1)
    );

    // A tampered link is refused; later chunks come with their own links.
    let tampered = url.replace("X-Amz-Signature=", "X-Amz-Signature=0");
    assert_eq!(
        ws.http.get(&tampered).sent().await.status(),
        StatusCode::FORBIDDEN
    );
    let id = r["statement_id"].as_str().unwrap();
    let url3 = chunk_link(&ws, &at, id, 3).await;
    let rows3: Value = ws.http.get(&url3).sent().await.json().await.unwrap();
    assert_eq!(rows3.as_array().unwrap().len(), 500);

    // Links expire after 15 minutes; asking for the chunk again gives a fresh one.
    ws.emu.advance_clock(901);
    let expired = ws.http.get(&url3).sent().await;
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    assert!(
        expired
            .text()
            .await
            .unwrap()
            .contains("Request has expired")
    );
    let fresh = chunk_link(&ws, &at, id, 3).await;
    assert_ne!(fresh, url3);
    assert_eq!(ws.http.get(&fresh).sent().await.status(), StatusCode::OK);

    // CSV stays unavailable here (ARROW_STREAM: `arrow.rs`).
    let resp = ws
        .post(
            &at,
            "/api/2.0/sql/statements",
            &json!({"warehouse_id": WH, "statement": "SELECT 1", "disposition": "EXTERNAL_LINKS", "format": "CSV"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

/// The external link Databricks gives now for chunk `index` of a statement.
async fn chunk_link(ws: &Ws, token: &str, id: &str, index: u64) -> String {
    let chunk: Value = ws
        .get(
            token,
            &format!("/api/2.0/sql/statements/{id}/result/chunks/{index}"),
        )
        .await
        .json()
        .await
        .unwrap();
    chunk["external_links"][0]["external_link"]
        .as_str()
        .unwrap()
        .to_owned()
}
