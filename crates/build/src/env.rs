//! The environment a lifecycle script runs in, as pnpm (via npm-lifecycle) builds it:
//! `INIT_CWD`, `PNPM_SCRIPT_SRC_DIR`, `npm_lifecycle_event`, `npm_package_*`,
//! `npm_config_user_agent`, `npm_command`, and a PATH that starts with the package's
//! `node_modules/.bin` chain so scripts find their dependencies' bins.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Settings shared by every script of one install.
#[derive(Debug, Clone)]
pub struct ScriptEnv {
    /// The lockfile dir (`INIT_CWD`, and the base of the output prefixes).
    pub lockfile_dir: PathBuf,
    /// The virtual store dir (`<root>/node_modules/.pnpm`): its `node_modules/.bin` holds the
    /// hoisted bins.
    pub virtual_store_dir: PathBuf,
    /// `npm_config_user_agent`.
    pub user_agent: String,
    /// Directories put after the `.bin` chain and before the original PATH (e.g. a bundled
    /// `node-gyp-bin`).
    pub extra_bin_paths: Vec<PathBuf>,
    /// The PATH to extend (normally the process's own).
    pub base_path: Option<OsString>,
    /// Extra variables set for every script.
    pub extra_env: Vec<(String, String)>,
}

impl ScriptEnv {
    /// Defaults for an install rooted at `lockfile_dir` with the virtual store at
    /// `virtual_store_dir`; the user agent names tack and `node_version` (e.g. `v20.11.0`).
    pub fn new(
        lockfile_dir: PathBuf,
        virtual_store_dir: PathBuf,
        node_version: Option<&str>,
    ) -> Self {
        ScriptEnv {
            lockfile_dir,
            virtual_store_dir,
            user_agent: user_agent(node_version),
            extra_bin_paths: Vec::new(),
            base_path: std::env::var_os("PATH"),
            extra_env: Vec::new(),
        }
    }

    /// The PATH for a script running in `pkg_dir`.
    pub fn path_for(&self, pkg_dir: &Path) -> OsString {
        let mut dirs = bin_chain(pkg_dir);
        let hoisted = self.virtual_store_dir.join("node_modules").join(".bin");
        if !dirs.contains(&hoisted) {
            dirs.push(hoisted);
        }
        dirs.extend(self.extra_bin_paths.iter().cloned());
        let mut joined = std::env::join_paths(dirs.iter()).unwrap_or_default();
        if let Some(base) = &self.base_path {
            if !base.is_empty() {
                if !joined.is_empty() {
                    joined.push(":");
                }
                joined.push(base);
            }
        }
        joined
    }

    /// Every variable to set for `stage` of package `name@version` in `pkg_dir`.
    pub fn vars_for(
        &self,
        pkg_dir: &Path,
        name: &str,
        version: &str,
        stage: &str,
        script: &str,
    ) -> Vec<(String, OsString)> {
        let mut vars: Vec<(String, OsString)> = vec![
            ("PATH".into(), self.path_for(pkg_dir)),
            (
                "INIT_CWD".into(),
                self.lockfile_dir.clone().into_os_string(),
            ),
            ("PNPM_SCRIPT_SRC_DIR".into(), pkg_dir.as_os_str().to_owned()),
            ("npm_lifecycle_event".into(), stage.into()),
            ("npm_lifecycle_script".into(), script.into()),
            ("npm_package_name".into(), name.into()),
            ("npm_package_version".into(), version.into()),
            (
                "npm_package_json".into(),
                pkg_dir.join("package.json").into_os_string(),
            ),
            (
                "npm_config_user_agent".into(),
                self.user_agent.clone().into(),
            ),
            ("npm_command".into(), "install".into()),
        ];
        for (k, v) in &self.extra_env {
            vars.push((k.clone(), v.into()));
        }
        vars
    }
}

/// `<pkg>/node_modules/.bin` followed by `<ancestor>/.bin` for every ancestor of `pkg_dir`
/// named `node_modules`, nearest first.
pub fn bin_chain(pkg_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![pkg_dir.join("node_modules").join(".bin")];
    let mut cur = pkg_dir.parent();
    while let Some(dir) = cur {
        if dir.file_name().is_some_and(|n| n == "node_modules") {
            dirs.push(dir.join(".bin"));
        }
        cur = dir.parent();
    }
    dirs
}

/// pnpm-like user agent: `tack/<ver> npm/? node/<ver> <platform> <arch>`.
pub fn user_agent(node_version: Option<&str>) -> String {
    let node = node_version.unwrap_or("v?");
    format!(
        "tack/{} npm/? node/{node} {} {}",
        env!("CARGO_PKG_VERSION"),
        node_platform(),
        node_arch()
    )
}

/// `process.platform` of this host.
pub fn node_platform() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        "windows" => "win32",
        other => other,
    }
}

/// `process.arch` of this host.
pub fn node_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        "x86" => "ia32",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The version of the `node` on PATH (`v20.11.0`), or `None` when it cannot be run.
pub fn detect_node_version() -> Option<String> {
    let out = std::process::Command::new("node")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!v.is_empty()).then_some(v)
}
