//! Named failpoints for crash-consistency tests. Nothing arms them in production: in-process
//! tests arm them through the API, and real-process tests through the environment of a
//! `testkit` build (`testkit::process`).
//!
//! An armed point either *fails* (the code path behaves as if the process died there: the
//! in-process tests) or *pauses* (the process stops there until released, so a test can
//! kill it with SIGKILL at exactly that point, or let it go on).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// One hit, as if the process died there.
    Fail,
    /// Every hit: create `<dir>/<name>.reached`, then wait until `<dir>/<name>.release`
    /// exists.
    Pause { dir: PathBuf },
}

#[derive(Debug, Default)]
pub struct Failpoints {
    armed: Mutex<HashMap<String, Action>>,
}

impl Failpoints {
    /// Arms `name` to fail once.
    pub fn arm(&self, name: &'static str) {
        self.lock().insert(name.to_owned(), Action::Fail);
    }

    /// Arms `name` to pause every process that passes it (see `Action::Pause`).
    pub fn arm_pause(&self, name: &str, dir: PathBuf) {
        self.lock().insert(name.to_owned(), Action::Pause { dir });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Action>> {
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Passes the point `name`: true (once) when it is armed to fail; a paused point
    /// returns false once released.
    pub async fn hit(&self, name: &'static str) -> bool {
        let action = {
            let mut armed = self.lock();
            match armed.get(name) {
                Some(Action::Fail) => armed.remove(name),
                Some(pause) => Some(pause.clone()),
                None => None,
            }
        };
        match action {
            Some(Action::Fail) => true,
            Some(Action::Pause { dir }) => {
                pause_at(&dir, name).await;
                false
            }
            None => false,
        }
    }
}

async fn pause_at(dir: &std::path::Path, name: &str) {
    let file = |suffix: &str| dir.join(format!("{}.{suffix}", name.replace(':', "_")));
    if let Err(e) = std::fs::write(file("reached"), b"") {
        tracing::error!(error = %e, failpoint = name, "could not report a paused failpoint");
    }
    tracing::warn!(failpoint = name, "paused at a failpoint");
    while !file("release").exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
