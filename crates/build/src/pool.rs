//! The worker pool both build steps share: the packages of one chunk of the build sequence,
//! and the workspace projects of one dependency round, run on up to `childConcurrency`
//! threads. Results come back in the items' order; after a fatal result no item is started.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `run` on every item of `items` on up to `workers` threads; `None` for an item not
/// started because an earlier result was `fatal`.
pub(crate) fn run_all<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    run: impl Fn(&T) -> R + Sync,
    fatal: impl Fn(&T, &R) -> bool + Sync,
) -> Vec<Option<R>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1).min(items.len()) {
            scope.spawn(|| loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let result = run(item);
                if fatal(item, &result) {
                    stop.store(true, Ordering::SeqCst);
                }
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some(result);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|slot| slot.into_inner().ok().flatten())
        .collect()
}
