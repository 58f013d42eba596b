//! How much inflated tar the large archives of an install may hold at once.
//!
//! A body read whole is inflated in one call into a buffer as large as its tar (see
//! `inflate.rs`). Most npm archives inflate to well under a MiB, but a project usually has
//! a few that inflate to 10–25 MiB (a compiler, a bundler, a formatter, a native binary),
//! and their downloads tend to finish together. With four unpack workers, four of them
//! inflated at once were half of a cold install's peak memory.
//!
//! Archives over [`LARGE_TAR_BYTES`] therefore wait for a share of a budget before they queue
//! for an unpack worker; smaller ones never wait here, so a large archive waiting does not hold
//! up the many small ones behind it, and the other core keeps unpacking them. An archive
//! larger than the whole budget waits for all of it and runs alone among the large ones.

use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};

use crate::inflate::claimed_size;

/// Archives that inflate to more than this go through the budget.
pub(crate) const LARGE_TAR_BYTES: usize = 2 << 20;

/// The budget, in KiB of inflated tar.
pub(crate) struct LargeArchives {
    room: Semaphore,
    budget_kib: u32,
}

impl LargeArchives {
    pub(crate) fn new(budget_kib: u32) -> Self {
        let budget_kib = budget_kib.max(1);
        Self {
            room: Semaphore::new(budget_kib as usize),
            budget_kib,
        }
    }

    /// Waits until the archive in `body` fits the budget, when it is a large one; `None`
    /// (at once) for a small archive or a body that is not a gzip member. The size comes
    /// from the gzip trailer, which is untrusted: a lie only changes how long this waits,
    /// since the one-shot inflate checks the real size itself.
    pub(crate) async fn room_for(
        &self,
        body: &[u8],
    ) -> Result<Option<SemaphorePermit<'_>>, AcquireError> {
        let Some(tar_bytes) = claimed_size(body).filter(|n| *n > LARGE_TAR_BYTES) else {
            return Ok(None);
        };
        let kib = u32::try_from(tar_bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.budget_kib);
        self.room.acquire_many(kib).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt as _;

    /// A body that claims (in its gzip trailer) to inflate to `tar_bytes`.
    fn body(tar_bytes: u32) -> Vec<u8> {
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        gz.extend_from_slice(&[0; 12]);
        gz.extend_from_slice(&tar_bytes.to_le_bytes());
        gz
    }

    const MIB: u32 = 1 << 20;

    #[tokio::test]
    async fn large_archives_wait_for_room_and_small_ones_never_do() {
        let budget = LargeArchives::new(24 << 10);
        let compiler = budget.room_for(&body(20 * MIB)).await.unwrap();
        assert!(compiler.is_some());
        // 20 + 10 MiB is over the budget: the second waits...
        let bundler_body = body(10 * MIB);
        let mut bundler = Box::pin(budget.room_for(&bundler_body));
        assert!((&mut bundler).now_or_never().is_none());
        // ...while a small archive, and a body that is not gzip, go on at once.
        let small = budget.room_for(&body(2 * MIB)).now_or_never();
        assert!(matches!(small, Some(Ok(None))));
        let plain = budget
            .room_for(b"not gzip at all, but long enough")
            .now_or_never();
        assert!(matches!(plain, Some(Ok(None))));
        drop(compiler);
        assert!(bundler.await.unwrap().is_some());
    }

    #[tokio::test]
    async fn an_archive_over_the_whole_budget_waits_for_all_of_it() {
        let budget = LargeArchives::new(24 << 10);
        let formatter = budget.room_for(&body(3 * MIB)).await.unwrap();
        let huge_body = body(u32::MAX);
        let mut huge = Box::pin(budget.room_for(&huge_body));
        assert!((&mut huge).now_or_never().is_none());
        drop(formatter);
        let huge = huge.await.unwrap();
        assert!(huge.is_some());
        // Nothing large fits beside it.
        assert!(budget.room_for(&body(3 * MIB)).now_or_never().is_none());
    }
}
