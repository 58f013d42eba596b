//! The verdicts of earlier supply-chain checks (`release_age.rs`), so that a lockfile is
//! checked against the registry once, not on every install.
//!
//! pnpm keeps its verdicts in its own cache (`lockfile-verified.jsonl`); tack keeps its own
//! beside its other cached answers, `<tack cache>/lockfile-verified.jsonl`, one JSON line per
//! verdict: the lockfile's SHA-256, the policy it passed (the settings and the registries
//! asked), and when. A verdict never goes stale by itself: a version published before one
//! cutoff is before every later one. Another lockfile, another policy or another registry is
//! another key, checked afresh.
//!
//! Lines are appended with one `write` each (`O_APPEND`), so two installs finishing together
//! cannot interleave them; a torn or foreign line is skipped on reading. The file is cut back
//! to its newest lines once it grows past [`MAX_BYTES`]. A cache that cannot be read or
//! written only costs a new check: nothing here fails an install.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

const FILE_NAME: &str = "lockfile-verified.jsonl";
/// Past this size the file keeps only its newest lines, half of it.
const MAX_BYTES: u64 = 1 << 20;

/// What a verdict is for.
#[derive(Debug, Clone, PartialEq)]
pub struct VerdictKey {
    /// Hex SHA-256 of the lockfile's bytes.
    pub lockfile_hash: String,
    /// The policy the lockfile passed, as JSON.
    pub policy: Value,
}

/// The verdict cache, at `dir/lockfile-verified.jsonl`.
pub struct VerifiedLockfiles {
    path: PathBuf,
}

impl VerifiedLockfiles {
    /// The cache in tack's cache directory; `None` without a home directory.
    pub fn in_tack_cache() -> Option<Self> {
        tack_config::node_probe::tack_cache_dir().map(|dir| Self::in_dir(&dir))
    }

    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
        }
    }

    /// When the lockfile of `key` last passed `key`'s policy, as the recorded text
    /// (RFC 3339).
    pub fn verified_at(&self, key: &VerdictKey) -> Option<String> {
        let text = std::fs::read_to_string(&self.path).ok()?;
        text.lines().rev().find_map(|line| {
            let entry: Value = serde_json::from_str(line).ok()?;
            let matches = entry.get("lockfileHash").and_then(Value::as_str)
                == Some(key.lockfile_hash.as_str())
                && entry.get("policy") == Some(&key.policy);
            matches
                .then(|| entry.get("verifiedAt")?.as_str().map(str::to_owned))
                .flatten()
        })
    }

    /// Records that the lockfile of `key` passed at `verified_at` (RFC 3339). Best effort.
    pub fn record(&self, key: &VerdictKey, verified_at: &str) {
        let line = json!({
            "lockfileHash": key.lockfile_hash,
            "policy": key.policy,
            "verifiedAt": verified_at,
        });
        let _ = self.append(&format!("{line}\n"));
    }

    fn append(&self, line: &str) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        file.write_all(line.as_bytes())?;
        if file.metadata()?.len() > MAX_BYTES {
            self.cut_back()?;
        }
        Ok(())
    }

    /// Keeps the newest lines that fit in half of [`MAX_BYTES`], replacing the file
    /// atomically.
    fn cut_back(&self) -> std::io::Result<()> {
        let text = std::fs::read_to_string(&self.path)?;
        let mut size = 0;
        let mut kept: Vec<&str> = text
            .lines()
            .rev()
            .take_while(|line| {
                size += line.len() as u64 + 1;
                size <= MAX_BYTES / 2
            })
            .collect();
        kept.reverse();
        let mut body = kept.join("\n");
        body.push('\n');
        tack_fs::AtomicWrite::new(&self.path)
            .write_bytes(body.as_bytes())
            .map_err(std::io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: &str, minutes: u64) -> VerdictKey {
        VerdictKey {
            lockfile_hash: hash.to_string(),
            policy: json!({ "minimumReleaseAge": minutes }),
        }
    }

    #[test]
    fn a_verdict_is_found_for_its_own_lockfile_and_policy_only() {
        let dir = tempfile::tempdir().unwrap();
        let cache = VerifiedLockfiles::in_dir(&dir.path().join("nested"));
        assert_eq!(cache.verified_at(&key("aa", 1440)), None);
        cache.record(&key("aa", 1440), "2026-11-25T10:00:00.000Z");
        assert_eq!(
            cache.verified_at(&key("aa", 1440)).as_deref(),
            Some("2026-11-25T10:00:00.000Z")
        );
        assert_eq!(cache.verified_at(&key("bb", 1440)), None);
        assert_eq!(cache.verified_at(&key("aa", 60)), None);
    }

    #[test]
    fn torn_lines_are_skipped_and_a_large_file_keeps_its_newest_lines() {
        let dir = tempfile::tempdir().unwrap();
        let cache = VerifiedLockfiles::in_dir(dir.path());
        std::fs::write(
            dir.path().join(FILE_NAME),
            "{\"lockfileHash\":\"aa\",\"pol\n",
        )
        .unwrap();
        cache.record(&key("aa", 1), "t1");
        assert_eq!(cache.verified_at(&key("aa", 1)).as_deref(), Some("t1"));
        let filler = "x".repeat(2000);
        for i in 0..600 {
            cache.record(&key(&format!("{i}{filler}"), 1), "t");
        }
        let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert!(text.len() as u64 <= MAX_BYTES + 4096, "{}", text.len());
        assert_eq!(
            cache.verified_at(&key("aa", 1)),
            None,
            "the oldest line was cut"
        );
        assert!(cache
            .verified_at(&key(&format!("599{filler}"), 1))
            .is_some());
    }
}
