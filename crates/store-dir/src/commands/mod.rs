//! Library side of `tack store status|prune|verify`: each returns a report struct and the
//! CLI prints it.

pub mod prune;
pub mod prune_links;
pub mod status;
pub mod verify;
