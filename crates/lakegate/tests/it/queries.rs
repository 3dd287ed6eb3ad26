//! Running SQL through a connection against the emulator's Statement Execution API: every
//! state path, the three encodings, parameters, token trouble while a statement runs, time
//! limits, cancel, two users on one shared connection, and history.

use lakegate::accounts::Role;
use lakegate::auth::Scope;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::{EmulatorConfig, Fault, Target, WarehouseConfig};

use crate::harness::{Browser, Sent};
use crate::world::{Setup, setup, setup_emulating};

crate::on_each_backend!(
    nyctaxi_comes_back_typed_as_json_and_identical_as_ndjson_and_csv,
    zero_rows_row_limits_and_failed_statements,
    parameters_of_each_type_reach_databricks_typed,
    asynchronous_queries_poll_to_a_result_and_can_be_cancelled,
    a_query_past_its_time_limit_is_cancelled_upstream,
    a_token_that_expires_while_the_statement_runs_is_renewed_between_polls,
    before_submitting_the_token_must_outlive_the_time_limit,
    an_invalid_token_403_mid_poll_recovers_once_and_a_permission_403_never_refreshes,
    a_busy_databricks_is_waited_out_without_running_anything_twice,
    tokens_and_link_signatures_never_reach_responses_or_logs,
    two_users_on_one_shared_connection_each_query_as_themselves,
    queries_nobody_polls_are_followed_up_in_the_background,
    statements_carry_a_provenance_tag_into_the_databricks_query_history,
    csv_for_spreadsheets_neutralises_formulas_and_plain_csv_stays_verbatim,
);

pub const WAREHOUSE: &str = "abcdef1234567890";
pub const TRIPS: &str = "SELECT trip_distance, fare_amount, pickup_zip, tpep_pickup_datetime \
                     FROM samples.nyctaxi.trips ORDER BY tpep_pickup_datetime, trip_distance";

/// An editor with a connection signed in as `email` and a warehouse picked.
pub async fn ready(s: &Setup, who: &str, email: &str, password: &str) -> (Browser, String) {
    let b = s.user(who, Role::Editor).await;
    let conn = s.connection(&b, false).await;
    s.sign_in(&b, &conn, email, password).await;
    pick_warehouse(&b, &conn).await;
    (b, conn)
}

async fn pick_warehouse(b: &Browser, conn: &str) {
    let resp = b
        .client
        .patch(b.url(&format!("/api/v1/connections/{conn}")))
        .header("x-csrf-token", &b.csrf)
        .json(&json!({"warehouse_id": WAREHOUSE}))
        .sent()
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
}

pub async fn run(b: &Browser, conn: &str, body: Value, accept: &str) -> reqwest::Response {
    b.client
        .post(b.url(&format!("/api/v1/connections/{conn}/queries")))
        .header("x-csrf-token", &b.csrf)
        .header("accept", accept)
        .json(&body)
        .sent()
        .await
}

async fn run_json(b: &Browser, conn: &str, body: Value) -> (StatusCode, Value) {
    let resp = run(b, conn, body, "application/json").await;
    (resp.status(), resp.json().await.unwrap())
}

async fn post(b: &Browser, path: &str) -> (StatusCode, Value) {
    let resp = b
        .client
        .post(b.url(path))
        .header("x-csrf-token", &b.csrf)
        .sent()
        .await;
    (resp.status(), resp.json().await.unwrap())
}

/// Polls the query until it is no longer running; its final status and body.
pub(crate) async fn poll_until_done(b: &Browser, id: &str) -> (StatusCode, Value) {
    // Each poll is a real round trip to Lakegate and the emulator; the bound only stops a
    // query that never ends from hanging the test.
    for _ in 0..200 {
        let (status, j) = get(b, &format!("/api/v1/queries/{id}")).await;
        if status != StatusCode::ACCEPTED {
            return (status, j);
        }
        tokio::task::yield_now().await;
    }
    panic!("query {id} did not finish")
}

pub async fn get(b: &Browser, path: &str) -> (StatusCode, Value) {
    let resp = b.get(path).await;
    (resp.status(), resp.json().await.unwrap())
}

/// A workspace whose warehouse takes five minutes (emulator clock) to start once stopped,
/// so a statement stays PENDING until the test moves the clock.
pub(crate) async fn slow_start() -> Setup {
    let mut config = EmulatorConfig::for_tests();
    config.warehouses = vec![WarehouseConfig {
        id: WAREHOUSE.into(),
        name: "Starter Warehouse".into(),
        state: "RUNNING".into(),
        start_seconds: 300,
    }];
    setup_emulating(config).await
}

pub(crate) async fn stop_warehouse(s: &Setup) {
    s.control(
        &format!("/emulator/control/warehouses/{WAREHOUSE}/stop"),
        json!({}),
    )
    .await;
}

async fn nyctaxi_comes_back_typed_as_json_and_identical_as_ndjson_and_csv() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;

    let (status, j) = run_json(&b, &conn, json!({"statement": TRIPS})).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["state"], "SUCCEEDED");
    // 2,000 rows in chunks of 500: chunk 0 inline, three more fetched.
    assert_eq!(j["row_count"], 2000);
    assert_eq!(j["truncated"], false);
    let types: Vec<&str> = j["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["DOUBLE", "DOUBLE", "INT", "TIMESTAMP"]);
    let rows = j["rows"].as_array().unwrap();
    assert!(rows[0][0].is_f64() && rows[0][1].is_f64() && rows[0][2].is_i64());
    assert!(rows[0][3].as_str().unwrap().ends_with('Z'));

    let resp = run(
        &b,
        &conn,
        json!({"statement": TRIPS}),
        "application/x-ndjson",
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
    let text = resp.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2000);
    for (line, row) in lines.iter().zip(rows) {
        assert_eq!(line["trip_distance"], row[0]);
        assert_eq!(line["pickup_zip"], row[2]);
        assert_eq!(line["tpep_pickup_datetime"], row[3]);
    }
    let counters = s.ws.emu.counters();
    assert_eq!(counters.storage_requests, 4, "one download per chunk");
    assert_eq!(counters.storage_requests_with_authorization, 0);

    let resp = run(&b, &conn, json!({"statement": TRIPS}), "text/csv").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"query-")
    );
    let csv = resp.text().await.unwrap();
    let mut csv_lines = csv.lines();
    assert_eq!(
        csv_lines.next(),
        Some("trip_distance,fare_amount,pickup_zip,tpep_pickup_datetime")
    );
    let csv_rows: Vec<&str> = csv_lines.collect();
    assert_eq!(csv_rows.len(), 2000);
    assert_eq!(
        csv_rows[1999].split(',').nth(2).unwrap(),
        rows[1999][2].to_string()
    );
}

async fn zero_rows_row_limits_and_failed_statements() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;

    let (status, j) = run_json(
        &b,
        &conn,
        json!({"statement": "SELECT trip_distance FROM samples.nyctaxi.trips WHERE 1 = 0"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["row_count"], 0);
    assert_eq!(j["rows"], json!([]));
    assert_eq!(j["columns"][0]["name"], "trip_distance");
    let resp = run(
        &b,
        &conn,
        json!({"statement": "SELECT trip_distance FROM samples.nyctaxi.trips WHERE 1 = 0"}),
        "text/csv",
    )
    .await;
    assert_eq!(resp.text().await.unwrap(), "trip_distance\r\n");

    let (status, j) = run_json(&b, &conn, json!({"statement": TRIPS, "row_limit": 7})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(j["row_count"], 7);
    assert_eq!(j["truncated"], true);

    // A statement that fails while running is HTTP 200 FAILED upstream: an error here.
    let (status, j) = run_json(
        &b,
        &conn,
        json!({"statement": "SELECT * FROM samples.nyctaxi.nope"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
    assert_eq!(j["error"]["code"], "query_failed");
    assert_eq!(j["error"]["sql_state"], "42P01");
    assert!(j["error"]["databricks_error_code"].is_string());
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("TABLE_OR_VIEW_NOT_FOUND")
    );

    // Clear 4xx for bad input, before anything reaches Databricks.
    let before = s.ws.emu.counters().rest_calls;
    for bad in [
        json!({"statement": ""}),
        json!({"statement": "SELECT 1", "row_limit": 1_000_000}),
        json!({"statement": "SELECT 1", "timeout_seconds": 0}),
        json!({"statement": "SELECT 1", "parameters": [{"name": "a b", "value": 1}]}),
        json!({"statement": "SELECT 1", "unknown": true}),
    ] {
        let (status, j) = run_json(&b, &conn, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {j}");
    }
    let resp = run(&b, &conn, json!({"statement": "SELECT 1"}), "image/png").await;
    assert_eq!(resp.status(), StatusCode::NOT_ACCEPTABLE);
    assert_eq!(s.ws.emu.counters().rest_calls, before);
}

async fn parameters_of_each_type_reach_databricks_typed() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let (status, j) = run_json(
        &b,
        &conn,
        json!({
            "statement": "SELECT :i AS i, :d AS d, :s AS s, :day AS day, :nothing AS nada, \
                          (SELECT count(*) FROM samples.nyctaxi.trips WHERE pickup_zip = :zip) AS n",
            "parameters": [
                {"name": "i", "value": 41},
                {"name": "d", "value": "2.5", "type": "DOUBLE"},
                {"name": "s", "value": "it's-p4r4m"},
                {"name": "day", "value": "2016-02-14", "type": "DATE"},
                {"name": "nothing", "value": null, "type": "INT"},
                {"name": "zip", "value": 10001, "type": "INT"},
            ]
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{j}");
    let row = &j["rows"][0];
    assert_eq!(row[0], 41);
    assert_eq!(row[1], 2.5);
    assert_eq!(row[2], "it's-p4r4m");
    // Neither parameter values nor statements are logged.
    let logs = crate::harness::captured_logs();
    assert!(!logs.contains("p4r4m") && !logs.contains(":nothing AS nada"));
    assert_eq!(row[3], "2016-02-14");
    assert_eq!(row[4], Value::Null);
    assert!(row[5].is_i64());

    // A missing parameter is Databricks' error, reported as such.
    let (status, j) = run_json(&b, &conn, json!({"statement": "SELECT :missing"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("UNBOUND_SQL_PARAMETER"),
        "{j}"
    );
    // A value that is not its type.
    let (status, j) = run_json(
        &b,
        &conn,
        json!({"statement": "SELECT :n", "parameters": [{"name": "n", "value": "x", "type": "INT"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
}

async fn asynchronous_queries_poll_to_a_result_and_can_be_cancelled() {
    let s = slow_start().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    stop_warehouse(&s).await;

    let (status, j) = run_json(
        &b,
        &conn,
        json!({"statement": TRIPS, "wait": false, "timeout_seconds": 3600}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    assert_eq!(j["state"], "PENDING");
    let id = j["query_id"].as_str().unwrap().to_owned();
    let (status, j) = get(&b, &format!("/api/v1/queries/{id}")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(j["state"], "PENDING");

    // The warehouse is up five minutes later; the statement runs and the result is there.
    s.advance(301);
    let (status, j) = poll_until_done(&b, &id).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["row_count"], 2000);
    // The same result, streamed on request.
    let csv = b
        .get(&format!("/api/v1/queries/{id}?format=csv"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 2001);

    // A second one is cancelled while its warehouse is still starting.
    stop_warehouse(&s).await;
    let (_, j) = run_json(&b, &conn, json!({"statement": TRIPS, "wait": false})).await;
    let id2 = j["query_id"].as_str().unwrap().to_owned();
    let (status, j) = post(&b, &format!("/api/v1/queries/{id2}/cancel")).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["state"], "CANCELED");
    let (status, j) = get(&b, &format!("/api/v1/queries/{id2}")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{j}");
    assert_eq!(j["error"]["code"], "query_cancelled");

    // History: both, newest first, with outcomes and row counts; parameters never stored.
    let (_, h) = get(&b, "/api/v1/queries").await;
    let list = h["queries"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["query_id"], id2.as_str());
    assert_eq!(list[0]["state"], "CANCELED");
    assert_eq!(list[1]["state"], "SUCCEEDED");
    assert_eq!(list[1]["row_count"], 2000);
    assert_eq!(list[1]["statement"], TRIPS);
    // The same on the "My queries" page, with the connection's name.
    let page = b.page("/queries").await;
    assert!(page.contains("CANCELED") && page.contains(">Sales</a>"));
    assert!(page.contains("SELECT trip_distance, fare_amount"));

    // Someone else's query is not found, and cannot be cancelled.
    let other = s.user("other@acme.test", Role::Editor).await;
    assert_eq!(
        get(&other, &format!("/api/v1/queries/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(&other, &format!("/api/v1/queries/{id}/cancel"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

async fn a_query_past_its_time_limit_is_cancelled_upstream() {
    let s = slow_start().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    stop_warehouse(&s).await;
    let (_, j) = run_json(
        &b,
        &conn,
        json!({"statement": TRIPS, "wait": false, "timeout_seconds": 60}),
    )
    .await;
    let id = j["query_id"].as_str().unwrap().to_owned();
    s.app.clock.advance(61);
    let (status, j) = get(&b, &format!("/api/v1/queries/{id}")).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{j}");
    assert_eq!(j["error"]["code"], "query_timeout");
    // Upstream it was cancelled: even once the warehouse is up, it does not run.
    let statement_id = s
        .app
        .store
        .query(&user_id(&s, "ed@acme.test").await, &id)
        .await
        .unwrap()
        .unwrap()
        .statement_id;
    assert_eq!(upstream_state(&s, &statement_id).await, "CANCELED");
    let (_, h) = get(&b, "/api/v1/queries").await;
    assert_eq!(h["queries"][0]["state"], "TIMED_OUT");
}

async fn user_id(s: &Setup, email: &str) -> String {
    s.app.find_user(&s.org.id, email).await.id
}

async fn a_token_that_expires_while_the_statement_runs_is_renewed_between_polls() {
    let s = slow_start().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    stop_warehouse(&s).await;
    let (_, j) = run_json(
        &b,
        &conn,
        json!({"statement": TRIPS, "wait": false, "timeout_seconds": 4 * 3600}),
    )
    .await;
    let id = j["query_id"].as_str().unwrap().to_owned();
    // A service polls with an API token (a browser session would idle out meanwhile).
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let (token, _) = s.app.token(&user, &[Scope::QueriesRun]).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    let service = Browser {
        client: crate::harness::http_builder()
            .default_headers(headers)
            .build()
            .unwrap(),
        csrf: String::new(),
        base: s.app.base.clone(),
    };
    let refreshes = s.ws.emu.counters().token_calls_refresh_token;
    // Two hours pass: the access token (one hour) is long dead when the statement finishes.
    s.advance(2 * 3600);
    let (status, j) = poll_until_done(&service, &id).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["row_count"], 2000);
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, refreshes + 1);
}

async fn before_submitting_the_token_must_outlive_the_time_limit() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    // 20 minutes left on the token: enough for a 1-minute query, not for a 30-minute one.
    s.advance(40 * 60);
    let before = s.ws.emu.counters().token_calls_refresh_token;
    let (status, _) = run_json(
        &b,
        &conn,
        json!({"statement": "SELECT 1 AS one", "timeout_seconds": 60}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, before);
    let (status, _) = run_json(
        &b,
        &conn,
        json!({"statement": "SELECT 1 AS one", "timeout_seconds": 1800}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, before + 1);
}

async fn an_invalid_token_403_mid_poll_recovers_once_and_a_permission_403_never_refreshes() {
    let s = slow_start().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    stop_warehouse(&s).await;
    let (_, j) = run_json(&b, &conn, json!({"statement": TRIPS, "wait": false})).await;
    let id = j["query_id"].as_str().unwrap().to_owned();
    let refreshes = s.ws.emu.counters().token_calls_refresh_token;
    let submissions = statements_seen(&s).await;

    s.ws.emu
        .fault(Fault::status(Target::Rest, 403).body(Some("403"), "Invalid access token."));
    let (status, j) = get(&b, &format!("/api/v1/queries/{id}")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{j}");
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, refreshes + 1);
    // The poll was repeated, never the submission.
    assert_eq!(statements_seen(&s).await, submissions);

    s.ws.emu.fault(Fault::status(Target::Rest, 403).body(
        Some("PERMISSION_DENIED"),
        "User does not have CAN USE on warehouse.",
    ));
    let (status, j) = get(&b, &format!("/api/v1/queries/{id}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
    assert_eq!(j["error"]["code"], "databricks_denied");
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, refreshes + 1);
}

async fn a_busy_databricks_is_waited_out_without_running_anything_twice() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let refreshes = s.ws.emu.counters().token_calls_refresh_token;
    // 429 on the submission: Databricks did not take it, so it is sent again.
    s.ws.emu.fault(Fault::status(Target::Rest, 429).times(2));
    let (status, j) = run_json(&b, &conn, json!({"statement": "SELECT 1 AS one"})).await;
    assert_eq!(status, StatusCode::OK, "{j}");

    // 503s while polling and fetching: repeated, the result arrives whole.
    let (_, j) = run_json(&b, &conn, json!({"statement": TRIPS, "wait": false})).await;
    let id = j["query_id"].as_str().unwrap().to_owned();
    s.ws.emu.fault(Fault::status(Target::Rest, 503).times(3));
    let (status, j) = poll_until_done(&b, &id).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["row_count"], 2000);

    // A 503 on a submission may have come after Databricks took it: not repeated.
    let before = statements_seen(&s).await;
    s.ws.emu.fault(Fault::status(Target::Rest, 503));
    let (status, j) = run_json(&b, &conn, json!({"statement": "SELECT 1 AS one"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{j}");
    assert_eq!(j["error"]["code"], "upstream_error");
    assert_eq!(statements_seen(&s).await, before);
    // None of it is a reason to refresh a token.
    assert_eq!(s.ws.emu.counters().token_calls_refresh_token, refreshes);
}

async fn tokens_and_link_signatures_never_reach_responses_or_logs() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let mut seen = String::new();
    for (body, accept) in [
        (json!({"statement": TRIPS}), "application/json"),
        (json!({"statement": TRIPS}), "application/x-ndjson"),
        (json!({"statement": TRIPS}), "text/csv"),
        (
            json!({"statement": "SELECT * FROM nope"}),
            "application/json",
        ),
        (
            json!({"statement": TRIPS, "wait": false}),
            "application/json",
        ),
    ] {
        let resp = run(&b, &conn, body, accept).await;
        seen.push_str(&format!("{:?}\n", resp.headers()));
        seen.push_str(&resp.text().await.unwrap());
    }
    for path in ["/api/v1/queries", &format!("/connections/{conn}")] {
        seen.push_str(&b.page(path).await);
    }
    let user = user_id(&s, "ed@acme.test").await;
    let fresh = s.app.fresh(&conn, &user, &s.org.id, 60).await.unwrap();
    let logs = crate::harness::captured_logs();
    for haystack in [&seen, &logs] {
        assert!(!haystack.contains(fresh.token.expose()));
        assert!(!haystack.contains("X-Amz-Signature"));
    }
    assert!(s.ws.emu.counters().storage_requests > 0, "links were used");
}

/// Statements Databricks (the emulator) has executed for Alice: its own query history, so
/// a repeated submission shows even when Lakegate recorded nothing.
async fn statements_seen(s: &Setup) -> usize {
    as_alice(s, "/api/2.0/sql/history/queries").await["res"]
        .as_array()
        .unwrap()
        .len()
}

async fn two_users_on_one_shared_connection_each_query_as_themselves() {
    let s = setup().await;
    let owner = s.user("ed@acme.test", Role::Editor).await;
    let conn = s.connection(&owner, true).await;
    pick_warehouse(&owner, &conn).await;
    s.sign_in(&owner, &conn, "alice@example.com", "alice").await;
    let colleague = s.user("cy@acme.test", Role::Editor).await;
    s.sign_in(&colleague, &conn, "bob@example.com", "bob").await;

    let me = json!({"statement": "SELECT current_user() AS me"});
    let (_, a) = run_json(&owner, &conn, me.clone()).await;
    let (_, c) = run_json(&colleague, &conn, me).await;
    assert_eq!(a["rows"], json!([["alice@example.com"]]));
    assert_eq!(c["rows"], json!([["bob@example.com"]]));

    // Grants are Databricks' business: Alice may read TPC-H, Bob may not.
    let tpch = json!({"statement": "SELECT count(*) AS n FROM samples.tpch.region"});
    let (status, _) = run_json(&owner, &conn, tpch.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, j) = run_json(&colleague, &conn, tpch).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{j}");
    assert_eq!(j["error"]["code"], "query_failed");

    // A viewer may sign in on the shared connection but not run queries: no console either.
    let viewer = s.user("vi@acme.test", Role::Viewer).await;
    s.sign_in(&viewer, &conn, "bob@example.com", "bob").await;
    let (status, _) = run_json(&viewer, &conn, json!({"statement": "SELECT 1"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let page = viewer.page(&format!("/connections/{conn}")).await;
    assert!(page.contains("bob@example.com") && !page.contains("id=\"console\""));
    let page = colleague.page(&format!("/connections/{conn}")).await;
    assert!(
        page.contains("id=\"console\"") && page.contains(&format!("data-connection=\"{conn}\""))
    );
}

async fn queries_nobody_polls_are_followed_up_in_the_background() {
    let s = slow_start().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let (_, j) = run_json(
        &b,
        &conn,
        json!({"statement": "SELECT 1 AS one", "wait": false}),
    )
    .await;
    let quick = j["query_id"].as_str().unwrap().to_owned();
    stop_warehouse(&s).await;
    let (_, j) = run_json(
        &b,
        &conn,
        json!({"statement": TRIPS, "wait": false, "timeout_seconds": 120}),
    )
    .await;
    let slow = j["query_id"].as_str().unwrap().to_owned();

    // Within the first minute the clients are left to poll themselves.
    assert_eq!(s.app.sweep_queries().await, 0);
    s.app.clock.advance(121);
    assert!(s.app.sweep_queries().await >= 1);

    let (_, h) = get(&b, "/api/v1/queries").await;
    let entry = |id: &str| {
        h["queries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["query_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(entry(&quick)["state"], "SUCCEEDED");
    assert_eq!(entry(&quick)["row_count"], 1);
    assert_eq!(entry(&slow)["state"], "TIMED_OUT");
    let user = user_id(&s, "ed@acme.test").await;
    let statement_id = s
        .app
        .store
        .query(&user, &slow)
        .await
        .unwrap()
        .unwrap()
        .statement_id;
    assert_eq!(upstream_state(&s, &statement_id).await, "CANCELED");
    // Nothing is left to follow up.
    assert_eq!(s.app.sweep_queries().await, 0);
}

/// A GET on the emulator's REST API with a token of Alice's.
async fn as_alice(s: &Setup, path: &str) -> Value {
    let token =
        s.ws.emu
            .mint_tokens(&s.ws.client_id, "alice@example.com", "all-apis")
            .unwrap();
    s.ws.browser()
        .get(format!("{}{path}", s.ws.emu.base_url))
        .bearer_auth(token.access_token)
        .sent()
        .await
        .json()
        .await
        .unwrap()
}

/// The statement's state at the emulator.
async fn upstream_state(s: &Setup, statement_id: &str) -> String {
    let v = as_alice(s, &format!("/api/2.0/sql/statements/{statement_id}")).await;
    v["status"]["state"].as_str().unwrap().to_owned()
}

async fn statements_carry_a_provenance_tag_into_the_databricks_query_history() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let (status, j) = run_json(&b, &conn, json!({"statement": "SELECT 1 AS one"})).await;
    assert_eq!(status, StatusCode::OK);
    let query_id = j["query_id"].as_str().unwrap();
    let history = as_alice(&s, "/api/2.0/sql/history/queries").await;
    let text = history["res"][0]["query_text"].as_str().unwrap();
    let ed = s.app.find_user(&s.org.id, "ed@acme.test").await;
    assert_eq!(
        text,
        format!(
            "SELECT 1 AS one\n/* lakegate org={} connection={conn} user={} query={query_id} */",
            s.org.id, ed.id
        )
    );
    assert!(!text.contains("ed@acme.test") && !text.contains("alice"));
    // Lakegate's own history keeps the statement as the user wrote it.
    let (_, h) = get(&b, "/api/v1/queries").await;
    assert_eq!(h["queries"][0]["statement"], "SELECT 1 AS one");
    // The tag is inert after a final semicolon or line comment too.
    for statement in ["SELECT 2 AS two;", "SELECT 3 AS three -- the end"] {
        let (status, j) = run_json(&b, &conn, json!({ "statement": statement })).await;
        assert_eq!(status, StatusCode::OK, "{statement}: {j}");
        assert_eq!(j["row_count"], 1);
    }
}

mod replicas {
    use super::*;
    use crate::harness::{TestApp, TestDb};

    crate::on_both_backends!(a_query_started_on_one_replica_is_polled_and_cancelled_on_another);

    async fn a_query_started_on_one_replica_is_polled_and_cancelled_on_another(db: &TestDb) {
        let s = crate::world::setup_on(db, warehouse_emulator::TokenPolicy::default()).await;
        let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
        let replica = TestApp::spawn_replica_on(db, &s.app).await;
        // The same browser (cookies are per host, not per port) talking to the other replica.
        let on_replica = Browser {
            client: b.client.clone(),
            csrf: b.csrf.clone(),
            base: replica.base.clone(),
        };
        let (status, j) = run_json(&b, &conn, json!({"statement": TRIPS, "wait": false})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{j}");
        let id = j["query_id"].as_str().unwrap().to_owned();
        let (status, j) = poll_until_done(&on_replica, &id).await;
        assert_eq!(status, StatusCode::OK, "{j}");
        assert_eq!(j["row_count"], 2000);

        let (_, j) = run_json(
            &b,
            &conn,
            json!({"statement": "SELECT 1 AS one", "wait": false}),
        )
        .await;
        let id = j["query_id"].as_str().unwrap().to_owned();
        let (status, j) = post(&on_replica, &format!("/api/v1/queries/{id}/cancel")).await;
        assert_eq!(status, StatusCode::OK, "{j}");
        let (_, h) = get(&b, "/api/v1/queries").await;
        assert_eq!(h["queries"][0]["query_id"], id.as_str());
        assert!(["CANCELED", "SUCCEEDED"].contains(&h["queries"][0]["state"].as_str().unwrap()));
    }
}

async fn csv_for_spreadsheets_neutralises_formulas_and_plain_csv_stays_verbatim() {
    let s = setup().await;
    let (b, conn) = ready(&s, "ed@acme.test", "alice@example.com", "alice").await;
    let statement = "SELECT '=HYPERLINK(\"http://evil.example\")' AS f, '@SUM(A1)' AS a, \
                     '-2+3+cmd' AS m, -12.5 AS n, 'plain' AS p";
    let csv = |query: &'static str| {
        let b = &b;
        let conn = &conn;
        async move {
            let resp = b
                .client
                .post(b.url(&format!("/api/v1/connections/{conn}/queries{query}")))
                .header("x-csrf-token", &b.csrf)
                .json(&json!({ "statement": statement }))
                .sent()
                .await;
            assert_eq!(resp.status(), StatusCode::OK);
            resp.text().await.unwrap()
        }
    };
    assert_eq!(
        csv("?format=csv&spreadsheet_safe=true").await,
        "f,a,m,n,p\r\n\"'=HYPERLINK(\"\"http://evil.example\"\")\",'@SUM(A1),'-2+3+cmd,-12.5,plain\r\n"
    );
    assert_eq!(
        csv("?format=csv").await,
        "f,a,m,n,p\r\n\"=HYPERLINK(\"\"http://evil.example\"\")\",@SUM(A1),-2+3+cmd,-12.5,plain\r\n",
        "the API's default is Databricks' values verbatim"
    );
}
