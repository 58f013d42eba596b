//! The unpack slots, handed out largest body first.
//!
//! Bodies read whole wait in memory for one of [`crate::FetcherOptions::unpack_concurrency`]
//! slots. Taken first come, first served, a large archive that arrived behind a queue of
//! small ones (or that waited for room among the large ones, see `large_archives.rs`) was
//! unpacked last, alone on one core while the other had nothing left to do: on the medium
//! fixture `@esbuild/linux-x64` (4 MB, 10 MB of tar) waited 470 ms for its slot and ended
//! the install. Serving the largest waiting body first is the longest-job-first rule of
//! scheduling: the long unpacks start as early as they can, and the small ones that remain
//! fill both cores at the end. Bodies of the same size are served in arrival order.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// A fixed number of slots, given to the largest waiting body as each one frees.
pub(crate) struct UnpackSlots {
    state: Mutex<State>,
}

struct State {
    free: usize,
    waiting: BinaryHeap<Waiter>,
    /// Arrival order, for ties between bodies of one size.
    arrivals: u64,
}

struct Waiter {
    bytes: u64,
    arrival: Reverse<u64>,
    wake: oneshot::Sender<()>,
}

impl Waiter {
    fn key(&self) -> (u64, Reverse<u64>) {
        (self.bytes, self.arrival)
    }
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// One slot, given back (to the largest waiting body) when dropped.
pub(crate) struct UnpackSlot<'a> {
    slots: &'a UnpackSlots,
}

impl Drop for UnpackSlot<'_> {
    fn drop(&mut self) {
        self.slots.release();
    }
}

/// Gives a slot that was handed to a waiter back if the waiter went away before it took
/// it (its download was cancelled).
struct Waiting<'a> {
    slots: &'a UnpackSlots,
    /// `None` once the wait is over.
    woken: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(woken) = &mut self.woken else {
            return;
        };
        // Once closed, no slot can be handed here any more; one handed before is passed on.
        woken.close();
        if woken.try_recv().is_ok() {
            self.slots.release();
        }
    }
}

impl UnpackSlots {
    pub(crate) fn new(slots: usize) -> Self {
        Self {
            state: Mutex::new(State {
                free: slots.max(1),
                waiting: BinaryHeap::new(),
                arrivals: 0,
            }),
        }
    }

    /// Waits for a slot for a body of `bytes`. `None` only if this waiter's entry was dropped
    /// without being handed a slot, which [`UnpackSlots::release`] never does while the
    /// slots exist; callers report it as an internal error rather than unpack without a slot.
    pub(crate) async fn acquire(&self, bytes: u64) -> Option<UnpackSlot<'_>> {
        let woken = {
            let mut state = self.state.lock();
            if state.free > 0 && state.waiting.is_empty() {
                state.free -= 1;
                return Some(UnpackSlot { slots: self });
            }
            let (wake, woken) = oneshot::channel();
            state.arrivals += 1;
            let arrival = Reverse(state.arrivals);
            state.waiting.push(Waiter {
                bytes,
                arrival,
                wake,
            });
            woken
        };
        let mut waiting = Waiting {
            slots: self,
            woken: Some(woken),
        };
        let handed = match waiting.woken.as_mut() {
            Some(woken) => woken.await.is_ok(),
            None => false,
        };
        // The wait is over: the slot, if any, now belongs to the `UnpackSlot` below.
        waiting.woken = None;
        handed.then_some(UnpackSlot { slots: self })
    }

    /// Hands a freed slot to the largest waiting body still waiting, or keeps it free.
    fn release(&self) {
        let mut state = self.state.lock();
        while let Some(waiter) = state.waiting.pop() {
            if waiter.wake.send(()).is_ok() {
                return;
            }
        }
        state.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;
    use std::future::Future;
    use std::pin::Pin;

    type Pending<'a> = Pin<Box<dyn Future<Output = Option<UnpackSlot<'a>>> + 'a>>;

    fn wait(slots: &UnpackSlots, bytes: u64) -> Pending<'_> {
        let mut fut: Pending<'_> = Box::pin(slots.acquire(bytes));
        assert!(
            (&mut fut).now_or_never().is_none(),
            "{bytes} got a slot at once"
        );
        fut
    }

    #[test]
    fn the_largest_waiting_body_gets_the_next_slot_and_ties_go_in_arrival_order() {
        let slots = UnpackSlots::new(1);
        let first = slots.acquire(10).now_or_never().flatten();
        assert!(first.is_some());
        let mut small = wait(&slots, 5);
        let mut large = wait(&slots, 4_000_000);
        let mut medium_a = wait(&slots, 700);
        let mut medium_b = wait(&slots, 700);

        drop(first);
        let large_slot = (&mut large).now_or_never().flatten();
        assert!(large_slot.is_some());
        assert!((&mut small).now_or_never().is_none());
        assert!((&mut medium_a).now_or_never().is_none());

        drop(large_slot);
        let a = (&mut medium_a).now_or_never().flatten();
        assert!(a.is_some());
        assert!((&mut medium_b).now_or_never().is_none());
        drop(a);
        let b = (&mut medium_b).now_or_never().flatten();
        assert!(b.is_some());
        drop(b);
        assert!((&mut small).now_or_never().flatten().is_some());
    }

    #[test]
    fn a_cancelled_waiter_loses_no_slot() {
        let slots = UnpackSlots::new(1);
        let held = slots.acquire(1).now_or_never().flatten();
        // Gone before a slot was free: skipped.
        drop(wait(&slots, 9));
        // Handed the slot, then gone before it took it: the slot passes on.
        let handed = wait(&slots, 8);
        let mut next = wait(&slots, 2);
        drop(held);
        drop(handed);
        let slot = (&mut next).now_or_never().flatten();
        assert!(slot.is_some());
        drop(slot);
        // And the slot is free again afterwards.
        assert!(slots.acquire(1).now_or_never().flatten().is_some());
    }

    #[test]
    fn free_slots_are_taken_at_once() {
        let slots = UnpackSlots::new(2);
        let a = slots.acquire(1).now_or_never().flatten();
        let b = slots.acquire(1).now_or_never().flatten();
        assert!(a.is_some() && b.is_some());
        let _c = wait(&slots, 1);
    }
}
