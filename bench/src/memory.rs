//! Peak resident memory of a real `lakegate serve` process streaming a large result.
//!
//! The emulator and the fixtures run in this process; Lakegate runs as a child process on
//! the same SQLite database and master key, so its memory is its own. For each format
//! (NDJSON, CSV, Arrow) and each size (`rows`, and a tenth of it as the baseline measured in the
//! same run) a fresh process streams `SELECT * FROM samples.nyctaxi.trips LIMIT n` (ten
//! columns) through the query API; the client reads and discards the body. Reported: RSS
//! when idle after start, and the process's peak RSS (`VmHWM` in `/proc/<pid>/status`)
//! after the stream — Linux only. The run fails if a peak passes 64 MiB or an idle process
//! 50 MiB (the bounds docs/PERFORMANCE.md states); start-up is the time until `/healthz` answers.

use std::path::PathBuf;
use std::sync::Arc;

use lakegate::auth::Scope;
use lakegate::crypto::envelope::Keyring;
use lakegate::crypto::master_key::MasterKeySource;
use lakegate::secret::Secret;
use lakegate::testkit::process::Serve;
use serde_json::json;
use warehouse_emulator::EmulatorConfig;

use super::{api_token, world_keyed};

const WAREHOUSE: &str = "abcdef1234567890";

/// `VmRSS` or `VmHWM` of a process, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// CPU time (user + system) a process has used so far, in seconds, from `/proc/<pid>/stat`
/// (fields 14 and 15, in clock ticks; threads that ended are included).
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields[i - 3].parse::<u64>().unwrap() as f64;
    (ticks(14) + ticks(15)) / ticks_per_second
}

fn clock_ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn default_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().join("lakegate")
}

struct Measurement {
    rows: usize,
    bytes: u64,
    idle_kib: u64,
    peak_kib: u64,
    /// CPU seconds the serving process spent on this stream.
    cpu: f64,
}

async fn stream(serve: &Serve, token: &str, conn: &str, rows: usize, accept: &str) -> (usize, u64) {
    let mut resp = reqwest::Client::new()
        .post(format!("{}/api/v1/connections/{conn}/queries", serve.base))
        .bearer_auth(token)
        .header("accept", accept)
        .json(&json!({
            "statement": format!("SELECT * FROM samples.nyctaxi.trips LIMIT {rows}"),
            "warehouse_id": WAREHOUSE,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    let (mut lines, mut bytes) = (0usize, 0u64);
    // Arrow is decoded (here, in the bench process) to count its rows.
    let mut arrow = Vec::new();
    while let Some(piece) = resp.chunk().await.unwrap() {
        if accept == super::queries::ARROW {
            arrow.extend_from_slice(&piece);
        } else {
            lines += piece.iter().filter(|&&b| b == b'\n').count();
        }
        bytes += piece.len() as u64;
    }
    if accept == super::queries::ARROW {
        lines = super::queries::arrow_rows(&arrow);
    }
    (lines, bytes)
}

/// The bound docs/PERFORMANCE.md claims for a streaming process's peak RSS.
const PEAK_BOUND_MIB: f64 = 64.0;
/// …and for an idle one.
const IDLE_BOUND_MIB: f64 = 50.0;

pub async fn run(rows: usize, lakegate: Option<PathBuf>) {
    let bin = lakegate.unwrap_or_else(default_binary);
    let master_key = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        std::array::from_fn::<u8, 32, _>(|i| (i as u8).wrapping_mul(73).wrapping_add(11)),
    );
    let (key, _) = MasterKeySource::Value(Secret::new(master_key.clone()))
        .load(false)
        .unwrap();
    let config = EmulatorConfig {
        nyctaxi_rows: rows,
        ..EmulatorConfig::for_tests()
    };
    let w = world_keyed(config, Arc::new(Keyring::new(key))).await;
    let conn = super::connections(&w, 1, 6 * 3600).await.remove(0).0;
    let token = api_token(&w, Scope::QueriesRun).await;
    let write = |name: &str, text: &str| {
        let path = w.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let key_file = write("master.key", &master_key);
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let mut env = vec![
        ("LAKEGATE_DATABASE_URL", w.db_url.clone()),
        ("LAKEGATE_MASTER_KEY_FILE", key_file),
        ("LAKEGATE_EGRESS_EXTRA_ALLOWED_HOSTS", w.ws.host()),
        ("LAKEGATE_EGRESS_ALLOWED_CIDRS", "127.0.0.0/8".to_owned()),
        ("LAKEGATE_LOG_LEVEL", "warn".to_owned()),
    ];
    match w.ws.emu.ca_pem.as_deref() {
        Some(pem) => env.push((
            "LAKEGATE_EGRESS_EXTRA_CA_FILE",
            write("emulator-ca.pem", pem),
        )),
        // The bench's emulator speaks plain http on loopback (TLS costs are not measured).
        None => env.push(("LAKEGATE_EGRESS_INSECURE_HTTP_HOSTS", w.ws.host())),
    }

    println!("binary: {}", bin.display());
    let hz = clock_ticks_per_second();
    println!(
        "| format | rows | bytes streamed | start-up | RSS idle | peak RSS | peak − idle | Lakegate CPU | rows per CPU second |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut cost = Vec::new();
    let formats = [
        ("NDJSON", "application/x-ndjson"),
        ("CSV", "text/csv"),
        ("Arrow", super::queries::ARROW),
    ];
    for (format, accept) in formats {
        let mut measured = Vec::new();
        for n in [rows / 10, rows] {
            // A fresh process each time, so each peak is that stream's alone.
            let name = format!("serve-{format}-{n}");
            let started = std::time::Instant::now();
            let serve = Serve::start(&bin, &env, w.dir.path(), &name).await;
            let start_up = started.elapsed().as_secs_f64();
            let pid = serve.pid();
            let idle_kib = status_kib(pid, "VmRSS:");
            let cpu_before = cpu_seconds(pid, hz);
            let (lines, bytes) = stream(&serve, &token, &conn, n, accept).await;
            let cpu = cpu_seconds(pid, hz) - cpu_before;
            let expected = if format == "CSV" { n + 1 } else { n };
            assert_eq!(lines, expected, "{format}: every row arrived");
            let peak_kib = status_kib(pid, "VmHWM:");
            let m = Measurement {
                rows: n,
                bytes,
                idle_kib,
                peak_kib,
                cpu,
            };
            println!(
                "| {format} | {} | {:.0} MB | {:.0} ms | {:.1} MB | {:.1} MB | {:.1} MB | {:.2} s | {:.0} |",
                m.rows,
                m.bytes as f64 / 1e6,
                start_up * 1000.0,
                m.idle_kib as f64 / 1024.0,
                m.peak_kib as f64 / 1024.0,
                (m.peak_kib - m.idle_kib) as f64 / 1024.0,
                m.cpu,
                m.rows as f64 / m.cpu.max(1.0 / hz),
            );
            let mib = |kib: u64| kib as f64 / 1024.0;
            assert!(
                mib(m.idle_kib) < IDLE_BOUND_MIB,
                "{format}: idle RSS above {IDLE_BOUND_MIB} MiB"
            );
            assert!(
                mib(m.peak_kib) < PEAK_BOUND_MIB,
                "{format}: peak RSS {:.1} MiB above {PEAK_BOUND_MIB} MiB",
                mib(m.peak_kib)
            );
            measured.push(m);
        }
        let large = &measured[1];
        cost.push((format, large.cpu / large.rows as f64));
        let growth = |m: &Measurement| (m.peak_kib - m.idle_kib) as f64;
        println!(
            "{format}: {}× the rows, {:.2}× the memory above idle",
            measured[1].rows / measured[0].rows.max(1),
            growth(&measured[1]) / growth(&measured[0]).max(1.0)
        );
    }
    // Lakegate's own cost per row, whatever the warehouse's: the serving process is separate.
    let per_row = |f: &str| {
        cost.iter()
            .find(|(k, _)| *k == f)
            .map_or(f64::NAN, |(_, c)| *c)
    };
    println!(
        "Lakegate CPU per row, NDJSON / Arrow: {:.1}; CSV / Arrow: {:.1}",
        per_row("NDJSON") / per_row("Arrow"),
        per_row("CSV") / per_row("Arrow")
    );
}
