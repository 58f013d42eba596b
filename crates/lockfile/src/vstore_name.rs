//! Virtual-store directory names (`node_modules/.pnpm/<name>`), computed exactly as pnpm's
//! `depPathToFilename` does (§4.1), so tack and pnpm share one `node_modules/.pnpm`.

use sha2::{Digest, Sha256};

/// pnpm's default `virtualStoreDirMaxLength` on Linux and macOS.
pub const DEFAULT_VIRTUAL_STORE_DIR_MAX_LENGTH: usize = 120;

/// The directory name of a dep path inside the virtual store.
pub fn dep_path_to_filename(dep_path: &str, max_len: usize) -> String {
    let unescaped = unescaped(dep_path);
    let mut filename = String::with_capacity(unescaped.len());
    filename.extend(unescaped.chars().map(|c| match c {
        '\\' | '/' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '#' => '+',
        other => other,
    }));
    if filename.contains('(') {
        if filename.ends_with(')') {
            filename.pop();
        }
        filename = filename.replace(")(", "_").replace(['(', ')'], "_");
    }
    // pnpm 12: a URL or path whose `+ # : ?` became `+` could share a name with one that had
    // `/` there, so it keeps the name and gains a hash of the dep path.
    if is_ambiguous_location(dep_path) {
        let hash = hex::encode(Sha256::digest(dep_path.as_bytes()));
        let named = format!("{filename}_{}", &hash[..32]);
        if utf16_len(&named) <= max_len {
            return named;
        }
        // Too long: cut as any long name is, still with the dep path's hash.
        let keep = max_len.saturating_sub(33);
        return format!("{}_{}", utf16_prefix(&filename, keep), &hash[..32]);
    }
    let too_long = utf16_len(&filename) > max_len;
    let has_upper = !is_lowercase(&filename) && !filename.starts_with("file+");
    if too_long || has_upper {
        let keep = max_len.saturating_sub(33);
        let hash = hex::encode(Sha256::digest(filename.as_bytes()));
        return format!("{}_{}", utf16_prefix(&filename, keep), &hash[..32]);
    }
    filename
}

/// Whether a dep path's version is a URL or a local path (`file:`, `http(s):`, `git…:`) whose
/// part after the protocol holds a character the name turns into `+` where `/` could have
/// been: `+`, `#`, `:` or `?` (a port, a fragment, a query, a `+` in a directory name).
fn is_ambiguous_location(dep_path: &str) -> bool {
    let without_peers = dep_path.split('(').next().unwrap_or(dep_path);
    let version = match without_peers.get(1..).and_then(|rest| rest.find('@')) {
        Some(at) => &without_peers[at + 2..],
        None => without_peers,
    };
    let Some((protocol, rest)) = version.split_once(':') else {
        return false;
    };
    let located = matches!(protocol, "file" | "http" | "https") || protocol.starts_with("git");
    located && rest.contains(['+', '#', ':', '?'])
}

/// Whether `text` is its own lowercase (`text == text.to_lowercase()`), without making the
/// lowercase copy: every character maps to itself. (`str::to_lowercase`'s one contextual
/// rule, a final `Σ`, changes a character that a per-character mapping changes too.)
fn is_lowercase(text: &str) -> bool {
    if text.is_ascii() {
        return !text.bytes().any(|b| b.is_ascii_uppercase());
    }
    text.chars().all(|c| {
        let mut lower = c.to_lowercase();
        lower.next() == Some(c) && lower.next().is_none()
    })
}

/// `depPathToFilenameUnescaped`: `file:` paths get their first `:` replaced by `+`; a leading `/`
/// (pre-v9 keys) is dropped.
fn unescaped(dep_path: &str) -> String {
    if let Some(rest) = dep_path.strip_prefix("file:") {
        return format!("file+{rest}");
    }
    dep_path.strip_prefix('/').unwrap_or(dep_path).to_string()
}

/// Length in UTF-16 code units, as JavaScript's `String#length` counts.
fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// The longest prefix of at most `units` UTF-16 code units (JavaScript's `substring(0, units)`,
/// never splitting a character).
fn utf16_prefix(text: &str, units: usize) -> &str {
    let mut count = 0;
    for (index, c) in text.char_indices() {
        count += c.len_utf16();
        if count > units {
            return &text[..index];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same answer as comparing with `to_lowercase()`, for ASCII and for characters
    /// whose lowercase is longer, contextual or the same.
    #[test]
    fn is_lowercase_is_to_lowercase_unchanged() {
        for text in [
            "",
            "a",
            "A",
            "left-pad@1.3.0",
            "Left-pad@1.3.0",
            "@scope+x@1.0.0_y@2.0.0",
            "é",
            "É",
            "ß",
            "ẞ",
            "İ",
            "ı",
            "σ",
            "Σ",
            "ΑΣ",
            "aς",
            "ǅ",
            "ǆ",
            "日本",
            "x日本Y",
            "\u{10428}",
            "\u{10400}",
        ] {
            assert_eq!(is_lowercase(text), text == text.to_lowercase(), "{text:?}");
        }
    }

    #[test]
    fn names_match_pnpm() {
        let cases = [
            ("@sindresorhus/is@4.6.0", "@sindresorhus+is@4.6.0"),
            (
                "use-sync-external-store@1.2.0(react@18.3.1)",
                "use-sync-external-store@1.2.0_react@18.3.1",
            ),
            ("c@file:local/c", "c@file+local+c"),
            (
                "JSONStream@1.3.5",
                "JSONStream@1.3.5_fb8f73c374dcf7070ffed90b688edabd",
            ),
            (
                "a@1.0.0(b@2.0.0(c@3.0.0))(d@1.0.0)",
                "a@1.0.0_b@2.0.0_c@3.0.0__d@1.0.0",
            ),
            (
                "is-positive@1.0.0(patch_hash=ff46af8dc0fb392732944abc44898b92bad3bed22ccb52003d66db5e5a292c86)",
                "is-positive@1.0.0_patch_hash=ff46af8dc0fb392732944abc44898b92bad3bed22ccb52003d66db5e5a292c86",
            ),
            ("tar-pkg@file:tar-pkg-1.0.0.tgz", "tar-pkg@file+tar-pkg-1.0.0.tgz"),
            ("file:Local/X", "file+Local+X"),
            // pnpm 12 hashes the dep path of a location with `+ # : ?` after its protocol.
            (
                "ms@http://127.0.0.1:8765/ms-2.1.3.tgz",
                "ms@http+++127.0.0.1+8765+ms-2.1.3.tgz_a77655337d48dd37e2bce23e8ed9df84",
            ),
            ("locx@file:loc+x", "locx@file+loc+x_e84b812afe05fa96b2f1bf9e8b6f98cf"),
            (
                "is-odd@http://127.0.0.1:8765/is-odd-3.0.1.tgz#sha=1",
                "is-odd@http+++127.0.0.1+8765+is-odd-3.0.1.tgz+sha=1_6f2ce9d8fb3ff14f76fa1f1302bd59bd",
            ),
            ("ms@http://127.0.0.1/ms-2.1.3.tgz", "ms@http+++127.0.0.1+ms-2.1.3.tgz"),
            // Too long with its hash: cut to 87 characters, the hash still the dep path's
            // (names pnpm 12 gave git-hosted archives).
            (
                "gitignore-pkg@http://127.0.0.1:47211/o/a3/tar.gz/c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
                "gitignore-pkg@http+++127.0.0.1+47211+o+a3+tar.gz+c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3_f978ea5bce43d4d58bd5ca4e478aa539",
            ),
            (
                "ysub@git+file:///tmp/git42/repos/y.git#36bba673e69adcda3e94af672cd88c5604d3809d&path:/packages/sub",
                "ysub@git+file++++tmp+git42+repos+y.git+36bba673e69adcda3e94af672cd88c5604d3809d&path++p_2faea847f06a9c4a2268d51bc9edce95",
            ),
            (
                "x@git+file:///tmp/git42/repos/x.git#67fbd00e5dc72bbe3a7cc90e27be2766f2cc47c8",
                "x@git+file++++tmp+git42+repos+x.git+67fbd00e5dc72bbe3a7cc90e27be2766f2cc47c8_c6a5dfed6196e8adb65c045f2cb82ad9",
            ),
        ];
        for (dep_path, want) in cases {
            assert_eq!(dep_path_to_filename(dep_path, 120), want, "{dep_path}");
        }
    }

    #[test]
    fn long_names_are_hashed_to_max_length() {
        let dep_path = format!("a@1.0.0({})", "b".repeat(200));
        let name = dep_path_to_filename(&dep_path, 120);
        assert_eq!(name.len(), 120);
        assert!(name.starts_with("a@1.0.0_bbbb"));
        assert_eq!(name.as_bytes()[87], b'_');
        let short = dep_path_to_filename(&dep_path, 60);
        assert_eq!(short.len(), 60);
    }
}
