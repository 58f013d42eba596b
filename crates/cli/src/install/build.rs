//! The build step of `tack install`, wired to `tack-build`: which packages are imported by copy
//! (they will run scripts or be patched), whether the side-effects cache already holds a
//! package built, then — after linking — patches and dependency scripts in pnpm's build order,
//! the side-effects cache upload, the `allowBuilds` verdicts (`ignoredBuilds`,
//! `pendingBuilds`, `ERR_PNPM_IGNORED_BUILDS`) and the projects' own install scripts.
//!
//! [`Builds::new`] runs before materializing, [`Builds::prepare`] right before each package is
//! imported, and [`Builds::run`] after `tack_linker::finish`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use indexmap::IndexMap;
use tack_build::side_effects::{hash_object, HashValue};
use tack_build::{
    apply_side_effects, build_dependencies, calc_dep_state, check_unused_patches, engine_name,
    full_pkg_id, ignored_builds_error, run_project_scripts, BuildError, BuildEvent, BuildGraph,
    BuildNode, BuildOptions, BuildPolicy, DepStateCache, DepStateGraph, DepStateNode,
    LifecycleScripts, PatchRef, PatchedDependencies, Project, ScriptEnv,
};
use tack_config::Config;
use tack_linker::{read_modules_yaml, ChildTarget, ImportOutcome, PlannedImporter};
use tack_lockfile::{parse_dep_path, Lockfile, Resolution};
use tack_store_dir::{CafsFileInfo, PackageFilesIndex, StoreDir, StoreIndex};

use super::plan::{InstallPlan, Source};
use crate::error::CliError;
use crate::reporter::{Event, Reporter, ScriptLine};

impl From<BuildError> for CliError {
    fn from(err: BuildError) -> Self {
        CliError::new(err.code(), err.to_string())
    }
}

/// How one package is imported, decided right before its import.
#[derive(Debug, Clone, Default)]
pub struct Prep {
    /// Clone or copy instead of hard-linking: the package will run scripts or be patched.
    pub force_copy: bool,
    /// The package's files as built, from its side-effects cache entry.
    pub cached_files: Option<IndexMap<String, CafsFileInfo>>,
    /// The cache entry holds the finished build: its scripts must not run again.
    pub built: bool,
    /// The cache entry already has the patch applied.
    pub patched: bool,
}

impl Prep {
    /// The same package imported from its base files (its cache entry failed verification).
    pub fn without_cache(self, requires_build: bool, patched: bool) -> Prep {
        Prep {
            force_copy: requires_build || patched,
            ..Prep::default()
        }
    }
}

/// One package of the plan, as the build step sees it.
struct PkgInfo {
    patch: Option<PatchRef>,
    optional: bool,
    /// The policy lets it run its scripts in this install.
    allowed: bool,
}

/// The build settings and per-package facts of one install.
pub struct Builds {
    policy: BuildPolicy,
    ignore_scripts: bool,
    /// Dev dependencies are installed: the projects' `prepare` stages run too (not under
    /// `--prod`, as in pnpm 12).
    with_dev: bool,
    strict: bool,
    child_concurrency: usize,
    side_effects_read: bool,
    side_effects_write: bool,
    allow_unused_patches: bool,
    patches: PatchedDependencies,
    used_patches: HashSet<String>,
    pkgs: Vec<PkgInfo>,
    /// Built on first use: only a package with a side-effects cache entry to read, or one
    /// built in this install, needs its cache key, and building the graph (a copy of every
    /// edge) cost about a millisecond before the first import.
    dep_graph: OnceLock<DepStateGraph>,
    /// What the graph is built from: pnpm 12 hashes every lockfile child of a package, one
    /// this platform skips too.
    lockfile: std::sync::Arc<Lockfile>,
    dep_cache: Mutex<DepStateCache>,
    /// `<platform>;<arch>;node<major>;format=2`, or `None` without a `node` (no cache then).
    engine: Option<String>,
    node_version: Option<String>,
    /// `ignoredBuilds` and `pendingBuilds` of the previous install: reused package dirs
    /// listed there still need their build.
    previously_unbuilt: HashSet<String>,
    /// `.modules.yaml#ignoredBuilds` and `#pendingBuilds` as the last install recorded them:
    /// a filtered install keeps the entries of the packages it leaves in place for the
    /// projects it does not select.
    previous_ignored: Vec<String>,
    previous_pending: Vec<String>,
    /// The build approvals the last install recorded, if it recorded any.
    previous_policy: Option<BuildPolicy>,
    /// Set once a dependency was built or patched in this install: only then can a bin
    /// target have changed since the linker wrote the shims.
    changed_packages: std::sync::atomic::AtomicBool,
    /// Set when the install found nothing to add, remove or link again: then it prints no
    /// ignored builds ([`Builds::leave_ignored_unsaid`]).
    untouched_tree: std::sync::atomic::AtomicBool,
    /// `.pnpm-<8 hex>`: under the global virtual store, the staging directory each package
    /// this install builds or patches is imported into, beside its package directory in its
    /// shared slot (see `tack_linker::import_package_staged`), so that no other install
    /// finds it there before it is finished.
    stage: Option<String>,
    /// The staging directories this install imported packages into: whichever a build did
    /// not move into place or remove (the install stopped before building it) is removed
    /// when the install ends, so that none is left in a shared slot.
    stage_dirs: Mutex<Vec<PathBuf>>,
    /// The dep paths of the optional packages whose build failed and which the build step
    /// took out of the tree (see [`tack_linker::discard_package`]).
    discarded: Mutex<HashSet<String>>,
}

impl Drop for Builds {
    fn drop(&mut self) {
        let dirs = self.stage_dirs.get_mut().unwrap_or_else(|e| e.into_inner());
        for dir in dirs.drain(..) {
            tack_build::stage::discard(&dir);
        }
    }
}

impl Builds {
    /// Settings from `config`, patches and the hashing graph from the lockfile. Call before
    /// materializing (it reads the previous `.modules.yaml`).
    pub fn new(
        lockfile: &std::sync::Arc<Lockfile>,
        plan: &InstallPlan,
        config: &Config,
        node_version: Option<&str>,
    ) -> Result<Builds, CliError> {
        let policy = BuildPolicy::new(
            &config.allow_builds,
            config.dangerously_allow_all_builds,
            config.only_built_dependencies.as_deref(),
            config.never_built_dependencies.as_deref(),
        );
        let locked_hashes = lockfile.patched_dependencies.clone().unwrap_or_default();
        let mut entries = IndexMap::new();
        for (key, rel) in &config.patched_dependencies {
            let path = config.workspace_root.join(rel);
            let hash = match locked_hashes.get(key) {
                Some(hash) => hash.clone(),
                None => tack_build::patch_file_hash(&path)?,
            };
            entries.insert(key.clone(), PatchRef { path, hash });
        }
        let patches = PatchedDependencies::new(entries);
        let mut used_patches = HashSet::new();
        let mut pkgs = Vec::with_capacity(plan.link.packages.len());
        for pkg in &plan.link.packages {
            let patch = patches.find(&pkg.name, &pkg.version).map(|(key, p)| {
                used_patches.insert(key.to_string());
                p.clone()
            });
            let optional = lockfile
                .snapshots
                .get(&pkg.dep_path)
                .is_some_and(|s| s.optional);
            let allowed = !config.ignore_scripts
                && policy.allows(&pkg.dep_path, &pkg.name, &pkg.version) == Some(true);
            pkgs.push(PkgInfo {
                patch,
                optional,
                allowed,
            });
        }
        // A patch counts as used when any package of the lockfile has it, installed here or
        // not: pnpm 12 checks for unused patches only when it resolves, and a frozen install
        // of a lockfile with a patched optional dependency skipped on this platform, or a
        // patched devDependency under --prod, succeeds there (tack failed it with
        // ERR_PNPM_UNUSED_PATCH).
        for dep_path in lockfile.snapshots.keys() {
            let (name, version) = lockfile.name_version(dep_path);
            if let Some((key, _)) = patches.find(&name, &version) {
                used_patches.insert(key.to_string());
            }
        }
        let engine = node_version
            .and_then(|v| v.trim_start_matches('v').split('.').next()?.parse().ok())
            .map(engine_name);
        let previous = read_modules_yaml(&plan.link.root_modules_dir());
        // What the last install allowed (`.modules.yaml#allowBuilds`): an approval taken back
        // since makes a package it built an ignored build again, as pnpm 12 reports it.
        let previous_policy =
            previous
                .as_ref()
                .and_then(|m| m.allow_builds.as_ref())
                .map(|allowed| {
                    let allowed: IndexMap<String, serde_json::Value> = allowed
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    BuildPolicy::new(&allowed, false, None, None)
                });
        let (previous_ignored, previous_pending) = previous
            .map(|m| (m.ignored_builds, m.pending_builds))
            .unwrap_or_default();
        let previously_unbuilt = previous_ignored
            .iter()
            .chain(&previous_pending)
            .cloned()
            .collect();
        Ok(Builds {
            policy,
            ignore_scripts: config.ignore_scripts,
            with_dev: config.include.dev_dependencies,
            strict: config.strict_dep_builds,
            child_concurrency: config.child_concurrency.max(1),
            side_effects_read: config.side_effects_cache,
            side_effects_write: config.side_effects_cache && !config.side_effects_cache_readonly,
            allow_unused_patches: config.allow_unused_patches,
            patches,
            used_patches,
            pkgs,
            dep_graph: OnceLock::new(),
            lockfile: lockfile.clone(),
            dep_cache: Mutex::new(DepStateCache::new()),
            engine,
            node_version: node_version.map(|v| format!("v{}", v.trim_start_matches('v'))),
            previously_unbuilt,
            previous_ignored,
            previous_pending,
            previous_policy,
            changed_packages: std::sync::atomic::AtomicBool::new(false),
            untouched_tree: std::sync::atomic::AtomicBool::new(false),
            stage: plan.link.shared_slots.then(stage_name),
            stage_dirs: Mutex::new(Vec::new()),
            discarded: Mutex::new(HashSet::new()),
        })
    }

    /// Records a staging directory this install imports a package into (see the field).
    pub fn remember_stage(&self, dir: PathBuf) {
        self.stage_dirs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir);
    }

    /// The staging directory to import package `index` into, when it goes to a shared slot
    /// and this install builds or patches it there (`force_copy`: imported for that, not
    /// from a cached build).
    pub fn build_stage(&self, index: usize, force_copy: bool) -> Option<&str> {
        let stage = self.stage.as_deref()?;
        let pkg = self.pkgs.get(index)?;
        (force_copy && (pkg.allowed || pkg.patch.is_some())).then_some(stage)
    }

    /// Whether the policy lets package `index` run its scripts in this install.
    fn allowed(&self, index: usize) -> bool {
        self.pkgs.get(index).is_some_and(|p| p.allowed)
    }

    /// The side-effects cache key of package `dep_path`.
    fn cache_key(
        &self,
        plan: &InstallPlan,
        dep_path: &str,
        ran_scripts: bool,
        patch: Option<&str>,
    ) -> Option<String> {
        let engine = self.engine.as_ref()?;
        let graph = self
            .dep_graph
            .get_or_init(|| dep_state_graph(&self.lockfile, plan));
        let mut cache = self.dep_cache.lock().unwrap_or_else(|e| e.into_inner());
        Some(calc_dep_state(
            graph,
            &mut cache,
            dep_path,
            engine,
            ran_scripts,
            patch,
        ))
    }

    /// Decide how package `index` is imported. `row` is its store index row (`None` for a
    /// directory dependency, whose `requires_build` comes from its source manifest).
    pub fn prepare(
        &self,
        plan: &InstallPlan,
        index: usize,
        row: Option<&PackageFilesIndex>,
    ) -> Result<Prep, CliError> {
        let requires_build = match row {
            Some(row) => row_requires_build(row),
            None => match &plan.sources[index].source {
                Source::Directory(dir) => dir_requires_build(dir),
                Source::Tarball { .. } | Source::Git(_) => false,
            },
        };
        let patch = self.pkgs[index].patch.as_ref();
        let mut prep = self.prepare_without_cache(index, requires_build);
        let Some(row) = row else { return Ok(prep) };
        let allowed = requires_build && self.allowed(index);
        let has_entries = row.side_effects.as_ref().is_some_and(|m| !m.is_empty());
        if !self.side_effects_read || !has_entries || !(allowed || patch.is_some()) {
            return Ok(prep);
        }
        let dep_path = &plan.link.packages[index].dep_path;
        let patch_hash = patch.map(|p| p.hash.as_str());
        let Some(key) = self.cache_key(plan, dep_path, allowed, patch_hash) else {
            return Ok(prep);
        };
        // pnpm treats an entry without changes as "not built" and runs the scripts again.
        let entry = row.side_effects.as_ref().and_then(|m| m.get(&key));
        let has_changes = entry.is_some_and(|d| {
            d.added.as_ref().is_some_and(|a| !a.is_empty())
                || d.deleted.as_ref().is_some_and(|x| !x.is_empty())
        });
        if !has_changes {
            return Ok(prep);
        }
        if let Some(files) = apply_side_effects(row, &key)? {
            prep.built = allowed || !requires_build;
            prep.patched = patch.is_some();
            prep.force_copy = requires_build && !prep.built;
            prep.cached_files = Some(files);
        }
        Ok(prep)
    }

    /// [`Builds::prepare`] for a package whose row has no side-effects cache entries: it is
    /// copied rather than linked when it requires a build or is patched.
    pub fn prepare_without_cache(&self, index: usize, requires_build: bool) -> Prep {
        Prep {
            force_copy: requires_build || self.pkgs[index].patch.is_some(),
            ..Prep::default()
        }
    }

    /// Whether package `index` is patched (known before its files are).
    pub fn is_patched(&self, index: usize) -> bool {
        self.pkgs[index].patch.is_some()
    }

    /// Whether package `index` requires a build or a patch (for [`Prep::without_cache`]).
    pub fn needs(&self, index: usize, row: &PackageFilesIndex) -> (bool, bool) {
        (row_requires_build(row), self.pkgs[index].patch.is_some())
    }

    /// Everything after linking: patches and dependency builds, the side-effects cache, the
    /// build state in `.modules.yaml`, the projects' scripts. Returns the deferred
    /// `ERR_PNPM_IGNORED_BUILDS` error (reported after the summary) or a fatal error.
    /// The install left the tree as it was: [`Builds::run`] prints no ignored builds, as
    /// pnpm 12 does not get that far then.
    pub fn leave_ignored_unsaid(&self) {
        self.untouched_tree
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`Builds::run`] built or patched a dependency, so its bins need linking again.
    pub fn changed_packages(&self) -> bool {
        self.changed_packages
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The dep paths of the optional packages [`Builds::run`] took out of the tree because
    /// their build failed: their bins need linking again, without them.
    pub fn discarded(&self) -> HashSet<String> {
        self.discarded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Builds and patches the dependencies over `graph` (see [`Builds::graph`]), writes the
    /// state files of `linked` (the link run) with the outcome, then runs the projects' own
    /// scripts. As in pnpm 12, a failed build or patch returns before anything records the
    /// install: the last install's `.modules.yaml` and `.pnpm/lock.yaml` stay as they were.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        plan: &InstallPlan,
        graph: &BuildGraph,
        materialized: &super::materialize::Materialized,
        linked: &tack_linker::LinkReport,
        store: &StoreDir,
        config: &Config,
        reporter: &Reporter,
    ) -> Result<Option<CliError>, CliError> {
        if let Some(warning) = check_unused_patches(
            self.patches.keys(),
            &self.used_patches,
            self.allow_unused_patches,
        )? {
            reporter.warn(warning);
        }
        let env = self.script_env(plan, config);
        let report_event = |event: &BuildEvent<'_>| report(reporter, event);
        // A package built in its slot's staging directory gets its `.bin` there, once its
        // dependencies are in place: `finish` left it out (see `tack_linker::EarlyBins`).
        let by_dep_path = plan.link.indexes_by_dep_path();
        let stage_bins = |node: &BuildNode| -> Result<(), String> {
            let Some(&i) = by_dep_path
                .get(node.dep_path.as_str())
                .filter(|_| node.publish_to.is_some())
            else {
                return Ok(());
            };
            let warnings = tack_linker::link_package_bins(&plan.link, i, &node.dir)
                .map_err(|e| e.to_string())?;
            for warning in warnings {
                reporter.warn(warning);
            }
            Ok(())
        };
        // An optional package whose build failed goes, with the links to it, as pnpm 12
        // takes it out: the next install imports it again and retries the build.
        let discard = |node: &BuildNode| -> Result<(), String> {
            let Some(&i) = by_dep_path.get(node.dep_path.as_str()) else {
                return Ok(());
            };
            tack_linker::discard_package(&plan.link, i).map_err(|e| e.to_string())?;
            self.discarded
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(node.dep_path.clone());
            Ok(())
        };
        let opts = BuildOptions {
            env: env.clone(),
            policy: &self.policy,
            child_concurrency: self.child_concurrency,
            ignore_scripts: self.ignore_scripts,
            link_bins: self
                .stage
                .is_some()
                .then_some(&stage_bins as &tack_build::LinkBins<'_>),
            discard_failed: Some(&discard),
        };
        // On an error nothing is recorded; the sentinel (`in_progress.rs`) makes the next
        // install import again and build what this one left unbuilt.
        let mut build_report = build_dependencies(graph, &opts, &report_event)?;
        if !build_report.built.is_empty() {
            self.changed_packages
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if self.side_effects_write {
            self.upload_side_effects(plan, materialized, &build_report.built, store, reporter);
        }
        build_report.ignored_builds.sort();
        build_report.ignored_builds.dedup();
        build_report.pending_builds.sort();
        if self.ignore_scripts {
            // The projects whose own install scripts were skipped come first, as pnpm 12
            // records them.
            let mut pending = projects_with_install_scripts(plan);
            pending.append(&mut build_report.pending_builds);
            build_report.pending_builds = pending;
        }
        let outcome = tack_linker::BuildOutcome {
            ignored: &with_kept(&build_report.ignored_builds, &self.previous_ignored, plan),
            pending: &with_kept(&build_report.pending_builds, &self.previous_pending, plan),
        };
        if let Some(warning) = tack_linker::write_state(&plan.link, linked, Some(outcome))? {
            reporter.warn(warning);
        }
        tack_fs::phase_timer::mark("state files");
        // pnpm 12's lines, word for word: the lockfile and the settings are pnpm's, so its
        // `approve-builds` writes the `allowBuilds` this install reads. Printed before the
        // projects' own scripts run, as pnpm does.
        let untouched = self
            .untouched_tree
            .load(std::sync::atomic::Ordering::Relaxed);
        if !self.strict && !untouched && !build_report.ignored_builds.is_empty() {
            reporter.emit(Event::Info(format!(
                "Ignored build scripts: {}.\nRun \"pnpm approve-builds\" to pick which dependencies should be allowed to run scripts.",
                build_report.ignored_builds.join(", ")
            )));
        }
        // Over a tree that needed nothing pnpm 12 runs none of the projects' own scripts (but
        // the root's `preinstall`, before).
        if !untouched {
            let projects = projects_in_dependency_order(plan);
            let stages = if self.with_dev {
                &tack_build::PROJECT_STAGES[..]
            } else {
                // `preinstall`, `install`, `postinstall`.
                &tack_build::PROJECT_STAGES[..3]
            };
            run_project_scripts(
                &projects,
                stages,
                &env,
                self.ignore_scripts,
                self.child_concurrency,
                &report_event,
            )?;
        }
        if self.strict {
            return Ok(ignored_builds_error(&build_report.ignored_builds).map(CliError::from));
        }
        Ok(None)
    }

    /// The build graph, with what materializing learned about each package. It holds only
    /// the packages the build sequence can contain: those that need a build or a patch, and
    /// those with one below them. The others can never join the sequence, and copying all
    /// of them (paths, names, every edge) was most of the build step of a warm install.
    /// A reused package dir counts as built only if the last complete install had the package
    /// (`InstallPlan::recorded`) and did not leave its build pending or ignored; one left by
    /// an install that stopped before its end is built again.
    pub fn graph(
        &self,
        plan: &InstallPlan,
        materialized: &super::materialize::Materialized,
    ) -> BuildGraph {
        let requires_build: Vec<bool> = plan
            .link
            .packages
            .iter()
            .enumerate()
            .map(|(i, pkg)| {
                materialized
                    .row_requires_build(i)
                    .unwrap_or_else(|| dir_requires_build(&plan.link.package_dir(pkg)))
            })
            .collect();
        let wanted: Vec<bool> = requires_build
            .iter()
            .zip(&self.pkgs)
            .map(|(&requires, info)| requires || info.patch.is_some())
            .collect();
        let kept = if wanted.contains(&true) {
            with_ancestors(&child_indexes(&plan.link), wanted)
        } else {
            wanted
        };
        let mut graph = BuildGraph::default();
        for (i, pkg) in plan.link.packages.iter().enumerate() {
            if !kept[i] {
                continue;
            }
            let reused =
                materialized.summary.outcomes.get(&pkg.dep_path) == Some(&ImportOutcome::Reused);
            let prep = materialized.preps.get(i).and_then(Option::as_ref);
            // Imported into its slot's staging directory, to be moved in once built.
            let stage = prep
                .filter(|_| !reused)
                .and_then(|p| self.build_stage(i, p.force_copy));
            let (dir, publish_to) = match stage {
                Some(stage) => (
                    tack_linker::build_stage_dir(&plan.link.virtual_store_dir, pkg, stage),
                    Some(plan.link.package_dir(pkg)),
                ),
                None => (plan.link.package_dir(pkg), None),
            };
            // Only the packages kept here need their manifest: the rows are otherwise
            // decoded without it (and kept whole only for those built or patched; the
            // manifest of one above them is read from its package).
            let row = materialized.full_row(i);
            // Borrowed from the row: cloning every bundled manifest showed up in profiles.
            let manifest: Option<std::borrow::Cow<'_, serde_json::Value>> = row
                .as_deref()
                .and_then(|r| r.manifest.as_ref())
                .map(std::borrow::Cow::Borrowed)
                .or_else(|| read_json(&dir.join("package.json")).map(std::borrow::Cow::Owned));
            let requires_build = requires_build[i];
            let (is_built, patch) = if reused && self.stage.is_some() && self.allowed(i) {
                // A shared slot's package dir appears only once its build is done (see
                // `tack_build::stage`), whichever install or tool made it.
                (true, None)
            } else if reused {
                // A dir left by the last complete install: built and patched then, unless
                // that install ignored or deferred its build.
                let revoked = requires_build
                    && self.previous_policy.as_ref().is_some_and(|previous| {
                        previous.allows(&pkg.dep_path, &pkg.name, &pkg.version) == Some(true)
                    })
                    && self.policy.allows(&pkg.dep_path, &pkg.name, &pkg.version) != Some(true);
                let unbuilt = !plan.recorded.get(i).copied().unwrap_or(false)
                    || revoked
                    || self.previously_unbuilt.contains(&pkg.dep_path)
                    || self
                        .previously_unbuilt
                        .contains(&format!("{}@{}", pkg.name, pkg.version));
                (!unbuilt, None)
            } else {
                let cached = prep.is_some_and(|p| p.cached_files.is_some());
                let patch = self.pkgs[i]
                    .patch
                    .clone()
                    .filter(|_| !(cached && prep.is_some_and(|p| p.patched)));
                (prep.is_some_and(|p| p.built), patch)
            };
            graph.nodes.insert(
                pkg.dep_path.clone(),
                BuildNode {
                    dep_path: pkg.dep_path.clone(),
                    name: pkg.name.clone(),
                    version: pkg.version.clone(),
                    dir,
                    children: pkg
                        .children
                        .iter()
                        .filter_map(|(_, t)| match t {
                            ChildTarget::DepPath(d) => Some(d.clone()),
                            ChildTarget::Link(_) => None,
                        })
                        .collect(),
                    requires_build,
                    patch,
                    optional: self.pkgs[i].optional,
                    scripts: manifest
                        .as_deref()
                        .map(LifecycleScripts::from_manifest)
                        .unwrap_or_default(),
                    gypfile: manifest
                        .as_deref()
                        .and_then(|m| m.get("gypfile"))
                        .and_then(|v| v.as_bool()),
                    is_built,
                    publish_to,
                },
            );
        }
        let mut seen = HashSet::new();
        for importer in &plan.link.importers {
            for dep in &importer.deps {
                if let ChildTarget::DepPath(d) = &dep.target {
                    if seen.insert(d.clone()) {
                        graph.roots.push(d.clone());
                    }
                }
            }
        }
        graph
    }

    fn script_env(&self, plan: &InstallPlan, config: &Config) -> ScriptEnv {
        let mut env = project_script_env(config, self.node_version.as_deref());
        if plan.link.shared_slots {
            // `<root>/node_modules/.pnpm/node_modules` (the hoisted packages), then
            // `<root>/node_modules`, as pnpm 12 sets it for a build in a slot.
            let dirs = [plan.link.hidden_modules_dir(), plan.link.root_modules_dir()];
            env.dependency_node_path = std::env::join_paths(dirs).ok();
        }
        env
    }

    /// Store each built or patched package's diff in its index row under pnpm's key.
    fn upload_side_effects(
        &self,
        plan: &InstallPlan,
        materialized: &super::materialize::Materialized,
        built: &[tack_build::BuiltPackage],
        store: &StoreDir,
        reporter: &Reporter,
    ) {
        let by_dep_path = plan.link.indexes_by_dep_path();
        let mut rows = Vec::new();
        for b in built {
            let Some(&i) = by_dep_path.get(b.dep_path.as_str()) else {
                continue;
            };
            // The files the build is compared against.
            let (Some(row), Some(store_key)) =
                (materialized.full_row(i), plan.sources[i].source.store_key())
            else {
                continue;
            };
            let patch = self.pkgs[i].patch.as_ref().filter(|_| b.patched);
            let Some(key) = self.cache_key(
                plan,
                &b.dep_path,
                b.ran_scripts,
                patch.map(|p| p.hash.as_str()),
            ) else {
                continue;
            };
            match tack_build::compute_side_effects_diff(&b.dir, &row.files, store) {
                Ok(diff) => rows.push((store_key, key, diff)),
                Err(e) => reporter.warn(format!(
                    "Could not cache the build of {} in the store: {e}",
                    b.dep_path
                )),
            }
        }
        if rows.is_empty() {
            return;
        }
        // Each entry goes into the row as it is in the index now: another install may have
        // cached another build of the same package since this one read it. Peer variants of
        // one package share its row, each with its own entry. A row gone since (`store
        // verify` or `prune` dropped it, its files may be gone too) is not brought back.
        let mut keys = Vec::new();
        let mut entries: HashMap<&str, Vec<_>> = HashMap::new();
        for (store_key, key, diff) in rows {
            entries
                .entry(store_key)
                .or_insert_with(|| {
                    keys.push(store_key);
                    Vec::new()
                })
                .push((key, diff));
        }
        let written = StoreIndex::open(store).and_then(|index| {
            index.update_many(&keys, |store_key, current| {
                let (mut row, built) = (current?, entries.get(store_key)?);
                let cached = row.side_effects.get_or_insert_with(IndexMap::new);
                for (key, diff) in built {
                    cached.insert(key.clone(), diff.clone());
                }
                Some(row)
            })
        });
        if let Err(e) = written {
            reporter.warn(format!("Could not write the side-effects cache: {e}"));
        }
    }
}

/// The environment of every script an install runs, as far as the configuration decides it
/// (`node_version`: pnpm's, for the user agent); dependency builds in the global virtual store
/// add their `NODE_PATH` ([`Builds`]).
fn project_script_env(config: &Config, node_version: Option<&str>) -> ScriptEnv {
    let mut env = ScriptEnv::new(
        config.lockfile_dir.clone(),
        config.virtual_store_dir.clone(),
        node_version,
    );
    // `tack install` loads its configuration for the project it runs in.
    env.prefix_dir = config.cwd.clone();
    env.script_shell = config
        .settings
        .script_shell
        .clone()
        .filter(|s| !s.is_empty());
    if let Some(unsafe_perm) = config.settings.unsafe_perm {
        env.unsafe_perm = unsafe_perm;
    }
    add_node_gyp(&mut env);
    env
}

/// The root project's `preinstall`, which pnpm 12 runs first of all, on every install:
/// before the lockfile's supply-chain check and before it says the lockfile is up to date
/// (the other projects' run with their other install scripts, after the dependencies).
/// `node_version` as [`project_script_env`] takes it.
pub(super) fn run_root_preinstall(
    config: &Config,
    node_version: Option<&str>,
    reporter: &Reporter,
) -> Result<(), CliError> {
    // Most roots have no `preinstall`: then nothing else is read or probed.
    let Some(root) = project_at(&config.lockfile_dir, false) else {
        return Ok(());
    };
    if config.ignore_scripts || root.manifest["scripts"]["preinstall"].as_str().is_none() {
        return Ok(());
    }
    let node_version = node_version.map(|v| format!("v{}", v.trim_start_matches('v')));
    let env = project_script_env(config, node_version.as_deref());
    let report_event = |event: &BuildEvent<'_>| report(reporter, event);
    run_project_scripts(
        &[vec![root]],
        &["preinstall"],
        &env,
        false,
        1,
        &report_event,
    )?;
    Ok(())
}

/// `now` with the entries of `recorded` (the last install's `ignoredBuilds`, `pendingBuilds`
/// or `skipped`) that name a package a filtered install left in place for the projects it
/// does not select: pnpm 12 keeps them, so that the next install still knows the package was
/// never built (tack forgot them, and an approval given later built nothing). Sorted, unless
/// nothing is kept.
pub(super) fn with_kept(now: &[String], recorded: &[String], plan: &InstallPlan) -> Vec<String> {
    let kept = &plan.link.kept_for_other_projects.dep_paths;
    if kept.is_empty() {
        return now.to_vec();
    }
    let kept_ids: HashSet<&str> = kept
        .iter()
        .flat_map(|dep_path| [dep_path.as_str(), tack_lockfile::remove_suffix(dep_path)])
        .collect();
    let mut all = now.to_vec();
    for entry in recorded {
        if kept_ids.contains(entry.as_str()) && !all.contains(entry) {
            all.push(entry.clone());
        }
    }
    if all.len() > now.len() {
        all.sort();
    }
    all
}

/// Render one build event through the CLI reporter.
fn report(reporter: &Reporter, event: &BuildEvent<'_>) {
    let (prefix, stage, line) = match event {
        BuildEvent::ScriptStarted {
            prefix,
            stage,
            script,
        } => (prefix, stage, ScriptLine::Started(script.to_string())),
        BuildEvent::Output {
            prefix,
            stage,
            line,
            stderr,
        } => (
            prefix,
            stage,
            ScriptLine::Output {
                line: line.to_string(),
                stderr: *stderr,
            },
        ),
        BuildEvent::ScriptFinished {
            prefix,
            stage,
            success,
            exit_code,
        } => (
            prefix,
            stage,
            ScriptLine::Finished {
                success: *success,
                exit_code: *exit_code,
            },
        ),
        BuildEvent::Patched { prefix, patch_file } => (
            prefix,
            &"patch",
            ScriptLine::Patched(patch_file.to_string()),
        ),
        BuildEvent::Warning { message } => {
            reporter.warn(message.to_string());
            return;
        }
        BuildEvent::SkippedOptional {
            name,
            version,
            dir,
            details,
        } => {
            reporter.emit(Event::SkippedOptionalBuild {
                dir: dir.display().to_string(),
                name: name.to_string(),
                version: version.to_string(),
                details: details.to_string(),
            });
            return;
        }
    };
    reporter.emit(Event::Script {
        prefix: prefix.to_string(),
        stage: stage.to_string(),
        line,
    });
}

/// The graph side-effects cache keys hash, as pnpm 12 builds it from the lockfile: every
/// package this install has, or skips on this platform, with its full id and its edges to
/// every child the lockfile lists (`dependencies`, then `optionalDependencies`). A child the
/// install leaves out entirely (an optional one under `--no-optional`) has no node, and
/// hashes as `""`. (Hashing only the installed children gave esbuild, whose platform
/// packages are optional, a key of its own on every platform, so pnpm's cached build was
/// never found.)
fn dep_state_graph(lockfile: &Lockfile, plan: &InstallPlan) -> DepStateGraph {
    let present = plan
        .link
        .packages
        .iter()
        .map(|p| p.dep_path.as_str())
        .chain(plan.skipped.iter().map(String::as_str));
    let mut graph = DepStateGraph::new();
    for dep_path in present {
        let Some(snapshot) = lockfile.snapshots.get(dep_path) else {
            continue;
        };
        let content = lockfile.package(dep_path).map_or_else(
            || "undefined".to_string(),
            |info| content_id(&info.resolution),
        );
        let children = snapshot
            .dependencies
            .iter()
            .chain(&snapshot.optional_dependencies)
            .filter_map(|(alias, reference)| {
                tack_lockfile::ref_to_dep_path(reference, alias).map(|child| (alias.clone(), child))
            })
            .collect();
        graph.insert(
            dep_path.to_string(),
            DepStateNode {
                full_pkg_id: full_pkg_id(&pkg_id_with_patch_hash(dep_path), &content),
                children,
            },
        );
    }
    graph
}

/// The package id the side-effects key hashes: the dep path without its peers suffix (the
/// patch suffix stays). pnpm 12.21 keeps `name@` for a tarball URL or a git dependency too
/// (`tack-build-dep@http://…/tack-build-dep-1.0.0.tgz`, observed in its hashed strings), where
/// older pnpm dropped it.
fn pkg_id_with_patch_hash(dep_path: &str) -> String {
    let parts = parse_dep_path(dep_path);
    let mut id = format!("{}@{}", parts.name, parts.version);
    if let Some(hash) = parts.patch_hash {
        id.push_str(&format!("(patch_hash={hash})"));
    }
    id
}

/// What follows the id in the side-effects key's hash: the integrity, or for a git resolution
/// the object-hash of its lockfile fields, as pnpm 12.21 hashes it (observed:
/// `{commit, repo, type: git}`).
fn content_id(resolution: &Resolution) -> String {
    let field = |key: &str, value: &str| (key.to_string(), HashValue::Str(value.to_string()));
    let fields = match resolution {
        Resolution::Registry { integrity }
        | Resolution::Tarball {
            integrity: Some(integrity),
            ..
        } => return integrity.clone(),
        Resolution::Git { repo, commit, path } => {
            let mut fields = vec![
                field("commit", commit),
                field("repo", repo),
                field("type", "git"),
            ];
            fields.extend(path.as_deref().map(|path| field("path", path)));
            fields
        }
        // Not observed from pnpm 12.21 (a tarball without an integrity, a directory, other
        // kinds): what older pnpm hashed.
        _ => return "undefined".to_string(),
    };
    hash_object(&HashValue::Object(fields))
}

/// The row's `requiresBuild`, or pnpm's rule applied to its manifest and files.
pub(super) fn row_requires_build(row: &PackageFilesIndex) -> bool {
    row.requires_build.unwrap_or_else(|| {
        tack_tarball::requires_build(row.manifest.as_ref(), row.files.keys().map(String::as_str))
    })
}

/// pnpm's rule for a directory: install scripts, `binding.gyp` (unless `gypfile: false`) or
/// `.hooks/`.
fn dir_requires_build(dir: &Path) -> bool {
    let manifest = read_json(&dir.join("package.json")).unwrap_or_default();
    LifecycleScripts::from_manifest(&manifest).any()
        || (dir.join("binding.gyp").is_file() && !tack_tarball::gyp_opted_out(&manifest))
        || dir.join(".hooks").is_dir()
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

/// npm's `node-gyp-bin` beside the `node` on PATH, when there is one.
/// pnpm puts its bundled node-gyp on PATH and in `npm_config_node_gyp`; tack has none, so a
/// `node-gyp` next to the running `node` (npm ships one) is the fallback.
pub(super) fn add_node_gyp(env: &mut ScriptEnv) {
    if let Some(dir) = bundled_node_gyp_bin() {
        // npm's node-gyp itself sits in npm's own node_modules, beside that bin dir.
        let script = dir.join("../../node_modules/node-gyp/bin/node-gyp.js");
        if std::env::var_os("npm_config_node_gyp").is_none() && script.is_file() {
            env.node_gyp = Some(script.canonicalize().unwrap_or(script));
        }
        env.extra_bin_paths.push(dir);
    }
}

fn bundled_node_gyp_bin() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find_map(|dir| {
        if !dir.join("node").is_file() {
            return None;
        }
        let gyp = dir.parent()?.join("lib/node_modules/npm/bin/node-gyp-bin");
        gyp.is_dir().then_some(gyp)
    })
}

/// A staging directory name of pnpm's form, `.pnpm-<8 hex>`, new for each install: two
/// installs building the same slot at once never share one.
fn stage_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    // `RandomState` is seeded from the system's random source once per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!(".pnpm-{:08x}", hasher.finish() as u32)
}

/// Remove the no-op gate's marker list, so the next install takes the full path (after a
/// failed or refused build).
pub fn forget_markers(link: &tack_linker::LinkPlan) {
    let _ = std::fs::remove_file(link.install_state_dir.join(super::noop::MARKERS_FILE));
}

/// Each package's children, as indexes into the plan's packages.
fn child_indexes(link: &tack_linker::LinkPlan) -> Vec<Vec<usize>> {
    let index = link.indexes_by_dep_path();
    link.packages
        .iter()
        .map(|pkg| {
            pkg.children
                .iter()
                .filter_map(|(_, target)| match target {
                    ChildTarget::DepPath(d) => index.get(d.as_str()).copied(),
                    ChildTarget::Link(_) => None,
                })
                .collect()
        })
        .collect()
}

/// `wanted` grown by every package with a wanted package below it (through `children`,
/// cycles included).
fn with_ancestors(children: &[Vec<usize>], mut wanted: Vec<bool>) -> Vec<bool> {
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); children.len()];
    for (parent, list) in children.iter().enumerate() {
        for &child in list {
            parents[child].push(parent);
        }
    }
    let mut stack: Vec<usize> = (0..wanted.len()).filter(|&i| wanted[i]).collect();
    while let Some(i) = stack.pop() {
        for &parent in &parents[i] {
            if !wanted[parent] {
                wanted[parent] = true;
                stack.push(parent);
            }
        }
    }
    wanted
}

/// The installed projects with their manifests, in rounds in pnpm's order for their scripts:
/// a project after the workspace projects it depends on (by `link:`, or as an injected copy),
/// each round the projects whose dependencies have run, in importer order. The root's
/// `preinstall` is marked done: it ran before the install ([`Builds::run_root_preinstall`]).
fn projects_in_dependency_order(plan: &InstallPlan) -> Vec<Vec<Project>> {
    let importers: Vec<&PlannedImporter> = plan
        .link
        .importers
        .iter()
        .filter(|imp| !plan.unselected.contains(&imp.id))
        .collect();
    let by_dir: HashMap<&Path, usize> = importers
        .iter()
        .enumerate()
        .map(|(i, imp)| (imp.dir.as_path(), i))
        .collect();
    let injected_dir = |dep_path: &str| -> Option<usize> {
        let rel = parse_dep_path(dep_path)
            .version
            .strip_prefix("file:")?
            .to_string();
        let dir = super::plan::normalize(&plan.link.lockfile_dir.join(rel));
        by_dir.get(dir.as_path()).copied()
    };
    let needs: Vec<HashSet<usize>> = importers
        .iter()
        .enumerate()
        .map(|(me, imp)| {
            // A `link:` `dedupeDirectDeps` leaves out is still a dependency.
            imp.all_deps()
                .iter()
                .filter_map(|dep| match &dep.target {
                    ChildTarget::Link(dir) => by_dir.get(dir.as_path()).copied(),
                    ChildTarget::DepPath(dep_path) => injected_dir(dep_path),
                })
                .filter(|&other| other != me)
                .collect()
        })
        .collect();
    dependency_rounds(&needs)
        .into_iter()
        .map(|round| {
            round
                .into_iter()
                .filter_map(|i| {
                    let dir = &importers[i].dir;
                    project_at(dir, *dir == plan.link.lockfile_dir)
                })
                .collect::<Vec<_>>()
        })
        .filter(|round| !round.is_empty())
        .collect()
}

/// The importer ids of the projects with a script pnpm 12 runs at install
/// (`preinstall`, `install`, `postinstall`, `prepublish`, `prepare`), in importer order.
fn projects_with_install_scripts(plan: &InstallPlan) -> Vec<String> {
    const STAGES: [&str; 5] = [
        "preinstall",
        "install",
        "postinstall",
        "prepublish",
        "prepare",
    ];
    plan.link
        .importers
        .iter()
        .filter(|imp| !plan.unselected.contains(&imp.id))
        .filter(|imp| {
            project_at(&imp.dir, imp.dir == plan.link.lockfile_dir).is_some_and(|project| {
                STAGES
                    .iter()
                    .any(|stage| project.manifest["scripts"][stage].is_string())
            })
        })
        .map(|imp| imp.id.clone())
        .collect()
}

/// Rounds of the nodes `0..needs.len()`, each node after the nodes it needs, each round the
/// nodes whose needs are met, in index order. A cycle is broken at its first node in index
/// order, which gets a round of its own (a round's projects run at the same time; what
/// depends on the cycle waits for it).
fn dependency_rounds(needs: &[HashSet<usize>]) -> Vec<Vec<usize>> {
    let mut done = vec![false; needs.len()];
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut placed = 0;
    while placed < needs.len() {
        let round: Vec<usize> = (0..needs.len())
            .filter(|&i| !done[i] && needs[i].iter().all(|&d| done[d]))
            .collect();
        let round = if round.is_empty() {
            (0..needs.len()).filter(|&i| !done[i]).take(1).collect()
        } else {
            round
        };
        for &i in &round {
            done[i] = true;
        }
        placed += round.len();
        rounds.push(round);
    }
    rounds
}

/// The project in `dir` with its manifest (`None` without a readable one).
/// Whether the root project has a `preinstall` script, which every install runs.
pub(super) fn root_has_preinstall(config: &Config) -> bool {
    project_at(&config.lockfile_dir, false)
        .is_some_and(|root| root.manifest["scripts"]["preinstall"].as_str().is_some())
}

fn project_at(dir: &Path, preinstall_done: bool) -> Option<Project> {
    let text = std::fs::read(dir.join("package.json")).ok()?;
    let manifest = serde_json::from_slice(&text).ok()?;
    Some(Project {
        dir: dir.to_path_buf(),
        manifest,
        preinstall_done,
    })
}

#[cfg(test)]
mod tests {
    use super::{dependency_rounds, with_ancestors, HashSet};

    #[test]
    fn dependency_rounds_run_a_cycle_one_project_at_a_time_before_what_needs_it() {
        // 0 ⇄ 1 (a cycle), 2 needs 1, 3 needs nothing, 4 needs 3.
        let needs: Vec<HashSet<usize>> = [&[1][..], &[0], &[1], &[], &[3]]
            .iter()
            .map(|deps| deps.iter().copied().collect())
            .collect();
        assert_eq!(
            dependency_rounds(&needs),
            vec![vec![3], vec![4], vec![0], vec![1], vec![2]]
        );
    }

    #[test]
    fn the_build_graph_keeps_what_needs_a_build_and_everything_above_it() {
        // 0 → 1 → 2 (needs a build); 3 → 4 (nothing below); 5 ⇄ 6 → 2 (a cycle above it).
        let children = vec![
            vec![1],
            vec![2],
            vec![],
            vec![4],
            vec![],
            vec![6],
            vec![5, 2],
        ];
        let mut wanted = vec![false; 7];
        wanted[2] = true;
        let kept: Vec<usize> = with_ancestors(&children, wanted)
            .iter()
            .enumerate()
            .filter_map(|(i, &k)| k.then_some(i))
            .collect();
        assert_eq!(kept, vec![0, 1, 2, 5, 6]);
    }
}
