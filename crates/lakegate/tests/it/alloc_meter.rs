//! An allocation meter for memory-bound tests: the global allocator counts the bytes live on
//! threads that opted in, and the most that were live at once. Only the opted-in thread (a
//! current-thread runtime running Lakegate and the test's client) is measured; other tests'
//! threads and an isolated emulator are not.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, Ordering};

struct Meter;

#[global_allocator]
static METER: Meter = Meter;

thread_local! {
    static METERED: Cell<bool> = const { Cell::new(false) };
}
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn metered() -> bool {
    METERED.try_with(Cell::get).unwrap_or(false)
}

fn add(delta: isize) {
    let now = LIVE.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && metered() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        if metered() {
            add(-(layout.size() as isize));
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && metered() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Starts metering this thread; the returned guard reads the peak above the start.
pub struct Metering {
    base: isize,
}

/// Only one test may meter at a time (the counters are global).
pub fn start() -> Metering {
    METERED.with(|m| m.set(true));
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    Metering { base }
}

impl Metering {
    /// The most bytes live at once on this thread since `start`, above what was live then.
    pub fn peak_bytes(&self) -> usize {
        (PEAK.load(Ordering::Relaxed) - self.base).max(0) as usize
    }
}

impl Drop for Metering {
    fn drop(&mut self) {
        METERED.with(|m| m.set(false));
    }
}
