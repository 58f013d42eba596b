//! `TACK_TIMINGS=1`: prints how long each phase of an install took, to stderr.
//!
//! The install overlaps its work across threads, so a sampling profile says where CPU goes
//! but not what sits on the critical path. Marking phase boundaries answers that without
//! a profiler, on any machine. Each line also gives the process CPU time the phase used
//! (user + sys over all threads): a phase whose CPU is close to its wall time on a 2-core
//! machine leaves a core idle. When the variable is unset a mark costs one relaxed load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static ENABLED: OnceLock<bool> = OnceLock::new();
static LAST: Mutex<Option<(Instant, f64)>> = Mutex::new(None);
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
    let cpu = cpu_ms();
    let (since_last, cpu_since_last) = last.map_or((0.0, 0.0), |(at, at_cpu)| {
        (now.duration_since(at).as_secs_f64() * 1000.0, cpu - at_cpu)
    });
    *last = Some((now, cpu));
    eprintln!(
        "[timings] {:>8.1} ms  +{:>7.1} ms  cpu {:>7.1} ms  {label}",
        now.duration_since(start).as_secs_f64() * 1000.0,
        since_last,
        cpu_since_last
    );
}

/// User plus system CPU time of the whole process so far, in milliseconds.
fn cpu_ms() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

/// Prints how long side work on another thread took (`label`, started at `since`), without
/// moving the phase clock.
pub fn note(label: &str, since: Instant) {
    if !enabled() {
        return;
    }
    eprintln!(
        "[timings]    side work {:>7.1} ms  {label}",
        since.elapsed().as_secs_f64() * 1000.0
    );
}
