//! The emulator's clock: wall time plus an offset the control API can advance, so tests
//! expire codes and tokens without waiting.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Default)]
pub struct EmuClock {
    offset: AtomicI64,
}

impl EmuClock {
    /// Seconds since the Unix epoch, as the emulator sees them.
    pub fn now(&self) -> i64 {
        wall() + self.offset.load(Ordering::SeqCst)
    }

    /// Moves the clock so that it reads `now` (a test aligning it with its client's clock;
    /// it keeps ticking from there).
    pub fn set(&self, now: i64) {
        self.offset.store(now - wall(), Ordering::SeqCst);
    }

    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::SeqCst);
    }
}

fn wall() -> i64 {
    #[allow(clippy::disallowed_methods)] // the emulator's one read of the wall clock
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 3339 (UTC) form of a Unix time.
pub fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let date = crate::engine::sql::catalog::date_string(days);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
