//! The tarball fuzz target's body, shared by the libFuzzer binary (`fuzz_targets/tarball.rs`)
//! and the stable smoke test (`crates/tarball/tests/fuzz_regressions.rs`).
//!
//! The input is either a raw archive (even first byte) or, so the fuzzer is not stuck behind
//! tar header checksums, a list of entries this file turns into a well-formed tar (odd first
//! byte): any path bytes, GNU long names, pax paths, hard links, symlinks, directories.
//! `unpack_tarball` writes into a store inside a temp dir; every file key it returns must be a
//! plain relative path, and "linking" the files the way the linker joins them must not create
//! anything outside the package directory (checked at every level between it and the temp dir).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tack_store_dir::{is_valid_digest, StoreDir};
use tack_tarball::{unpack_tarball, ExtractCaps};

struct Sandbox {
    _tmp: tempfile::TempDir,
    /// `<tmp>/a/b`: escapes through `..` show up in `<tmp>`, `<tmp>/a` or here.
    root: PathBuf,
    store: StoreDir,
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().join("a").join("b");
        let store = StoreDir::new(root.join("store"));
        store.ensure_layout().expect("store layout");
        Sandbox {
            _tmp: tmp,
            root,
            store,
        }
    })
}

pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let archive = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        build_tar(rest)
    };
    let sb = sandbox();
    let caps = ExtractCaps {
        max_unpacked_bytes: 1 << 20,
        max_entries: 256,
        max_entry_bytes: 256 << 10,
    };
    let Ok(unpacked) = unpack_tarball(archive.as_slice(), "fuzz@1.0.0", &sb.store, &caps) else {
        return;
    };
    assert!(unpacked.files.contains_key("package.json"));
    let vs = sb.root.join("vs");
    let pkg_dir = vs.join("fuzz@1.0.0").join("node_modules").join("fuzz");
    std::fs::create_dir_all(&pkg_dir).expect("package dir");
    for (key, file) in &unpacked.files {
        assert_plain_relative(key);
        assert!(
            is_valid_digest(&file.digest),
            "bad digest {:?}",
            file.digest
        );
        let src = sb.store.cas_path(&file.digest, file.mode & 0o111 != 0);
        assert!(src.is_file(), "{key}: {} is not in the CAS", src.display());
        let dst = pkg_dir.join(key);
        // Conflicts (a file and a directory of one name) are errors for the linker to report.
        if let Some(parent) = dst.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::copy(&src, &dst);
    }
    let tmp = sb.root.parent().and_then(Path::parent).expect("tmp");
    assert_only(tmp, &["a"]);
    assert_only(&tmp.join("a"), &["b"]);
    assert_only(&sb.root, &["store", "vs"]);
    assert_only(&vs, &["fuzz@1.0.0"]);
    assert_only(&vs.join("fuzz@1.0.0"), &["node_modules"]);
    assert_only(&vs.join("fuzz@1.0.0").join("node_modules"), &["fuzz"]);
    std::fs::remove_dir_all(&vs).expect("clean the virtual store");
}

/// A key the linker may join onto a package directory: no root, drive (a letter and a colon,
/// `c:`; a colon after anything else is an ordinary character of a name), `.`, `..`, empty
/// segment, backslash or NUL.
fn assert_plain_relative(key: &str) {
    assert!(!key.is_empty(), "empty key");
    assert!(!key.contains(['\\', '\0']), "key {key:?}");
    for part in key.split('/') {
        let bytes = part.as_bytes();
        let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
        assert!(
            !matches!(part, "" | "." | "..") && !drive,
            "key {key:?} has segment {part:?}"
        );
    }
}

fn assert_only(dir: &Path, names: &[&str]) {
    let entries = std::fs::read_dir(dir).expect("read dir");
    for entry in entries {
        let name = entry.expect("dir entry").file_name();
        assert!(
            names.iter().any(|n| name == *n),
            "{name:?} appeared in {} (escape)",
            dir.display()
        );
    }
}

/// Builds a tar from `\xff`-separated entries `<kind byte><path>[\xfe<content or link>]`.
fn build_tar(spec: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for raw in spec.split(|&b| b == 0xff) {
        let Some((&kind, rest)) = raw.split_first() else {
            continue;
        };
        let (path, body) = match rest.iter().position(|&b| b == 0xfe) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[][..]),
        };
        let exec = kind & 0x80 != 0;
        match kind % 8 {
            0 => entry(&mut out, path, b'0', body, b"", exec),
            1 => entry(&mut out, path, b'\0', body, b"", exec),
            2 => entry(&mut out, path, b'1', b"", body, exec),
            3 => entry(&mut out, path, b'2', b"", body, exec),
            4 => entry(&mut out, path, b'5', b"", b"", exec),
            5 => {
                // A GNU long name for the next entry.
                let mut name = path.to_vec();
                name.push(0);
                entry(&mut out, b"././@LongLink", b'L', &name, b"", false);
                entry(&mut out, b"package/short", b'0', body, b"", exec);
            }
            6 => {
                // A pax `path` record for the next entry.
                let mut record = Vec::new();
                let tail = [b" path=", path, b"\n"].concat();
                let mut len = tail.len() + 1;
                while len.to_string().len() + tail.len() != len {
                    len = len.to_string().len() + tail.len();
                }
                record.extend_from_slice(len.to_string().as_bytes());
                record.extend_from_slice(&tail);
                entry(&mut out, b"pax", b'x', &record, b"", false);
                entry(&mut out, b"package/short", b'0', body, b"", exec);
            }
            _ => entry(&mut out, path, b'7', body, b"", exec),
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn entry(out: &mut Vec<u8>, name: &[u8], kind: u8, content: &[u8], link: &[u8], exec: bool) {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    h[100..108].copy_from_slice(if exec { b"0000755\0" } else { b"0000644\0" });
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", content.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[148..156].copy_from_slice(b"        ");
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(content);
    out.resize(out.len().div_ceil(512) * 512, 0);
}
