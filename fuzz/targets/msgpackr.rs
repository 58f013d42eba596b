//! The msgpackr fuzz target's body, shared by the libFuzzer binary (`fuzz_targets/msgpackr.rs`)
//! and the stable smoke test (`crates/store-dir/tests/fuzz_regressions.rs`).
//!
//! Any `index.db` blob must decode or fail with an error, never panic or allocate without
//! bound; a decoded value must re-encode to bytes that decode and encode to the same bytes again,
//! and a decoded row must re-encode to bytes that decode.

use tack_store_dir::msgpackr;

pub fn run(data: &[u8]) {
    if let Ok(value) = msgpackr::decode_value(data) {
        let encoded = msgpackr::encode_value(&value);
        let again = msgpackr::decode_value(&encoded)
            .unwrap_or_else(|e| panic!("{value:?} encoded to {encoded:?}, which fails: {e}"));
        // Numbers follow JS: an integer beyond 32 bits is written as a float64 (as msgpackr
        // does), so `Int(n)` may come back as `F64(n)`. What must hold is that the encoding
        // is stable: the value read back encodes to the very same bytes.
        assert_eq!(
            encoded,
            msgpackr::encode_value(&again),
            "{value:?} and {again:?} encode differently"
        );
    }
    if let Ok(row) = msgpackr::decode(data) {
        let encoded = msgpackr::encode(&row);
        if let Err(e) = msgpackr::decode(&encoded) {
            panic!("{row:?} encoded to {encoded:?}, which fails: {e}");
        }
    }
}
