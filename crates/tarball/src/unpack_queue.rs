//! The queue of bodies read whole, waiting for an unpack worker: largest first, and small
//! ones handed out in groups.
//!
//! Bodies read whole wait in memory for one of [`crate::FetcherOptions::unpack_concurrency`]
//! workers. Taken first come, first served, a large archive that arrived behind a queue of
//! small ones (or that waited for room among the large ones, see `large_archives.rs`) was
//! unpacked last, alone on one core while the other had nothing left to do: on the medium
//! fixture `@esbuild/linux-x64` (4 MB, 10 MB of tar) waited 470 ms for its slot and ended
//! the install. Serving the largest waiting body first is the longest-job-first rule of
//! scheduling: the long unpacks start as early as they can, and the small ones that remain
//! fill both cores at the end. Bodies of the same size are served in arrival order.
//!
//! A worker that takes a small body takes the next largest small ones with it, within
//! [`GroupLimits`] and its share of what waits, so that their files are hashed in one batch
//! (see `extract::unpack_verified_group`). A worker runs while bodies wait and stops when
//! none does; a body queued while fewer workers run than allowed starts one. A worker on a
//! blocking thread of its own, fed from here, also replaced a `spawn_blocking` per body and
//! the wake-ups of the waiting download tasks.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

/// The workers of every queue in the process: each counts from its start until it finds
/// nothing waiting, so one that is between two packages still counts (see `batch_writer.rs`).
static RUNNING_WORKERS: AtomicUsize = AtomicUsize::new(0);

/// How many unpack workers are running in the process.
pub(crate) fn running_workers() -> usize {
    RUNNING_WORKERS.load(Ordering::Relaxed)
}

/// How far a group of small bodies may grow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupLimits {
    /// A body larger than this is unpacked alone.
    pub member_max_bytes: u64,
    /// The bodies of one group add up to at most this.
    pub group_max_bytes: u64,
    pub max_members: usize,
}

/// Waiting jobs `J`, each for a body of known size, and the count of running workers.
pub(crate) struct UnpackQueue<J> {
    state: Mutex<State<J>>,
    workers: usize,
    limits: GroupLimits,
}

struct State<J> {
    running: usize,
    /// By (body size, arrival reversed): the last entry is the largest, earliest body.
    waiting: BTreeMap<(u64, Reverse<u64>), J>,
    arrivals: u64,
}

impl<J> UnpackQueue<J> {
    pub(crate) fn new(workers: usize, limits: GroupLimits) -> Self {
        Self {
            state: Mutex::new(State {
                running: 0,
                waiting: BTreeMap::new(),
                arrivals: 0,
            }),
            workers: workers.max(1),
            limits,
        }
    }

    /// Queues `job`, for a body of `bytes`. Returns `true` when the caller must start a
    /// worker, one that calls [`UnpackQueue::next_group`] until it answers `None`: fewer
    /// were running than allowed, and the new one already counts as running.
    #[must_use = "a worker must be started when this is true"]
    pub(crate) fn push(&self, bytes: u64, job: J) -> bool {
        let mut state = self.state.lock();
        state.arrivals += 1;
        let arrival = Reverse(state.arrivals);
        state.waiting.insert((bytes, arrival), job);
        if state.running < self.workers {
            state.running += 1;
            RUNNING_WORKERS.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The next jobs for a running worker: the largest waiting body, and, when it is small,
    /// the next largest small ones up to the group limits and the worker's share of the
    /// queue. `None` when nothing waits: the worker stops, and no longer counts as running.
    pub(crate) fn next_group(&self) -> Option<Vec<J>> {
        let mut state = self.state.lock();
        let share = state.waiting.len().div_ceil(state.running.max(1));
        let Some(((leader_bytes, _), leader)) = state.waiting.pop_last() else {
            if state.running > 0 {
                state.running -= 1;
                RUNNING_WORKERS.fetch_sub(1, Ordering::Relaxed);
            }
            return None;
        };
        let mut group = vec![leader];
        let mut bytes = leader_bytes;
        let limits = self.limits;
        if leader_bytes > limits.member_max_bytes {
            return Some(group);
        }
        while group.len() < share.min(limits.max_members) {
            let fits = state
                .waiting
                .last_key_value()
                .is_some_and(|((b, _), _)| bytes + b <= limits.group_max_bytes);
            if !fits {
                break;
            }
            let Some(((b, _), job)) = state.waiting.pop_last() else {
                break;
            };
            bytes += b;
            group.push(job);
        }
        Some(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: GroupLimits = GroupLimits {
        member_max_bytes: 100,
        group_max_bytes: 200,
        max_members: 3,
    };

    #[test]
    fn the_largest_body_goes_first_and_ties_go_in_arrival_order() {
        let queue = UnpackQueue::new(1, LIMITS);
        assert!(queue.push(5, "small"));
        assert!(!queue.push(4_000_000, "large"));
        assert!(!queue.push(700, "medium a"));
        assert!(!queue.push(700, "medium b"));
        assert_eq!(queue.next_group(), Some(vec!["large"]));
        assert_eq!(queue.next_group(), Some(vec!["medium a"]));
        assert_eq!(queue.next_group(), Some(vec!["medium b"]));
        assert_eq!(queue.next_group(), Some(vec!["small"]));
        assert_eq!(queue.next_group(), None);
    }

    #[test]
    fn small_bodies_go_in_groups_within_the_limits() {
        let queue = UnpackQueue::new(1, LIMITS);
        for (bytes, name) in [
            (90, "a"),
            (80, "b"),
            (70, "c"),
            (60, "d"),
            (10, "e"),
            (500, "big"),
        ] {
            let _ = queue.push(bytes, name);
        }
        // A large body goes alone, even with small ones waiting.
        assert_eq!(queue.next_group(), Some(vec!["big"]));
        // 90 + 80 + 70 > 200: the group stops before the body that would overflow it.
        assert_eq!(queue.next_group(), Some(vec!["a", "b"]));
        // Three members at most.
        assert_eq!(queue.next_group(), Some(vec!["c", "d", "e"]));
        assert_eq!(queue.next_group(), None);
    }

    #[test]
    fn a_worker_takes_only_its_share_of_what_waits() {
        let queue = UnpackQueue::new(2, LIMITS);
        assert!(queue.push(10, "a"));
        assert!(queue.push(10, "b"));
        assert!(!queue.push(10, "c"));
        assert!(!queue.push(10, "d"));
        // Four waiting and two workers running: two for this one, however much a group
        // could hold; then one of the two left.
        assert_eq!(queue.next_group(), Some(vec!["a", "b"]));
        assert_eq!(queue.next_group(), Some(vec!["c"]));
        assert_eq!(queue.next_group(), Some(vec!["d"]));
    }

    #[test]
    fn workers_start_up_to_the_limit_and_again_after_they_stop() {
        let queue = UnpackQueue::new(2, LIMITS);
        assert!(queue.push(1, 1));
        assert!(queue.push(1, 2));
        assert!(!queue.push(1, 3), "a third worker");
        while queue.next_group().is_some() {}
        // That worker stopped; one is still counted as running.
        assert!(queue.push(1, 4));
        assert!(!queue.push(1, 5));
    }
}
