//! The package index row (`PackageFilesIndex`) and its key, as pnpm stores them in
//! `index.db`: which files a package has, where they live in the CAS, and when they were
//! last checked.

use indexmap::IndexMap;

/// One `index.db` row: everything tack needs to import a package without its tarball.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PackageFilesIndex {
    /// The trimmed `package.json` pnpm keeps (name, version, bin, dependencies, …).
    pub manifest: Option<serde_json::Value>,
    pub requires_build: Option<bool>,
    /// Git dependencies only: whether the package needed its `prepare` step (pnpm's
    /// `requiresPrepare`), true even when that step was not run (`--ignore-scripts`).
    pub requires_prepare: Option<bool>,
    /// Hash algorithm of the `digest`s; pnpm writes `"sha512"`.
    pub algo: String,
    /// Relative path inside the package → file info, in tarball order.
    pub files: IndexMap<String, CafsFileInfo>,
    /// Side-effects cache: cache key → diff against `files`. Read and preserved.
    pub side_effects: Option<IndexMap<String, SideEffectsDiff>>,
    /// pnpm 12.15+: SRI of the uncompressed tar.
    pub tar_integrity: Option<String>,
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq)]
pub struct CafsFileInfo {
    /// Lowercase hex sha512 of the content (no `sha512-` prefix).
    pub digest: String,
    /// The raw tar header mode; executable when `mode & 0o111 != 0`.
    pub mode: u32,
    pub size: u64,
    /// Milliseconds since the epoch when the CAS file was last known good. Written as
    /// whole milliseconds (truncated), as pnpm 12 rejects fractional values.
    pub checked_at: Option<f64>,
}

impl CafsFileInfo {
    /// Whether the CAS file carries the `-exec` suffix.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

/// One file of a package, borrowed: from a [`CafsFileInfo`], or straight from a row's bytes
/// ([`crate::msgpackr::decode_view`]). What the verifier and the importer need of a file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CafsFileRef<'a> {
    pub digest: &'a str,
    pub mode: u32,
    pub size: u64,
    pub checked_at: Option<f64>,
}

impl CafsFileRef<'_> {
    /// Whether the CAS file carries the `-exec` suffix.
    pub fn is_executable(&self) -> bool {
        self.mode & 0o111 != 0
    }
}

impl<'a> From<&'a CafsFileInfo> for CafsFileRef<'a> {
    fn from(info: &'a CafsFileInfo) -> Self {
        CafsFileRef {
            digest: &info.digest,
            mode: info.mode,
            size: info.size,
            checked_at: info.checked_at,
        }
    }
}

/// A side-effects overlay: files added or changed by a build, and files it removed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SideEffectsDiff {
    pub added: Option<IndexMap<String, CafsFileInfo>>,
    pub deleted: Option<Vec<String>>,
}

/// The `index.db` key of a package: `"<integrity>\t<pkgId>"`, exactly as pnpm builds it.
pub fn store_index_key(integrity: &str, pkg_id: &str) -> String {
    let mut key = String::with_capacity(integrity.len() + 1 + pkg_id.len());
    key.push_str(integrity);
    key.push('\t');
    key.push_str(pkg_id);
    key
}

/// The key pnpm uses for git-hosted and integrity-less packages: `"<pkgId>\tbuilt"` or
/// `"<pkgId>\tnot-built"` (`built` when scripts are not ignored).
pub fn git_hosted_store_index_key(pkg_id: &str, built: bool) -> String {
    format!("{pkg_id}\t{}", if built { "built" } else { "not-built" })
}
