//! pnpm 11+'s supply-chain check of a frozen install: every registry version in the lockfile
//! must have been published at least `minimumReleaseAge` minutes ago (1440 by default), so
//! that a version pushed an hour ago (a hijacked maintainer account, a typo-squat the
//! registry has not pulled yet) is not installed just because someone committed a lockfile
//! naming it.
//!
//! On a distant registry the check costs seconds, as much as the rest of a CI install with a
//! cached store (the cost that made pnpm 11's frozen installs slow). So it runs on a thread
//! of its own while the install downloads and imports into the virtual store, as pnpm 12
//! overlaps it; the project gets no link (direct dependencies, bins, `.modules.yaml`) and no
//! dependency's build runs before its verdict, and a rejected lockfile's new package
//! directories are removed again (`verdict_gate.rs`). A verdict in before the install
//! changes anything stops it there; one still pending lets an incompatible tree be purged
//! and the root project's own `preinstall` run, as they would for any install. It is skipped when the lockfile is trusted
//! (`--trust-lockfile`, `trustLockfile: true`) or the age is 0, and when this lockfile has
//! already passed this policy (`verified_lockfiles.rs`).
//!
//! Per package name, as pnpm 12 asks the registry: the abbreviated packument first (a
//! package not `modified` since the cutoff has no version younger than it), and the full one,
//! with each version's publish `time`, only for the packages that changed since. A version
//! without a publish time passes unless `minimumReleaseAgeIgnoreMissingTime` is false.
//! `minimumReleaseAgeExclude` lists names (`*` globs) or `name@version` (versions joined by
//! `||`) that are never checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{StreamExt as _, TryStreamExt as _};
use jiff::Timestamp;
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tack_config::{Config, Matcher, Registries};
use tack_lockfile::{Lockfile, Resolution};
use tack_tarball::{FetcherOptions, MetadataClient, PackumentKind};

use super::verified_lockfiles::{VerdictKey, VerifiedLockfiles};
use crate::error::CliError;
use crate::reporter::{Event, Reporter, Verification};

/// What a rejected lockfile leaves behind, for the errors' help (see `verdict_gate.rs`).
const UNTOUCHED: &str = "Nothing from this lockfile was left linked in node_modules; \
    packages downloaded meanwhile stay in the store, which only holds content.";

/// The policy a lockfile is checked against.
#[derive(Debug, Clone)]
pub struct ReleaseAgePolicy {
    minutes: u64,
    exclude: Vec<String>,
    ignore_missing_time: bool,
}

impl ReleaseAgePolicy {
    /// The policy `config` asks for, or `None` when the lockfile is trusted or the age is 0.
    pub fn from_config(config: &Config) -> Option<Self> {
        let settings = &config.settings;
        if settings.trust_lockfile == Some(true) || config.minimum_release_age == 0 {
            return None;
        }
        Some(Self {
            minutes: config.minimum_release_age,
            exclude: settings
                .minimum_release_age_exclude
                .clone()
                .unwrap_or_default(),
            ignore_missing_time: settings
                .minimum_release_age_ignore_missing_time
                .unwrap_or(true),
        })
    }

    fn as_json(&self, config: &Config) -> Value {
        json!({
            "minimumReleaseAge": self.minutes,
            "minimumReleaseAgeExclude": self.exclude,
            "minimumReleaseAgeIgnoreMissingTime": self.ignore_missing_time,
            "registry": config.registries.default,
            "scopedRegistries": config.registries.scopes,
        })
    }
}

/// `minimumReleaseAgeExclude`, compiled: names (globs) excluded whole, and single versions.
struct Exclusions {
    names: Matcher,
    versions: BTreeMap<String, BTreeSet<String>>,
}

impl Exclusions {
    fn new(entries: &[String]) -> Self {
        let mut names = Vec::new();
        let mut versions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for entry in entries {
            // `@scope/name@1.0.0 || 1.0.1`: the `@` of a version is never the first character.
            let version_at = entry
                .char_indices()
                .skip(1)
                .find_map(|(at, c)| (c == '@').then_some(at));
            match version_at {
                Some(at) => {
                    let listed = entry[at + 1..].split("||").map(|v| v.trim().to_string());
                    versions
                        .entry(entry[..at].to_string())
                        .or_default()
                        .extend(listed);
                }
                None => names.push(entry.clone()),
            }
        }
        Self {
            names: Matcher::new(&names),
            versions,
        }
    }

    fn excludes(&self, name: &str, version: &str) -> bool {
        (!self.names.is_empty() && self.names.matches(name))
            || self
                .versions
                .get(name)
                .is_some_and(|versions| versions.contains(version))
    }
}

/// A version the policy rejects (ordered by kind, name and version, for the message).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Violation {
    TooYoung {
        name: String,
        version: String,
        published: Timestamp,
    },
    NoPublishTime {
        name: String,
        version: String,
    },
}

impl Violation {
    fn describe(&self, cutoff: Timestamp) -> String {
        match self {
            Violation::TooYoung {
                name,
                version,
                published,
            } => format!(
                "{name}@{version} was published at {}, within the minimumReleaseAge cutoff ({})",
                iso(*published),
                iso(cutoff)
            ),
            Violation::NoPublishTime { name, version } => format!(
                "{name}@{version} has no publish time in the registry's metadata, and \
                 minimumReleaseAgeIgnoreMissingTime is false"
            ),
        }
    }
}

/// A check under way on a thread of its own (see [`start`]), or one already decided.
pub struct PendingCheck {
    running: Option<Running>,
}

struct Running {
    thread: std::thread::JoinHandle<Result<(), CliError>>,
    /// Set when the install stops waiting (it failed first): the thread then prints nothing
    /// and records no verdict. A lock, not a flag: the thread holds it while it prints, so
    /// nothing is printed once the install has let go.
    abandoned: Arc<Mutex<bool>>,
}

impl PendingCheck {
    fn decided() -> Self {
        Self { running: None }
    }

    /// Whether the verdict is still to come (nothing was cached).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The verdict, if it is in already (`Err` for a rejection); otherwise the check as it
    /// is. Called before the install changes anything, so that a verdict that came quickly
    /// stops it before it does.
    pub fn early_verdict(self) -> Result<Self, CliError> {
        if self.is_decided() {
            self.verdict()?;
            return Ok(Self::decided());
        }
        Ok(self)
    }

    /// Whether the verdict is in: [`PendingCheck::verdict`] returns at once.
    fn is_decided(&self) -> bool {
        self.running
            .as_ref()
            .is_none_or(|running| running.thread.is_finished())
    }

    /// Waits for the verdict: `Err` names every rejected version, or why the registry's
    /// metadata could not be read.
    pub fn verdict(mut self) -> Result<(), CliError> {
        let Some(running) = self.running.take() else {
            return Ok(());
        };
        running.thread.join().unwrap_or_else(|_| {
            Err(CliError::new(
                "ERR_TACK_INTERNAL",
                "the lockfile's supply-chain check stopped unexpectedly",
            ))
        })
    }
}

impl Drop for PendingCheck {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            *running.abandoned.lock() = true;
        }
    }
}

/// Checks the lockfile at `lockfile_path` (`lockfile`, when it is already parsed) against
/// `config`'s release-age policy (see the module doc), and waits for the verdict.
pub fn check(
    config: &Config,
    lockfile: Option<&Lockfile>,
    lockfile_path: &Path,
    options: impl FnOnce() -> FetcherOptions,
    reporter: &Arc<Reporter>,
) -> Result<(), CliError> {
    start(config, lockfile, lockfile_path, options, reporter)?.verdict()
}

/// Starts the check of the lockfile at `lockfile_path` (`lockfile`, when it is already
/// parsed): decided at once when the policy is off or this lockfile passed it before, and
/// refused at once offline; otherwise the registry is asked on a thread of its own, which
/// reports as pnpm 12 does, while the install goes on. The caller links nothing into the
/// project before [`PendingCheck::verdict`] says so.
pub fn start(
    config: &Config,
    lockfile: Option<&Lockfile>,
    lockfile_path: &Path,
    options: impl FnOnce() -> FetcherOptions,
    reporter: &Arc<Reporter>,
) -> Result<PendingCheck, CliError> {
    let trusted = config.settings.trust_lockfile == Some(true);
    if let Some(trust_policy) = config
        .settings
        .trust_policy
        .as_deref()
        .filter(|policy| !trusted && *policy != "off")
    {
        reporter.warn(format!(
            "trustPolicy: {trust_policy} is not checked by tack: the lockfile's versions are \
             checked against minimumReleaseAge only. Install with pnpm to apply it."
        ));
    }
    let Some(policy) = ReleaseAgePolicy::from_config(config) else {
        return Ok(PendingCheck::decided());
    };
    let cache = VerifiedLockfiles::in_tack_cache();
    let key = VerdictKey {
        lockfile_hash: hex::encode(Sha256::digest(
            fs_err::read(lockfile_path)
                .map_err(|e| CliError::new("ERR_TACK_LOCKFILE_READ", e.to_string()))?,
        )),
        policy: policy.as_json(config),
    };
    let now = Timestamp::now();
    let shown_path = lockfile_path.display().to_string();
    if let Some(verified_at) = cache.as_ref().and_then(|cache| cache.verified_at(&key)) {
        let ago = verified_at
            .parse::<Timestamp>()
            .ok()
            .and_then(|then| Duration::try_from(now.duration_since(then)).ok())
            .unwrap_or_default();
        reporter.emit(Event::LockfileVerification {
            lockfile_path: shown_path.clone(),
            status: Verification::Cached { verified_at, ago },
        });
        return Ok(PendingCheck::decided());
    }
    // A no-op install has not read the lockfile: only now, when it must be checked.
    let parsed;
    let lockfile = match lockfile {
        Some(lockfile) => lockfile,
        None => match Lockfile::read_from_path(lockfile_path)? {
            Some(read) => {
                parsed = read;
                &parsed
            }
            None => return Ok(PendingCheck::decided()),
        },
    };
    let locked = registry_versions(lockfile);
    let entries: usize = locked.values().map(BTreeSet::len).sum();
    if entries == 0 {
        return Ok(PendingCheck::decided());
    }
    if config.offline {
        return Err(offline_error(&locked));
    }
    reporter.emit(Event::LockfileVerification {
        lockfile_path: shown_path.clone(),
        status: Verification::Started { entries },
    });
    let asked = Asked {
        registries: config.registries.clone(),
        exclusions: Exclusions::new(&policy.exclude),
        cutoff: now
            .checked_sub(jiff::SignedDuration::from_mins(policy.minutes as i64))
            .unwrap_or(Timestamp::MIN),
        policy,
    };
    let options = options();
    let abandoned = Arc::new(Mutex::new(false));
    let run = {
        let (abandoned, reporter) = (Arc::clone(&abandoned), Arc::clone(reporter));
        move || {
            let started = Instant::now();
            let verdict = asked.run(&locked, &options);
            let abandoned = abandoned.lock();
            if *abandoned {
                return verdict.map(drop);
            }
            let passed = verdict
                .as_ref()
                .is_ok_and(|violations| violations.is_empty());
            let elapsed = started.elapsed();
            reporter.emit(Event::LockfileVerification {
                lockfile_path: shown_path,
                status: if passed {
                    Verification::Passed { entries, elapsed }
                } else {
                    Verification::Failed { entries, elapsed }
                },
            });
            if passed {
                if let Some(cache) = &cache {
                    cache.record(&key, &iso(now));
                }
            }
            verdict.and_then(|violations| asked.refuse(violations))
        }
    };
    let thread = std::thread::Builder::new()
        .name("tack-release-age".to_string())
        .spawn(run)
        .map_err(|e| {
            CliError::new(
                "ERR_TACK_RUNTIME",
                format!("cannot start the lockfile's supply-chain check: {e}"),
            )
        })?;
    Ok(PendingCheck {
        running: Some(Running { thread, abandoned }),
    })
}

/// What the per-package questions share.
struct Asked {
    registries: Registries,
    policy: ReleaseAgePolicy,
    exclusions: Exclusions,
    cutoff: Timestamp,
}

impl Asked {
    /// Every rejected version of `locked`, the registry asked with `options`' client and
    /// as many requests in flight as its window allows.
    fn run(
        &self,
        locked: &BTreeMap<String, BTreeSet<String>>,
        options: &FetcherOptions,
    ) -> Result<Vec<Violation>, CliError> {
        let client = MetadataClient::new(options)?;
        let runtime = crate::fetch::runtime(None)?;
        runtime.block_on(async {
            let per_package: Vec<Vec<Violation>> = futures_util::stream::iter(locked)
                .map(|(name, versions)| self.package_violations(&client, name, versions))
                .buffer_unordered(client.max_in_flight())
                .try_collect()
                .await?;
            let mut all: Vec<Violation> = per_package.into_iter().flatten().collect();
            all.sort();
            Ok(all)
        })
    }

    /// `Ok` when nothing was rejected; otherwise pnpm 12's error, naming every version.
    fn refuse(&self, violations: Vec<Violation>) -> Result<(), CliError> {
        if violations.is_empty() {
            return Ok(());
        }
        let lines: Vec<String> = violations
            .iter()
            .map(|violation| format!("  {}", violation.describe(self.cutoff)))
            .collect();
        Err(CliError::new(
            "ERR_PNPM_MINIMUM_RELEASE_AGE_VIOLATION",
            format!(
                "{} lockfile entries failed verification:\n{}",
                violations.len(),
                lines.join("\n")
            ),
        )
        .with_help(format!(
            "The lockfile contains entries that the active policies reject. This can mean the \
             lockfile is stale, or that someone committed a lockfile that bypassed the policy \
             locally: inspect recent changes to pnpm-lock.yaml before trusting it. If the \
             changes look expected, run \"pnpm clean --lockfile\" and then \"pnpm install\" to \
             rebuild from a fresh resolution. If the fresh resolution still fails and you trust \
             the affected packages, relax the policy that flagged them (minimumReleaseAge, \
             minimumReleaseAgeExclude). {UNTOUCHED}"
        )))
    }

    async fn package_violations(
        &self,
        client: &MetadataClient,
        name: &str,
        versions: &BTreeSet<String>,
    ) -> Result<Vec<Violation>, CliError> {
        let checked: Vec<&String> = versions
            .iter()
            .filter(|version| !self.exclusions.excludes(name, version))
            .collect();
        if checked.is_empty() {
            return Ok(Vec::new());
        }
        let registry = self.registries.for_package(name);
        let fetch = |kind| async move {
            client
                .packument(registry, name, kind)
                .await
                .map_err(|error| meta_error(name, error))
        };
        let abbreviated = fetch(PackumentKind::Abbreviated).await?;
        let modified = abbreviated
            .as_ref()
            .and_then(|doc| doc.get("modified"))
            .and_then(Value::as_str)
            .and_then(|text| text.parse::<Timestamp>().ok());
        // Nothing about the package changed since the cutoff: no version is younger.
        if modified.is_some_and(|modified| modified <= self.cutoff) {
            return Ok(Vec::new());
        }
        let full = fetch(PackumentKind::Full).await?;
        let times = full.as_ref().and_then(|doc| doc.get("time"));
        Ok(checked
            .into_iter()
            .filter_map(|version| {
                let published = times
                    .and_then(|times| times.get(version.as_str()))
                    .and_then(Value::as_str)
                    .and_then(|text| text.parse::<Timestamp>().ok());
                match published {
                    Some(published) if published > self.cutoff => Some(Violation::TooYoung {
                        name: name.to_string(),
                        version: version.clone(),
                        published,
                    }),
                    Some(_) => None,
                    None if self.policy.ignore_missing_time => None,
                    None => Some(Violation::NoPublishTime {
                        name: name.to_string(),
                        version: version.clone(),
                    }),
                }
            })
            .collect())
    }
}

/// The lockfile's registry packages: name → versions.
fn registry_versions(lockfile: &Lockfile) -> BTreeMap<String, BTreeSet<String>> {
    let mut locked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, info) in &lockfile.packages {
        if matches!(info.resolution, Resolution::Registry { .. }) {
            let (name, version) = lockfile.name_version(key);
            locked.entry(name).or_default().insert(version);
        }
    }
    locked
}

fn meta_error(name: &str, error: tack_tarball::FetchError) -> CliError {
    // pnpm's code for metadata that could not be read; the transport's own codes (TLS,
    // proxy, HTTP status) say more and are kept.
    let code = match error.code() {
        "ERR_PNPM_TARBALL_FETCH_TARBALL" => "ERR_PNPM_META_FETCH_FAIL",
        code => code,
    };
    CliError::new(code, error.to_string()).with_help(format!(
        "The registry's metadata of {name} is needed to check the lockfile against \
         minimumReleaseAge. If you trust the lockfile, install with --trust-lockfile (or set \
         trustLockfile: true) to skip the check. {UNTOUCHED}"
    ))
}

fn offline_error(locked: &BTreeMap<String, BTreeSet<String>>) -> CliError {
    let first = locked.keys().next().map_or("", String::as_str);
    CliError::new(
        "ERR_PNPM_NO_OFFLINE_META",
        format!(
            "Cannot check the lockfile against minimumReleaseAge offline: it has not passed \
             the check before, and the registry's metadata of {first} (and the other packages) \
             cannot be read offline"
        ),
    )
    .with_help(
        "Run the install once without --offline, so that the lockfile's verdict is cached, or \
         install with --trust-lockfile (trustLockfile: true) if you trust it. Nothing was \
         fetched and node_modules was not touched.",
    )
}

/// RFC 3339 in UTC with milliseconds, as JavaScript's `toISOString` writes it.
fn iso(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_take_names_globs_and_single_versions() {
        let exclusions = Exclusions::new(&[
            "is-odd".to_string(),
            "@acme/*".to_string(),
            "@scope/pkg@1.0.0 || 1.0.2".to_string(),
            "plain@2.0.0".to_string(),
        ]);
        assert!(exclusions.excludes("is-odd", "3.0.1"));
        assert!(exclusions.excludes("@acme/tool", "1.0.0"));
        assert!(exclusions.excludes("@scope/pkg", "1.0.2"));
        assert!(!exclusions.excludes("@scope/pkg", "1.0.1"));
        assert!(exclusions.excludes("plain", "2.0.0"));
        assert!(!exclusions.excludes("plain", "2.0.1"));
        assert!(!exclusions.excludes("is-number", "7.0.0"));
        assert!(!Exclusions::new(&[]).excludes("x", "1.0.0"));
    }

    #[test]
    fn times_are_written_as_javascript_writes_them() {
        let t: Timestamp = "2026-11-25T13:38:25Z".parse().unwrap();
        assert_eq!(iso(t), "2026-11-25T13:38:25.000Z");
        let t: Timestamp = "2026-11-24T13:38:25.887Z".parse().unwrap();
        assert_eq!(iso(t), "2026-11-24T13:38:25.887Z");
    }
}
