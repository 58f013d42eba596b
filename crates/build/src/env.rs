//! The environment a lifecycle script runs in, as pnpm 12 builds it (checked variable by
//! variable against real pnpm in `tests/builds.rs`):
//! - `INIT_CWD`, `PNPM_SCRIPT_SRC_DIR`, `npm_lifecycle_event`, `npm_lifecycle_script`,
//!   `npm_command`, `npm_config_user_agent`;
//! - `npm_package_json` and the `npm_package_*` set of npm 7, flattened from the manifest
//!   on disk: `name`, `version`, `config`, `engines` and `bin`;
//! - `NODE` and `npm_node_execpath` (the `node` on PATH), `npm_execpath` (this binary),
//!   `npm_config_node_gyp` (npm's node-gyp, unless set), and
//!   `pnpm_config_verify_deps_before_run=false`, so a nested `pnpm run` does not re-check an
//!   install that is still running;
//! - `TMPDIR` set to the package's own `node_modules/.tmp`, unless scripts run with
//!   `unsafePerm` (not root) and the user set one;
//! - a PATH that starts with the package's `node_modules/.bin` chain so scripts find their
//!   dependencies' bins.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Whose lifecycle script runs: pnpm builds a dependency's PATH with one more directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptOf {
    /// A workspace project's own script.
    Project,
    /// A dependency's script, in the virtual store.
    Dependency,
}

/// Settings shared by every script of one install.
#[derive(Debug, Clone)]
pub struct ScriptEnv {
    /// The lockfile dir (`INIT_CWD`).
    pub lockfile_dir: PathBuf,
    /// The project tack runs in (the lockfile dir unless run from a workspace project):
    /// script output is prefixed with the package dir relative to it.
    pub prefix_dir: PathBuf,
    /// The install's state dir (`<root>/node_modules/.pnpm`, also under the global virtual
    /// store, where packages live elsewhere): its `node_modules/.bin` holds the hoisted bins.
    pub install_state_dir: PathBuf,
    /// `npm_config_user_agent`.
    pub user_agent: String,
    /// Directories put right after the `.bin` chain (node-gyp's `node-gyp-bin`), as pnpm
    /// puts its bundled one.
    pub extra_bin_paths: Vec<PathBuf>,
    /// The PATH to extend (normally the process's own).
    pub base_path: Option<OsString>,
    /// Extra variables set for every script.
    pub extra_env: Vec<(String, String)>,
    /// The `node` on PATH (`NODE`, `npm_node_execpath`).
    pub node_path: Option<PathBuf>,
    /// The running package manager (`npm_execpath`).
    pub exec_path: Option<PathBuf>,
    /// node-gyp's entry script (`npm_config_node_gyp`), when one is known and the user has
    /// not set that variable.
    pub node_gyp: Option<PathBuf>,
    /// A `TMPDIR` of the user's own, kept only when scripts run with `unsafePerm`.
    pub user_tmp_dir: Option<OsString>,
    /// npm's `unsafe-perm`: true unless running as root.
    pub unsafe_perm: bool,
    /// `scriptShell`: the shell scripts run in (`<shell> -c <script>`), `sh` when unset.
    pub script_shell: Option<String>,
    /// `NODE_PATH` for dependency scripts: under the global virtual store a package is
    /// built in a slot outside the project, from which walking up never reaches the
    /// project's hoisted packages, so pnpm 12 names them here.
    pub dependency_node_path: Option<OsString>,
}

impl ScriptEnv {
    /// The shell scripts run in.
    pub fn shell(&self) -> &str {
        self.script_shell.as_deref().unwrap_or("sh")
    }
}

impl ScriptEnv {
    /// Defaults for an install rooted at `lockfile_dir` with its state (the hidden hoisting
    /// dir) in `install_state_dir`; the user agent names tack and `node_version` (e.g.
    /// `v20.11.0`).
    pub fn new(
        lockfile_dir: PathBuf,
        install_state_dir: PathBuf,
        node_version: Option<&str>,
    ) -> Self {
        let base_path = std::env::var_os("PATH");
        ScriptEnv {
            prefix_dir: lockfile_dir.clone(),
            lockfile_dir,
            install_state_dir,
            user_agent: user_agent(node_version),
            extra_bin_paths: Vec::new(),
            node_path: base_path
                .as_deref()
                .and_then(|p| tack_fs::find_executable(p, "node")),
            base_path,
            extra_env: Vec::new(),
            exec_path: std::env::current_exe().ok(),
            node_gyp: None,
            user_tmp_dir: std::env::var_os("TMPDIR").filter(|v| !v.is_empty()),
            // SAFETY: geteuid has no preconditions and cannot fail.
            unsafe_perm: unsafe { libc::geteuid() } != 0,
            script_shell: None,
            dependency_node_path: None,
        }
    }

    /// The `TMPDIR` for a script running in `pkg_dir`: the user's own under `unsafePerm`,
    /// else `<pkg_dir>/node_modules/.tmp` (which the runner creates).
    pub fn tmp_dir_for(&self, pkg_dir: &Path) -> Option<PathBuf> {
        if self.unsafe_perm && self.user_tmp_dir.is_some() {
            return None;
        }
        Some(pkg_dir.join("node_modules").join(".tmp"))
    }

    /// The PATH for a script running in `pkg_dir`, in pnpm's order: the `node_modules/.bin`
    /// chain, the extra dirs (node-gyp's), for a dependency the hidden hoisting dir's
    /// `.bin`, the lockfile dir's `node_modules/.bin`, then the original PATH.
    pub fn path_for(&self, pkg_dir: &Path, of: ScriptOf) -> OsString {
        let mut dirs = bin_chain(pkg_dir);
        dirs.extend(self.extra_bin_paths.iter().cloned());
        if of == ScriptOf::Dependency {
            dirs.push(self.install_state_dir.join("node_modules").join(".bin"));
        }
        dirs.push(self.lockfile_dir.join("node_modules").join(".bin"));
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

    /// Every variable to set for `stage` of the package in `pkg_dir` whose manifest is
    /// `manifest`.
    pub fn vars_for(
        &self,
        pkg_dir: &Path,
        manifest: &Value,
        of: ScriptOf,
        stage: &str,
        script: &str,
    ) -> Vec<(String, OsString)> {
        let mut vars: Vec<(String, OsString)> = vec![
            ("PATH".into(), self.path_for(pkg_dir, of)),
            (
                "INIT_CWD".into(),
                self.lockfile_dir.clone().into_os_string(),
            ),
            ("PNPM_SCRIPT_SRC_DIR".into(), pkg_dir.as_os_str().to_owned()),
            ("npm_lifecycle_event".into(), stage.into()),
            ("npm_lifecycle_script".into(), script.into()),
            (
                "npm_package_json".into(),
                pkg_dir.join("package.json").into_os_string(),
            ),
            (
                "npm_config_user_agent".into(),
                self.user_agent.clone().into(),
            ),
            ("npm_command".into(), "install".into()),
            ("pnpm_config_verify_deps_before_run".into(), "false".into()),
        ];
        vars.extend(
            package_vars(manifest)
                .into_iter()
                .map(|(k, v)| (k, OsString::from(v))),
        );
        if let Some(node) = &self.node_path {
            vars.push(("NODE".into(), node.clone().into_os_string()));
            vars.push(("npm_node_execpath".into(), node.clone().into_os_string()));
        }
        if let Some(exe) = &self.exec_path {
            vars.push(("npm_execpath".into(), exe.clone().into_os_string()));
        }
        if let Some(gyp) = &self.node_gyp {
            vars.push(("npm_config_node_gyp".into(), gyp.clone().into_os_string()));
        }
        if let Some(tmp) = self.tmp_dir_for(pkg_dir) {
            vars.push(("TMPDIR".into(), tmp.into_os_string()));
        }
        if let (ScriptOf::Dependency, Some(node_path)) = (of, &self.dependency_node_path) {
            vars.push(("NODE_PATH".into(), node_path.clone()));
        }
        for (k, v) in &self.extra_env {
            vars.push((k.clone(), v.into()));
        }
        vars
    }
}

/// The `npm_package_*` variables pnpm 12 sets (npm 7's set): `name`, `version`, `config`,
/// `engines` and `bin` of `manifest`, flattened with `_` between object keys and array
/// indexes. `null` becomes an empty string, booleans and numbers their JSON text; a string
/// `bin` stays `npm_package_bin`. Any character of a name that a shell variable cannot hold
/// becomes `_` (`bin: {"my-cli": …}` is `npm_package_bin_my_cli`).
pub fn package_vars(manifest: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in ["name", "version", "config", "engines", "bin"] {
        if let Some(value) = manifest.get(key) {
            flatten(&format!("npm_package_{key}"), value, &mut out);
        }
    }
    for (name, _) in &mut out {
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            *name = name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
        }
    }
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}_{i}"), item, out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&format!("{prefix}_{k}"), v, out);
            }
        }
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

/// The user agent scripts see: pnpm 12.21.0's first (`pnpm/12.21.0 npm/? node/<ver> <platform>
/// <arch>`), as tack installs what pnpm 12.21.0 installs, so that a project's
/// `preinstall: npx only-allow pnpm` (which reads the first word) lets it install; then
/// `tack/<ver>`, so that a script that cares can tell.
pub fn user_agent(node_version: Option<&str>) -> String {
    let node = node_version.unwrap_or("v?");
    format!(
        "pnpm/12.21.0 npm/? node/{node} {} {} tack/{}",
        node_platform(),
        node_arch(),
        env!("CARGO_PKG_VERSION"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn package_vars_flatten_like_pnpm() {
        let manifest = json!({
            "name": "@scope/pkg",
            "version": "1.0.0",
            "description": "not exported",
            "config": {"port": 80, "dash-key.x": "y", "list": ["a", null, false, true]},
            "bin": "cli.js",
        });
        let mut vars = package_vars(&manifest);
        vars.sort();
        let expected: Vec<(String, String)> = [
            ("npm_package_bin", "cli.js"),
            ("npm_package_config_dash_key_x", "y"),
            ("npm_package_config_list_0", "a"),
            ("npm_package_config_list_1", ""),
            ("npm_package_config_list_2", "false"),
            ("npm_package_config_list_3", "true"),
            ("npm_package_config_port", "80"),
            ("npm_package_name", "@scope/pkg"),
            ("npm_package_version", "1.0.0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(vars, expected);
    }

    #[test]
    fn tmpdir_is_package_local_unless_unsafe_perm_keeps_the_users() {
        let mut env = ScriptEnv::new(
            PathBuf::from("/p"),
            PathBuf::from("/p/node_modules/.pnpm"),
            None,
        );
        let local = Some(PathBuf::from("/p/pkg/node_modules/.tmp"));
        env.user_tmp_dir = Some("/my/tmp".into());
        env.unsafe_perm = false;
        assert_eq!(env.tmp_dir_for(Path::new("/p/pkg")), local);
        env.unsafe_perm = true;
        assert_eq!(env.tmp_dir_for(Path::new("/p/pkg")), None);
        env.user_tmp_dir = None;
        assert_eq!(env.tmp_dir_for(Path::new("/p/pkg")), local);
        let vars = env.vars_for(
            Path::new("/p/pkg"),
            &json!({}),
            ScriptOf::Dependency,
            "install",
            "true",
        );
        assert!(vars.contains(&("TMPDIR".into(), "/p/pkg/node_modules/.tmp".into())));
    }
}
