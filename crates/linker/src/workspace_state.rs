//! `node_modules/.pnpm-workspace-state-v1.json`: the projects and settings of the last
//! install, plus a `validation` block with the mtime, size and content digest of the lockfile
//! and every manifest, so the CLI can answer "Already up to date" without parsing anything.
//! The digest keeps that answer when only a file's times changed (a `touch`, a fresh checkout,
//! a CI cache restored over a new clone), as pnpm 12's own check keeps it.

use crate::plan::LinkPlan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File name under the root modules dir.
pub const WORKSPACE_STATE_FILE: &str = ".pnpm-workspace-state-v1.json";

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceState {
    /// Milliseconds since the epoch.
    pub last_validated_timestamp: u64,
    /// `{absDir: {name, version}}`.
    pub projects: BTreeMap<String, ProjectInfo>,
    /// `pnpmfiles`.
    #[serde(default)]
    pub pnpmfiles: Vec<String>,
    /// `filteredInstall`.
    #[serde(default)]
    pub filtered_install: bool,
    /// `configDependencies`, as declared (pnpm 12 compares it to tell whether the config
    /// dependencies changed since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_dependencies: Option<serde_json::Value>,
    /// The settings that affect the install.
    #[serde(default)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// mtime/size of the inputs at write time.
    #[serde(default)]
    pub validation: Option<Validation>,
}

/// A project's manifest identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The recorded input files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    /// Nanoseconds since the epoch when recorded.
    pub recorded_at_ns: u128,
    /// `{absPath: {mtimeNs, ctimeNs, size}}`.
    pub files: BTreeMap<String, FileStamp>,
}

// The stamps' type and how they are taken are shared with the configuration, which stamps the
// manifests as it reads them.
pub use tack_config::input_stamp::{content_digest, stamp, stamp_with_digest, FileStamp};

impl WorkspaceState {
    /// True when every recorded file still has its recorded mtime, change time and size, or
    /// its size and content digest, and the set of files equals `files` (the lockfile and
    /// manifests the CLI would record now). A file is read only when a time moved. The change
    /// time catches content written back with its old mtime restored (`tar x`, `cp -p`,
    /// `rsync -a`, `touch -d`), which the mtime alone took for unchanged.
    pub fn inputs_unchanged(&self, files: &[PathBuf]) -> bool {
        let Some(v) = &self.validation else {
            return false;
        };
        if v.files.len() != files.len() {
            return false;
        }
        files.iter().all(|f| {
            let key = f.to_string_lossy();
            match (v.files.get(key.as_ref()), stamp(f)) {
                (Some(rec), Some(now)) if rec.size == now.size => {
                    // A file of a directory dependency, stamped without a digest, has its
                    // change time moved by the install's own hard links to it.
                    let times = rec.mtime_ns == now.mtime_ns
                        && (rec.digest.is_none() || rec.ctime_ns == now.ctime_ns);
                    times || rec.digest.is_some() && rec.digest == content_digest(f)
                }
                _ => false,
            }
        })
    }
}

/// Reads `<root>/node_modules/.pnpm-workspace-state-v1.json`.
pub fn read_workspace_state(root_modules_dir: &Path) -> Option<WorkspaceState> {
    let text = std::fs::read(root_modules_dir.join(WORKSPACE_STATE_FILE)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Builds and atomically writes the state file for `plan` (no-op without `workspace_state`).
/// A file that cannot be written fails nothing: the install is complete without it (the next
/// one takes the full path), and pnpm 12 only warns. `Some` is that warning, in its words.
pub(crate) fn write_workspace_state(plan: &LinkPlan) -> Option<String> {
    let input = plan.workspace_state.as_ref()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let projects = plan
        .importers
        .iter()
        .map(|i| {
            (
                i.dir.to_string_lossy().into_owned(),
                ProjectInfo {
                    name: i.name.clone(),
                    version: i.version.clone(),
                },
            )
        })
        .chain(
            input
                .other_projects
                .iter()
                .map(|(dir, info)| (dir.to_string_lossy().into_owned(), info.clone())),
        )
        .collect();
    let files = input
        .validated_files
        .iter()
        .filter_map(|f| stamp_with_digest(f).map(|s| (f.to_string_lossy().into_owned(), s)))
        .chain(
            input
                .stamped_files
                .iter()
                .map(|(f, s)| (f.to_string_lossy().into_owned(), s.clone())),
        )
        .collect();
    let state = WorkspaceState {
        last_validated_timestamp: now.as_millis() as u64,
        projects,
        pnpmfiles: input.pnpmfiles.clone(),
        filtered_install: input.filtered_install,
        config_dependencies: input.config_dependencies.clone(),
        settings: input.settings.clone(),
        validation: Some(Validation {
            recorded_at_ns: now.as_nanos(),
            files,
        }),
    };
    // Always `<workspace root>/node_modules`, whatever `modulesDir` says: pnpm's path for it
    // (`workspace/state`) names `node_modules` outright, and so does the no-op gate.
    let dir = plan.lockfile_dir.join("node_modules");
    let path = dir.join(WORKSPACE_STATE_FILE);
    let failed = |reason: &dyn std::fmt::Display| {
        Some(format!(
            "Failed to write the workspace state: Failed to write \"{}\": {reason}",
            path.display()
        ))
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return failed(&e);
    }
    let text = match serde_json::to_string_pretty(&state) {
        Ok(text) => text,
        Err(e) => return failed(&e),
    };
    // Not fsynced, like everything else in node_modules: the publish is atomic, and a file
    // a power loss leaves empty or torn fails to parse, which sends the next run down the
    // full path.
    let written = tack_fs::AtomicWrite::new(&path)
        .durable(false)
        .write_bytes(text.as_bytes());
    match written {
        Ok(()) => None,
        Err(e) => match e.io_error() {
            Some(io) => failed(io),
            None => failed(&e),
        },
    }
}
