//! pnpm's `index.db` value format: msgpack in msgpackr's *records* dialect
//! (`new Packr({ useRecords: true, moreTypes: true })`).
//!
//! Written from the format, not ported: [`value`] is the generic model, [`read`] and
//! [`write`] the generic codec, and [`encode`]/[`decode`] map a [`PackageFilesIndex`] row
//! onto it exactly as pnpm lays it out (the row and each file info are records, `files` and
//! `sideEffects` are plain maps because pnpm keeps them in JS `Map`s, `checkedAt` is a
//! float64). A plain map at the top level makes pnpm 11 crash, so rows are always records.

mod read;
mod row;
mod value;
mod view;
mod write;

pub use read::decode_value;
pub use row::{decode, decode_lean, encode};
pub use value::Value;
pub use view::{decode_view, RowView};
pub use write::encode_value;

/// Why a blob could not be decoded. A row that fails to decode is a cache miss.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("msgpack data ends early at byte {offset}")]
    UnexpectedEnd { offset: usize },
    #[error("msgpack data has {} extra bytes after the value (from byte {offset})", len - offset)]
    TrailingBytes { offset: usize, len: usize },
    #[error("invalid msgpack byte 0x{byte:02x} at byte {offset}")]
    InvalidByte { byte: u8, offset: usize },
    #[error("invalid UTF-8 in a msgpack string at byte {offset}")]
    InvalidUtf8 { offset: usize },
    #[error("msgpack length too large at byte {offset}")]
    TooLarge { offset: usize },
    #[error("msgpack nesting too deep at byte {offset}")]
    TooDeep { offset: usize },
    #[error("msgpackr record definition at byte {offset} has no array of field names")]
    BadRecordKeys { offset: usize },
    #[error("msgpackr two-byte record ids (byte {offset}) are not supported")]
    UnsupportedRecord { offset: usize },
    #[error("package index row field `{field}` is missing or has the wrong type")]
    BadField { field: String },
}

impl DecodeError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        "ERR_TACK_STORE_INDEX_DECODE"
    }
}
