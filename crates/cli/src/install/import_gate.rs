//! Imports that a failed install must not leave running behind it.
//!
//! Packages are imported on the import pool and on the runtime's blocking threads, and the
//! install waits for their results one by one. When one of them fails, the install returns
//! its error at once, and the imports already handed out would go on in the background while
//! the failed install takes back its top-level links (`withdraw`) and while tack exits: a
//! package swapped in by `--force` or a `file:` directory imported again could then be seen
//! without its marker by the withdraw, and an import cut by the exit leaves its directory
//! half written. So every import enters through an [`ImportGate`], and a failed install
//! closes the gate before it returns: imports not begun are not begun, and the close waits
//! for the ones under way to end.
//!
//! An import holds a read guard of one lock for as long as it runs: uncontended, one atomic
//! operation per package on the way in and one on the way out.

use parking_lot::{RwLock, RwLockReadGuard};

/// See the module doc.
#[derive(Debug, Default)]
pub struct ImportGate {
    /// `true` once closed.
    closed: RwLock<bool>,
}

/// An import under way; the gate's close waits until it is dropped.
pub struct Entered<'a> {
    _guard: RwLockReadGuard<'a, bool>,
}

impl ImportGate {
    /// Lets an import begin, or gives `None` once the install has failed.
    pub fn enter(&self) -> Option<Entered<'_>> {
        let guard = self.closed.read();
        (!*guard).then_some(Entered { _guard: guard })
    }

    /// No import begins from now on; returns once every one under way has ended.
    pub fn close_and_wait(&self) {
        *self.closed.write() = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    use std::time::Duration;

    #[test]
    fn the_close_waits_for_the_import_under_way_and_refuses_later_ones() {
        let gate = Arc::new(ImportGate::default());
        let inside = Arc::new(Barrier::new(2));
        let finished = Arc::new(AtomicBool::new(false));
        let import = {
            let (gate, inside, finished) = (gate.clone(), inside.clone(), finished.clone());
            std::thread::spawn(move || {
                let entered = gate.enter().expect("the gate is open");
                inside.wait();
                // Long enough that a close that did not wait would return first.
                std::thread::sleep(Duration::from_millis(200));
                finished.store(true, Ordering::SeqCst);
                drop(entered);
            })
        };
        inside.wait();
        gate.close_and_wait();
        assert!(
            finished.load(Ordering::SeqCst),
            "the close returned while an import was under way"
        );
        assert!(gate.enter().is_none(), "an import began after the close");
        import.join().unwrap();
    }

    #[test]
    fn an_open_gate_lets_imports_run_side_by_side() {
        let gate = ImportGate::default();
        let first = gate.enter();
        let second = gate.enter();
        assert!(first.is_some() && second.is_some());
    }
}
