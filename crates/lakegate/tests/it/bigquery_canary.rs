//! The BigQuery path's secrets — the Google client secret, the authorization code, the
//! `state`, the access and refresh tokens — never appear in the logs (captured at trace
//! level), in any response or page but the one that hands a token out by design, or in
//! clear in any stored row. On both backends.

use reqwest::StatusCode;
use serde_json::json;

use crate::bigquery_connect::{SECRET, configured, google_consent, started};
use crate::canary::{credential_tokens, every_stored_value};
use crate::harness::{Sent, query_param};
use crate::snowflake_connect::post;

crate::on_each_backend!(bigquery_secrets_never_reach_logs_responses_pages_or_rows);

async fn bigquery_secrets_never_reach_logs_responses_pages_or_rows() {
    let s = crate::world::setup().await;
    let ed = configured(&s).await;
    let (id, authorize) = started(
        &ed,
        json!({"name": "BQ", "provider": "bigquery", "auth": "oauth", "project": "lakegate-samples"}),
    )
    .await;
    let callback = google_consent(
        &s,
        &authorize,
        "alice@example.com",
        &["https://www.googleapis.com/auth/bigquery"],
    )
    .await;
    let mut secrets = vec![
        ("client secret", SECRET.to_owned()),
        (
            "authorization code",
            query_param(&callback, "code").unwrap(),
        ),
        ("state", query_param(&callback, "state").unwrap()),
    ];
    let mut responses: Vec<(String, String, Option<String>)> = Vec::new();
    let back = ed.client.get(&callback).sent().await;
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    let user = s.app.find_user(&s.org.id, "ed@acme.test").await;
    let [access, refresh] = credential_tokens(&s.app, &s.org.id, &id, &user.id).await;
    secrets.push(("refresh token", refresh));
    let (status, rows) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        json!({"statement": "SELECT 1 AS one"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    responses.push(("query".into(), rows.to_string(), None));
    // The one response that hands the access token out, by design.
    let (_, vended) = post(
        &ed,
        &format!("/api/v1/connections/{id}/access-token"),
        json!({}),
    )
    .await;
    responses.push((
        "access-token".into(),
        vended.to_string(),
        Some(access.clone()),
    ));
    secrets.push(("access token", access));
    let admin = s.app.find_user(&s.org.id, "admin@acme.test").await;
    let a = s.app.session_for(&admin).await;
    let mut last_request_id = String::new();
    for (who, path) in [
        (&ed, format!("/connections/{id}")),
        (&ed, format!("/api/v1/connections/{id}")),
        (&ed, format!("/api/v1/connections/{id}/credential")),
        (
            &a,
            "/settings/advanced/integrations/bigquery-oauth".to_owned(),
        ),
        (&a, "/api/v1/integrations/bigquery-oauth".to_owned()),
        (&a, "/api/v1/audit".to_owned()),
        (&a, "/metrics".to_owned()),
    ] {
        let r = who.client.get(who.url(&path)).sent().await;
        assert!(r.status().is_success(), "{path}: {}", r.status());
        last_request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        responses.push((path, r.text().await.unwrap(), None));
    }
    let stored = every_stored_value(&s.app).await;
    let logs = crate::harness::captured_logs();
    assert!(
        logs.contains(&last_request_id),
        "the capture holds this test's requests"
    );
    crate::canary::assert_absent(&secrets, &logs, &stored, &responses);
}
