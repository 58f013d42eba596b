//! Helpers shared by the integration tests: a fake install tree in a temp dir.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tack_build::{BuildEvent, BuildGraph, BuildNode, LifecycleScripts, ScriptEnv};

/// A lockfile dir with `node_modules/.pnpm`.
pub struct Tree {
    pub tmp: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("node_modules/.pnpm/node_modules/.bin")).unwrap();
        Tree { tmp }
    }

    pub fn root(&self) -> PathBuf {
        self.tmp.path().canonicalize().unwrap()
    }

    pub fn vs(&self) -> PathBuf {
        self.root().join("node_modules/.pnpm")
    }

    /// Create `<vs>/<name>@<version>/node_modules/<name>` with a package.json.
    pub fn package(&self, name: &str, version: &str) -> PathBuf {
        let dir = self
            .vs()
            .join(format!("{}@{version}", name.replace('/', "+")))
            .join("node_modules")
            .join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("package.json"),
            format!(r#"{{"name":"{name}","version":"{version}"}}"#),
        )
        .unwrap();
        dir
    }

    pub fn env(&self) -> ScriptEnv {
        ScriptEnv::new(self.root(), self.vs(), Some("v20.0.0"))
    }
}

pub fn node(tree: &Tree, name: &str, version: &str, children: &[&str]) -> BuildNode {
    BuildNode {
        dep_path: format!("{name}@{version}"),
        name: name.to_string(),
        version: version.to_string(),
        dir: tree.package(name, version),
        children: children.iter().map(|c| c.to_string()).collect(),
        requires_build: false,
        patch: None,
        optional: false,
        scripts: LifecycleScripts::default(),
        gypfile: None,
        is_built: false,
        publish_to: None,
    }
}

pub fn graph(nodes: Vec<BuildNode>, roots: &[&str]) -> BuildGraph {
    BuildGraph {
        nodes: nodes.into_iter().map(|n| (n.dep_path.clone(), n)).collect(),
        roots: roots.iter().map(|r| r.to_string()).collect(),
    }
}

pub fn write_exe(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Records events as strings.
#[derive(Default)]
pub struct Events(pub Mutex<Vec<String>>);

impl Events {
    pub fn record(&self, e: &BuildEvent<'_>) {
        let s = match e {
            BuildEvent::ScriptStarted {
                prefix,
                stage,
                script,
            } => format!("{prefix} {stage}$ {script}"),
            BuildEvent::Output { prefix, line, .. } => format!("{prefix} | {line}"),
            BuildEvent::ScriptFinished {
                prefix,
                stage,
                success,
                ..
            } => {
                format!("{prefix} {stage} done={success}")
            }
            BuildEvent::Patched { prefix, patch_file } => format!("{prefix} patched {patch_file}"),
            BuildEvent::Warning { message } => format!("WARN {message}"),
            BuildEvent::SkippedOptional {
                name,
                version,
                details,
                ..
            } => format!("SKIPPED {name}@{version}: {details}"),
        };
        self.0.lock().unwrap().push(s);
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}
