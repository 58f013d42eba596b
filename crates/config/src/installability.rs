//! Installability (§6.1): which locked packages fit this host (`os`/`cpu`/`libc` against
//! `supportedArchitectures`, `engines.node` against the running node), and the walk over the
//! lockfile graph that decides what gets installed. An incompatible package reached only through
//! optional edges is skipped, and nothing is installed below it unless a non-optional path also
//! reaches it; an incompatible package on a regular path is installed with a warning (an error with
//! `engineStrict`).

use std::collections::HashMap;

use indexmap::IndexSet;
use tack_lockfile::{Lockfile, PackageInfo};

use crate::snapshot_graph::SnapshotGraph;

use crate::config::IncludedDeps;
use crate::error::{ConfigError, Warning};
use crate::settings::SupportedArchitectures;

/// The platform packages are installed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// Node's `process.platform` naming: `linux`, `darwin`, `win32`, …
    pub os: String,
    /// Node's `process.arch` naming: `x64`, `arm64`, `ia32`, …
    pub cpu: String,
    /// `glibc` / `musl`; `None` when unknown (then `libc` fields are ignored).
    pub libc: Option<String>,
    /// The running node's version (`20.11.1`), when known.
    pub node_version: Option<String>,
}

impl HostInfo {
    /// This machine, without a node version (see [`HostInfo::with_node_from_path`]).
    pub fn current() -> HostInfo {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            "windows" => "win32",
            other => other,
        };
        let cpu = match std::env::consts::ARCH {
            "x86_64" => "x64",
            "aarch64" => "arm64",
            "x86" => "ia32",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        let libc = if os != "linux" {
            None
        } else if cfg!(target_env = "musl") || std::path::Path::new("/etc/alpine-release").exists()
        {
            Some("musl".to_string())
        } else {
            Some("glibc".to_string())
        };
        HostInfo {
            os: os.to_string(),
            cpu: cpu.to_string(),
            libc,
            node_version: None,
        }
    }

    /// [`HostInfo::with_node_from_path`] when the answer needs no process (no `node` on
    /// PATH, or a binary whose version is remembered); `None` when node must be asked.
    pub fn with_node_from_cache(mut self) -> Option<HostInfo> {
        match crate::node_probe::cached_node_version_on_path(
            std::env::var_os("PATH").as_deref(),
            crate::node_probe::tack_cache_dir().as_deref(),
        ) {
            crate::node_probe::CachedNode::Known(version) => {
                self.node_version = version;
                Some(self)
            }
            crate::node_probe::CachedNode::MustAsk => None,
        }
    }

    /// Adds the version of the `node` on PATH, if there is one (see [`crate::node_probe`]).
    pub fn with_node_from_path(mut self) -> HostInfo {
        self.node_version = crate::node_probe::node_version_on_path(
            std::env::var_os("PATH").as_deref(),
            crate::node_probe::tack_cache_dir().as_deref(),
        );
        self
    }
}

/// Why a package does not fit the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incompatibility {
    Platform { wanted: String, current: String },
    Engine { wanted: String, current: String },
}

/// The supported values for one axis: `current` replaced by the host's value; default `[current]`.
fn supported_values(configured: Option<&Vec<String>>, host: Option<&str>) -> Vec<String> {
    let list = match configured {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec!["current".to_string()],
    };
    list.into_iter()
        .filter_map(|v| {
            if v == "current" {
                host.map(str::to_string)
            } else {
                Some(v)
            }
        })
        .collect()
}

/// pnpm's `checkList`: does any supported value pass the package's list (with `!x` negations and
/// `any`)?
fn check_list(supported: &[String], wanted: &[String]) -> bool {
    if wanted.len() == 1 && wanted[0] == "any" {
        return true;
    }
    let mut matched = false;
    let mut negations = 0;
    for value in supported {
        for item in wanted {
            if let Some(negated) = item.strip_prefix('!') {
                if negated == value {
                    return false;
                }
                negations += 1;
            } else {
                matched = matched || item == value;
            }
        }
    }
    matched || negations == wanted.len()
}

/// `(os, cpu, libc)` inferred from a package name.
type InferredPlatform = (Vec<String>, Vec<String>, Option<Vec<String>>);

/// pnpm 11+ infers `os`/`cpu`/`libc` for optional packages that lack them from names like
/// `@esbuild/linux-x64` or `@rollup/rollup-linux-x64-musl`.
fn infer_platform(name: &str) -> Option<InferredPlatform> {
    const OSES: &[&str] = &[
        "linux", "darwin", "win32", "freebsd", "openbsd", "netbsd", "android", "sunos", "aix",
    ];
    const CPUS: &[&str] = &[
        "x64", "arm64", "ia32", "arm", "ppc64", "s390x", "riscv64", "loong64", "mips64el",
    ];
    let bare = name.strip_prefix('@')?.split_once('/')?.1;
    let tokens: Vec<&str> = bare.split('-').collect();
    let os = tokens.iter().find(|t| OSES.contains(t))?;
    let cpu = tokens.iter().find(|t| CPUS.contains(t))?;
    let libc = if tokens.contains(&"musl") {
        Some(vec!["musl".to_string()])
    } else if tokens.contains(&"gnu") {
        Some(vec!["glibc".to_string()])
    } else {
        None
    };
    Some((vec![os.to_string()], vec![cpu.to_string()], libc))
}

/// The values each axis of the host accepts ([`supported_values`]), worked out once per
/// filter rather than once per package.
struct HostLists {
    os: Vec<String>,
    cpu: Vec<String>,
    libc: Vec<String>,
}

impl HostLists {
    fn new(host: &HostInfo, supported: &SupportedArchitectures) -> Self {
        HostLists {
            os: supported_values(supported.os.as_ref(), Some(&host.os)),
            cpu: supported_values(supported.cpu.as_ref(), Some(&host.cpu)),
            libc: supported_values(supported.libc.as_ref(), host.libc.as_deref()),
        }
    }
}

/// Checks one package against the host; `reached_optionally` enables name-based platform inference.
pub fn check_package(
    name: &str,
    package: &PackageInfo,
    host: &HostInfo,
    supported: &SupportedArchitectures,
    reached_optionally: bool,
    engines: &mut EngineVerdicts,
) -> Option<Incompatibility> {
    let lists = HostLists::new(host, supported);
    check_package_against(name, package, host, &lists, reached_optionally, engines)
}

fn check_package_against(
    name: &str,
    package: &PackageInfo,
    host: &HostInfo,
    lists: &HostLists,
    reached_optionally: bool,
    engines: &mut EngineVerdicts,
) -> Option<Incompatibility> {
    let inferred = if reached_optionally
        && package.os.is_none()
        && package.cpu.is_none()
        && package.libc.is_none()
    {
        infer_platform(name)
    } else {
        None
    };
    let (os, cpu, libc) = match &inferred {
        Some((os, cpu, libc)) => (Some(os), Some(cpu), libc.as_ref()),
        None => (
            package.os.as_ref(),
            package.cpu.as_ref(),
            package.libc.as_ref(),
        ),
    };
    let os_ok = os.is_none_or(|w| check_list(&lists.os, w));
    let cpu_ok = cpu.is_none_or(|w| check_list(&lists.cpu, w));
    let libc_ok = host.libc.is_none() || libc.is_none_or(|w| check_list(&lists.libc, w));
    if !(os_ok && cpu_ok && libc_ok) {
        // As pnpm 12 prints them: the fields the package declares, and the host's.
        let mut wanted = serde_json::Map::new();
        for (key, list) in [("os", os), ("cpu", cpu), ("libc", libc)] {
            if let Some(list) = list {
                wanted.insert(key.to_string(), serde_json::json!(list));
            }
        }
        let current = serde_json::json!({
            "os": host.os,
            "cpu": host.cpu,
            "libc": host.libc.as_deref().unwrap_or("unknown"),
        });
        return Some(Incompatibility::Platform {
            wanted: serde_json::Value::Object(wanted).to_string(),
            current: current.to_string(),
        });
    }
    if let (Some(wanted), Some(current)) = (package.engines.get("node"), &host.node_version) {
        if !engines.satisfied(wanted, current) {
            return Some(Incompatibility::Engine {
                wanted: serde_json::json!({ "node": wanted }).to_string(),
                current: serde_json::json!({ "node": current }).to_string(),
            });
        }
    }
    None
}

/// Verdicts of `engines.node` ranges against the running node, by range text. A lockfile
/// repeats a few dozen ranges over hundreds of packages, and parsing each one again with
/// node-semver was most of the platform filter's time, on the critical path of every
/// install that is not a no-op.
#[derive(Debug, Default)]
pub struct EngineVerdicts {
    /// The node version the verdicts were made for, parsed (`None` inside: it does not parse).
    host: Option<(String, Option<node_semver::Version>)>,
    satisfied: HashMap<String, bool>,
}

impl EngineVerdicts {
    /// Whether the range `wanted` admits node `current`; a range or version that does not
    /// parse admits everything (pnpm skips the check then).
    fn satisfied(&mut self, wanted: &str, current: &str) -> bool {
        if self.host.as_ref().is_none_or(|(text, _)| text != current) {
            let parsed = node_semver::Version::parse(current).ok();
            self.host = Some((current.to_string(), parsed));
            self.satisfied.clear();
        }
        if let Some(&known) = self.satisfied.get(wanted) {
            return known;
        }
        let version = self.host.as_ref().and_then(|(_, v)| v.as_ref());
        let ok = match (node_semver::Range::parse(wanted), version) {
            (Ok(range), Some(version)) => range.satisfies(version),
            _ => true,
        };
        self.satisfied.insert(wanted.to_string(), ok);
        ok
    }
}

/// The result of [`filter_lockfile`].
#[derive(Debug, Clone, Default)]
pub struct FilteredGraph {
    /// Snapshot keys to install, in discovery order.
    pub installable: IndexSet<String>,
    /// Incompatible packages reached only through optional edges, in discovery order: the ones
    /// pnpm reports as skipped. Their dependencies are not installed unless reachable otherwise.
    pub skipped: IndexSet<String>,
    /// Optional packages below a skipped one that nothing else installs, in discovery order.
    /// pnpm 12 lists them in `.modules.yaml#skipped` too (with the incompatible ones, sorted:
    /// see [`FilteredGraph::modules_skipped`]), without reporting them.
    pub skipped_below: IndexSet<String>,
    /// Incompatible packages installed anyway because a regular edge reaches them.
    pub warnings: Vec<Warning>,
}

/// The nodes the importers' dependencies point at, and whether each edge is optional.
fn importer_edges(
    graph: &mut SnapshotGraph<'_>,
    lockfile: &Lockfile,
    importer_ids: &[String],
    include: IncludedDeps,
) -> Vec<(usize, bool)> {
    let mut edges = Vec::new();
    for id in importer_ids {
        let Some(importer) = lockfile.importers.get(id) else {
            continue;
        };
        let groups = [
            (&importer.dependencies, include.dependencies, false),
            (&importer.dev_dependencies, include.dev_dependencies, false),
            (
                &importer.optional_dependencies,
                include.project_optional_dependencies(),
                true,
            ),
        ];
        for (deps, included, optional) in groups {
            if !included {
                continue;
            }
            for (alias, dep) in deps {
                if let Some(node) = graph.resolve(&dep.version, alias) {
                    edges.push((node, optional));
                }
            }
        }
    }
    edges
}

/// Decides which snapshots of `importer_ids` to install on `host` (`lockfile/filtering` +
/// `package-is-installable`).
pub fn filter_lockfile(
    lockfile: &Lockfile,
    importer_ids: &[String],
    include: IncludedDeps,
    host: &HostInfo,
    supported: &SupportedArchitectures,
    engine_strict: bool,
) -> Result<FilteredGraph, ConfigError> {
    let mut graph = SnapshotGraph::new(lockfile, include.optional_dependencies);
    let roots = importer_edges(&mut graph, lockfile, importer_ids, include);

    // Pass 1: everything reachable through regular edges only.
    let mut required = NodeSet::default();
    let mut stack: Vec<usize> = roots
        .iter()
        .filter(|&&(_, optional)| !optional)
        .map(|&(node, _)| node)
        .collect();
    while let Some(node) = stack.pop() {
        if !required.insert(node) {
            continue;
        }
        graph.expand(node);
        for &(child, optional) in graph.edges(node) {
            if !optional && !required.contains(child) {
                stack.push(child);
            }
        }
    }

    // Pass 2: everything reachable, not entering incompatible optional-only packages. Each
    // snapshot is judged once: the first time it comes off the stack.
    let mut installable = NodeSet::default();
    let mut skipped = NodeSet::default();
    let mut skipped_roots = Vec::new();
    let mut result = FilteredGraph::default();
    let mut engines = EngineVerdicts::default();
    let lists = HostLists::new(host, supported);
    let mut stack: Vec<usize> = roots.into_iter().rev().map(|(node, _)| node).collect();
    while let Some(node) = stack.pop() {
        if installable.contains(node) || skipped.contains(node) {
            continue;
        }
        let dep_path = graph.name(node);
        if !lockfile.snapshots.contains_key(dep_path) {
            return Err(ConfigError::MissingSnapshot {
                dep_path: dep_path.to_owned(),
            });
        }
        let is_required = required.contains(node);
        let verdict = lockfile.package(dep_path).and_then(|package| {
            // `name_version`'s name, borrowed.
            let name = match package.name.as_deref() {
                Some(name) => name,
                None => tack_lockfile::parse_dep_path(dep_path).name,
            };
            check_package_against(name, package, host, &lists, !is_required, &mut engines)
        });
        if let Some(problem) = verdict {
            if !is_required {
                skipped.insert(node);
                skipped_roots.push(node);
                result.skipped.insert(dep_path.to_owned());
                continue;
            }
            let (name, version) = lockfile.name_version(dep_path);
            let package = format!("{name}@{version}");
            let err = match problem {
                Incompatibility::Platform { wanted, current } => ConfigError::UnsupportedPlatform {
                    package,
                    wanted,
                    current,
                },
                Incompatibility::Engine { wanted, current } => ConfigError::UnsupportedEngine {
                    package,
                    wanted,
                    current,
                },
            };
            if engine_strict {
                return Err(err);
            }
            // pnpm 12's warning is the error's first sentence.
            let message = match &err {
                ConfigError::UnsupportedPlatform {
                    package,
                    wanted,
                    current,
                } => format!(
                    "Unsupported platform for {package}: wanted {wanted} (current: {current})"
                ),
                ConfigError::UnsupportedEngine {
                    package,
                    wanted,
                    current,
                } => format!(
                    "Unsupported engine for {package}: wanted: {wanted} (current: {current})"
                ),
                other => other.to_string(),
            };
            result.warnings.push(Warning::new(err.code(), message));
        }
        installable.insert(node);
        result.installable.insert(dep_path.to_owned());
        graph.expand(node);
        for &(child, _) in graph.edges(node).iter().rev() {
            if !installable.contains(child) {
                stack.push(child);
            }
        }
    }
    result.skipped_below = skipped_below(&mut graph, lockfile, &installable, skipped_roots);
    Ok(result)
}

/// Pass 3: the packages below the skipped ones that no installed package reaches. pnpm walks
/// every edge below a skipped package and records each snapshot marked `optional` it did not
/// install (`pkgAllDeps` in `lockfile/filtering`); pnpm 12 does so whatever order the edges come
/// in, so a package an installed one also reaches is installed and not listed.
fn skipped_below(
    graph: &mut SnapshotGraph<'_>,
    lockfile: &Lockfile,
    installable: &NodeSet,
    skipped_roots: Vec<usize>,
) -> IndexSet<String> {
    let mut below = IndexSet::new();
    let mut seen = NodeSet::default();
    for &node in &skipped_roots {
        seen.insert(node);
    }
    let mut stack = skipped_roots;
    while let Some(node) = stack.pop() {
        graph.expand(node);
        for &(child, _) in graph.edges(node) {
            if installable.contains(child) || !seen.insert(child) {
                continue;
            }
            let dep_path = graph.name(child);
            if lockfile.snapshots.get(dep_path).is_some_and(|s| s.optional) {
                below.insert(dep_path.to_owned());
            }
            stack.push(child);
        }
    }
    below
}

impl FilteredGraph {
    /// pnpm 12's `.modules.yaml#skipped`: the skipped packages and the optional ones below
    /// them that are not installed, sorted.
    pub fn modules_skipped(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .skipped
            .iter()
            .chain(&self.skipped_below)
            .cloned()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }
}

/// Nodes of a [`SnapshotGraph`] seen by a walk (the graph grows as edges are resolved).
#[derive(Default)]
struct NodeSet(Vec<bool>);

impl NodeSet {
    fn contains(&self, node: usize) -> bool {
        self.0.get(node).copied().unwrap_or(false)
    }

    /// `false` when `node` was in the set already.
    fn insert(&mut self, node: usize) -> bool {
        if node >= self.0.len() {
            self.0.resize(node + 1, false);
        }
        !std::mem::replace(&mut self.0[node], true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn engine_verdicts_are_cached_per_node_version() {
        let mut engines = EngineVerdicts::default();
        assert!(engines.satisfied(">=14", "20.11.1"));
        assert!(!engines.satisfied("<10", "20.11.1"));
        assert!(!engines.satisfied("<10", "20.11.1"), "the cached verdict");
        assert!(engines.satisfied("^12.20.0 || ^14.13.1 || >=16.0.0", "20.11.1"));
        assert!(
            engines.satisfied("not a range", "20.11.1"),
            "an unparsable range admits"
        );
        // Another node version: no verdict of the first one may leak.
        assert!(engines.satisfied("<10", "8.17.0"));
        assert!(!engines.satisfied(">=14", "8.17.0"));
        assert!(
            engines.satisfied(">=14", "not a version"),
            "an unparsable version admits"
        );
    }

    #[test]
    fn check_list_rules() {
        assert!(check_list(&list(&["linux"]), &list(&["linux", "darwin"])));
        assert!(!check_list(&list(&["linux"]), &list(&["darwin"])));
        assert!(check_list(&list(&["linux"]), &list(&["!win32"])));
        assert!(!check_list(&list(&["win32"]), &list(&["!win32"])));
        assert!(check_list(&list(&["linux"]), &list(&["any"])));
        assert!(check_list(&list(&["linux", "darwin"]), &list(&["darwin"])));
        assert!(!check_list(
            &list(&["linux", "win32"]),
            &list(&["!win32", "linux"])
        ));
    }

    #[test]
    fn infers_from_names() {
        let (os, cpu, libc) = infer_platform("@rollup/rollup-linux-x64-musl").unwrap();
        assert_eq!(
            (os, cpu, libc),
            (list(&["linux"]), list(&["x64"]), Some(list(&["musl"])))
        );
        assert!(infer_platform("@esbuild/darwin-arm64").is_some());
        assert!(infer_platform("linux-x64").is_none());
        assert!(infer_platform("@scope/not-a-platform").is_none());
    }
}
