//! A package's own `.bin` directory, written by the import thread that puts the last of its
//! inputs in place, instead of after every import.
//!
//! `<slot>/node_modules/<name>/node_modules/.bin` lists the commands of the package and of
//! its children, read from their manifests. In a warm install those directories (about
//! 250 shims for the medium fixture) were written after the last import, on a tail where
//! only one core had work. Here each package waits for itself and for every edge to a
//! child with bins; whichever import completes the count writes the directory, while the
//! other core is still importing.
//!
//! Only directories in slots this install created are written early. Anything not written
//! here (a reused slot, a package that never arrived, any error) is left to
//! [`crate::finish`], which writes what [`EarlyBins::written`] does not cover and reports
//! errors with their paths.
//!
//! The importers' `.bin` directories and `<vs>/node_modules/.bin` (about 45 shims for the
//! medium fixture, 2 ms written one after the other at the end) are written the same way
//! once the hoisting is known ([`EarlyBins::hoisting_known`]) and every package they list
//! with bins is in place.

use crate::bins::{
    bundled_commands, commands_of, resolve_conflicts, through_missing_link, write_bin_dir,
    BinCommand, BinDirState, ShimNodePaths,
};
use crate::hoist::Hoisted;
use crate::link::{top_level_bin_dirs, top_level_node_paths};
use crate::plan::{ChildTarget, LinkPlan};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// One dependency edge of a package, as a `.bin` directory sees it.
enum Edge {
    /// A package of the plan, by index.
    Package(usize),
    /// A package of the plan, by index, installed but not linked here under this alias
    /// (`--no-optional`, see [`crate::PlannedPackage::unlinked_optional_children`]).
    Unlinked(usize, String),
}

/// Counts, per package of a plan, what its `.bin` directory still waits for, and writes it
/// when nothing is left. Shared by all import threads.
pub struct EarlyBins {
    /// Per package: its edges in the plan's order, without the one named like itself (that
    /// slot is the package itself, as for child links).
    edges: Vec<Vec<Edge>>,
    /// Per package with bins: the packages that list its commands, once per edge.
    parents: Vec<Vec<usize>>,
    /// Per package: itself, plus one per edge to a package with bins, not yet in place.
    waiting: Vec<AtomicU32>,
    /// Per package: in place in a slot this install created.
    fresh: Vec<AtomicBool>,
    /// Per package: its `.bin` directory is complete.
    written: Vec<AtomicBool>,
    /// Per package: imported into a staging directory to be built (see
    /// [`crate::import_package_staged`]): its `.bin` directory is written into that
    /// directory before the build ([`crate::link_package_bins`]), never into its package
    /// directory, which must not exist until the build is done.
    staged: Vec<AtomicBool>,
    /// Per package with bins: its commands, read once (`None`: reading failed, which
    /// [`crate::finish`] meets again and reports).
    commands: Vec<OnceLock<Option<Vec<BinCommand>>>>,
    /// Warnings from reading commands (skipped bins), for the link report.
    warnings: Mutex<Vec<String>>,
    /// What the top-level `.bin` directories wait for.
    top_level: Mutex<TopLevel>,
    /// The top-level `.bin` directories are complete.
    top_level_written: AtomicBool,
    /// Held while the top-level `.bin` directories are written; `true` once a failed install
    /// has closed them ([`EarlyBins::close_top_level`]): nothing is written there after.
    top_level_closed: Mutex<bool>,
}

/// The top-level `.bin` directories' wait: per package with bins, whether it is in place,
/// and, once the hoisting is known, what the directories still wait for.
#[derive(Default)]
struct TopLevel {
    arrived: Vec<bool>,
    waiting: Option<TopLevelWait>,
}

struct TopLevelWait {
    hoisted: Vec<Hoisted>,
    /// Per package: listed by a top-level directory, and has bins.
    listed: Vec<bool>,
    /// Listed packages not in place yet.
    remaining: usize,
}

impl std::fmt::Debug for EarlyBins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let written = self
            .written
            .iter()
            .filter(|w| w.load(Ordering::Relaxed))
            .count();
        f.debug_struct("EarlyBins")
            .field("packages", &self.edges.len())
            .field("written", &written)
            .finish()
    }
}

impl EarlyBins {
    /// The counts for `plan`. An edge to a dep path the plan lacks is left out: linking
    /// reports it.
    pub fn new(plan: &LinkPlan) -> Self {
        let n = plan.packages.len();
        let by_dep_path = plan.indexes_by_dep_path();
        let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut waiting = Vec::with_capacity(n);
        let edges = plan
            .packages
            .iter()
            .enumerate()
            .map(|(p, pkg)| {
                let mut count = 1u32;
                let mut edges: Vec<Edge> = pkg
                    .children
                    .iter()
                    .filter(|(alias, _)| alias != &pkg.name)
                    // A `link:` child's bins are not linked into a package's `.bin` (pnpm 12
                    // links them only for the projects).
                    .filter_map(|(_, target)| match target {
                        ChildTarget::Link(_) => None,
                        ChildTarget::DepPath(dep_path) => {
                            let q = *by_dep_path.get(dep_path.as_str())?;
                            if plan.packages[q].has_bin {
                                parents[q].push(p);
                                count += 1;
                            }
                            Some(Edge::Package(q))
                        }
                    })
                    .collect();
                for (alias, target) in &pkg.unlinked_optional_children {
                    if let ChildTarget::DepPath(dep_path) = target {
                        if let Some(&q) = by_dep_path.get(dep_path.as_str()) {
                            if plan.packages[q].has_bin {
                                parents[q].push(p);
                                count += 1;
                                edges.push(Edge::Unlinked(q, alias.clone()));
                            }
                        }
                    }
                }
                waiting.push(AtomicU32::new(count));
                edges
            })
            .collect();
        EarlyBins {
            edges,
            parents,
            waiting,
            fresh: (0..n).map(|_| AtomicBool::new(false)).collect(),
            staged: (0..n).map(|_| AtomicBool::new(false)).collect(),
            written: (0..n).map(|_| AtomicBool::new(false)).collect(),
            commands: (0..n).map(|_| OnceLock::new()).collect(),
            warnings: Mutex::new(Vec::new()),
            top_level: Mutex::new(TopLevel {
                arrived: vec![false; n],
                waiting: None,
            }),
            top_level_written: AtomicBool::new(false),
            top_level_closed: Mutex::new(false),
        }
    }

    /// The hoisting of a new virtual store is known (see [`crate::link_top_level`]): the
    /// top-level `.bin` directories are written as soon as every package with bins they
    /// list is in place, now if that is already so. Call at most once.
    pub fn hoisting_known(&self, plan: &LinkPlan, hoisted: &[Hoisted]) {
        let by_dep_path = plan.indexes_by_dep_path();
        let mut listed = vec![false; plan.packages.len()];
        for target in top_level_targets(plan, hoisted) {
            if let ChildTarget::DepPath(dep_path) = target {
                if let Some(&q) = by_dep_path.get(dep_path.as_str()) {
                    listed[q] = plan.packages[q].has_bin;
                }
            }
        }
        let ready = {
            let mut top = self.lock_top_level();
            let remaining = listed
                .iter()
                .zip(&top.arrived)
                .filter(|(&listed, &arrived)| listed && !arrived)
                .count();
            if remaining > 0 {
                top.waiting = Some(TopLevelWait {
                    hoisted: hoisted.to_vec(),
                    listed,
                    remaining,
                });
            }
            remaining == 0
        };
        if ready {
            self.write_top_level(plan, hoisted);
        }
    }

    /// Whether the top-level `.bin` directories were written here.
    pub(crate) fn top_level_written(&self) -> bool {
        self.top_level_written.load(Ordering::Acquire)
    }

    /// The install failed: the top-level `.bin` directories are not written from now on,
    /// by any import thread still running. Waits for a write under way; `true` when they
    /// were written (see [`crate::withdraw_top_level`]).
    pub(crate) fn close_top_level(&self) -> bool {
        *self.lock_closed() = true;
        self.top_level_written()
    }

    fn lock_closed(&self) -> std::sync::MutexGuard<'_, bool> {
        self.top_level_closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Package `i` was imported into a staging directory (call before [`EarlyBins::in_place`]).
    pub fn mark_staged(&self, i: usize) {
        if let Some(flag) = self.staged.get(i) {
            flag.store(true, Ordering::Release);
        }
    }

    /// Whether package `i` was imported into a staging directory.
    pub fn staged(&self, i: usize) -> bool {
        self.staged
            .get(i)
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    /// Package `i` is complete in its directory (and its child links are made); `fresh`
    /// when this install created its slot. Call once per package, from any thread. Writes
    /// every `.bin` directory this completes.
    pub fn in_place(&self, plan: &LinkPlan, i: usize, fresh: bool) {
        let Some(pkg) = plan.packages.get(i) else {
            return;
        };
        if fresh {
            self.fresh[i].store(true, Ordering::Release);
        }
        self.arrive(plan, i);
        if pkg.has_bin {
            for &p in &self.parents[i] {
                self.arrive(plan, p);
            }
            self.arrive_at_top_level(plan, i);
        }
    }

    /// Package `i`, which has bins, is in place: the top-level directories are written if
    /// it was the last they waited for.
    fn arrive_at_top_level(&self, plan: &LinkPlan, i: usize) {
        let complete = {
            let mut top = self.lock_top_level();
            if let Some(arrived) = top.arrived.get_mut(i) {
                *arrived = true;
            }
            match &mut top.waiting {
                Some(wait) if wait.listed.get(i) == Some(&true) => {
                    wait.remaining -= 1;
                    if wait.remaining == 0 {
                        top.waiting.take()
                    } else {
                        None
                    }
                }
                _ => None,
            }
        };
        if let Some(wait) = complete {
            self.write_top_level(plan, &wait.hoisted);
        }
    }

    fn lock_top_level(&self) -> std::sync::MutexGuard<'_, TopLevel> {
        self.top_level.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the top-level `.bin` directories as [`crate::finish`] would. Left to it on
    /// any error: a command list that cannot be read, a directory that cannot be written.
    fn write_top_level(&self, plan: &LinkPlan, hoisted: &[Hoisted]) {
        static NONE: Vec<BinCommand> = Vec::new();
        // Taken once per install, by the one thread that writes: never contended unless the
        // install failed meanwhile.
        let closed = self.lock_closed();
        if *closed {
            return;
        }
        let by_dep_path = plan.indexes_by_dep_path();
        // `link:` targets and workspace projects: read here, and again by `finish` (with
        // their warnings), as for package directories.
        let mut links: HashMap<&Path, Vec<BinCommand>> = HashMap::new();
        for target in top_level_targets(plan, hoisted) {
            if let ChildTarget::Link(dir) = target {
                if !links.contains_key(dir.as_path()) {
                    let mut warnings = Vec::new();
                    let Ok(cmds) = commands_of(&dir.to_string_lossy(), dir, None, &mut warnings)
                    else {
                        return;
                    };
                    links.insert(dir, cmds);
                }
            }
        }
        let cmds_of = |target: &ChildTarget| match target {
            ChildTarget::DepPath(dep_path) => match by_dep_path.get(dep_path.as_str()) {
                Some(&q) if plan.packages[q].has_bin => self.commands(plan, q),
                _ => Some(&NONE),
            },
            ChildTarget::Link(dir) => links.get(dir.as_path()),
        };
        let Some(dirs) = top_level_bin_dirs(plan, hoisted, cmds_of) else {
            return;
        };
        let hoisted_modules = plan.hidden_modules_dir();
        let hoisted_np = plan
            .shims_add_hoisted_dir()
            .then_some(hoisted_modules.as_path());
        for (bin_dir, tiers) in dirs {
            let chosen = resolve_conflicts(&tiers);
            let node_paths = top_level_node_paths(plan, &bin_dir, hoisted_np);
            // Not pruned: another tool's entries stay until `finish` (see there).
            if write_bin_dir(&bin_dir, &chosen, node_paths, false, BinDirState::MayExist).is_err() {
                return;
            }
        }
        self.top_level_written.store(true, Ordering::Release);
    }

    /// Whether package `i`'s `.bin` directory was written here.
    pub(crate) fn written(&self, i: usize) -> bool {
        self.written
            .get(i)
            .is_some_and(|w| w.load(Ordering::Acquire))
    }

    /// Package `i`'s commands, if they were read here.
    pub(crate) fn cached_commands(&self, i: usize) -> Option<&Vec<BinCommand>> {
        self.commands.get(i)?.get()?.as_ref()
    }

    /// The warnings gathered so far, sorted (the threads gathered them in any order).
    pub(crate) fn take_warnings(&self) -> Vec<String> {
        let mut warnings =
            std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()));
        warnings.sort();
        warnings
    }

    /// One of the things package `p` waits for is in place.
    fn arrive(&self, plan: &LinkPlan, p: usize) {
        // AcqRel: the thread that takes the count to zero sees every `fresh` flag and
        // every file the other arrivals put in place.
        if self.waiting[p].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.write(plan, p);
        }
    }

    /// Writes package `p`'s `.bin` directory, as [`crate::finish`] would for a fresh slot.
    fn write(&self, plan: &LinkPlan, p: usize) {
        // A reused slot may hold an older `.bin`: `finish` compares and prunes it. In the
        // global virtual store `finish` aims dependencies' commands through the slot's links.
        if !self.fresh[p].load(Ordering::Acquire) || self.staged(p) || plan.shared_slots {
            return;
        }
        let pkg = &plan.packages[p];
        let bundled = if pkg.has_bundled_dependencies {
            let mut warnings = Vec::new();
            let Ok(cmds) =
                bundled_commands(&pkg.dep_path, &plan.package_dir(pkg), true, &mut warnings)
            else {
                return;
            };
            self.warnings
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(warnings);
            cmds
        } else {
            Vec::new()
        };
        let slot_modules = plan.slot_modules_dir(pkg);
        let mut unlinked = Vec::new();
        for edge in &self.edges[p] {
            if let Edge::Unlinked(q, alias) = edge {
                let Some(cmds) = self.commands(plan, *q) else {
                    return;
                };
                unlinked.extend(through_missing_link(cmds, &slot_modules.join(alias)));
            }
        }
        let mut tier: Vec<&BinCommand> = Vec::new();
        if pkg.has_bin {
            let Some(own) = self.commands(plan, p) else {
                return;
            };
            tier.extend(own.iter().filter(|cmd| !cmd.target_missing));
        }
        tier.extend(&bundled);
        for edge in &self.edges[p] {
            match edge {
                Edge::Package(q) if plan.packages[*q].has_bin => {
                    let Some(cmds) = self.commands(plan, *q) else {
                        return;
                    };
                    tier.extend(cmds);
                }
                Edge::Package(_) | Edge::Unlinked(..) => {}
            }
        }
        tier.extend(&unlinked);
        let chosen = resolve_conflicts(&[tier]);
        let bin_dir = plan.package_dir(pkg).join("node_modules").join(".bin");
        let hoisted_modules = plan.hidden_modules_dir();
        let hoisted = plan
            .shims_add_hoisted_dir()
            .then_some(hoisted_modules.as_path());
        let node_paths = ShimNodePaths {
            own_modules: None,
            hoisted,
            symlinks: plan.prefer_symlinked_executables,
            shim_projects: false,
            absolute_outside: plan.shared_slots.then_some(plan.lockfile_dir.as_path()),
        };
        if write_bin_dir(
            &bin_dir,
            &chosen,
            node_paths,
            true,
            BinDirState::InFreshSlot,
        )
        .is_ok()
        {
            self.written[p].store(true, Ordering::Release);
        }
    }

    /// Package `q`'s commands, read from its directory the first time they are asked for.
    fn commands(&self, plan: &LinkPlan, q: usize) -> Option<&Vec<BinCommand>> {
        self.commands[q]
            .get_or_init(|| {
                let pkg = &plan.packages[q];
                let slot = plan.slot_modules_dir(pkg);
                let mut warnings = Vec::new();
                let cmds = commands_of(
                    &pkg.dep_path,
                    &plan.package_dir(pkg),
                    Some(slot),
                    &mut warnings,
                )
                .ok()?;
                self.warnings
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(warnings);
                Some(cmds)
            })
            .as_ref()
    }
}

/// What the top-level `.bin` directories may list: the importers' direct dependencies, the
/// peers those were resolved with, and the hoisted packages.
fn top_level_targets<'a>(
    plan: &'a LinkPlan,
    hoisted: &'a [Hoisted],
) -> impl Iterator<Item = &'a ChildTarget> {
    plan.importers
        .iter()
        .flat_map(|i| i.deps.iter().map(|d| &d.target).chain(&i.peers_of_deps))
        .chain(hoisted.iter().map(|h| &h.target))
}
