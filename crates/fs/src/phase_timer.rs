//! `TACK_TIMINGS=1`: prints how long each phase of an install took, to stderr.
//!
//! The install overlaps its work across threads, so a sampling profile says where CPU goes
//! but not what sits on the critical path. Marking phase boundaries answers that without
//! a profiler, on any machine. When the variable is unset a mark costs one relaxed load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static ENABLED: OnceLock<bool> = OnceLock::new();
static LAST: Mutex<Option<Instant>> = Mutex::new(None);
static STARTED: OnceLock<Instant> = OnceLock::new();
static WARNED: AtomicBool = AtomicBool::new(false);

fn enabled() -> bool {
    *ENABLED.get_or_init(|| std::env::var_os("TACK_TIMINGS").is_some_and(|v| v != "0"))
}

/// Records the end of phase `label`: prints the time since the previous mark and since the
/// first one. The first call only starts the clock.
pub fn mark(label: &str) {
    if !enabled() {
        return;
    }
    let now = Instant::now();
    let start = *STARTED.get_or_init(|| now);
    let Ok(mut last) = LAST.lock() else {
        if !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!("[timings] disabled: a thread panicked while holding the clock");
        }
        return;
    };
    let since_last = last.map_or(0.0, |l| now.duration_since(l).as_secs_f64() * 1000.0);
    *last = Some(now);
    eprintln!(
        "[timings] {:>8.1} ms  +{:>7.1} ms  {label}",
        now.duration_since(start).as_secs_f64() * 1000.0,
        since_last
    );
}
