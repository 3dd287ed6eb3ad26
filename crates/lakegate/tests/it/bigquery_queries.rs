//! A BigQuery query's life through Lakegate when jobs take a while: submitted without
//! waiting (202 and a query id), polled with getQueryResults at the job's location,
//! cancelled with jobs.cancel; and a busy or failing API (429, 503, a dropped answer) is
//! retried with the same `requestId`, so each query is one job. On both backends.

use reqwest::StatusCode;
use serde_json::json;
use warehouse_emulator::{EmulatorConfig, Fault, Target};

use crate::bigquery_connect::{configured, google_consent, started};
use crate::harness::Sent;
use crate::snowflake_connect::post;
use crate::world::Setup;

crate::on_each_backend!(
    a_slow_job_is_polled_and_cancelled,
    a_busy_api_is_retried_and_each_query_is_one_job,
);

const BQ: &str = "https://www.googleapis.com/auth/bigquery";

pub(crate) async fn connected(s: &Setup) -> (crate::harness::Browser, String) {
    let ed = configured(s).await;
    let (id, authorize) = started(
        &ed,
        json!({"name": "BQ", "provider": "bigquery", "auth": "oauth", "project": "lakegate-samples"}),
    )
    .await;
    let callback = google_consent(s, &authorize, "alice@example.com", &[BQ]).await;
    ed.client.get(&callback).sent().await;
    (ed, id)
}

async fn a_slow_job_is_polled_and_cancelled() {
    let config = EmulatorConfig {
        bigquery_job_ms: 120_000,
        ..EmulatorConfig::for_tests()
    };
    let s = crate::world::setup_emulating(config).await;
    let (ed, id) = connected(&s).await;
    let (status, pending) = post(
        &ed,
        &format!("/api/v1/connections/{id}/queries"),
        json!({"statement": "SELECT COUNT(*) AS n FROM `lakegate-samples.nyctaxi.trips`", "wait": false}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pending}");
    let query = pending["query_id"].as_str().unwrap().to_owned();
    let polled = ed
        .client
        .get(ed.url(&format!("/api/v1/queries/{query}")))
        .sent()
        .await;
    assert_eq!(
        polled.status(),
        StatusCode::ACCEPTED,
        "still running: polled at the job's location"
    );
    let (status, cancelled) =
        post(&ed, &format!("/api/v1/queries/{query}/cancel"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let after = ed
        .client
        .get(ed.url(&format!("/api/v1/queries/{query}")))
        .sent()
        .await;
    let body: serde_json::Value = after.json().await.unwrap();
    assert_eq!(body["error"]["code"], "query_cancelled", "{body}");
}

async fn a_busy_api_is_retried_and_each_query_is_one_job() {
    let s = crate::world::setup().await;
    let (ed, id) = connected(&s).await;
    let path = format!("/api/v1/connections/{id}/queries");
    for fault in [
        Fault::status(Target::Rest, 429).retry_after(1),
        Fault::status(Target::Rest, 503),
        Fault::reset(Target::Rest),
    ] {
        s.ws.emu.fault(fault);
        let (status, rows) = post(&ed, &path, json!({"statement": "SELECT 7 AS n"})).await;
        assert_eq!(
            (status, &rows["rows"]),
            (StatusCode::OK, &json!([[7]])),
            "{rows}"
        );
    }
    assert_eq!(s.ws.emu.bigquery_jobs(), 3, "three queries, three jobs");
    // Still busy after Lakegate's retries: the caller is told to come back.
    s.ws.emu.fault(Fault::status(Target::Rest, 429).times(50));
    let (status, body) = post(&ed, &path, json!({"statement": "SELECT 8 AS n"})).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "warehouse_busy");
}
