//! Finding the projects of a workspace: directories with a `package.json` whose path (relative to the
//! root) matches the `packages` globs and no `!` negation. `node_modules` is never entered.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::ConfigError;
use crate::manifest::{read_manifest, Manifest};

/// A workspace project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Absolute directory.
    pub dir: PathBuf,
    /// The lockfile importer id: `.` or the POSIX path relative to the root.
    pub importer_id: String,
    pub manifest: Manifest,
}

/// Lists the root project and every project matching `globs` under `root`, sorted by importer id.
pub fn find_workspace_projects(root: &Path, globs: &[String]) -> Result<Vec<Project>, ConfigError> {
    let (include, exclude) = build_sets(root, globs)?;
    let mut projects = Vec::new();
    let root_manifest = root.join("package.json");
    if root_manifest.is_file() {
        projects.push(Project {
            dir: root.to_path_buf(),
            importer_id: ".".to_string(),
            manifest: read_manifest(&root_manifest)?,
        });
    }
    if !globs.is_empty() {
        walk(root, root, &include, &exclude, &mut projects)?;
    }
    projects.sort_by(|a, b| a.importer_id.cmp(&b.importer_id));
    projects.dedup_by(|a, b| a.importer_id == b.importer_id);
    Ok(projects)
}

fn build_sets(root: &Path, globs: &[String]) -> Result<(GlobSet, GlobSet), ConfigError> {
    let mut include = GlobSetBuilder::new();
    let mut exclude = GlobSetBuilder::new();
    for pattern in globs {
        let (negated, body) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        let body = body.trim_start_matches("./").trim_end_matches('/');
        let glob = GlobBuilder::new(body)
            .literal_separator(true)
            .build()
            .map_err(|err| ConfigError::InvalidWorkspaceGlob {
                path: root.join("pnpm-workspace.yaml"),
                pattern: pattern.clone(),
                message: err.to_string(),
            })?;
        if negated {
            exclude.add(glob);
        } else {
            include.add(glob);
        }
    }
    let build = |builder: GlobSetBuilder| {
        builder
            .build()
            .map_err(|err| ConfigError::InvalidWorkspaceGlob {
                path: root.join("pnpm-workspace.yaml"),
                pattern: globs.join(", "),
                message: err.to_string(),
            })
    };
    Ok((build(include)?, build(exclude)?))
}

fn walk(
    root: &Path,
    dir: &Path,
    include: &GlobSet,
    exclude: &GlobSet,
    out: &mut Vec<Project>,
) -> Result<(), ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        if name == "node_modules" || name == ".git" {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            children.push(entry.path());
        }
    }
    for child in children {
        let Ok(relative) = child.strip_prefix(root) else {
            continue;
        };
        let id = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if include.is_match(&id) && !exclude.is_match(&id) {
            let manifest_path = child.join("package.json");
            if manifest_path.is_file() {
                out.push(Project {
                    dir: child.clone(),
                    importer_id: id,
                    manifest: read_manifest(&manifest_path)?,
                });
            }
        }
        walk(root, &child, include, exclude, out)?;
    }
    Ok(())
}
