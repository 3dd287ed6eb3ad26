//! The account API for app connections.

use crate::harness::Sent;
use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::{Emulator, EmulatorConfig};

const BASE: &str = "/api/2.0/accounts/any-account/oauth2/custom-app-integrations";

#[tokio::test]
async fn app_connections_are_created_read_updated_and_deleted_with_the_admin_token() {
    let emu = Emulator::start(EmulatorConfig {
        admin_token: Some("admin-secret".into()),
        ..EmulatorConfig::for_tests()
    })
    .await
    .unwrap();
    let http = crate::harness::client();
    let url = |p: &str| format!("{}{p}", emu.base_url);
    let body = json!({"name": "Lakegate", "redirect_urls": ["http://127.0.0.1:8080/connections/oauth/databricks/callback"],
                      "confidential": true, "scopes": ["all-apis", "offline_access"],
                      "token_access_policy": {"access_token_ttl_in_minutes": 60, "refresh_token_ttl_in_minutes": 1440,
                                              "enable_single_use_refresh_tokens": true}});
    let anon = http.post(url(BASE)).json(&body).sent().await;
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let created: Value = http
        .post(url(BASE))
        .bearer_auth("admin-secret")
        .json(&body)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert!(
        created["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("dose")
    );
    let id = created["integration_id"].as_str().unwrap();
    let one: Value = http
        .get(url(&format!("{BASE}/{id}")))
        .bearer_auth("admin-secret")
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["client_id"], created["client_id"]);
    assert!(
        one.get("client_secret").is_none(),
        "the secret is shown once"
    );
    assert_eq!(
        one["token_access_policy"]["enable_single_use_refresh_tokens"],
        true
    );
    let patched = http
        .patch(url(&format!("{BASE}/{id}")))
        .bearer_auth("admin-secret")
        .json(&json!({"redirect_urls": ["http://localhost:8080/cb"]}))
        .sent()
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    let list: Value = http
        .get(url(BASE))
        .bearer_auth("admin-secret")
        .sent()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["apps"][0]["redirect_urls"],
        json!(["http://localhost:8080/cb"])
    );
    let del = http
        .delete(url(&format!("{BASE}/{id}")))
        .bearer_auth("admin-secret")
        .sent()
        .await;
    assert_eq!(del.status(), StatusCode::OK);
    let gone = http
        .get(url(&format!("{BASE}/{id}")))
        .bearer_auth("admin-secret")
        .sent()
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn public_apps_get_no_secret_and_bad_requests_are_refused() {
    let emu = Emulator::start(EmulatorConfig::for_tests()).await.unwrap();
    let http = crate::harness::client();
    let url = format!("{}{BASE}", emu.base_url);
    let public: Value = http
        .post(&url)
        .json(&json!({"name": "cli", "redirect_urls": ["http://localhost:8020"], "confidential": false}))
        .sent().await
        .json()
        .await
        .unwrap();
    assert!(public.get("client_secret").is_none());
    for bad in [
        json!({"redirect_urls": ["http://x/cb"]}),
        json!({"name": "x", "redirect_urls": []}),
        json!({"name": "x", "redirect_urls": ["not a url"]}),
        json!({"name": "x", "redirect_urls": ["http://x/cb"], "scopes": ["root"]}),
        json!({"name": "x", "redirect_urls": ["http://x/cb"], "token_access_policy": {"access_token_ttl_in_minutes": 60, "refresh_token_ttl_in_minutes": 30}}),
        json!({"name": "x", "redirect_urls": ["http://x/cb"], "colour": "red"}),
    ] {
        let resp = http.post(&url).json(&bad).sent().await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            resp.json::<Value>().await.unwrap()["error_code"],
            "INVALID_PARAMETER_VALUE"
        );
    }
}
