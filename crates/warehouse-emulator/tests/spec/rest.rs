//! REST authentication semantics, scopes, SCIM `Me`, warehouses and Unity Catalog.

use reqwest::StatusCode;
use serde_json::Value;
use warehouse_emulator::{EmulatorConfig, TokenPolicy};

use crate::harness::{Sent, Ws};

#[tokio::test]
async fn missing_credentials_are_401_and_bad_tokens_are_403_with_a_numeric_code() {
    let ws = Ws::start().await;
    let anon = ws
        .http
        .get(ws.url("/api/2.0/preview/scim/v2/Me"))
        .sent()
        .await;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let bad = ws.get("eyJ.not.valid", "/api/2.0/preview/scim/v2/Me").await;
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        bad.headers()["x-databricks-reason-phrase"],
        "Invalid access token."
    );
    let body: Value = bad.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error_code": 403, "message": "Invalid access token."})
    );
}

#[tokio::test]
async fn tokens_are_refused_from_30_seconds_before_expiry() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    ws.emu.advance_clock(3600 - 31);
    assert_eq!(
        ws.get(&at, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::OK
    );
    ws.emu.advance_clock(2);
    let resp = ws.get(&at, "/api/2.0/preview/scim/v2/Me").await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("expiring within 30 seconds")
    );
    ws.emu.advance_clock(60);
    assert_eq!(
        ws.get(&at, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_sql_scope_reaches_sql_and_scim_but_not_unity_catalog() {
    let ws = Ws::with(
        EmulatorConfig::for_tests(),
        TokenPolicy::default(),
        &["sql"],
    )
    .await;
    let at = ws.tokens("alice@example.com", "alice", "sql").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ws.get(&at, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        ws.get(&at, "/api/2.0/sql/warehouses").await.status(),
        StatusCode::OK
    );
    let uc = ws.get(&at, "/api/2.1/unity-catalog/catalogs").await;
    assert_eq!(uc.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        uc.json::<Value>().await.unwrap()["error_code"],
        "PERMISSION_DENIED"
    );
    // A token with no API scope at all still reads SCIM Me.
    let bare = ws.tokens("alice@example.com", "alice", "openid").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        ws.get(&bare, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        ws.get(&bare, "/api/2.0/sql/warehouses").await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn scim_me_describes_the_signed_in_user_with_the_org_header() {
    let ws = Ws::start().await;
    let resp = ws.get(&ws.bob().await, "/api/2.0/preview/scim/v2/Me").await;
    assert_eq!(resp.headers()["x-databricks-org-id"], "1234567890123456");
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["userName"], "bob@example.com");
    assert_eq!(me["displayName"], "Bob Builder");
    assert_eq!(me["active"], true);
    assert_eq!(me["emails"][0]["value"], "bob@example.com");
    assert!(me["schemas"][0].as_str().unwrap().contains("scim"));
}

#[tokio::test]
async fn warehouses_list_and_get_with_odbc_path() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    let list: Value = ws
        .get(&at, "/api/2.0/sql/warehouses")
        .await
        .json()
        .await
        .unwrap();
    let w = &list["warehouses"][0];
    assert_eq!(w["state"], "RUNNING");
    let id = w["id"].as_str().unwrap();
    assert_eq!(
        w["odbc_params"]["path"],
        format!("/sql/1.0/warehouses/{id}")
    );
    let one: Value = ws
        .get(&at, &format!("/api/2.0/sql/warehouses/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["name"], "Starter Warehouse");
    let missing = ws.get(&at, "/api/2.0/sql/warehouses/nope").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error_code"],
        "RESOURCE_DOES_NOT_EXIST"
    );
}

/// Follows `next_page_token` to the end, counting pages.
async fn all_pages(ws: &Ws, token: &str, path: &str, key: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut next: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &next {
            Some(t) => format!("{path}{sep}page_token={t}"),
            None => path.to_owned(),
        };
        let page: Value = ws.get(token, &url).await.json().await.unwrap();
        pages += 1;
        items.extend(page[key].as_array().unwrap().iter().cloned());
        match page.get("next_page_token").and_then(Value::as_str) {
            Some(t) => next = Some(t.to_owned()),
            None => return (items, pages),
        }
    }
}

#[tokio::test]
async fn unity_catalog_pages_and_shows_each_user_what_they_may_read() {
    let ws = Ws::start().await;
    let alice = ws.alice().await;
    let bob = ws.bob().await;
    let (schemas, pages) = all_pages(
        &ws,
        &alice,
        "/api/2.1/unity-catalog/schemas?catalog_name=samples",
        "schemas",
    )
    .await;
    let names: Vec<&str> = schemas
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nyctaxi", "tpch"]);
    let (tables, pages_t) = all_pages(
        &ws,
        &alice,
        "/api/2.1/unity-catalog/tables?catalog_name=samples&schema_name=tpch",
        "tables",
    )
    .await;
    assert_eq!(tables.len(), 4);
    assert!(
        pages >= 1 && pages_t >= 2,
        "small pages force clients to follow next_page_token"
    );
    let (catalogs, _) = all_pages(&ws, &alice, "/api/2.1/unity-catalog/catalogs", "catalogs").await;
    assert_eq!(
        catalogs
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["main", "samples"]
    );
    let (bobs, _) = all_pages(&ws, &bob, "/api/2.1/unity-catalog/catalogs", "catalogs").await;
    assert_eq!(
        bobs.iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["samples"]
    );
    let hidden = ws
        .get(
            &bob,
            "/api/2.1/unity-catalog/tables?catalog_name=samples&schema_name=tpch",
        )
        .await;
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    let (trips, _) = all_pages(
        &ws,
        &bob,
        "/api/2.1/unity-catalog/tables?catalog_name=samples&schema_name=nyctaxi",
        "tables",
    )
    .await;
    let cols = trips[0]["columns"].as_array().unwrap();
    assert_eq!(cols[0]["name"], "tpep_pickup_datetime");
    assert_eq!(cols[0]["type_name"], "TIMESTAMP");
    assert_eq!(cols[2]["type_text"], "double");
    assert_eq!(cols[4]["type_name"], "INT");
}

#[tokio::test]
async fn unity_catalog_parameters_are_validated() {
    let ws = Ws::start().await;
    let at = ws.alice().await;
    assert_eq!(
        ws.get(&at, "/api/2.1/unity-catalog/schemas").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        ws.get(&at, "/api/2.1/unity-catalog/catalogs?max_results=-1")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    let missing = ws
        .get(&at, "/api/2.1/unity-catalog/schemas?catalog_name=nope")
        .await;
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error_code"],
        "CATALOG_DOES_NOT_EXIST"
    );
    assert_eq!(
        ws.get(&at, "/api/2.1/unity-catalog/catalogs?page_token=zzz")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}
