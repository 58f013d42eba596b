//! Where the store's warnings go: the caller's reporter, or stderr when none was given.
//!
//! A few things the store meets are worth telling the user about without failing: an
//! `index.db` that is no database and was set aside, a row that does not decode, a
//! writer that could not finish. They happen deep inside calls that return rows or
//! connections, far from any reporter, and a warning written straight to stderr ignores
//! `--reporter silent` and breaks `--reporter ndjson`'s one-record-per-line output. The
//! CLI therefore registers its reporter here once per process ([`set_warning_sink`]); a
//! library user who registers nothing sees the warnings on stderr.

use std::sync::Arc;

use parking_lot::RwLock;

/// Receives each warning's message, without a `WARN` prefix.
pub type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

static SINK: RwLock<Option<WarningSink>> = RwLock::new(None);

/// Sends the store's warnings to `sink` from now on, in this whole process.
pub fn set_warning_sink(sink: WarningSink) {
    *SINK.write() = Some(sink);
}

/// Tells the registered sink about `message`, or stderr when there is none.
pub(crate) fn warn(message: &str) {
    let sink = SINK.read().clone();
    match sink {
        Some(sink) => sink(message),
        None => eprintln!("WARN: {message}"),
    }
}
