//! Several workspaces of one account: an app connection registered on the account serves
//! each of them, and a token stays with the workspace that issued it — another workspace
//! answers 403 "Invalid access token." to it, as to any token it did not issue.

use reqwest::StatusCode;

use crate::harness::Ws;

#[tokio::test]
async fn an_app_connection_serves_every_workspace_and_tokens_stay_where_issued() {
    let a = Ws::start().await;
    let b = Ws {
        emu: a.emu.start_sibling().await.unwrap(),
        http: a.http.clone(),
        client_id: a.client_id.clone(),
        client_secret: a.client_secret.clone(),
    };
    assert_ne!(a.emu.base_url, b.emu.base_url);
    // The same client id and secret sign users in on both.
    let on_a = a
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await;
    let on_b = b
        .tokens("alice@example.com", "alice", "all-apis offline_access")
        .await;
    let token_a = on_a["access_token"].as_str().unwrap();
    let token_b = on_b["access_token"].as_str().unwrap();
    let me = "/api/2.0/preview/scim/v2/Me";
    assert_eq!(a.get(token_a, me).await.status(), StatusCode::OK);
    assert_eq!(b.get(token_b, me).await.status(), StatusCode::OK);
    // Each workspace refuses the other's token, and its refresh token.
    for (ws, token) in [(&b, token_a), (&a, token_b)] {
        let refused = ws.get(token, me).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("Invalid access token")
        );
    }
    let refresh_a = on_a["refresh_token"].as_str().unwrap();
    let refused = b
        .token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_a),
        ])
        .await;
    // As for any refresh token it did not issue (the status Databricks uses, configured).
    assert_eq!(
        refused.status().as_u16(),
        b.emu.config_invalid_refresh_status()
    );
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
}
