//! BigQuery REST as the emulator answers it: listings filtered by the user's roles and
//! grants and paged, queries as jobs (legacy SQL is the REST default and is refused,
//! `jobComplete: false` then `getQueryResults` with the job's location, pages, cancel),
//! f/v string cells, and Google's error envelope for tokens and permissions.

use reqwest::StatusCode;
use serde_json::{Value, json};
use warehouse_emulator::EmulatorConfig;

use crate::google::{Google, google, google_on};
use crate::harness::Sent;

const API: &str = "/bigquery/v2";

struct Bq {
    g: Google,
    token: String,
}

async fn bq_for(g: Google, email: &str) -> Bq {
    let token = g.tokens(email).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    Bq { g, token }
}

impl Bq {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let resp = self
            .g
            .http
            .get(self.g.url(&format!("{API}{path}")))
            .bearer_auth(&self.token)
            .sent()
            .await;
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let resp = self
            .g
            .http
            .post(self.g.url(&format!("{API}{path}")))
            .bearer_auth(&self.token)
            .json(&body)
            .sent()
            .await;
        (resp.status(), resp.json().await.unwrap_or(Value::Null))
    }
    async fn query(&self, sql: &str) -> (StatusCode, Value) {
        self.post(
            "/projects/lakegate-samples/queries",
            json!({"query": sql, "useLegacySql": false, "formatOptions": {"useInt64Timestamp": true}}),
        )
        .await
    }
}

#[tokio::test]
async fn listings_follow_roles_and_grants_and_page() {
    let alice = bq_for(google(false).await, "alice@example.com").await;
    let (_, projects) = alice.get("/projects").await;
    let ids: Vec<&str> = projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["lakegate-samples", "lakegate-finance"]);
    let (_, first) = alice
        .get("/projects/lakegate-samples/datasets?maxResults=1")
        .await;
    assert_eq!(
        first["datasets"][0]["datasetReference"]["datasetId"],
        "nyctaxi"
    );
    let token = first["nextPageToken"].as_str().unwrap();
    let (_, second) = alice
        .get(&format!(
            "/projects/lakegate-samples/datasets?maxResults=1&pageToken={token}"
        ))
        .await;
    assert_eq!(
        second["datasets"][0]["datasetReference"]["datasetId"],
        "tpch"
    );
    assert!(second.get("nextPageToken").is_none());
    let (_, table) = alice
        .get("/projects/lakegate-samples/datasets/nyctaxi/tables/trips")
        .await;
    assert_eq!(
        table["schema"]["fields"][0],
        json!({"name": "tpep_pickup_datetime", "type": "TIMESTAMP", "mode": "NULLABLE"})
    );

    let bob = bq_for(alice.g, "bob@example.com").await;
    let (_, projects) = bob.get("/projects").await;
    assert_eq!(
        projects["projects"].as_array().unwrap().len(),
        1,
        "no role on the finance project"
    );
    let (_, datasets) = bob.get("/projects/lakegate-samples/datasets").await;
    assert_eq!(
        datasets["datasets"].as_array().unwrap().len(),
        1,
        "no grant on tpch"
    );
    let (status, e) = bob
        .get("/projects/lakegate-samples/datasets/tpch/tables")
        .await;
    assert_eq!(
        (status, e["error"]["errors"][0]["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("notFound"))
    );
}

#[tokio::test]
async fn queries_need_standard_sql_and_come_back_as_strings_in_pages() {
    let alice = bq_for(google(false).await, "alice@example.com").await;
    let (status, legacy) = alice
        .post(
            "/projects/lakegate-samples/queries",
            json!({"query": "SELECT 1"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the REST default is legacy SQL"
    );
    assert_eq!(legacy["error"]["errors"][0]["reason"], "invalidQuery");

    let (status, r) = alice
        .query("SELECT SESSION_USER() AS who, 1 AS one, tpep_pickup_datetime FROM `lakegate-samples.nyctaxi.trips` ORDER BY tpep_pickup_datetime LIMIT 1")
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["jobComplete"], true);
    assert_eq!(r["jobReference"]["location"], "europe-west2");
    assert_eq!(r["rows"][0]["f"][0]["v"], "alice@example.com");
    assert_eq!(r["rows"][0]["f"][1]["v"], "1");
    assert!(
        r["rows"][0]["f"][2]["v"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit()),
        "epoch microseconds"
    );
    assert_eq!(r["schema"]["fields"][1]["type"], "INTEGER");

    let (_, big) = alice.query("SELECT trip_distance FROM nyctaxi.trips").await;
    assert_eq!(big["totalRows"], "2000");
    assert_eq!(big["rows"].as_array().unwrap().len(), 500);
    let job = big["jobReference"]["jobId"].as_str().unwrap();
    let token = big["pageToken"].as_str().unwrap();
    let (status, _) = alice
        .get(&format!(
            "/projects/lakegate-samples/queries/{job}?pageToken={token}"
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "outside US/EU the job's location is required"
    );
    let (_, page2) = alice
        .get(&format!(
            "/projects/lakegate-samples/queries/{job}?pageToken={token}&location=europe-west2"
        ))
        .await;
    assert_eq!(page2["kind"], "bigquery#getQueryResultsResponse");
    assert_eq!(page2["rows"].as_array().unwrap().len(), 500);
}

#[tokio::test]
async fn slow_jobs_are_polled_and_can_be_cancelled() {
    let config = EmulatorConfig {
        bigquery_job_ms: 60_000,
        ..EmulatorConfig::for_tests()
    };
    let alice = bq_for(google_on(config, false).await, "alice@example.com").await;
    let (_, r) = alice
        .post(
            "/projects/lakegate-samples/queries",
            json!({"query": "SELECT 1 AS one", "useLegacySql": false, "timeoutMs": 10, "requestId": "req-1"}),
        )
        .await;
    assert_eq!(r["jobComplete"], false);
    assert!(r.get("rows").is_none());
    let job = r["jobReference"]["jobId"].as_str().unwrap().to_owned();
    let (_, again) = alice
        .post(
            "/projects/lakegate-samples/queries",
            json!({"query": "SELECT 1 AS one", "useLegacySql": false, "timeoutMs": 10, "requestId": "req-1"}),
        )
        .await;
    assert_eq!(
        again["jobReference"]["jobId"],
        job.as_str(),
        "a resent requestId is the same job"
    );
    let (_, cancelled) = alice
        .post(
            &format!("/projects/lakegate-samples/jobs/{job}/cancel?location=US"),
            json!({}),
        )
        .await;
    assert_eq!(cancelled["job"]["status"]["state"], "DONE");
    let (status, e) = alice
        .get(&format!(
            "/projects/lakegate-samples/queries/{job}?location=US"
        ))
        .await;
    assert_eq!(
        (status, e["error"]["errors"][0]["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("stopped"))
    );
}

#[tokio::test]
async fn tokens_scopes_and_permissions_fail_in_googles_envelope() {
    let g = google(false).await;
    let bob = bq_for(g, "bob@example.com").await;
    let (status, e) = bob
        .query("SELECT * FROM `lakegate-samples.tpch.orders`")
        .await;
    assert_eq!(
        (status, e["error"]["errors"][0]["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("accessDenied")),
        "{e}"
    );
    let (status, e) = bob
        .post(
            "/projects/lakegate-finance/queries",
            json!({"query": "SELECT 1", "useLegacySql": false}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bigquery.jobs.create")
    );

    bob.g.emu.advance_clock(3_600);
    let (status, e) = bob.get("/projects").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(e["error"]["details"][0]["reason"], "ACCESS_TOKEN_EXPIRED");
    assert_eq!(e["error"]["status"], "UNAUTHENTICATED");

    // Signed in without ticking BigQuery: the token works for sign-in only.
    let q = bob
        .g
        .sign_in(&bob.g.authorize(&[]), "alice@example.com", &[])
        .await;
    let (_, t) = bob
        .g
        .exchange(&crate::google::param(&q, "code").unwrap())
        .await;
    let no_bq = Bq {
        g: bob.g,
        token: t["access_token"].as_str().unwrap().to_owned(),
    };
    let (status, e) = no_bq.get("/projects").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        e["error"]["details"][0]["reason"],
        "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    );
}
