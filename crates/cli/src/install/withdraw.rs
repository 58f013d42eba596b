//! An install that fails before the linker's last step is done takes back the top-level
//! links it made (see `tack_linker::withdraw_top_level`): pnpm 12 links a project only once
//! every package is in place, so a failed download, a refused preparation or any other error
//! on the way leaves it no link at all, and tack, which links a new virtual store's top level
//! while packages still download, must not leave more. An install that fails later (a build)
//! leaves its links, as pnpm 12 does: every package they point at is complete.
//!
//! The in-progress sentinel stays either way (see `in_progress`): the next install trusts
//! nothing of the tree and makes the links again.

use tack_linker::{EarlyTopLevel, LinkPlan};

use crate::reporter::Reporter;

/// Withdraws the top level when dropped, unless [`WithdrawUnlessLinked::linked`] said the
/// linker's last step is done.
pub struct WithdrawUnlessLinked<'a> {
    link: &'a LinkPlan,
    early: &'a EarlyTopLevel,
    reporter: &'a Reporter,
    linked: bool,
}

impl<'a> WithdrawUnlessLinked<'a> {
    /// `early` is what the install makes of the top level before every package is in place.
    pub fn new(link: &'a LinkPlan, early: &'a EarlyTopLevel, reporter: &'a Reporter) -> Self {
        WithdrawUnlessLinked {
            link,
            early,
            reporter,
            linked: false,
        }
    }

    /// Every package is in place and linked: nothing is taken back from here on.
    pub fn linked(mut self) {
        self.linked = true;
    }
}

impl Drop for WithdrawUnlessLinked<'_> {
    fn drop(&mut self) {
        if self.linked {
            return;
        }
        if let Err(e) = tack_linker::withdraw_top_level(self.link, self.early) {
            // The install's own error follows; the sentinel makes the next install relink.
            self.reporter.warn(format!(
                "the failed install could not take back its links: {e}"
            ));
        }
    }
}
