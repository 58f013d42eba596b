//! How many downloads are in flight at once: a window that opens to the full
//! `network-concurrency` only when the registry is far away.
//!
//! Many requests in flight hide a round trip: with 50 ms between a request and its first
//! byte, a cold install needs about a hundred of them to keep a 200 Mbit link busy. Close to
//! the registry (a mirror on the same machine or the same LAN) they only get in each other's
//! way: every body shares the bandwidth with a hundred others, so each one ends later and
//! the unpack workers wait for their first whole body, and each request opens a connection
//! of its own. Cold installs from a registry on loopback, alternating 16 in flight (this
//! window) with 128: 0.944× the time for the medium fixture (16 won 12 of 14) and 0.856× for
//! the small one (17 of 20); 32 in flight took 0.93–0.96× the time of 128 for the medium one.
//!
//! So the window starts at [`NEAR_WINDOW`] and opens once to the full count when the first
//! responses show a distant registry: the quickest of the first [`SAMPLES`] took
//! [`FAR_FIRST_BYTE`] or more to its headers. The quickest, because a near registry that is
//! busy answers some requests late, but not all of them; a distant one answers none sooner
//! than its round trip. On loopback the quickest first responses of a cold install took
//! 0.9–2.3 ms on a quiet machine and up to 12 ms with three installs running at once on two
//! cores, hence the 10 ms. A registry that slow to answer gets the full window too: more
//! requests in flight hide its wait the same way. A `network-concurrency` the user set is
//! used as it is (see [`NetworkWindow::fixed`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};

/// Downloads in flight before the registry's distance is known.
pub const NEAR_WINDOW: usize = 16;

/// Responses timed before the window is decided.
pub const SAMPLES: usize = 8;

/// A quickest first byte at least this late means a distant registry (or a slow one:
/// either way, more requests in flight hide the wait).
pub const FAR_FIRST_BYTE: Duration = Duration::from_millis(10);

/// The downloads' share of the network: [`NetworkWindow::acquire`] waits for a place.
#[derive(Debug)]
pub(crate) struct NetworkWindow {
    places: Semaphore,
    /// Places added when the registry turns out to be distant (0 for a fixed window).
    reserve: usize,
    /// Set once the window is decided (or fixed): no more timing.
    decided: AtomicBool,
    /// The first responses' times to their headers, until [`SAMPLES`] of them.
    samples: Mutex<Vec<Duration>>,
}

impl NetworkWindow {
    /// A window of [`NEAR_WINDOW`] (or `max`, if smaller) that opens to `max` for a
    /// distant registry.
    pub(crate) fn adaptive(max: usize) -> Self {
        let max = max.max(1);
        let start = NEAR_WINDOW.min(max);
        NetworkWindow {
            places: Semaphore::new(start),
            reserve: max - start,
            decided: AtomicBool::new(start == max),
            samples: Mutex::new(Vec::with_capacity(SAMPLES)),
        }
    }

    /// A window of exactly `n` places, whatever the registry's distance.
    pub(crate) fn fixed(n: usize) -> Self {
        NetworkWindow {
            places: Semaphore::new(n.max(1)),
            reserve: 0,
            decided: AtomicBool::new(true),
            samples: Mutex::new(Vec::new()),
        }
    }

    /// Waits for a place in the window.
    pub(crate) async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.places.acquire().await
    }

    /// Records how long a request took to its response's headers (connecting included).
    pub(crate) fn first_byte_after(&self, elapsed: Duration) {
        if self.decided.load(Ordering::Relaxed) {
            return;
        }
        let mut samples = self.samples.lock();
        if self.decided.load(Ordering::Relaxed) {
            return;
        }
        samples.push(elapsed);
        if samples.len() < SAMPLES {
            return;
        }
        self.decided.store(true, Ordering::Relaxed);
        let quickest = samples.iter().min().copied().unwrap_or_default();
        if quickest >= FAR_FIRST_BYTE {
            self.places.add_permits(self.reserve);
        }
    }

    /// Places in the window now (in use or free).
    #[cfg(test)]
    fn open_places(&self, in_use: usize) -> usize {
        self.places.available_permits() + in_use
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_near_registry_keeps_the_small_window() {
        let window = NetworkWindow::adaptive(128);
        assert_eq!(window.open_places(0), NEAR_WINDOW);
        // A busy near registry: most answers late, one quick.
        for n in [40, 35, 1, 50, 60, 45, 38, 41, 90] {
            window.first_byte_after(ms(n));
        }
        assert_eq!(window.open_places(0), NEAR_WINDOW);
    }

    #[test]
    fn a_distant_registry_opens_the_window_once() {
        let window = NetworkWindow::adaptive(128);
        for _ in 0..SAMPLES - 1 {
            window.first_byte_after(ms(52));
        }
        assert_eq!(window.open_places(0), NEAR_WINDOW, "decided too early");
        window.first_byte_after(ms(51));
        assert_eq!(window.open_places(0), 128);
        for _ in 0..SAMPLES {
            window.first_byte_after(ms(60));
        }
        assert_eq!(window.open_places(0), 128, "opened twice");
    }

    #[test]
    fn a_small_maximum_or_a_fixed_window_is_used_as_it_is() {
        let small = NetworkWindow::adaptive(8);
        assert_eq!(small.open_places(0), 8);
        let fixed = NetworkWindow::fixed(200);
        for _ in 0..SAMPLES {
            fixed.first_byte_after(ms(80));
        }
        assert_eq!(fixed.open_places(0), 200);
    }
}
