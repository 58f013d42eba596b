//! The no-op gate: decide "Already up to date" from file metadata alone, before parsing the
//! lockfile, reading config or starting any runtime.
//!
//! The last install recorded, in the workspace state file, the mtime and size of the lockfile,
//! every manifest and `pnpm-workspace.yaml`, and the flags it ran with. It also wrote
//! `.pnpm/.tack-markers`, the completion marker of every package directory. When all stamps and
//! flags match and every marker still exists, nothing can have changed the tree tack would
//! build. A missing marker (a damaged package dir) sends the run down the full path, which
//! repairs it. A store whose `index.db` is gone (wiped between runs) also sends it down the full
//! path, which re-fetches every package into the store.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tack_linker::{read_workspace_state, LinkPlan, PlannedImporter, COMPLETION_MARKER};

use crate::args::InstallArgs;
use crate::error::CliError;

/// The marker list's file name inside the virtual store (dot files are not packages).
pub const MARKERS_FILE: &str = ".tack-markers";

/// The flags that change what an install builds; recorded in the workspace state's `settings`
/// with pnpm's key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flags {
    pub dev: bool,
    pub production: bool,
    pub optional: bool,
}

impl From<&InstallArgs> for Flags {
    fn from(args: &InstallArgs) -> Self {
        Flags {
            dev: !args.prod,
            production: !args.dev,
            optional: !args.no_optional,
        }
    }
}

impl Flags {
    pub fn settings(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert("dev".into(), Value::Bool(self.dev));
        map.insert("optional".into(), Value::Bool(self.optional));
        map.insert("production".into(), Value::Bool(self.production));
        map
    }
}

/// True when the tree under `root` is exactly what an install with `flags` would build.
pub fn is_up_to_date(root: &Path, flags: &Flags) -> bool {
    let modules = root.join("node_modules");
    let Some(state) = read_workspace_state(&modules) else {
        return false;
    };
    // A filtered install linked only part of the workspace.
    if state.filtered_install {
        return false;
    }
    let settings = flags.settings();
    if settings
        .iter()
        .any(|(k, v)| state.settings.get(k) != Some(v))
    {
        return false;
    }
    let Some(validation) = &state.validation else {
        return false;
    };
    let files: Vec<PathBuf> = validation.files.keys().map(PathBuf::from).collect();
    if files.is_empty() || !state.inputs_unchanged(&files) {
        return false;
    }
    // A wiped or replaced store must be refilled even though node_modules looks complete.
    let Some(modules_yaml) = tack_linker::read_modules_yaml(&modules) else {
        return false;
    };
    if !Path::new(&modules_yaml.store_dir)
        .join("index.db")
        .is_file()
    {
        return false;
    }
    let vstore = modules.join(".pnpm");
    let Ok(markers) = std::fs::read_to_string(vstore.join(MARKERS_FILE)) else {
        return false;
    };
    markers
        .lines()
        .filter(|l| !l.is_empty())
        .all(|rel| vstore.join(rel).exists())
}

/// The files whose stamps decide the no-op: the lockfile, `pnpm-workspace.yaml` and every
/// importer's `package.json`.
pub fn validated_files(
    lockfile_dir: &Path,
    lockfile: &Path,
    importers: &[PlannedImporter],
) -> Vec<PathBuf> {
    let mut files = vec![lockfile.to_path_buf()];
    let workspace_yaml = lockfile_dir.join("pnpm-workspace.yaml");
    if workspace_yaml.exists() {
        files.push(workspace_yaml);
    }
    for importer in importers {
        files.push(importer.dir.join("package.json"));
    }
    files.sort();
    files.dedup();
    files
}

/// Records every package's completion marker for the next run's gate.
pub fn write_markers(plan: &LinkPlan) -> Result<(), CliError> {
    let mut text = String::new();
    for pkg in &plan.packages {
        text.push_str(&format!(
            "{}/node_modules/{}/{COMPLETION_MARKER}\n",
            pkg.dir_name, pkg.name
        ));
    }
    tack_fs::AtomicWrite::new(plan.virtual_store_dir.join(MARKERS_FILE))
        .write_bytes(text.as_bytes())
        .map_err(CliError::from)
}
