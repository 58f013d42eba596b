//! The msgpackr fuzz target's body, shared by the libFuzzer binary (`fuzz_targets/msgpackr.rs`)
//! and the stable smoke test (`crates/store-dir/tests/fuzz_regressions.rs`).
//!
//! Any `index.db` blob must decode or fail with an error, never panic or allocate without
//! bound; a decoded value must re-encode to bytes that decode and encode to the same bytes again,
//! and a decoded row must re-encode to bytes that decode. The readers a warm install uses agree
//! with `decode`: the view on every row it takes, the lean decode on every row.

use std::collections::HashMap;

use tack_store_dir::msgpackr;
use tack_store_dir::{CafsFileInfo, PackageFilesIndex};

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
    let decoded = msgpackr::decode(data);
    if let Ok(row) = &decoded {
        let encoded = msgpackr::encode(row);
        if let Err(e) = msgpackr::decode(&encoded) {
            panic!("{row:?} encoded to {encoded:?}, which fails: {e}");
        }
    }
    readers_of_a_warm_install_agree(data, &decoded);
}

/// A file as compared here: the float by its bits, so that a NaN equals itself.
type Compared<'a> = (&'a str, u32, u64, Option<u64>);

fn compared(info: &CafsFileInfo) -> Compared<'_> {
    (
        &info.digest,
        info.mode,
        info.size,
        info.checked_at.map(f64::to_bits),
    )
}

/// The row readers a warm install uses agree with [`msgpackr::decode`]: the view (the file
/// list read in place) on every row it takes, with a path listed twice folded as decode
/// folds it (the later file at the earlier place); the lean decode (the manifest read past)
/// on every row, accepting exactly what decode accepts.
fn readers_of_a_warm_install_agree(
    data: &[u8],
    decoded: &Result<PackageFilesIndex, msgpackr::DecodeError>,
) {
    if let Some(view) = msgpackr::decode_view(data) {
        let row = decoded
            .as_ref()
            .unwrap_or_else(|e| panic!("viewed but not decoded ({e}): {data:02x?}"));
        assert_eq!(Some(view.requires_build), row.requires_build, "{data:02x?}");
        assert_eq!(view.algo, row.algo, "{data:02x?}");
        let mut folded: Vec<Compared<'_>> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        for (path, file) in &view.files {
            let file = (
                file.digest,
                file.mode,
                file.size,
                file.checked_at.map(f64::to_bits),
            );
            match at.get(path) {
                Some(&i) => folded[i] = file,
                None => {
                    at.insert(path, folded.len());
                    folded.push(file);
                }
            }
        }
        let paths: Vec<&str> = row.files.keys().map(String::as_str).collect();
        let mut view_paths: Vec<&str> = at.keys().copied().collect();
        view_paths.sort_by_key(|p| at[p]);
        assert_eq!(view_paths, paths, "{data:02x?}");
        let files: Vec<Compared<'_>> = row.files.values().map(compared).collect();
        assert_eq!(folded, files, "{data:02x?}");
    }
    match (msgpackr::decode_lean(data), decoded) {
        (Ok((lean, _)), Ok(row)) => {
            assert_eq!(lean.algo, row.algo, "{data:02x?}");
            assert_eq!(lean.requires_build, row.requires_build, "{data:02x?}");
            let lean_files: Vec<_> = lean.files.iter().map(|(p, i)| (p, compared(i))).collect();
            let files: Vec<_> = row.files.iter().map(|(p, i)| (p, compared(i))).collect();
            assert_eq!(lean_files, files, "{data:02x?}");
        }
        (Err(_), Err(_)) => {}
        (lean, full) => panic!(
            "lean decode {:?} but decode {:?}: {data:02x?}",
            lean.map(|_| ()),
            full.as_ref().map(|_| ())
        ),
    }
}
