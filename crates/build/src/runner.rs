//! Build the dependencies: walk pnpm's build sequence chunk by chunk, run each chunk's
//! packages in parallel (up to `childConcurrency`), and for each package link its bins,
//! apply its patch and run `preinstall` / `install` / `postinstall` — when the policy allows.
//! Packages the policy leaves undecided are collected as ignored builds; under
//! `--ignore-scripts` they become pending builds (patches are still applied).

use crate::env::{ScriptEnv, ScriptOf};
use crate::error::BuildError;
use crate::events::{BuildEvent, Reporter};
use crate::graph::{BuildGraph, BuildNode, LifecycleScripts};
use crate::patch;
use crate::policy::BuildPolicy;
use crate::script::{run_script, ScriptCommand, ScriptOutput};
use std::path::{Path, PathBuf};

/// The script pnpm skips: it only checks that pnpm is the package manager.
const ONLY_ALLOW_PNPM: &str = "npx only-allow pnpm";

/// Callback that links a package's bins (children's, bundled and its own) into
/// `<dir>/node_modules/.bin` before its scripts run, or once it is patched. The linker
/// normally did this already; a package finished in a staging directory gets it there.
pub type LinkBins<'a> = dyn Fn(&BuildNode) -> Result<(), String> + Sync + 'a;

/// Callback that takes an optional package whose build failed out of the tree (its
/// directory and the links to it, as pnpm 12 does), so that the packages built after it find
/// it absent rather than half-built. Called once the package's chunk has finished.
pub type DiscardFailed<'a> = dyn Fn(&BuildNode) -> Result<(), String> + Sync + 'a;

/// Options of a dependency build.
pub struct BuildOptions<'a> {
    pub env: ScriptEnv,
    pub policy: &'a BuildPolicy,
    /// Parallel packages per chunk (pnpm's `childConcurrency`).
    pub child_concurrency: usize,
    /// `--ignore-scripts`: run nothing, record `pending_builds`, still apply patches.
    pub ignore_scripts: bool,
    pub link_bins: Option<&'a LinkBins<'a>>,
    /// Takes an optional package whose build failed out of the tree; `None` leaves it where
    /// it is.
    pub discard_failed: Option<&'a DiscardFailed<'a>>,
}

/// A package the build step changed.
#[derive(Debug, Clone)]
pub struct BuiltPackage {
    pub dep_path: String,
    pub dir: PathBuf,
    /// At least one lifecycle script ran (the side-effects key then includes `deps=`).
    pub ran_scripts: bool,
    /// Its patch was applied.
    pub patched: bool,
    /// The output of each script that ran.
    pub outputs: Vec<ScriptOutput>,
}

/// An optional package whose build failed and was skipped.
#[derive(Debug)]
pub struct SkippedBuild {
    pub dep_path: String,
    pub error: BuildError,
}

/// What the dependency build did.
#[derive(Debug, Default)]
pub struct BuildReport {
    /// Packages that ran scripts or were patched, in build order.
    pub built: Vec<BuiltPackage>,
    /// `name@version` of packages the policy left undecided (for `.modules.yaml#ignoredBuilds`
    /// and [`crate::ignored_builds_error`]).
    pub ignored_builds: Vec<String>,
    /// Dep paths that needed a build under `--ignore-scripts` (`pendingBuilds`).
    pub pending_builds: Vec<String>,
    /// Optional packages whose build failed.
    pub skipped_optional: Vec<SkippedBuild>,
}

/// What happened to one package: it may be both patched and left with an ignored or
/// pending build.
#[derive(Default)]
struct Outcome {
    built: Option<BuiltPackage>,
    ignored: Option<String>,
    pending: Option<String>,
}

/// Build every dependency of `graph` that needs it. The first failure of a non-optional
/// package aborts (after the packages already running in its chunk finish).
pub fn build_dependencies(
    graph: &BuildGraph,
    opts: &BuildOptions<'_>,
    reporter: &Reporter<'_>,
) -> Result<BuildReport, BuildError> {
    let mut report = BuildReport::default();
    for chunk in graph.build_sequence() {
        let nodes: Vec<&BuildNode> = chunk
            .iter()
            .filter_map(|d| graph.nodes.get(d))
            .filter(|n| (n.requires_build || n.patch.is_some()) && !n.is_built)
            .collect();
        let results = run_chunk(&nodes, opts, reporter);
        let mut first_error = None;
        for (node, result) in nodes.iter().zip(results) {
            match result {
                Ok(outcome) => {
                    report.built.extend(outcome.built);
                    report.ignored_builds.extend(outcome.ignored);
                    report.pending_builds.extend(outcome.pending);
                }
                Err(error) if node.optional => {
                    // pnpm 12 prints no warning here (the script's own lines said it failed):
                    // it logs the skip at debug level, and takes the package out of the tree.
                    let details = error.to_string();
                    reporter(&BuildEvent::SkippedOptional {
                        name: &node.name,
                        version: &node.version,
                        dir: &node.dir,
                        details: &details,
                    });
                    if let Some(discard) = opts.discard_failed {
                        if let Err(message) = discard(node) {
                            first_error.get_or_insert(BuildError::DiscardFailed {
                                package: format!("{}@{}", node.name, node.version),
                                message,
                            });
                        }
                    }
                    report.skipped_optional.push(SkippedBuild {
                        dep_path: node.dep_path.clone(),
                        error,
                    });
                }
                Err(error) => {
                    if first_error.is_none() {
                        first_error = Some(error);
                    }
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
    }
    Ok(report)
}

/// Run one chunk with up to `child_concurrency` threads; results come back in chunk order.
fn run_chunk(
    nodes: &[&BuildNode],
    opts: &BuildOptions<'_>,
    reporter: &Reporter<'_>,
) -> Vec<Result<Outcome, BuildError>> {
    crate::pool::run_all(
        nodes,
        opts.child_concurrency,
        |node| build_one(node, opts, reporter),
        |node, result| result.is_err() && !node.optional,
    )
    .into_iter()
    .map(|result| result.unwrap_or_else(|| Ok(Outcome::default())))
    .collect()
}

/// Patch and build one package; one built in a staging directory is then moved to its
/// package directory, or removed when the build failed (see [`crate::stage`]).
fn build_one(
    node: &BuildNode,
    opts: &BuildOptions<'_>,
    reporter: &Reporter<'_>,
) -> Result<Outcome, BuildError> {
    let result = build_in_dir(node, opts, reporter);
    let Some(pkg_dir) = &node.publish_to else {
        return result;
    };
    let published = result.and_then(|outcome| {
        crate::stage::publish(&node.dir, pkg_dir).map_err(|source| BuildError::Publish {
            stage: node.dir.clone(),
            pkg_dir: pkg_dir.clone(),
            source,
        })?;
        Ok(outcome)
    });
    match published {
        Ok(mut outcome) => {
            if let Some(built) = &mut outcome.built {
                built.dir = pkg_dir.clone();
            }
            Ok(outcome)
        }
        Err(e) => {
            crate::stage::discard(&node.dir);
            Err(e)
        }
    }
}

/// Patch and build one package in `node.dir`.
fn build_in_dir(
    node: &BuildNode,
    opts: &BuildOptions<'_>,
    reporter: &Reporter<'_>,
) -> Result<Outcome, BuildError> {
    let package = format!("{}@{}", node.name, node.version);
    let prefix = display_prefix(&node.dir, &opts.env.prefix_dir);
    let mut run_scripts = false;
    let mut outcome = Outcome::default();
    if node.requires_build {
        if opts.ignore_scripts {
            outcome.pending = Some(node.dep_path.clone());
        } else {
            match opts
                .policy
                .allows(&node.dep_path, &node.name, &node.version)
            {
                Some(true) => run_scripts = true,
                Some(false) => {}
                None => outcome.ignored = Some(package.clone()),
            }
        }
    }
    let mut patched = false;
    if let Some(p) = &node.patch {
        patch::check_patch_hash(&p.path, &p.hash)?;
        patch::apply_patch_file(&node.dir, &p.path, &package)?;
        let shown = p.path.display().to_string();
        reporter(&BuildEvent::Patched {
            prefix: &prefix,
            patch_file: &shown,
        });
        patched = true;
    }
    if let Some(link) = opts.link_bins.filter(|_| run_scripts || patched) {
        link(node).map_err(|message| BuildError::BinLink {
            package: package.clone(),
            dir: node.dir.clone(),
            message,
        })?;
    }
    if !run_scripts {
        if patched {
            outcome.built = Some(BuiltPackage {
                dep_path: node.dep_path.clone(),
                dir: node.dir.clone(),
                ran_scripts: false,
                patched,
                outputs: Vec::new(),
            });
        }
        return Ok(outcome);
    }
    let mut outputs = Vec::new();
    let mut ran = false;
    let manifest = manifest_on_disk(node);
    // A patch may change the scripts (drop a postinstall, say): they are read from the
    // patched package.json then, as pnpm 12 reads them, not from the store's copy.
    let (scripts, gypfile) = if patched {
        (
            LifecycleScripts::from_manifest(&manifest),
            manifest.get("gypfile").and_then(serde_json::Value::as_bool),
        )
    } else {
        (node.scripts.clone(), node.gypfile)
    };
    for (stage, script) in dependency_stages(node, &scripts, gypfile) {
        if script.trim() == ONLY_ALLOW_PNPM {
            continue;
        }
        let cmd = ScriptCommand {
            package: &package,
            name: &node.name,
            own_project: false,
            prefix: &prefix,
            dir: &node.dir,
            stage,
            script: &script,
            shell: opts.env.shell(),
            env: opts
                .env
                .vars_for(&node.dir, &manifest, ScriptOf::Dependency, stage, &script),
        };
        run_script(&cmd, reporter, &mut outputs)?;
        ran = true;
    }
    outcome.built = Some(BuiltPackage {
        dep_path: node.dep_path.clone(),
        dir: node.dir.clone(),
        ran_scripts: ran,
        patched,
        outputs,
    });
    Ok(outcome)
}

/// The scripts to run for a dependency, in order: `preinstall`, `install` (or the implicit
/// `node-gyp rebuild` when there is a `binding.gyp`, no `install`/`preinstall` script and no
/// `gypfile: false`), `postinstall`.
fn dependency_stages(
    node: &BuildNode,
    s: &LifecycleScripts,
    gypfile: Option<bool>,
) -> Vec<(&'static str, String)> {
    let mut install = s.install.clone();
    if install.is_none()
        && s.preinstall.is_none()
        && gypfile != Some(false)
        && node.dir.join("binding.gyp").is_file()
    {
        install = Some("node-gyp rebuild".to_string());
    }
    [
        ("preinstall", s.preinstall.clone()),
        ("install", install),
        ("postinstall", s.postinstall.clone()),
    ]
    .into_iter()
    .filter_map(|(stage, script)| script.map(|s| (stage, s)))
    .collect()
}

/// The package dir relative to the project tack runs in
/// (`node_modules/.pnpm/x@1/node_modules/x`, `../../node_modules/.pnpm/…` from a workspace
/// project, `.` for the project itself).
pub(crate) fn display_prefix(dir: &Path, prefix_dir: &Path) -> String {
    tack_fs::relative_path(prefix_dir, dir)
        .display()
        .to_string()
}

/// The package's `package.json` as its scripts will see it (after any patch), for the
/// `npm_package_*` variables; its locked name and version if it cannot be read.
fn manifest_on_disk(node: &BuildNode) -> serde_json::Value {
    std::fs::read(node.dir.join("package.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({"name": node.name, "version": node.version}))
}
