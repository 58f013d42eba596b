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
//! So the window starts at [`NEAR_WINDOW`] and opens, once and for good, to the full count
//! when the responses show a distant registry, or a slow one:
//! - the quickest of the first [`SAMPLES`] from one host took [`FAR_FIRST_BYTE`] or more to
//!   its headers. Counted per host (and port), because a project may take its own scope
//!   from a registry next door and everything else from a distant one: counted together,
//!   the near one's quick first answers kept the window small for the distant one. The
//!   window itself stays one for all hosts: opened for the distant one, it lets the near
//!   one have as many requests too, which costs it little next to what the distant one
//!   gains.
//!   The quickest, because what delays a near registry's answers on a busy machine delays
//!   some of them, never all: on loopback the first answers of a cold install took 0.9–2.3 ms
//!   on a quiet machine and up to 12 ms with three installs running at once on two cores,
//!   and single answers later in an install up to 23 ms while the unpacks kept both cores
//!   busy. A mean of them crossed 10 ms in one cold install of three, so it is not used.
//! - [`SLOW_ANSWERS`] answers, at any time, took [`SLOW_ANSWER`] or more: what a window must
//!   cover is the mean wait of its requests (as many in flight as requests per second times
//!   the wait), and a cache that answers most requests at once and sends the rest to a
//!   distant origin (a CDN's edge, a caching proxy) has a long mean wait behind quick first
//!   answers.
//!
//! Only successful responses are timed: a front server's quick error page says nothing of
//! the registry behind it. A `network-concurrency` the user set is used as it is (see
//! [`NetworkWindow::fixed`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};

/// Downloads in flight before the registry's distance is known.
pub const NEAR_WINDOW: usize = 16;

/// Responses whose quickest tells a near registry from a distant one.
pub const SAMPLES: u32 = 8;

/// The quickest of the first responses at least this late means a distant registry.
pub const FAR_FIRST_BYTE: Duration = Duration::from_millis(10);

/// An answer at least this late comes from far away (on loopback none took half of it).
pub const SLOW_ANSWER: Duration = Duration::from_millis(50);

/// Slow answers that open the window whenever they come.
pub const SLOW_ANSWERS: u32 = 4;

/// One window for all of an install's requests to its registries: the tarball downloads and
/// the metadata that the supply-chain check reads while they run. Shared, so that a
/// `network-concurrency` the user set bounds both together, and so that the first answers
/// of either tell how far the registry is. Clones share the window.
#[derive(Clone, Debug)]
pub struct NetworkShare(Arc<NetworkWindow>);

impl NetworkShare {
    /// The window `opts`' concurrency settings ask for (see [`NetworkWindow::for_options`]).
    pub fn for_options(opts: &crate::options::FetcherOptions) -> Self {
        Self(Arc::new(NetworkWindow::for_options(opts)))
    }

    pub(crate) fn window(&self) -> &NetworkWindow {
        &self.0
    }
}

/// The requests' share of the network: [`NetworkWindow::acquire`] waits for a place.
#[derive(Debug)]
pub(crate) struct NetworkWindow {
    places: Semaphore,
    /// Places added when the registry turns out to be distant (0 for a fixed window).
    reserve: usize,
    /// Set once the window is open (or fixed): no more timing.
    open: AtomicBool,
    seen: Mutex<Seen>,
}

/// Hosts whose first answers are timed; answers from any further host only count as slow
/// or not (a lockfile names a handful of registries at most).
const HOSTS: usize = 16;

/// What the responses so far showed.
#[derive(Debug, Default)]
struct Seen {
    /// The first answers of each host, by `host[:port]`.
    hosts: Vec<(String, FirstAnswers)>,
    /// Answers, from any host, that took [`SLOW_ANSWER`] or more.
    slow: u32,
}

/// The first [`SAMPLES`] answers of one host.
#[derive(Debug, Default)]
struct FirstAnswers {
    answers: u32,
    quickest: Option<Duration>,
}

impl FirstAnswers {
    /// Records one answer; whether this host now looks distant.
    fn far_after(&mut self, elapsed: Duration) -> bool {
        if self.answers >= SAMPLES {
            return false;
        }
        self.quickest = Some(self.quickest.map_or(elapsed, |q| q.min(elapsed)));
        self.answers += 1;
        self.answers == SAMPLES && self.quickest >= Some(FAR_FIRST_BYTE)
    }
}

impl Seen {
    /// Records one answer from `origin`; whether the registries now look distant.
    fn far_after(&mut self, origin: &str, elapsed: Duration) -> bool {
        if elapsed >= SLOW_ANSWER {
            self.slow = self.slow.saturating_add(1);
        }
        let far_at_first = match self
            .hosts
            .iter()
            .position(|(o, _)| o.eq_ignore_ascii_case(origin))
        {
            Some(i) => self.hosts[i].1.far_after(elapsed),
            None if self.hosts.len() < HOSTS => {
                let mut first = FirstAnswers::default();
                let far = first.far_after(elapsed);
                self.hosts.push((origin.to_string(), first));
                far
            }
            None => false,
        };
        far_at_first || self.slow >= SLOW_ANSWERS
    }
}

impl NetworkWindow {
    /// A window of [`NEAR_WINDOW`] (or `max`, if smaller) that opens to `max` for a
    /// distant registry.
    pub(crate) fn adaptive(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        let start = NEAR_WINDOW.min(max);
        NetworkWindow {
            places: Semaphore::new(start),
            reserve: max - start,
            open: AtomicBool::new(start == max),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// The window `opts` ask for: exactly the `network-concurrency` the user set, or an
    /// adaptive one up to the default.
    pub(crate) fn for_options(opts: &crate::options::FetcherOptions) -> Self {
        if opts.network_concurrency_set {
            Self::fixed(opts.network_concurrency)
        } else {
            Self::adaptive(opts.network_concurrency)
        }
    }

    /// A window of exactly `n` places, whatever the registry's distance.
    pub(crate) fn fixed(n: usize) -> Self {
        NetworkWindow {
            places: Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS)),
            reserve: 0,
            open: AtomicBool::new(true),
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Waits for a place in the window.
    pub(crate) async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.places.acquire().await
    }

    /// Records how long a successful request to `origin` (`host[:port]`) took to its
    /// response's headers (connecting included), and opens the window once the answers
    /// show a distant registry.
    pub(crate) fn first_byte_after(&self, origin: &str, elapsed: Duration) {
        if self.open.load(Ordering::Relaxed) {
            return;
        }
        // Decided under the lock, so that only one caller opens the window.
        let opens = {
            let mut seen = self.seen.lock();
            seen.far_after(origin, elapsed) && !self.open.swap(true, Ordering::Relaxed)
        };
        if opens {
            self.places.add_permits(self.reserve);
        }
    }

    /// Places in the window while none is taken.
    #[cfg(test)]
    fn places(&self) -> usize {
        self.places.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEAR: &str = "127.0.0.1:4873";
    const FAR: &str = "far.example.test";

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_distant_host_opens_the_window_behind_a_near_one() {
        let window = NetworkWindow::adaptive(128);
        for _ in 0..SAMPLES {
            window.first_byte_after(NEAR, ms(1));
        }
        for _ in 0..SAMPLES - 1 {
            window.first_byte_after(FAR, ms(30));
            window.first_byte_after(NEAR, ms(2));
        }
        assert_eq!(window.places(), NEAR_WINDOW, "opened before enough samples");
        window.first_byte_after(FAR, ms(30));
        assert_eq!(window.places(), 128);
    }

    #[test]
    fn a_near_registry_keeps_the_small_window() {
        let window = NetworkWindow::adaptive(128);
        assert_eq!(window.places(), NEAR_WINDOW);
        // Quick answers, with the odd late one of a busy machine: three very late ones.
        for n in [
            12, 11, 9, 25, 14, 11, 12, 13, 1, 30, 2, 60, 1, 70, 2, 80, 2, 1,
        ] {
            window.first_byte_after(NEAR, ms(n));
        }
        assert_eq!(window.places(), NEAR_WINDOW);
    }

    #[test]
    fn a_distant_registry_opens_the_window_once() {
        let window = NetworkWindow::adaptive(128);
        for _ in 0..SAMPLES - 1 {
            window.first_byte_after(NEAR, ms(22));
        }
        assert_eq!(window.places(), NEAR_WINDOW, "opened before enough samples");
        window.first_byte_after(NEAR, ms(21));
        assert_eq!(window.places(), 128);
        for _ in 0..SAMPLES {
            window.first_byte_after(NEAR, ms(60));
        }
        assert_eq!(window.places(), 128, "opened twice");
    }

    #[test]
    fn quick_hits_with_slow_misses_open_the_window() {
        // A cache answering four in five requests in 3 ms and the rest in 200 ms: a mean
        // wait of about 40 ms, which sixteen requests in flight cannot cover.
        let window = NetworkWindow::adaptive(128);
        for i in 0..5 * SLOW_ANSWERS - 1 {
            window.first_byte_after(NEAR, ms(if i % 5 == 4 { 200 } else { 3 }));
        }
        assert_eq!(
            window.places(),
            NEAR_WINDOW,
            "opened before enough slow answers"
        );
        window.first_byte_after(NEAR, ms(200));
        assert_eq!(window.places(), 128);
    }

    #[test]
    fn a_small_maximum_or_a_fixed_window_is_used_as_it_is() {
        let small = NetworkWindow::adaptive(8);
        assert_eq!(small.places(), 8);
        let fixed = NetworkWindow::fixed(200);
        for _ in 0..SAMPLES {
            fixed.first_byte_after(NEAR, ms(80));
        }
        assert_eq!(fixed.places(), 200);
        assert_eq!(
            NetworkWindow::adaptive(usize::MAX).reserve,
            Semaphore::MAX_PERMITS - NEAR_WINDOW
        );
    }
}
