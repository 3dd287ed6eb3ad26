//! The SQL API v2 with a Snowflake OAuth token: statements as the user and their session
//! role, `rowType` and string cells, partitions (gzip after the first), 202 and polling,
//! cancel, 408, 422 with Snowflake's codes, 401 with 390303 / 390318, and `requestId`.

use std::io::Read as _;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::Sent;
use warehouse_emulator::EmulatorConfig;

use crate::snowflake_oauth::{Account, account, account_on};

/// A signed-in user's access token (role: their default unless `role` is given).
async fn token(a: &Account, email: &str, password: &str, role: Option<&str>) -> String {
    let scope = role.map_or("refresh_token".to_owned(), |r| {
        format!("refresh_token session:role:{r}")
    });
    let landed = a
        .sign_in(&a.authorize(&[("scope", &scope)]), email, password, true)
        .await
        .unwrap();
    let (_, set) = a.exchange(&landed).await;
    set["access_token"].as_str().unwrap().to_owned()
}

fn submit(a: &Account, token: &str, query: &str, body: Value) -> reqwest::RequestBuilder {
    a.http
        .post(a.url(&format!("/api/v2/statements{query}")))
        .bearer_auth(token)
        .header("x-snowflake-authorization-token-type", "OAUTH")
        .header("user-agent", "spec/1")
        .json(&body)
}

async fn run(a: &Account, token: &str, body: Value) -> (StatusCode, Value) {
    let resp = submit(a, token, "", body).sent().await;
    (resp.status(), resp.json().await.unwrap())
}

#[tokio::test]
async fn statements_run_as_the_user_and_their_session_role() {
    let a = account(false).await;
    let t = token(&a, "alice@example.com", "alice", None).await;
    let (status, r) = run(
        &a,
        &t,
        json!({"statement": "SELECT CURRENT_USER() AS u, CURRENT_ROLE() AS r"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["code"], "090001");
    assert_eq!(r["data"], json!([["ALICE", "ANALYST"]]));
    assert_eq!(r["resultSetMetaData"]["rowType"][0]["name"], "U");
    assert_eq!(r["resultSetMetaData"]["format"], "jsonv2");

    // Typed columns come as strings: fixed, real, date (days), timestamps (epoch seconds).
    let (_, r) = run(&a, &t, json!({"statement":
        "SELECT trip_distance, tpep_pickup_datetime FROM SAMPLES.NYCTAXI.TRIPS ORDER BY tpep_pickup_datetime LIMIT 1"})).await;
    let types: Vec<&str> = r["resultSetMetaData"]["rowType"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["real", "timestamp_ntz"]);
    assert!(
        r["data"][0][1].as_str().unwrap().ends_with(".000000000"),
        "{r}"
    );

    // Another role than the token's session role is refused.
    let (status, r) = run(&a, &t, json!({"statement": "SELECT 1", "role": "PUBLIC"})).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("390186"))
    );

    // bob's grants: no TPC-H.
    let b = token(&a, "bob@example.com", "bob", None).await;
    let (status, r) = run(
        &a,
        &b,
        json!({"statement": "SELECT * FROM samples.tpch.region"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (r["code"].as_str(), r["sqlState"].as_str()),
        (Some("002003"), Some("42S02"))
    );
    assert!(r["statementHandle"].is_string());
}

#[tokio::test]
async fn requests_are_checked_and_tokens_refused_with_snowflakes_codes() {
    let a = account(false).await;
    let t = token(&a, "alice@example.com", "alice", None).await;
    let no_agent = a
        .http
        .post(a.url("/api/v2/statements"))
        .bearer_auth(&t)
        .json(&json!({"statement": "SELECT 1"}))
        .sent()
        .await;
    assert_eq!(no_agent.status(), StatusCode::BAD_REQUEST);
    let text = a
        .http
        .post(a.url("/api/v2/statements"))
        .bearer_auth(&t)
        .header("user-agent", "spec/1")
        .header("content-type", "text/plain")
        .body("SELECT 1")
        .sent()
        .await;
    assert_eq!(text.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, r) = run(&a, "not-a-token", json!({"statement": "SELECT 1"})).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("390303"))
    );
    a.emu.advance_clock(601);
    let (status, r) = run(&a, &t, json!({"statement": "SELECT 1"})).await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("390318"))
    );
}

#[tokio::test]
async fn results_come_in_partitions_gzip_after_the_first() {
    let a = account(false).await;
    let t = token(&a, "alice@example.com", "alice", None).await;
    let (status, r) = run(
        &a,
        &t,
        json!({"statement": "SELECT trip_distance FROM samples.nyctaxi.trips LIMIT 1200"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["resultSetMetaData"]["numRows"], 1200);
    assert_eq!(
        r["resultSetMetaData"]["partitionInfo"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(r["data"].as_array().unwrap().len(), 500);
    let handle = r["statementHandle"].as_str().unwrap();
    let resp = a
        .http
        .get(a.url(&format!("/api/v2/statements/{handle}?partition=2")))
        .bearer_auth(&t)
        .sent()
        .await;
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&resp.bytes().await.unwrap()[..])
        .read_to_string(&mut text)
        .unwrap();
    let part: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(part["data"].as_array().unwrap().len(), 200);
    assert!(
        part.get("resultSetMetaData").is_none(),
        "later partitions carry only data"
    );
    // Another user cannot read it.
    let b = token(&a, "bob@example.com", "bob", None).await;
    let other = a
        .http
        .get(a.url(&format!("/api/v2/statements/{handle}")))
        .bearer_auth(&b)
        .sent()
        .await;
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_waiting_statement_answers_202_then_cancel_or_timeout_end_it() {
    // A stopped warehouse takes a minute (emulator clock) to resume.
    let mut config = EmulatorConfig::for_tests();
    config.warehouses[0].start_seconds = 60;
    let a = account_on(config, false).await;
    let t = token(&a, "alice@example.com", "alice", None).await;
    let stop = |a: &Account| {
        a.http
            .post(a.url("/emulator/control/warehouses/abcdef1234567890/stop"))
            .sent()
    };
    assert!(stop(&a).await.status().is_success());
    let resp = submit(
        &a,
        &t,
        "?async=true&requestId=11111111-2222-3333-4444-555555555555",
        json!({"statement": "SELECT 1 AS one"}),
    )
    .sent()
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let first: Value = resp.json().await.unwrap();
    let handle = first["statementHandle"].as_str().unwrap().to_owned();
    // The same requestId is the same statement, not a second one.
    let again: Value = submit(
        &a,
        &t,
        "?async=true&requestId=11111111-2222-3333-4444-555555555555",
        json!({"statement": "SELECT 1 AS one"}),
    )
    .sent()
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(again["statementHandle"], handle.as_str());
    let cancel = a
        .http
        .post(a.url(&format!("/api/v2/statements/{handle}/cancel")))
        .bearer_auth(&t)
        .sent()
        .await;
    assert_eq!(cancel.status(), StatusCode::OK);
    let after = a
        .http
        .get(a.url(&format!("/api/v2/statements/{handle}")))
        .bearer_auth(&t)
        .sent()
        .await;
    assert_eq!(after.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(after.json::<Value>().await.unwrap()["code"], "000604");

    // A statement timeout passes on the emulator clock: 408.
    let resp = submit(
        &a,
        &t,
        "?async=true",
        json!({"statement": "SELECT 1", "timeout": 30}),
    )
    .sent()
    .await;
    let handle = resp.json::<Value>().await.unwrap()["statementHandle"]
        .as_str()
        .unwrap()
        .to_owned();
    a.emu.advance_clock(31);
    let late = a
        .http
        .get(a.url(&format!("/api/v2/statements/{handle}")))
        .bearer_auth(&t)
        .sent()
        .await;
    assert_eq!(late.status(), StatusCode::REQUEST_TIMEOUT);
}

#[tokio::test]
async fn show_commands_list_what_the_users_grants_reach() {
    let a = account(false).await;
    let bob = token(&a, "bob@example.com", "bob", None).await;
    let (status, r) = run(&a, &bob, json!({"statement": "SHOW DATABASES"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["data"], json!([["SAMPLES", "STANDARD"]]));
    let (_, r) = run(
        &a,
        &bob,
        json!({"statement": "show schemas in database \"SAMPLES\""}),
    )
    .await;
    assert_eq!(r["data"], json!([["NYCTAXI", "SAMPLES"]]));
    let (status, r) = run(
        &a,
        &bob,
        json!({"statement": "SHOW COLUMNS IN SCHEMA SAMPLES.TPCH"}),
    )
    .await;
    assert_eq!(
        (status, r["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("002003"))
    );
    let (_, r) = run(&a, &bob, json!({"statement": "SHOW WAREHOUSES"})).await;
    assert_eq!(r["data"][0][0], "STARTER_WAREHOUSE");
    let (status, _) = run(&a, &bob, json!({"statement": "SHOW GRANTS"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
