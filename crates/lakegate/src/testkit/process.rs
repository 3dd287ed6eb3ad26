//! What a `testkit` build of `lakegate serve` takes from its environment so real-process
//! tests can drive it (never in production builds: the feature is off there):
//!
//! - `LAKEGATE_TEST_CLOCK_FILE`: the process's clock reads Unix seconds from this file, so
//!   a test moves time (lease expiry) without waiting. The clock-skew check is off then:
//!   the test clock is deliberately not the database's.
//! - `LAKEGATE_TEST_FAILPOINTS` (comma-separated names) and `LAKEGATE_TEST_FAILPOINT_DIR`:
//!   those failpoints pause the process (see `failpoint`), so the test can SIGKILL it there.

use std::path::PathBuf;
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
