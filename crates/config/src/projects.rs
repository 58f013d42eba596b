//! Finding the projects of a workspace: directories with a `package.json` whose path (relative to
//! the root) matches the `packages` globs and no `!` negation. `node_modules` is never entered.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::ConfigError;
use crate::input_stamp::FileStamp;
use crate::manifest::{read_manifest_stamped, Manifest};

/// A workspace project.
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Absolute directory.
    pub dir: PathBuf,
    /// The lockfile importer id: `.` or the POSIX path relative to the root.
    pub importer_id: String,
    pub manifest: Manifest,
    /// The stamp of its `package.json`, taken as it was read (see [`crate::input_stamp`]).
    pub stamp: FileStamp,
}

/// Lists the root project and every project matching `globs` under `root`, sorted by importer id.
pub fn find_workspace_projects(root: &Path, globs: &[String]) -> Result<Vec<Project>, ConfigError> {
    let (include, exclude) = build_sets(root, globs)?;
    let mut projects = Vec::new();
    let root_manifest = root.join("package.json");
    if root_manifest.is_file() {
        let (manifest, stamp) = read_manifest_stamped(&root_manifest)?;
        projects.push(Project {
            dir: root.to_path_buf(),
            importer_id: ".".to_string(),
            manifest,
            stamp,
        });
    }
    if !globs.is_empty() {
        // pnpm globs without `dot`: `*` and `**` match no name starting with `.`, so such a
        // directory (`packages/.template`) is a project only when a pattern names a dot
        // component itself.
        let dot_dirs = globs.iter().any(|pattern| {
            pattern
                .trim_start_matches('!')
                .split('/')
                .any(|part| part.starts_with('.') && part != "." && part != "..")
        });
        let walker = Walker {
            root,
            include: &include,
            exclude: &exclude,
            dot_dirs,
        };
        walker.walk(root, &mut projects)?;
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

/// The directory walk behind [`find_workspace_projects`].
struct Walker<'a> {
    root: &'a Path,
    include: &'a GlobSet,
    exclude: &'a GlobSet,
    /// Whether directories whose names start with `.` are looked at at all.
    dot_dirs: bool,
}

impl Walker<'_> {
    fn walk(&self, dir: &Path, out: &mut Vec<Project>) -> Result<(), ConfigError> {
        let entries = std::fs::read_dir(dir).map_err(|source| ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        // (path, followed: a symlink to a directory, matched but not walked into)
        let mut children: Vec<(PathBuf, bool)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ConfigError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            let name = entry.file_name();
            // pnpm ignores `node_modules` and `bower_components` wherever they are.
            if name == "node_modules" || name == "bower_components" || name == ".git" {
                continue;
            }
            if !self.dot_dirs && name.to_string_lossy().starts_with('.') {
                continue;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            if file_type.is_dir() {
                children.push((entry.path(), false));
            } else if file_type.is_symlink() && entry.path().is_dir() {
                children.push((entry.path(), true));
            }
        }
        children.sort();
        for (child, followed) in children {
            let Ok(relative) = child.strip_prefix(self.root) else {
                continue;
            };
            let id = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if self.include.is_match(&id) && !self.exclude.is_match(&id) {
                let manifest_path = child.join("package.json");
                if manifest_path.is_file() {
                    let (manifest, stamp) = read_manifest_stamped(&manifest_path)
                        .map_err(ConfigError::in_workspace_project)?;
                    out.push(Project {
                        dir: child.clone(),
                        importer_id: id,
                        manifest,
                        stamp,
                    });
                }
            }
            if !followed {
                self.walk(&child, out)?;
            }
        }
        Ok(())
    }
}
