//! The version of the `node` on PATH, for `engines.node` checks and the scripts' user agent.
//!
//! Asking node (`node --version`) starts a process: about 30 ms of CPU on every install,
//! and on a warm install the plan waits for it. The answer changes only when the binary
//! does, so it is remembered per binary in `<cache>/node-versions.json`, keyed by the
//! binary's canonical path and its identity on disk (device, inode, size, mtime, ctime).
//!
//! Only a real node binary is remembered: the file PATH leads to, symlinks followed, must be
//! named `node` and be a native executable. A version manager's shim (a shell script, or a
//! link to the manager's own binary) can answer differently in every directory, so it is
//! asked every time.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

/// The cache file, inside tack's cache directory.
const CACHE_FILE: &str = "node-versions.json";
/// Binaries remembered at once; a machine rarely has more node installs than this.
const MAX_ENTRIES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// `dev:ino:size:mtime_ns:ctime_ns` of the binary when it answered.
    identity: String,
    version: String,
}

/// tack's own cache directory: `$XDG_CACHE_HOME/tack`, else `$HOME/.cache/tack`.
pub fn tack_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("tack"))
}

/// The version (`20.11.1`, no `v`) of the first `node` on `path`, from the cache in
/// `cache_dir` when the same binary answered before.
pub fn node_version_on_path(path: Option<&OsStr>, cache_dir: Option<&Path>) -> Option<String> {
    let program = tack_fs::find_executable(path?, "node")?;
    version_of(&program, cache_dir, ask)
}

/// What can be known about the `node` on PATH without starting a process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachedNode {
    /// No `node` on PATH (`None`), or the version remembered for the binary it leads to.
    Known(Option<String>),
    /// A binary the cache does not know, or one never remembered (a shim): it must be
    /// asked, with [`node_version_on_path`].
    MustAsk,
}

/// [`node_version_on_path`] when it needs no process. Cheap enough (a PATH walk, a stat and
/// a small file read) to run where a thread would have to wait for a core first.
pub fn cached_node_version_on_path(path: Option<&OsStr>, cache_dir: Option<&Path>) -> CachedNode {
    let Some(program) = path.and_then(|p| tack_fs::find_executable(p, "node")) else {
        return CachedNode::Known(None);
    };
    let remembered = cacheable_identity(&program).and_then(|(binary, identity)| {
        let cache = read_cache(&cache_dir?.join(CACHE_FILE));
        let entry = cache.get(binary.to_string_lossy().as_ref())?;
        (entry.identity == identity).then(|| entry.version.clone())
    });
    match remembered {
        Some(version) => CachedNode::Known(Some(version)),
        None => CachedNode::MustAsk,
    }
}

/// The version `ask` gets from `program`, or the one remembered for the same binary.
fn version_of(
    program: &Path,
    cache_dir: Option<&Path>,
    ask: impl Fn(&Path) -> Option<String>,
) -> Option<String> {
    let Some((binary, identity)) = cacheable_identity(program) else {
        return ask(program);
    };
    let cache_file = cache_dir.map(|d| d.join(CACHE_FILE));
    let mut cache = cache_file.as_deref().map(read_cache).unwrap_or_default();
    let key = binary.to_string_lossy().into_owned();
    if let Some(entry) = cache.get(&key).filter(|e| e.identity == identity) {
        return Some(entry.version.clone());
    }
    let version = ask(program)?;
    if let Some(file) = &cache_file {
        if cache.len() >= MAX_ENTRIES {
            cache.clear();
        }
        cache.insert(
            key,
            Entry {
                identity,
                version: version.clone(),
            },
        );
        // A cache that cannot be written only costs the next install a probe.
        if let Ok(json) = serde_json::to_vec(&cache) {
            let _ = tack_fs::AtomicWrite::new(file)
                .durable(false)
                .write_bytes(&json);
        }
    }
    Some(version)
}

/// Runs `program --version`.
fn ask(program: &Path) -> Option<String> {
    let out = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let version = String::from_utf8(out.stdout).ok()?;
    let version = version.trim().trim_start_matches('v');
    (!version.is_empty()).then(|| version.to_string())
}

/// The canonical binary behind `program` and its identity, when it is a native executable
/// named `node` (see the module doc); `None` for anything that may be a shim.
fn cacheable_identity(program: &Path) -> Option<(PathBuf, String)> {
    let binary = std::fs::canonicalize(program).ok()?;
    if binary.file_name() != Some(OsStr::new("node")) {
        return None;
    }
    let mut file = std::fs::File::open(&binary).ok()?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).ok()?;
    let native = matches!(
        magic,
        [0x7f, b'E', b'L', b'F'] | [0xcf, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe]
    );
    if !native {
        return None;
    }
    let meta = file.metadata().ok()?;
    let identity = format!(
        "{}:{}:{}:{}.{}:{}.{}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec()
    );
    Some((binary, identity))
}

fn read_cache(file: &Path) -> BTreeMap<String, Entry> {
    std::fs::read(file)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in `node` in `dir/bin`: an executable whose first bytes are the ELF magic
    /// when `native`, else a shell script. The tests answer for it instead of running it.
    fn fake_node(dir: &Path, native: bool, filler: &str) -> PathBuf {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let node = bin.join("node");
        let head = if native { "\x7fELF" } else { "#!/bin/sh\n" };
        std::fs::write(&node, format!("{head}{filler}")).unwrap();
        std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
        node
    }

    /// An answer of `version` that counts how often it was asked.
    fn answer<'a>(
        version: &'a str,
        asked: &'a Cell<usize>,
    ) -> impl Fn(&Path) -> Option<String> + 'a {
        move |_| {
            asked.set(asked.get() + 1);
            Some(version.to_string())
        }
    }

    #[test]
    fn a_native_node_is_asked_once_until_the_binary_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let node = fake_node(tmp.path(), true, "");
        let cache = tmp.path().join("cache");
        let asked = Cell::new(0);
        for _ in 0..2 {
            let v = version_of(&node, Some(&cache), answer("20.1.0", &asked));
            assert_eq!(v.as_deref(), Some("20.1.0"));
        }
        assert_eq!(asked.get(), 1, "the second install used the cache");

        // A new binary in the same place (another inode, size and ctime) is asked again.
        std::fs::remove_file(&node).unwrap();
        fake_node(tmp.path(), true, "a newer build");
        let v = version_of(&node, Some(&cache), answer("22.3.0", &asked));
        assert_eq!(v.as_deref(), Some("22.3.0"));
        assert_eq!(asked.get(), 2);
        // A corrupt cache file is ignored, then rewritten.
        std::fs::write(cache.join(CACHE_FILE), b"{not json").unwrap();
        for _ in 0..2 {
            let v = version_of(&node, Some(&cache), answer("22.3.0", &asked));
            assert_eq!(v.as_deref(), Some("22.3.0"));
        }
        assert_eq!(asked.get(), 3);
        // Without a cache dir, every call asks.
        version_of(&node, None, answer("22.3.0", &asked));
        assert_eq!(asked.get(), 4);
    }

    #[test]
    fn the_cache_alone_answers_only_for_a_remembered_binary() {
        let tmp = tempfile::tempdir().unwrap();
        let node = fake_node(tmp.path(), true, "");
        let path = node.parent().map(|d| d.as_os_str().to_owned());
        let cache = tmp.path().join("cache");
        let cached = || cached_node_version_on_path(path.as_deref(), Some(&cache));
        assert_eq!(cached(), CachedNode::MustAsk, "nothing remembered yet");
        let asked = Cell::new(0);
        version_of(&node, Some(&cache), answer("20.1.0", &asked));
        assert_eq!(cached(), CachedNode::Known(Some("20.1.0".to_string())));
        // Another binary in its place is not answered for.
        std::fs::remove_file(&node).unwrap();
        fake_node(tmp.path(), true, "a newer build");
        assert_eq!(cached(), CachedNode::MustAsk);
        // Nothing on PATH: known, no node.
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert_eq!(
            cached_node_version_on_path(Some(empty.as_os_str()), Some(&cache)),
            CachedNode::Known(None)
        );
        assert_eq!(asked.get(), 1);
    }

    #[test]
    fn shims_are_asked_every_time() {
        let asked = Cell::new(0);
        // A script (as asdf's shims are).
        let tmp = tempfile::tempdir().unwrap();
        let script = fake_node(tmp.path(), false, "exec real-node \"$@\"\n");
        let cache = tmp.path().join("cache");
        for _ in 0..2 {
            version_of(&script, Some(&cache), answer("18.0.0", &asked));
        }
        assert_eq!(asked.get(), 2);

        // A link to a native binary with another name (as volta's and mise's shims are).
        let real = fake_node(tmp.path(), true, "");
        let manager = real.with_file_name("version-manager");
        std::fs::rename(&real, &manager).unwrap();
        let shims = tmp.path().join("shims");
        std::fs::create_dir(&shims).unwrap();
        std::os::unix::fs::symlink(&manager, shims.join("node")).unwrap();
        for _ in 0..2 {
            version_of(&shims.join("node"), Some(&cache), answer("18.0.0", &asked));
        }
        assert_eq!(asked.get(), 4);
    }

    #[test]
    fn the_node_on_path_answers() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(
            node_version_on_path(Some(tmp.path().as_os_str()), None),
            None
        );
        assert_eq!(node_version_on_path(None, None), None);
        // The real node of this machine (the tests need one), twice: asked, then remembered.
        let path = std::env::var_os("PATH");
        let cache = tmp.path().join("cache");
        let first = node_version_on_path(path.as_deref(), Some(&cache)).expect("node on PATH");
        assert!(
            first.split('.').count() == 3 && !first.starts_with('v'),
            "{first}"
        );
        assert_eq!(
            node_version_on_path(path.as_deref(), Some(&cache)),
            Some(first)
        );
    }
}
