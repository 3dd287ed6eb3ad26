//! How far this process's clock may be from the store's before it stops taking refresh
//! leases.
//!
//! A lease lasts `tokens::LEASE_SECONDS` (30 s) on the clock of the replica that takes it,
//! and every replica judges expiry on its own clock. A refresh under a lease finishes within
//! the token request's 10 s time limit, which leaves a 20 s margin; a replica whose clock
//! runs further ahead than that would take a live lease, and two processes would present the
//! same (rotating) refresh token. So each process compares its clock with the store's (the
//! database server's) at start and every 30 s, and while the difference is beyond
//! `MAX_SKEW_SECONDS` it refreshes nothing, reports not ready, and says why in its log.

use std::sync::atomic::{AtomicI64, Ordering};

/// The tolerated difference, well inside the 20 s margin (a measurement is accurate to
/// about a second: the store's clock is read in whole seconds).
pub const MAX_SKEW_SECONDS: i64 = 5;

/// Not measured yet (in-process tests, the first moments of a process).
const UNMEASURED: i64 = i64::MIN;

/// The last measured skew (store clock minus ours, in seconds).
#[derive(Debug)]
pub struct SkewGuard {
    skew: AtomicI64,
}

impl Default for SkewGuard {
    fn default() -> Self {
        SkewGuard {
            skew: AtomicI64::new(UNMEASURED),
        }
    }
}

/// This process's clock is too far from the store's to take part in refreshes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "this server's clock is {seconds} s off the database's (at most {MAX_SKEW_SECONDS} s is tolerated): fix its time synchronisation"
)]
pub struct ClockSkew {
    /// Store clock minus ours.
    pub seconds: i64,
}

impl SkewGuard {
    /// Records a measurement: the store's clock read between two readings of ours.
    pub fn record(&self, ours_before: i64, store: i64, ours_after: i64) -> Result<(), ClockSkew> {
        let ours = ours_before + (ours_after - ours_before) / 2;
        let seconds = store - ours;
        self.skew.store(seconds, Ordering::Relaxed);
        verdict(seconds)
    }

    /// Whether the last measurement allows taking leases (yes before any measurement).
    pub fn check(&self) -> Result<(), ClockSkew> {
        match self.skew.load(Ordering::Relaxed) {
            UNMEASURED => Ok(()),
            seconds => verdict(seconds),
        }
    }
}

fn verdict(seconds: i64) -> Result<(), ClockSkew> {
    if seconds.abs() > MAX_SKEW_SECONDS {
        Err(ClockSkew { seconds })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_within_the_bound_passes_and_beyond_it_in_either_direction_fails() {
        let guard = SkewGuard::default();
        assert_eq!(guard.check(), Ok(()), "unmeasured");
        assert_eq!(guard.record(100, 105, 100), Ok(()));
        assert_eq!(guard.record(100, 95, 100), Ok(()));
        assert_eq!(guard.record(100, 106, 100), Err(ClockSkew { seconds: 6 }));
        assert_eq!(guard.check(), Err(ClockSkew { seconds: 6 }), "remembered");
        assert_eq!(guard.record(130, 100, 130), Err(ClockSkew { seconds: -30 }));
        // A slow store read is measured against the middle of our two readings.
        assert_eq!(guard.record(100, 104, 110), Ok(()));
        assert_eq!(guard.check(), Ok(()), "back in bounds");
    }
}
