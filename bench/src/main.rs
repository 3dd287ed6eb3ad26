//! Lakegate benchmarks, against the Databricks emulator, in one process:
//!
//! * `vending`: token-vending throughput and p50/p99 latency with N concurrent clients,
//!   next to a bare route (`/healthz`) of the same server in the same run;
//! * `storm`: N credentials expiring within the same minute — time until all are fresh
//!   through the background refresher, peak concurrent token calls at the emulator, and the
//!   time a plain client hammering the token endpoint at the same concurrency needs.
//!
//! * `queries`: the query API against the emulator's Statement API called directly (1-row
//!   latency, 100,000-row throughput), and Lakegate's statement client against the
//!   Databricks Python SDK reading the same result.
//!
//! * `memory`: the peak resident memory of a separate `lakegate serve` process streaming a
//!   large result as NDJSON and CSV, next to a ten times smaller one in the same run.
//!
//! `cargo run --release -p lakegate-bench -- vending` / `-- storm` / `-- queries` /
//! `-- memory` (see docs/PERFORMANCE.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod memory;
mod queries;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use lakegate::accounts::{Org, Role, User};
use lakegate::app::AppState;
use lakegate::audit::Actor;
use lakegate::auth::Scope;
use lakegate::clock::{Clock, SystemClock};
use lakegate::jobs::refresher::{Limits as RefresherLimits, Refresher};
use lakegate::store::Store;
use lakegate::testkit;
use warehouse_emulator::EmulatorConfig;

#[derive(Parser)]
struct Args {
    /// Run Lakegate's store on this PostgreSQL server (a fresh schema, dropped afterwards)
    /// instead of an embedded SQLite file.
    #[arg(long, global = true)]
    postgres: Option<String>,
    #[command(subcommand)]
    what: What,
}

/// The `--postgres` server, set once at start.
static POSTGRES: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The store every measurement of this run uses: its URL and, on PostgreSQL, the schema
/// to drop at the end.
async fn database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    let Some(base) = POSTGRES.get().cloned().flatten() else {
        return (format!("sqlite://{}", dir.join("bench.db").display()), None);
    };
    let schema = format!("lgbench_{}", uuid::Uuid::new_v4().simple());
    let admin = Store::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin.raw_pool_for_tests())
        .await
        .unwrap();
    admin.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}options[search_path]={schema}"),
        Some((base, schema)),
    )
}

/// The backend's name, for the reports.
fn backend_name() -> &'static str {
    if POSTGRES.get().cloned().flatten().is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    }
}

#[derive(Subcommand)]
enum What {
    /// Token vending throughput and latency, with /healthz of the same server as baseline.
    Vending {
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// A refresh storm: credentials that all expire within the same minute.
    Storm {
        #[arg(long, default_value_t = 2000)]
        credentials: usize,
        /// Background refresher: concurrent refreshes per workspace host.
        #[arg(long, default_value_t = 8)]
        per_host_concurrency: usize,
        /// Background refresher: refreshes started per second per workspace host.
        #[arg(long, default_value_t = 50)]
        per_host_per_second: u32,
    },
    /// Queries: Lakegate's query API against the emulator's Statement API called directly,
    /// and Lakegate's statement client against the Databricks Python SDK.
    Queries {
        /// Rows in samples.nyctaxi.trips (the large result).
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Repetitions of the 1-row query.
        #[arg(long, default_value_t = 200)]
        small: usize,
        /// Repetitions of the large read (the median is reported).
        #[arg(long, default_value_t = 5)]
        large: usize,
    },
    /// Peak RSS of a `lakegate serve` process streaming `rows` rows of the ten-column
    /// nyctaxi table as NDJSON and as CSV (and a tenth of that, as baseline).
    Memory {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        /// The `lakegate` binary to measure (default: next to this one, same profile).
        #[arg(long)]
        lakegate: Option<std::path::PathBuf>,
    },
}

struct World {
    ws: testkit::Workspace,
    state: AppState,
    base: String,
    org: Org,
    user: User,
    /// The store's database (a SQLite file in `dir` or a PostgreSQL schema), for processes
    /// started on it.
    db_url: String,
    dir: tempfile::TempDir,
    schema: Option<(String, String)>,
}

impl Drop for World {
    /// Drops the PostgreSQL schema (a SQLite file goes with the temporary directory).
    fn drop(&mut self) {
        let Some((base, schema)) = self.schema.take() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async {
                    if let Ok(s) = Store::connect(&base).await {
                        let sql = format!("DROP SCHEMA {schema} CASCADE");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&s.raw_pool_for_tests())
                            .await;
                    }
                });
            }
        })
        .join();
    }
}

async fn world() -> World {
    world_with(EmulatorConfig::for_tests()).await
}

async fn world_with(config: EmulatorConfig) -> World {
    world_keyed(config, testkit::random_keyring()).await
}

/// The same with a given key ring (shared with processes started from its master key).
async fn world_keyed(
    config: EmulatorConfig,
    keyring: Arc<lakegate::crypto::envelope::Keyring>,
) -> World {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (db_url, schema) = database(dir.path()).await;
    let store = Store::connect(&db_url).await.unwrap();
    store.migrate().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ws = testkit::Workspace::start(config, &base).await;
    let life = lakegate::auth::session::Lifetimes {
        idle_seconds: 3600,
        absolute_seconds: 36_000,
    };
    // Measure the vending path itself, not the per-user limit in front of it (the
    // `token_vend_limit_per_minute = 0` setting).
    let web = lakegate::app::WebSettings {
        vend_limit_per_minute: 0,
        ..lakegate::app::WebSettings::new(base.parse().unwrap(), life)
    };
    let state = AppState::new(
        store.clone(),
        Arc::new(SystemClock),
        web,
        keyring,
        ws.egress(),
    );
    testkit::serve(listener, state.clone());
    let now = SystemClock.now();
    let org = testkit::org(&store, now, "bench").await;
    let user = testkit::user(&store, now, &org, "bench@example.com", Role::Editor, None).await;
    ws.configure(&state, &org.id).await;
    World {
        ws,
        state,
        base,
        org,
        user,
        db_url,
        dir,
        schema,
    }
}

/// `n` connections of the bench user, each with a credential minted at the emulator.
async fn connections(w: &World, n: usize, expires_in: i64) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let conn = testkit::connection(&w.state, &w.user, &w.org, &format!("c{i}"), false).await;
        let rt =
            w.ws.mint_credential(&w.state, &w.user, &conn, "alice@example.com", expires_in)
                .await;
        out.push((conn, rt));
    }
    out
}

/// Runs `workers` loops of `call` for `seconds`; returns (requests per second, p50 ms, p99 ms).
async fn load<F, Fut>(workers: usize, seconds: u64, call: F) -> (f64, f64, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let call = call.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < deadline {
                let t = Instant::now();
                assert!(call(i).await, "a request failed");
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
                i += workers;
            }
            lat
        });
    }
    let mut all: Vec<f64> = Vec::new();
    while let Some(l) = tasks.join_next().await {
        all.extend(l.unwrap());
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    (all.len() as f64 / seconds as f64, pct(0.5), pct(0.99))
}

/// An API token of the bench user with one scope.
async fn api_token(w: &World, scope: Scope) -> String {
    let req = lakegate::auth::api_token::NewToken {
        name: "bench",
        scopes: vec![scope],
        ttl_days: Some(1),
    };
    let (token, _) = w
        .state
        .services
        .api_tokens
        .create(&Actor::cli(Some(w.org.id.clone())), &w.user, req)
        .await
        .unwrap();
    token.expose().to_owned()
}

async fn vending(connections_n: usize, seconds: u64) {
    let w = world().await;
    let conns: Vec<String> = connections(&w, connections_n, 3600)
        .await
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let token = api_token(&w, Scope::TokensVend).await;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let base = w.base.clone();
    let (h_rps, h50, h99) = {
        let (http, base) = (http.clone(), base.clone());
        load(connections_n, seconds, move |_| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                http.get(format!("{base}/healthz"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await
    };
    let conns = Arc::new(conns);
    let before = w.ws.emu.counters();
    let (v_rps, v50, v99) = load(connections_n, seconds, move |i| {
        let (http, base, token, conns) = (http.clone(), base.clone(), token.clone(), conns.clone());
        async move {
            let c = &conns[i % conns.len()];
            http.post(format!("{base}/api/v1/connections/{c}/access-token"))
                .bearer_auth(&token)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    // A vended token must come from the store, not from a refresh: tokens are fresh for an
    // hour, so any refresh here would mean the numbers measure something else.
    let after = w.ws.emu.counters();
    assert_eq!(
        after.token_calls_refresh_token, before.token_calls_refresh_token,
        "no refresh may happen while vending fresh tokens"
    );
    println!(
        "vending benchmark ({}): {connections_n} concurrent clients over {connections_n} connections, {seconds} s each",
        backend_name()
    );
    println!("| route | requests/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|");
    println!("| GET /healthz (baseline) | {h_rps:.0} | {h50:.2} | {h99:.2} |");
    println!("| POST /api/v1/connections/{{id}}/access-token | {v_rps:.0} | {v50:.2} | {v99:.2} |");
    println!(
        "ratio vending/baseline: throughput {:.2}, p50 {:.2}x, p99 {:.2}x",
        v_rps / h_rps,
        v50 / h50.max(1e-9),
        v99 / h99.max(1e-9)
    );
}

async fn storm(n: usize, per_host_concurrency: usize, per_host_per_second: u32) {
    let mut w = world().await;
    // Rotating refresh tokens, as Databricks' single-use mode: every refresh must store the
    // new one, in Lakegate and in the baseline alike.
    let rotating = warehouse_emulator::TokenPolicy {
        enable_single_use_refresh_tokens: true,
        ..Default::default()
    };
    w.ws.register(&w.base, rotating);
    w.ws.configure(&w.state, &w.org.id).await;
    // All expire in the same minute, five minutes from now: inside the refresher's lead time.
    let conns = connections(&w, n, 300).await;
    let limits = RefresherLimits {
        concurrency: 64,
        per_host_concurrency,
        per_host_per_second,
    };
    let before = w.ws.emu.counters();
    let started = Instant::now();
    // Every credential is due; passes end when none is left (checked once at the end).
    let mut passes = 0;
    let refresher = Refresher::new(
        w.state.store.clone(),
        w.state.clock.clone(),
        w.state.services.tokens.clone(),
        limits,
    );
    while refresher.pass(86_400).await > 0 && passes < 10_000 {
        passes += 1;
    }
    let lakegate_secs = started.elapsed().as_secs_f64();
    assert_eq!(fresh_count(&w).await, n, "every credential is fresh");
    let after = w.ws.emu.counters();
    let lakegate_calls = after.token_calls_refresh_token - before.token_calls_refresh_token;
    let lakegate_peak = after.token_in_flight_peak;
    assert_eq!(
        lakegate_calls, n as u64,
        "exactly one token call per credential"
    );

    // Baseline: a plain client refreshing the same tokens at the same concurrency, no limits.
    let http = reqwest::Client::new();
    let url = format!("{}/oidc/v1/token", w.ws.emu.base_url);
    let secret = {
        let i = w
            .state
            .store
            .integration(&w.org.id, "databricks-oauth-u2m")
            .await
            .unwrap()
            .unwrap();
        lakegate::integrations::service::client_secret(&w.state.store, &w.state.keyring, &i)
            .await
            .unwrap()
            .expose()
            .to_owned()
    };
    // Lakegate rotated the credentials' refresh tokens (the old ones are spent): the
    // baseline gets as many of its own, minted the same way.
    drop(conns);
    let own: Vec<String> = (0..n)
        .map(|_| {
            w.ws.emu
                .mint_tokens(
                    &w.ws.client_id,
                    "alice@example.com",
                    "all-apis offline_access",
                )
                .unwrap()
                .refresh_token
                .unwrap()
        })
        .collect();
    let rts = Arc::new(tokio::sync::Mutex::new(own));
    // Each rotated refresh token is kept in memory, as a client must to refresh again.
    let kept = Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let baseline_before = w.ws.emu.counters().token_calls_refresh_token;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..per_host_concurrency {
        let kept = kept.clone();
        let (http, url, rts, secret, client_id) = (
            http.clone(),
            url.clone(),
            rts.clone(),
            secret.clone(),
            w.ws.client_id.clone(),
        );
        tasks.spawn(async move {
            loop {
                let Some(rt) = rts.lock().await.pop() else {
                    return;
                };
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.as_str()),
                ];
                let resp = http.post(&url).form(&form).send().await.unwrap();
                assert!(resp.status().is_success(), "baseline refresh failed");
                let body: serde_json::Value = resp.json().await.unwrap();
                let next = body["refresh_token"]
                    .as_str()
                    .expect("a rotated refresh token");
                kept.lock().unwrap().push(next.to_owned());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let baseline_secs = started.elapsed().as_secs_f64();
    let baseline_calls = w.ws.emu.counters().token_calls_refresh_token - baseline_before;
    assert_eq!(
        baseline_calls, n as u64,
        "the baseline refreshed each credential once"
    );
    assert_eq!(kept.lock().unwrap().len(), n, "and kept each rotated token");
    // The emulator keeps the highest concurrency it has seen; Lakegate's run stayed at or
    // below `lakegate_peak`, so a higher value now is the baseline's.
    let baseline_peak = w.ws.emu.counters().token_in_flight_peak.max(lakegate_peak);
    println!(
        "refresh storm ({}): {n} credentials all expiring in the same minute (5 min from now), one workspace host, rotating refresh tokens",
        backend_name()
    );
    println!("| client | time until all fresh (s) | token calls | peak concurrent token calls |");
    println!("|---|---|---|---|");
    println!(
        "| Lakegate background refresher ({per_host_concurrency} per host, {per_host_per_second}/s per host) | {lakegate_secs:.2} | {lakegate_calls} | {lakegate_peak} |"
    );
    println!(
        "| plain client, {per_host_concurrency} concurrent, no rate cap, keeps rotated tokens (baseline) | {baseline_secs:.2} | {baseline_calls} | {baseline_peak} |"
    );
    println!(
        "ratio Lakegate/baseline time: {:.2} (the per-host start-rate cap alone needs {:.2} s)",
        lakegate_secs / baseline_secs,
        n as f64 / f64::from(per_host_per_second)
    );
}

async fn fresh_count(w: &World) -> usize {
    let now = SystemClock.now();
    let mut fresh = 0;
    for c in w
        .state
        .store
        .visible_connections(&w.org.id, &w.user.id)
        .await
        .unwrap()
    {
        if let Ok(Some(cred)) = w.state.store.credential(&c.id, &w.user.id).await
            && cred.access_expires_at > now + 600
        {
            fresh += 1;
        }
    }
    fresh
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    POSTGRES.set(args.postgres).unwrap();
    match args.what {
        What::Vending {
            connections,
            seconds,
        } => vending(connections, seconds).await,
        What::Storm {
            credentials,
            per_host_concurrency,
            per_host_per_second,
        } => storm(credentials, per_host_concurrency, per_host_per_second).await,
        What::Queries { rows, small, large } => queries::run(rows, small, large).await,
        What::Memory { rows, lakegate } => memory::run(rows, lakegate).await,
    }
}
