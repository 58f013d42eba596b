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

use crate::bins::{commands_of, resolve_conflicts, write_bin_dir, BinCommand, BinDirState};
use crate::plan::{ChildTarget, LinkPlan};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

/// One dependency edge of a package, as a `.bin` directory sees it.
enum Edge {
    /// A package of the plan, by index.
    Package(usize),
    /// A `link:` target or a workspace project, always in place.
    Link(PathBuf),
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
    /// Per package with bins: its commands, read once (`None`: reading failed, which
    /// [`crate::finish`] meets again and reports).
    commands: Vec<OnceLock<Option<Vec<BinCommand>>>>,
    /// Warnings from reading commands (skipped bins), for the link report.
    warnings: Mutex<Vec<String>>,
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
                let edges: Vec<Edge> = pkg
                    .children
                    .iter()
                    .filter(|(alias, _)| alias != &pkg.name)
                    .filter_map(|(_, target)| match target {
                        ChildTarget::Link(dir) => Some(Edge::Link(dir.clone())),
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
                waiting.push(AtomicU32::new(count));
                edges
            })
            .collect();
        EarlyBins {
            edges,
            parents,
            waiting,
            fresh: (0..n).map(|_| AtomicBool::new(false)).collect(),
            written: (0..n).map(|_| AtomicBool::new(false)).collect(),
            commands: (0..n).map(|_| OnceLock::new()).collect(),
            warnings: Mutex::new(Vec::new()),
        }
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
        }
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
        if !self.fresh[p].load(Ordering::Acquire) {
            // A reused slot may hold an older `.bin`: `finish` compares and prunes it.
            return;
        }
        let pkg = &plan.packages[p];
        let mut links: Vec<Vec<BinCommand>> = Vec::new();
        for edge in &self.edges[p] {
            if let Edge::Link(dir) = edge {
                let mut warnings = Vec::new();
                match commands_of(&dir.to_string_lossy(), dir, None, &mut warnings) {
                    // Read again, with its warnings, by `finish`'s importer bins.
                    Ok(cmds) => links.push(cmds),
                    Err(_) => return,
                }
            }
        }
        let mut tier: Vec<&BinCommand> = Vec::new();
        if pkg.has_bin {
            let Some(own) = self.commands(plan, p) else {
                return;
            };
            tier.extend(own);
        }
        let mut links = links.iter();
        for edge in &self.edges[p] {
            match edge {
                Edge::Package(q) if plan.packages[*q].has_bin => {
                    let Some(cmds) = self.commands(plan, *q) else {
                        return;
                    };
                    tier.extend(cmds);
                }
                Edge::Package(_) => {}
                Edge::Link(_) => tier.extend(links.next().into_iter().flatten()),
            }
        }
        let chosen = resolve_conflicts(&[tier]);
        let bin_dir = plan.package_dir(pkg).join("node_modules").join(".bin");
        let hoisted_modules = plan.virtual_store_dir.join("node_modules");
        let hoisted = (!plan.hoist_pattern.is_empty()).then_some(hoisted_modules.as_path());
        if write_bin_dir(&bin_dir, &chosen, hoisted, true, BinDirState::InFreshSlot).is_ok() {
            self.written[p].store(true, Ordering::Release);
        }
    }

    /// Package `q`'s commands, read from its directory the first time they are asked for.
    fn commands(&self, plan: &LinkPlan, q: usize) -> Option<&Vec<BinCommand>> {
        self.commands[q]
            .get_or_init(|| {
                let pkg = &plan.packages[q];
                let slot = plan
                    .virtual_store_dir
                    .join(&pkg.dir_name)
                    .join("node_modules");
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
