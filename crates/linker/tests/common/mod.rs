//! Test helpers: a fake CAS (files named `<hex>` / `<hex>-exec`) and plan builders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use tack_linker::*;

pub struct Cas {
    pub dir: PathBuf,
    n: AtomicUsize,
}

impl Cas {
    pub fn new(root: &Path) -> Self {
        let dir = root.join("cas");
        std::fs::create_dir_all(&dir).unwrap();
        Cas {
            dir,
            n: AtomicUsize::new(0),
        }
    }

    /// Stores `content` as a CAS file; `exec` gives the `-exec` suffix (and mode 0755).
    pub fn add(&self, content: &str, exec: bool) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        let name = format!("{n:08x}{}", if exec { "-exec" } else { "" });
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    /// A package whose files are `(rel, content)`; a `package.json` is generated from
    /// `name`, `version` and `extra` (JSON object fields) unless present.
    pub fn package(
        &self,
        name: &str,
        version: &str,
        extra: &str,
        files: &[(&str, &str)],
    ) -> PlannedPackage {
        let mut list: Vec<(String, PathBuf)> = files
            .iter()
            .map(|(rel, content)| (rel.to_string(), self.add(content, rel.contains("bin/"))))
            .collect();
        if !files.iter().any(|(r, _)| *r == "package.json") {
            let sep = if extra.is_empty() { "" } else { "," };
            let manifest = format!(r#"{{"name":"{name}","version":"{version}"{sep}{extra}}}"#);
            list.push(("package.json".to_string(), self.add(&manifest, false)));
        }
        let dep_path = format!("{name}@{version}");
        PlannedPackage {
            dir_name: dep_path.replace('/', "+"),
            dep_path,
            name: name.to_string(),
            version: version.to_string(),
            files: PackageFiles::Cas(list),
            children: Vec::new(),
            has_bin: extra.contains("\"bin\""),
            has_bundled_dependencies: false,
            unlinked_optional_children: Vec::new(),
            force_copy: false,
        }
    }
}

pub fn dep(dep_path: &str) -> ChildTarget {
    ChildTarget::DepPath(dep_path.to_string())
}

pub fn importer(id: &str, dir: &Path, deps: &[(&str, ChildTarget)]) -> PlannedImporter {
    PlannedImporter {
        id: id.to_string(),
        dir: dir.to_path_buf(),
        name: None,
        version: None,
        deps: deps
            .iter()
            .map(|(alias, t)| ImporterDep {
                alias: alias.to_string(),
                target: t.clone(),
                group: DepGroup::Prod,
            })
            .collect(),
        peers_of_deps: Vec::new(),
        undeduped_deps: None,
    }
}

pub fn readlink(p: &Path) -> String {
    std::fs::read_link(p)
        .unwrap_or_else(|e| panic!("readlink {}: {e}", p.display()))
        .to_string_lossy()
        .into_owned()
}

pub fn ino(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.nlink())
}

pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
