//! Query benchmarks, in one run against one emulator:
//!
//! 1. latency of a 1-row query through Lakegate's query API against the emulator's
//!    Statement Execution API called directly with the same user's token;
//! 2. throughput reading a large result (`samples.nyctaxi.trips`) the same two ways — Lakegate
//!    as NDJSON and as JSON, the direct client fetching chunks four at a time like Lakegate;
//! 3. Lakegate's statement client (`queries::service`) against the Databricks Python SDK
//!    (`execute_statement` plus chunk fetches) reading the same result.

use std::time::Instant;

use futures_util::StreamExt;
use lakegate::auth::Scope;
use serde_json::{Value, json};
use warehouse_emulator::EmulatorConfig;

use super::{World, api_token, connections, world_with};

const WAREHOUSE: &str = "abcdef1234567890";
const LARGE: &str = "SELECT * FROM samples.nyctaxi.trips";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p) as usize]
}

/// The emulator's Statement API, called directly: submit, then every chunk (four at a time).
async fn direct(http: &reqwest::Client, emu: &str, at: &str, statement: &str) -> usize {
    let r: Value = http
        .post(format!("{emu}/api/2.0/sql/statements"))
        .bearer_auth(at)
        .json(&json!({"warehouse_id": WAREHOUSE, "statement": statement, "wait_timeout": "50s"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"]["state"], "SUCCEEDED", "{r}");
    let id = r["statement_id"].as_str().unwrap().to_owned();
    let total = r["manifest"]["total_chunk_count"].as_u64().unwrap();
    let first = r["result"]["data_array"].as_array().map_or(0, Vec::len);
    let rest: Vec<usize> = futures_util::stream::iter(1..total)
        .map(|i| {
            let url = format!("{emu}/api/2.0/sql/statements/{id}/result/chunks/{i}");
            async move {
                let c: Value = http
                    .get(url)
                    .bearer_auth(at)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                c["data_array"].as_array().map_or(0, Vec::len)
            }
        })
        .buffered(4)
        .collect()
        .await;
    first + rest.iter().sum::<usize>()
}

/// Lakegate's query API; counts rows of the answer.
async fn via_lakegate(
    w: &World,
    http: &reqwest::Client,
    token: &str,
    conn: &str,
    statement: &str,
    accept: &str,
) -> usize {
    let body = match accept {
        "application/json" => json!({"statement": statement, "row_limit": 100_000}),
        _ => json!({"statement": statement}),
    };
    let mut resp = http
        .post(format!("{}/api/v1/connections/{conn}/queries", w.base))
        .bearer_auth(token)
        .header("accept", accept)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    if accept == "application/json" {
        let v: Value = resp.json().await.unwrap();
        return v["rows"].as_array().unwrap().len();
    }
    let mut lines = 0;
    while let Some(piece) = resp.chunk().await.unwrap() {
        lines += piece.iter().filter(|&&b| b == b'\n').count();
    }
    lines
}

/// Lakegate's statement client in-process: submit, wait, stream every chunk.
async fn lakegate_client(w: &World, conn: &str) -> usize {
    let p = lakegate::testkit::principal(&w.user, &w.org);
    let req = serde_json::from_value(json!({"statement": LARGE})).unwrap();
    let spec = lakegate::queries::validate(req, true).unwrap();
    let mut running = w
        .state
        .services
        .queries
        .submit(&p, &lakegate::audit::Actor::cli(None), conn, &spec)
        .await
        .unwrap();
    w.state
        .services
        .queries
        .wait(&mut running, std::time::Duration::from_secs(50))
        .await
        .unwrap();
    let set = lakegate::queries::service::results(running).unwrap();
    let lakegate::queries::service::Parts::Rows(mut chunks) = set.parts else {
        panic!("rows were asked for");
    };
    let mut rows = 0;
    while let Some(chunk) = chunks.next().await {
        rows += chunk.unwrap().len();
    }
    rows
}

/// Times `n` runs of `f`, in seconds.
async fn timed<F, Fut>(n: usize, mut f: F) -> (Vec<f64>, usize)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::with_capacity(n);
    let mut rows = 0;
    for _ in 0..n {
        let t = Instant::now();
        rows = f().await;
        times.push(t.elapsed().as_secs_f64());
    }
    (times, rows)
}

fn python_sdk(w: &World, at: &str, repeat: usize) -> Option<(usize, f64)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python_sdk_read.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("DATABRICKS_HOST", &w.ws.emu.base_url)
        .env("DATABRICKS_TOKEN", at)
        .env("BENCH_WAREHOUSE", WAREHOUSE)
        .env("BENCH_STATEMENT", LARGE)
        .env("BENCH_REPEAT", repeat.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "Python SDK run failed (pip install databricks-sdk?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((v["rows"].as_u64()? as usize, v["seconds"].as_f64()?))
}

pub async fn run(rows: usize, small: usize, large: usize) {
    let w = world_with(EmulatorConfig {
        nyctaxi_rows: rows,
        chunk_rows: 10_000,
        ..EmulatorConfig::for_tests()
    })
    .await;
    let (conn, _) = connections(&w, 1, 3600).await.remove(0);
    let mut row = w
        .state
        .store
        .connection(&w.org.id, &conn)
        .await
        .unwrap()
        .unwrap();
    row.warehouse_id = Some(WAREHOUSE.into());
    w.state.store.update_connection(&row).await.unwrap();
    let token = api_token(&w, Scope::QueriesRun).await;
    let fresh = w
        .state
        .services
        .tokens
        .fresh(
            &lakegate::tokens::Holder {
                connection_id: conn.clone(),
                user_id: w.user.id.clone(),
                org_id: w.org.id.clone(),
            },
            60,
        )
        .await
        .unwrap();
    let at = fresh.token.expose().to_owned();
    let emu = w.ws.emu.base_url.clone();
    let http = reqwest::Client::new();

    // 1. One row: warm both paths, then alternate so drift hits both alike.
    let one = "SELECT 1 AS one";
    for _ in 0..10 {
        direct(&http, &emu, &at, one).await;
        via_lakegate(&w, &http, &token, &conn, one, "application/json").await;
    }
    let (mut d, mut l) = (Vec::new(), Vec::new());
    for _ in 0..small {
        let t = Instant::now();
        assert_eq!(direct(&http, &emu, &at, one).await, 1);
        d.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        assert_eq!(
            via_lakegate(&w, &http, &token, &conn, one, "application/json").await,
            1
        );
        l.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!("\n1-row query, {small} runs each (ms)");
    println!("| path | p50 | p99 |\n|---|---|---|");
    println!(
        "| emulator Statement API, direct | {:.2} | {:.2} |",
        pct(d.clone(), 0.5),
        pct(d.clone(), 0.99)
    );
    println!(
        "| Lakegate query API (JSON) | {:.2} | {:.2} |",
        pct(l.clone(), 0.5),
        pct(l.clone(), 0.99)
    );
    println!(
        "latency ratio (p50, Lakegate / direct): {:.2}",
        pct(l, 0.5) / pct(d, 0.5)
    );

    // 2. The large result.
    let (td, n) = timed(large, || direct(&http, &emu, &at, LARGE)).await;
    assert_eq!(n, rows);
    let (tn, n) = timed(large, || {
        via_lakegate(&w, &http, &token, &conn, LARGE, "application/x-ndjson")
    })
    .await;
    assert_eq!(n, rows);
    let (tj, n) = timed(large, || {
        via_lakegate(&w, &http, &token, &conn, LARGE, "application/json")
    })
    .await;
    assert_eq!(n, rows.min(100_000));
    let (td, tn, tj) = (median(td), median(tn), median(tj));
    println!("\n{rows}-row result, median of {large} (rows per second)");
    println!("| path | seconds | rows/s | throughput ratio vs direct |\n|---|---|---|---|");
    let line = |name: &str, s: f64| {
        println!(
            "| {name} | {s:.3} | {:.0} | {:.2} |",
            rows as f64 / s,
            td / s
        )
    };
    line("emulator Statement API, direct (4 chunks at a time)", td);
    line("Lakegate query API, NDJSON", tn);
    line("Lakegate query API, JSON", tj);

    // 3. Lakegate's client against the Databricks Python SDK.
    let (tc, n) = timed(large, || lakegate_client(&w, &conn)).await;
    assert_eq!(n, rows);
    let tc = median(tc);
    println!("\nreading the {rows}-row result with a client library, median of {large}");
    println!("| client | seconds | rows/s |\n|---|---|---|");
    println!(
        "| Lakegate (queries::service, typed chunks, 4 at a time) | {tc:.3} | {:.0} |",
        rows as f64 / tc
    );
    match python_sdk(&w, &at, large) {
        Some((n, s)) => {
            assert_eq!(n, rows);
            println!(
                "| Databricks Python SDK (execute_statement + get_statement_result_chunk_n) | {s:.3} | {:.0} |",
                rows as f64 / s
            );
            println!("Python SDK / Lakegate time ratio: {:.2}", s / tc);
        }
        None => println!("| Databricks Python SDK | skipped | — |"),
    }
}
