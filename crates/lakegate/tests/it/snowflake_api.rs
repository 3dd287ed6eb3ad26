//! Lakegate's Snowflake SQL API v2 client against the emulated account, over TLS: identity,
//! statements submitted asynchronously with the query id as `requestId`, polled by handle,
//! partitions fetched by index (gzip after the first), failures with Snowflake's codes,
//! cancel, and tokens refused with 390303 / 390318 as `TokenRejected`.

use lakegate::providers::snowflake::rest::Account;
use lakegate::warehouse::values::{Kind, convert_row};
use lakegate::warehouse::{State, Submit, WarehouseApi, WarehouseError};
use warehouse_emulator::{EmulatorConfig, SnowflakeIntegrationConfig};

use crate::harness::Workspace;

const CLIENT_ID: &str = "aB+c/dEf=";

/// An emulated account with an integration, and an access token of `email` (default role).
async fn account_with(config: EmulatorConfig, email: &str) -> (Workspace, String) {
    let ws = Workspace::start_with(config).await;
    ws.emu
        .register_snowflake_integration(SnowflakeIntegrationConfig {
            name: "LAKEGATE".into(),
            client_id: CLIENT_ID.into(),
            client_secret: "s3+cr/et==".into(),
            redirect_uri: "https://lakegate.example/connections/oauth/snowflake/callback".into(),
            refresh_token_validity_seconds: 86_400,
            single_use_refresh_tokens: false,
            pre_authorized_roles: vec![],
            blocked_roles: vec![],
        });
    let user = ws.emu.user_default_role(email);
    let scope = format!("refresh_token session:role:{user}");
    let token = ws
        .emu
        .mint_tokens(CLIENT_ID, email, &scope)
        .unwrap()
        .access_token;
    (ws, token)
}

fn submit<'a>(sql: &'a str, request_id: &'a str) -> Submit<'a> {
    Submit {
        compute_id: "STARTER_WAREHOUSE",
        statement: sql,
        catalog: Some("SAMPLES"),
        schema: Some("NYCTAXI"),
        parameters: &[],
        row_limit: None,
        wait_seconds: 0,
        external_links: false,
        arrow: false,
        location: None,
        request_id,
    }
}

/// Polls until the statement ends (each poll is a round trip to the emulator).
async fn finished(api: &Account<'_>, token: &str, id: &str) -> lakegate::warehouse::Statement {
    for _ in 0..2_000 {
        let s = api.statement(token, id).await.unwrap();
        if s.status.state.terminal() {
            return s;
        }
        tokio::task::yield_now().await;
    }
    panic!("the statement never ended");
}

#[tokio::test]
async fn identity_queries_and_partitions_as_the_user() {
    let (ws, token) = account_with(EmulatorConfig::for_tests(), "alice@example.com").await;
    let egress = ws.egress();
    let api = Account::new(&egress, &ws.emu.base_url);
    let me = api.me(&token).await.unwrap();
    assert_eq!(
        (me.user_name.as_str(), me.display_name.as_str()),
        ("ALICE", "ALICE (role ANALYST)")
    );
    api.select_one(&token, "STARTER_WAREHOUSE").await.unwrap();

    let id = uuid::Uuid::now_v7().to_string();
    let sql = "SELECT trip_distance, tpep_pickup_datetime FROM trips ORDER BY tpep_pickup_datetime LIMIT 1200";
    let first = api.submit(&token, &submit(sql, &id)).await.unwrap();
    // Sent again with the same request id (its answer lost): the same statement.
    let again = api.submit(&token, &submit(sql, &id)).await.unwrap();
    assert_eq!(first.statement_id, again.statement_id);
    let done = finished(&api, &token, &first.statement_id).await;
    assert_eq!(done.status.state, State::Succeeded);
    let manifest = done.manifest.unwrap();
    assert_eq!(
        (manifest.total_chunk_count, manifest.total_row_count),
        (3, 1200)
    );
    let kinds: Vec<Kind> = manifest.columns().iter().map(Kind::of).collect();
    let row0 = convert_row(&kinds, &done.result.unwrap().data_array[0]);
    assert!(row0[0].is_number(), "{row0:?}");
    assert!(
        row0[1].as_str().unwrap().starts_with("20"),
        "an ISO timestamp: {row0:?}"
    );
    // The last partition arrives gzip-encoded and is decoded.
    let last = api.chunk(&token, &first.statement_id, 2).await.unwrap();
    assert_eq!((last.chunk_index, last.data_array.len()), (2, 200));
}

#[tokio::test]
async fn failures_cancels_and_refused_tokens_say_what_they_are() {
    let mut config = EmulatorConfig::for_tests();
    config.warehouses[0].start_seconds = 60;
    let (ws, token) = account_with(config, "bob@example.com").await;
    let egress = ws.egress();
    let api = Account::new(&egress, &ws.emu.base_url);

    // bob may not read TPC-H: a failure with Snowflake's code and SQL state.
    let id = uuid::Uuid::now_v7().to_string();
    let s = api
        .submit(&token, &submit("SELECT * FROM samples.tpch.region", &id))
        .await
        .unwrap();
    let failed = finished(&api, &token, &s.statement_id).await;
    assert_eq!(failed.status.state, State::Failed);
    assert_eq!(
        failed.status.error.unwrap().error_code.as_deref(),
        Some("002003")
    );
    assert_eq!(failed.status.sql_state.as_deref(), Some("42S02"));

    // A statement waiting for a stopped warehouse is cancelled.
    let stop = ws
        .browser()
        .post(ws.emu.base_url.clone() + "/emulator/control/warehouses/abcdef1234567890/stop")
        .send()
        .await
        .unwrap();
    assert!(stop.status().is_success());
    let id = uuid::Uuid::now_v7().to_string();
    let waiting = api.submit(&token, &submit("SELECT 1", &id)).await.unwrap();
    assert_eq!(waiting.status.state, State::Running);
    api.cancel(&token, &waiting.statement_id).await.unwrap();
    let ended = api.statement(&token, &waiting.statement_id).await.unwrap();
    assert_eq!(ended.status.state, State::Failed);
    assert_eq!(
        ended.status.error.unwrap().error_code.as_deref(),
        Some("000604")
    );

    // Named parameters are refused before anything is sent.
    let p = [lakegate::warehouse::Parameter {
        name: "x".into(),
        value: Some("1".into()),
        type_name: None,
    }];
    let with_params = Submit {
        parameters: &p,
        ..submit("SELECT :x", "p")
    };
    assert!(matches!(
        api.submit(&token, &with_params).await,
        Err(WarehouseError::Upstream { status: 400, .. })
    ));

    // Tokens: invalid → 390303, expired → 390318; both are "refresh and repeat".
    match api.me("not-a-token").await {
        Err(WarehouseError::TokenRejected(why)) => assert!(why.starts_with("390303"), "{why}"),
        other => panic!("{other:?}"),
    }
    ws.emu.advance_clock(601);
    match api.me(&token).await {
        Err(WarehouseError::TokenRejected(why)) => assert!(why.starts_with("390318"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pickers_list_what_the_users_grants_reach() {
    let (ws, alice) = account_with(EmulatorConfig::for_tests(), "alice@example.com").await;
    let egress = ws.egress();
    let api = Account::new(&egress, &ws.emu.base_url);
    let computes = api.computes(&alice).await.unwrap();
    assert_eq!(computes[0].id, "STARTER_WAREHOUSE");
    assert_eq!(
        api.compute(&alice, "STARTER_WAREHOUSE")
            .await
            .unwrap()
            .state,
        "STARTED"
    );
    assert!(matches!(
        api.compute(&alice, "NOPE").await,
        Err(WarehouseError::NotFound(_))
    ));
    let mut dbs = api.catalogs(&alice).await.unwrap();
    dbs.sort();
    assert_eq!(dbs, ["MAIN", "SAMPLES"]);
    let tables = api.tables(&alice, "SAMPLES", "NYCTAXI").await.unwrap();
    assert_eq!(tables[0]["name"], "TRIPS");
    let columns = tables[0]["columns"].as_array().unwrap();
    assert!(
        columns.iter().any(|c| c["name"] == "FARE_AMOUNT"),
        "{columns:?}"
    );

    // bob's grants reach samples.nyctaxi only.
    let bob = ws
        .emu
        .mint_tokens(
            CLIENT_ID,
            "bob@example.com",
            "refresh_token session:role:VIEWER",
        )
        .unwrap()
        .access_token;
    assert_eq!(api.catalogs(&bob).await.unwrap(), ["SAMPLES"]);
    assert_eq!(api.schemas(&bob, "SAMPLES").await.unwrap(), ["NYCTAXI"]);
    assert!(api.tables(&bob, "SAMPLES", "TPCH").await.is_err());
    // A name with a quote is one identifier, not SQL.
    assert!(api.schemas(&bob, "SAMPLES\" OR 1=1 --").await.is_err());
}
