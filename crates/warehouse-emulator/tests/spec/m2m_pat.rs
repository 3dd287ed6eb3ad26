//! Databricks' other ways in: service principals created through the account API with
//! OAuth secrets, the `client_credentials` grant (`all-apis` only, a new token each time,
//! no refresh token; `current_user()` and SCIM `Me` answer the application id; grants of
//! their own), and personal access tokens (`dapi…`, acting as their user until they expire
//! or are deleted — then 403 "Invalid access token.").

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{Sent, Ws};

const WH: &str = "abcdef1234567890";

async fn m2m_token(
    ws: &Ws,
    application_id: &str,
    secret: &str,
    scope: &str,
) -> (StatusCode, Value) {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{application_id}:{secret}"));
    let resp = ws
        .http
        .post(ws.url("/oidc/v1/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .sent()
        .await;
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

async fn first_cell(ws: &Ws, token: &str, statement: &str) -> Value {
    let r: Value = ws
        .post(
            token,
            "/api/2.0/sql/statements",
            &json!({"warehouse_id": WH, "statement": statement, "wait_timeout": "30s"}),
        )
        .await
        .json()
        .await
        .unwrap();
    r["result"]["data_array"][0][0].clone()
}

#[tokio::test]
async fn a_service_principal_gets_its_own_tokens_and_grants() {
    let ws = Ws::start().await;
    let account = "/api/2.0/accounts/acct/servicePrincipals";
    let sp: Value = ws
        .post("", account, &json!({"displayName": "reporting"}))
        .await
        .json()
        .await
        .unwrap();
    let app_id = sp["applicationId"].as_str().unwrap().to_owned();
    let id = sp["id"].as_str().unwrap();
    let secret: Value = ws
        .post(
            "",
            &format!("{account}/{id}/credentials/secrets"),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let secret_value = secret["secret"].as_str().unwrap().to_owned();

    let (status, t) = m2m_token(&ws, &app_id, &secret_value, "all-apis").await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert!(
        t.get("refresh_token").is_none(),
        "no refresh token: a new grant each time"
    );
    assert_eq!(t["expires_in"], 3600);
    let token = t["access_token"].as_str().unwrap().to_owned();
    let (_, again) = m2m_token(&ws, &app_id, &secret_value, "all-apis").await;
    assert_ne!(again["access_token"], t["access_token"]);

    let me: Value = ws
        .get(&token, "/api/2.0/preview/scim/v2/Me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["userName"], app_id.as_str());
    assert_eq!(
        first_cell(&ws, &token, "SELECT current_user()").await,
        app_id.as_str()
    );
    assert_eq!(
        first_cell(&ws, &token, "SELECT count(*) FROM samples.nyctaxi.trips").await,
        "2000"
    );
    let denied: Value = ws
        .post(&token, "/api/2.0/sql/statements", &json!({"warehouse_id": WH, "statement": "SELECT * FROM samples.tpch.orders", "wait_timeout": "30s"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        denied["status"]["state"], "FAILED",
        "its own grants only: {denied}"
    );

    let (status, e) = m2m_token(&ws, &app_id, &secret_value, "sql offline_access").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    let (status, e) = m2m_token(&ws, &app_id, "wrong", "all-apis").await;
    assert_eq!(
        (status, e["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    let gone = ws
        .http
        .delete(ws.url(&format!(
            "{account}/{id}/credentials/secrets/{}",
            secret["id"].as_str().unwrap()
        )))
        .sent()
        .await;
    assert_eq!(gone.status(), StatusCode::OK);
    let (status, _) = m2m_token(&ws, &app_id, &secret_value, "all-apis").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a deleted secret is refused"
    );
}

#[tokio::test]
async fn personal_access_tokens_act_as_their_user_until_they_expire_or_are_deleted() {
    let ws = Ws::start().await;
    let alice = ws.alice().await;
    let created: Value = ws
        .post(
            &alice,
            "/api/2.0/token/create",
            &json!({"lifetime_seconds": 600, "comment": "lakegate"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let pat = created["token_value"].as_str().unwrap().to_owned();
    assert!(pat.starts_with("dapi"), "{created}");
    let me: Value = ws
        .get(&pat, "/api/2.0/preview/scim/v2/Me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["userName"], "alice@example.com");
    assert_eq!(
        first_cell(&ws, &pat, "SELECT current_user()").await,
        "alice@example.com"
    );
    let list: Value = ws
        .get(&pat, "/api/2.0/token/list")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["token_infos"][0]["comment"], "lakegate");

    ws.emu.advance_clock(601);
    let expired = ws.get(&pat, "/api/2.0/preview/scim/v2/Me").await;
    assert_eq!(expired.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        expired.json::<Value>().await.unwrap()["message"],
        "Invalid access token."
    );

    let alice = ws.alice().await;
    let created: Value = ws
        .post(&alice, "/api/2.0/token/create", &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let pat = created["token_value"].as_str().unwrap().to_owned();
    assert_eq!(
        created["token_info"]["expiry_time"], -1,
        "no lifetime: no expiry"
    );
    let deleted = ws
        .post(
            &alice,
            "/api/2.0/token/delete",
            &json!({"token_id": created["token_info"]["token_id"]}),
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        ws.get(&pat, "/api/2.0/preview/scim/v2/Me").await.status(),
        StatusCode::FORBIDDEN
    );
}
