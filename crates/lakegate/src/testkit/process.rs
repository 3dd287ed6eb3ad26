//! What a `testkit` build of `lakegate serve` takes from its environment so real-process
//! tests can drive it (never in production builds: the feature is off there):
//!
//! - `LAKEGATE_TEST_CLOCK_FILE`: the process's clock reads Unix seconds from this file, so
//!   a test moves time (lease expiry) without waiting. The clock-skew check is off then:
//!   the test clock is deliberately not the database's.
//! - `LAKEGATE_TEST_FAILPOINTS` (comma-separated names) and `LAKEGATE_TEST_FAILPOINT_DIR`:
//!   those failpoints pause the process (see `failpoint`), so the test can SIGKILL it there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, UnixTime};
use crate::failpoint::Failpoints;

/// A clock that reads the time from a file on every call.
pub struct FileClock(PathBuf);

impl Clock for FileClock {
    fn now(&self) -> UnixTime {
        std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or_else(|| super::fail(format!("unreadable test clock {}", self.0.display())))
    }
}

/// The test clock, if the environment names one.
pub fn clock() -> Option<Arc<dyn Clock>> {
    let path = std::env::var_os("LAKEGATE_TEST_CLOCK_FILE")?;
    Some(Arc::new(FileClock(PathBuf::from(path))))
}

/// The failpoints the environment arms.
pub fn failpoints() -> Failpoints {
    let points = Failpoints::default();
    let names = std::env::var("LAKEGATE_TEST_FAILPOINTS").unwrap_or_default();
    if let Some(dir) = std::env::var_os("LAKEGATE_TEST_FAILPOINT_DIR") {
        for name in names.split(',').filter(|n| !n.is_empty()) {
            points.arm_pause(name, PathBuf::from(&dir));
        }
    }
    points
}

/// A `lakegate serve` child process on a port of its own, killed when dropped.
pub struct Serve {
    pub child: std::process::Child,
    pub base: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `bin serve` with only `env` (plus its listen address and public URL), its
    /// output in `<log_dir>/<name>.log`, and waits until it answers `/healthz`.
    pub async fn start(bin: &Path, env: &[(&str, String)], log_dir: &Path, name: &str) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| super::fail(e))
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let log_path = log_dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path).unwrap_or_else(|e| super::fail(e));
        let child = std::process::Command::new(bin)
            .arg("serve")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("LAKEGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("LAKEGATE_PUBLIC_URL", &base)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| super::fail(format!("cannot start {}: {e}", bin.display())));
        let mut serve = Serve { child, base };
        let http = reqwest::Client::new();
        // Polls for an event (the process answering), bounded so a broken build fails.
        for _ in 0..1500 {
            if let Ok(Some(status)) = serve.child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                super::fail(format!("{name} exited ({status}): {log}"));
            }
            let healthz = http.get(format!("{}/healthz", serve.base)).send().await;
            if healthz.is_ok_and(|r| r.status().is_success()) {
                return serve;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        super::fail(format!("{name} did not start: see {}", log_path.display()))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no cleanup; whatever it was doing is lost.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap_or_else(|e| super::fail(e));
        self.child.wait().unwrap_or_else(|e| super::fail(e));
    }
}
