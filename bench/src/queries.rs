//! Query benchmarks, in one run against one emulator:
//!
//! 1. latency of a 1-row query through Lakegate's query API against the emulator's
//!    Statement Execution API called directly with the same user's token, and, between the
//!    two, Lakegate's query service called in-process (what the HTTP hop in front costs);
//! 2. throughput reading a large result (`samples.nyctaxi.trips`) as NDJSON, CSV, JSON and
//!    Arrow, each next to the direct client asking for the same disposition and format, four
//!    chunks at a time on both sides (row counts asserted equal);
//! 3. Lakegate's statement client (`queries::service`) against the Databricks Python SDK
//!    (`execute_statement` plus chunk fetches), both reading INLINE chunks four at a time.

use std::time::Instant;

use futures_util::StreamExt;
use lakegate::auth::Scope;
use serde_json::{Value, json};
use warehouse_emulator::EmulatorConfig;

use super::{World, api_token, connections, world_with};

const WAREHOUSE: &str = "abcdef1234567890";
const LARGE: &str = "SELECT * FROM samples.nyctaxi.trips";
pub const ARROW: &str = "application/vnd.apache.arrow.stream";

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p) as usize]
}

/// How the direct client asks for a result, matching one of Lakegate's answers.
#[derive(Clone, Copy)]
enum Ask {
    /// JSON_ARRAY rows inline (Lakegate's JSON answers).
    Inline,
    /// JSON_ARRAY rows behind EXTERNAL_LINKS (Lakegate's NDJSON and CSV streams).
    Links,
    /// ARROW_STREAM behind EXTERNAL_LINKS (Lakegate's Arrow answers).
    Arrow,
}

/// Rows in an Arrow IPC stream, decoded as a reader would.
pub fn arrow_rows(bytes: &[u8]) -> usize {
    let reader =
        arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    reader.map(|b| b.unwrap().num_rows()).sum()
}

/// The rows of one chunk as the direct client reads them (downloading its links).
async fn chunk_rows(http: &reqwest::Client, chunk: &Value, ask: Ask) -> usize {
    if let Some(rows) = chunk["data_array"].as_array() {
        return rows.len();
    }
    let mut n = 0;
    for link in chunk["external_links"].as_array().into_iter().flatten() {
        let url = link["external_link"].as_str().unwrap();
        let body = http.get(url).send().await.unwrap().bytes().await.unwrap();
        n += match ask {
            Ask::Arrow => arrow_rows(&body),
            _ => serde_json::from_slice::<Vec<Value>>(&body).unwrap().len(),
        };
    }
    n
}

/// The emulator's Statement API, called directly: submit, then every chunk four at a time
/// (Lakegate's chunk concurrency), its links downloaded where the result has them.
async fn direct(http: &reqwest::Client, emu: &str, at: &str, statement: &str, ask: Ask) -> usize {
    let (disposition, format) = match ask {
        Ask::Inline => ("INLINE", "JSON_ARRAY"),
        Ask::Links => ("EXTERNAL_LINKS", "JSON_ARRAY"),
        Ask::Arrow => ("EXTERNAL_LINKS", "ARROW_STREAM"),
    };
    let r: Value = http
        .post(format!("{emu}/api/2.0/sql/statements"))
        .bearer_auth(at)
        .json(
            &json!({"warehouse_id": WAREHOUSE, "statement": statement, "wait_timeout": "50s",
                      "disposition": disposition, "format": format}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"]["state"], "SUCCEEDED", "{r}");
    let id = r["statement_id"].as_str().unwrap().to_owned();
    let total = r["manifest"]["total_chunk_count"].as_u64().unwrap();
    let first = if total == 0 {
        0
    } else {
        chunk_rows(http, &r["result"], ask).await
    };
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
                chunk_rows(http, &c, ask).await
            }
        })
        .buffered(4)
        .collect()
        .await;
    first + rest.iter().sum::<usize>()
}

/// Lakegate's query API; counts rows of the answer (decoding Arrow, as the direct client).
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
    if accept == ARROW {
        return arrow_rows(&resp.bytes().await.unwrap());
    }
    let mut lines = 0;
    while let Some(piece) = resp.chunk().await.unwrap() {
        lines += piece.iter().filter(|&&b| b == b'\n').count();
    }
    // A CSV answer starts with its header line.
    if accept == "text/csv" {
        lines - 1
    } else {
        lines
    }
}

/// Lakegate's query service in-process, no HTTP in front: the connection, the token keeper,
/// the submission through the guarded client and the durable history row, then a wait (none
/// for a statement that ended within its submission) and every part read. Returns the rows.
async fn service_rows(w: &World, conn: &str, spec: &lakegate::queries::QuerySpec) -> usize {
    let p = lakegate::testkit::principal(&w.user, &w.org);
    let queries = &w.state.services.queries;
    let mut running = queries
        .submit(&p, &lakegate::audit::Actor::cli(None), conn, spec)
        .await
        .unwrap();
    queries
        .wait(&mut running, std::time::Duration::from_secs(50))
        .await
        .unwrap();
    let (_, parts) = lakegate::queries::service::results(running).unwrap();
    let lakegate::queries::service::Parts::Rows(mut chunks) = parts else {
        panic!("rows were asked for");
    };
    let mut rows = 0;
    while let Some(chunk) = chunks.next().await {
        rows += chunk.unwrap().len();
    }
    rows
}

/// Lakegate's statement client reading the large result.
async fn lakegate_client(w: &World, conn: &str) -> usize {
    let req = serde_json::from_value(json!({"statement": LARGE})).unwrap();
    let mut spec = lakegate::queries::validate(req, true).unwrap();
    // INLINE chunks, as the Python SDK reads them below: the same disposition on both sides.
    spec.external_links = false;
    service_rows(w, conn, &spec).await
}

/// A 1-row statement through the query service, as the JSON answer asks for it.
async fn via_service(w: &World, conn: &str, statement: &str) -> usize {
    let req = serde_json::from_value(json!({"statement": statement})).unwrap();
    let spec = lakegate::queries::validate(req, false).unwrap();
    service_rows(w, conn, &spec).await
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
        direct(&http, &emu, &at, one, Ask::Inline).await;
        via_lakegate(&w, &http, &token, &conn, one, "application/json").await;
    }
    let (mut d, mut sv, mut l) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..small {
        let t = Instant::now();
        assert_eq!(direct(&http, &emu, &at, one, Ask::Inline).await, 1);
        d.push(t.elapsed().as_secs_f64() * 1000.0);
        let t = Instant::now();
        assert_eq!(via_service(&w, &conn, one).await, 1);
        sv.push(t.elapsed().as_secs_f64() * 1000.0);
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
        "| Lakegate's query service in-process (no HTTP in front) | {:.2} | {:.2} |",
        pct(sv.clone(), 0.5),
        pct(sv.clone(), 0.99)
    );
    println!(
        "| Lakegate query API (JSON) | {:.2} | {:.2} |",
        pct(l.clone(), 0.5),
        pct(l.clone(), 0.99)
    );
    println!(
        "latency ratio (p50, Lakegate / direct): {:.2}; in-process service / direct: {:.2}",
        pct(l, 0.5) / pct(d.clone(), 0.5),
        pct(sv, 0.5) / pct(d, 0.5)
    );

    // 2. The large result, each of Lakegate's answers next to the direct client asking the
    //    warehouse for the same result disposition and format, chunks four at a time on
    //    both sides; runs alternate between the two of each pair, and round robin over the pairs.
    println!(
        "\n{rows}-row result, median of {large} (rows per second; same disposition, same chunk concurrency)"
    );
    println!(
        "| Lakegate answer | warehouse asked for | Lakegate rows/s | direct rows/s | ratio |\n|---|---|---|---|---|"
    );
    let pairs = [
        (
            "NDJSON",
            "application/x-ndjson",
            "EXTERNAL_LINKS, JSON_ARRAY",
            Ask::Links,
        ),
        ("CSV", "text/csv", "EXTERNAL_LINKS, JSON_ARRAY", Ask::Links),
        (
            "JSON",
            "application/json",
            "INLINE, JSON_ARRAY",
            Ask::Inline,
        ),
        (
            "Arrow IPC",
            ARROW,
            "EXTERNAL_LINKS, ARROW_STREAM",
            Ask::Arrow,
        ),
    ];
    // The answer's row count (JSON answers stop at 100,000).
    let expected = |accept: &str| {
        if accept == "application/json" {
            rows.min(100_000)
        } else {
            rows
        }
    };
    // Round robin over the pairs, so that whatever drifts during the run (the emulator keeps
    // every statement's result, so its heap grows) touches every format alike.
    let mut times = vec![(Vec::new(), Vec::new()); pairs.len()];
    for _ in 0..large {
        for ((name, accept, asked, ask), (tl, td)) in pairs.iter().zip(times.iter_mut()) {
            let (t, n) = timed(1, || via_lakegate(&w, &http, &token, &conn, LARGE, accept)).await;
            assert_eq!(n, expected(accept), "{name}: row count");
            tl.extend(t);
            let (t, n) = timed(1, || direct(&http, &emu, &at, LARGE, *ask)).await;
            assert_eq!(n, rows, "direct ({asked}): row count");
            td.extend(t);
        }
    }
    let mut rates = Vec::new();
    for ((name, accept, asked, _), (tl, td)) in pairs.iter().zip(times) {
        let (lr, dr) = (
            expected(accept) as f64 / median(tl),
            rows as f64 / median(td),
        );
        println!("| {name} | {asked} | {lr:.0} | {dr:.0} | {:.2} |", lr / dr);
        rates.push((*name, lr));
    }
    let rate = |n: &str| rates.iter().find(|(k, _)| *k == n).map_or(0.0, |(_, r)| *r);
    println!(
        "Arrow / NDJSON rows per second through Lakegate: {:.2}",
        rate("Arrow IPC") / rate("NDJSON")
    );

    // 3. Lakegate's client against the Databricks Python SDK.
    let (tc, n) = timed(large, || lakegate_client(&w, &conn)).await;
    assert_eq!(n, rows);
    let tc = median(tc);
    println!("\nreading the {rows}-row result with a client library, median of {large}");
    println!("| client | seconds | rows/s |\n|---|---|---|");
    println!(
        "| Lakegate (queries::service: INLINE chunks, typed, 4 at a time) | {tc:.3} | {:.0} |",
        rows as f64 / tc
    );
    match python_sdk(&w, &at, large) {
        Some((n, s)) => {
            assert_eq!(n, rows);
            println!(
                "| Databricks Python SDK (execute_statement + get_statement_result_chunk_n: INLINE chunks, 4 at a time) | {s:.3} | {:.0} |",
                rows as f64 / s
            );
            println!("Python SDK / Lakegate time ratio: {:.2}", s / tc);
        }
        None => println!("| Databricks Python SDK | skipped | — |"),
    }
}
