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
//! and the root project's own `preinstall` run, as they would for any install. It is skipped when
//! the lockfile is trusted (`--trust-lockfile`, `trustLockfile: true`) or the age is 0, and when
//! this lockfile has already passed this policy (`verified_lockfiles.rs`).
//!
//! Per package name, as pnpm 12 asks the registry: the abbreviated packument first (a
//! package not `modified` since the cutoff has no version younger than it), and the full one,
//! with each version's publish `time`, only for the packages that changed since. A version
//! without a publish time passes unless `minimumReleaseAgeIgnoreMissingTime` is false. A
//! package the registry answers 404 for fails the check (`ERR_PNPM_META_FETCH_FAIL`), as in
//! pnpm 12: there is nothing to pass it with.
//! `minimumReleaseAgeExclude` lists names (`*` globs) or `name@version` (versions joined by
//! `||`) that are never checked.
//!
//! `trustPolicy: no-downgrade` is checked in the same pass, as pnpm 12 checks it: every
//! version not in `trustPolicyExclude` (same forms) and published within
//! `trustPolicyIgnoreAfter` minutes (if set) is judged on the full packument
//! (`trust_policy.rs`); a version whose publish time or version object the metadata lacks
//! cannot be judged and is refused. One error names every rejected version, under the kind's code,
//! or under `ERR_PNPM_LOCKFILE_RESOLUTION_VERIFICATION` when the kinds differ.

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

use super::trust_policy::{self, TrustVerdict};
use super::verified_lockfiles::{VerdictKey, VerifiedLockfiles};
use crate::error::CliError;
use crate::reporter::{Event, Reporter, Verification};

/// What a rejected lockfile leaves behind, for the errors' help (see `verdict_gate.rs`).
const UNTOUCHED: &str = "Nothing from this lockfile was left linked in node_modules; \
    packages downloaded meanwhile stay in the store, which only holds content.";

/// The policy a lockfile is checked against.
#[derive(Debug, Clone)]
pub struct ReleaseAgePolicy {
    /// `minimumReleaseAge`; 0 checks no age.
    minutes: u64,
    exclude: Vec<String>,
    ignore_missing_time: bool,
    /// `trustPolicy: no-downgrade` and its settings; `None` when it is off.
    trust: Option<TrustPolicy>,
}

/// `trustPolicy: no-downgrade`: no version may carry weaker trust evidence than a version of
/// the same package published before it (see `trust_policy.rs`).
#[derive(Debug, Clone)]
struct TrustPolicy {
    exclude: Vec<String>,
    /// `trustPolicyIgnoreAfter`: versions published longer ago than this many minutes pass.
    ignore_after: Option<u64>,
}

impl ReleaseAgePolicy {
    /// The policy `config` asks for, or `None` when the lockfile is trusted, or when the age
    /// is 0 and `trustPolicy` is off.
    pub fn from_config(config: &Config) -> Option<Self> {
        let settings = &config.settings;
        let trust =
            (config.trust_policy == tack_config::TrustPolicy::NoDowngrade).then(|| TrustPolicy {
                exclude: settings.trust_policy_exclude.clone().unwrap_or_default(),
                ignore_after: settings.trust_policy_ignore_after,
            });
        if settings.trust_lockfile == Some(true)
            || (config.minimum_release_age == 0 && trust.is_none())
        {
            return None;
        }
        Some(Self {
            trust,
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
        let mut policy = json!({
            // Raised when tack's rules change so that a pass the old rules gave is checked
            // again (2: a 404 for metadata and a missing version object fail the check).
            "tackRules": 2,
            "minimumReleaseAge": self.minutes,
            "minimumReleaseAgeExclude": self.exclude,
            "minimumReleaseAgeIgnoreMissingTime": self.ignore_missing_time,
            "registry": config.registries.default,
            "scopedRegistries": config.registries.scopes,
        });
        // Only when on, so that the verdicts recorded before trust was checked still hold.
        if let (Some(trust), Some(fields)) = (&self.trust, policy.as_object_mut()) {
            fields.insert("trustPolicy".into(), json!("no-downgrade"));
            fields.insert("trustPolicyExclude".into(), json!(trust.exclude));
            fields.insert("trustPolicyIgnoreAfter".into(), json!(trust.ignore_after));
        }
        policy
    }
}

/// `minimumReleaseAgeExclude` or `trustPolicyExclude`, compiled: names (globs) excluded
/// whole, and single versions.
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

/// A version the policy rejects.
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
    /// An earlier-published version had stronger trust evidence (`trustPolicy`).
    TrustDowngrade {
        name: String,
        version: String,
    },
    /// The registry's metadata lacks the version's publish time or its version object, so its
    /// trust evidence cannot be judged (`trustPolicy`); `missing` says which, as pnpm words it.
    TrustUncheckable {
        name: String,
        version: String,
        missing: &'static str,
    },
}

impl Violation {
    /// The package and version the violation names.
    fn subject(&self) -> (&str, &str) {
        match self {
            Violation::TooYoung { name, version, .. }
            | Violation::NoPublishTime { name, version }
            | Violation::TrustDowngrade { name, version }
            | Violation::TrustUncheckable { name, version, .. } => (name, version),
        }
    }

    /// What is wrong with the subject, as pnpm 12 words it after `name@version`.
    fn detail(&self, cutoff: Timestamp) -> String {
        match self {
            Violation::TooYoung { published, .. } => format!(
                "was published at {}, within the minimumReleaseAge cutoff ({})",
                iso(*published),
                iso(cutoff)
            ),
            Violation::NoPublishTime { .. } => "has no publish time in the registry's metadata, \
                and minimumReleaseAgeIgnoreMissingTime is false"
                .to_string(),
            Violation::TrustDowngrade { name, version } => format!(
                "High-risk trust downgrade for \"{name}@{version}\" (possible package takeover)"
            ),
            Violation::TrustUncheckable {
                name,
                version,
                missing,
            } => format!(
                "could not be checked against trustPolicy (missing {missing} for version \
                 {version} of {name} in metadata)"
            ),
        }
    }

    /// pnpm 12's line for the violation; `with_code` when the error mixes kinds.
    fn describe(&self, cutoff: Timestamp, with_code: bool) -> String {
        let (name, version) = self.subject();
        match with_code {
            true => format!("{name}@{version} [{}] {}", self.code(), self.detail(cutoff)),
            false => format!("{name}@{version} {}", self.detail(cutoff)),
        }
    }

    /// pnpm's code of the violation's kind.
    fn code(&self) -> &'static str {
        match self {
            Violation::TooYoung { .. } | Violation::NoPublishTime { .. } => {
                "MINIMUM_RELEASE_AGE_VIOLATION"
            }
            Violation::TrustDowngrade { .. } | Violation::TrustUncheckable { .. } => {
                "TRUST_DOWNGRADE"
            }
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
        trust_exclusions: policy
            .trust
            .as_ref()
            .map(|trust| Exclusions::new(&trust.exclude)),
        now,
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
    /// Set when `trustPolicy` is on.
    trust_exclusions: Option<Exclusions>,
    now: Timestamp,
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
            // By package, as pnpm lists them; a kind's order within one version.
            all.sort_by(|a, b| a.subject().cmp(&b.subject()).then_with(|| a.cmp(b)));
            Ok(all)
        })
    }

    /// `Ok` when nothing was rejected; otherwise pnpm 12's error, naming every version: the
    /// kind's own code, or `ERR_PNPM_LOCKFILE_RESOLUTION_VERIFICATION` with each line's kind
    /// when the kinds differ.
    fn refuse(&self, mut violations: Vec<Violation>) -> Result<(), CliError> {
        violations.dedup();
        let Some(first) = violations.first().map(Violation::code) else {
            return Ok(());
        };
        let mixed = violations.iter().any(|violation| violation.code() != first);
        let lines: Vec<String> = violations
            .iter()
            .map(|violation| format!("  {}", violation.describe(self.cutoff, mixed)))
            .collect();
        let code = match (mixed, first) {
            (true, _) => "ERR_PNPM_LOCKFILE_RESOLUTION_VERIFICATION",
            (false, "TRUST_DOWNGRADE") => "ERR_PNPM_TRUST_DOWNGRADE",
            (false, _) => "ERR_PNPM_MINIMUM_RELEASE_AGE_VIOLATION",
        };
        let mut settings = Vec::new();
        if violations
            .iter()
            .any(|v| v.code() == "MINIMUM_RELEASE_AGE_VIOLATION")
        {
            settings.push("minimumReleaseAge, minimumReleaseAgeExclude");
        }
        if violations.iter().any(|v| v.code() == "TRUST_DOWNGRADE") {
            settings.push("trustPolicy, trustPolicyExclude, trustPolicyIgnoreAfter");
        }
        Err(CliError::new(
            code,
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
             the affected packages, relax the policy that flagged them ({}). {UNTOUCHED}",
            settings.join("; ")
        )))
    }

    /// The versions of `name` the policy rejects. The abbreviated packument answers the age
    /// check when nothing changed since the cutoff; the full one (publish times, trust
    /// evidence) is read otherwise, and always when trust is checked, as pnpm 12 reads it.
    async fn package_violations(
        &self,
        client: &MetadataClient,
        name: &str,
        versions: &BTreeSet<String>,
    ) -> Result<Vec<Violation>, CliError> {
        let age_checked: Vec<&String> = versions
            .iter()
            .filter(|version| self.policy.minutes > 0 && !self.exclusions.excludes(name, version))
            .collect();
        let trust_checked: Vec<&String> = match &self.trust_exclusions {
            Some(exclusions) => versions
                .iter()
                .filter(|version| !exclusions.excludes(name, version))
                .collect(),
            None => Vec::new(),
        };
        if age_checked.is_empty() && trust_checked.is_empty() {
            return Ok(Vec::new());
        }
        let registry = self.registries.for_package(name);
        let fetch = |kind| async move {
            client
                .packument(registry, name, kind)
                .await
                .map_err(|error| meta_error(name, error))
        };
        if trust_checked.is_empty() {
            let abbreviated = fetch(PackumentKind::Abbreviated).await?;
            let modified = abbreviated
                .get("modified")
                .and_then(Value::as_str)
                .and_then(|text| text.parse::<Timestamp>().ok());
            // Nothing about the package changed since the cutoff: no version is younger.
            if modified.is_some_and(|modified| modified <= self.cutoff) {
                return Ok(Vec::new());
            }
        }
        let full = fetch(PackumentKind::Full).await?;
        let times = full.get("time");
        let published = |version: &str| {
            times
                .and_then(|times| times.get(version))
                .and_then(Value::as_str)
                .and_then(|text| text.parse::<Timestamp>().ok())
        };
        let mut violations = Vec::new();
        for version in age_checked {
            match published(version) {
                Some(published) if published > self.cutoff => {
                    violations.push(Violation::TooYoung {
                        name: name.to_string(),
                        version: version.clone(),
                        published,
                    })
                }
                Some(_) => {}
                None if self.policy.ignore_missing_time => {}
                None => violations.push(Violation::NoPublishTime {
                    name: name.to_string(),
                    version: version.clone(),
                }),
            }
        }
        if let Some(trust) = &self.policy.trust {
            for version in trust_checked {
                let Some(at) = published(version) else {
                    // As pnpm 12: only metadata without any `time` passes under
                    // `minimumReleaseAgeIgnoreMissingTime`; a version missing from it does not.
                    if times.is_some() || !self.policy.ignore_missing_time {
                        violations.push(Violation::TrustUncheckable {
                            name: name.to_string(),
                            version: version.clone(),
                            missing: "time",
                        });
                    }
                    continue;
                };
                let old_enough_to_ignore = trust.ignore_after.is_some_and(|minutes| {
                    self.now.duration_since(at).as_secs() / 60 > minutes as i64
                });
                if old_enough_to_ignore {
                    continue;
                }
                let (name, version) = (name.to_string(), version.clone());
                match trust_policy::judge(&full, &version, &published) {
                    TrustVerdict::Kept => {}
                    TrustVerdict::Downgrade => {
                        violations.push(Violation::TrustDowngrade { name, version })
                    }
                    TrustVerdict::NoVersionObject => violations.push(Violation::TrustUncheckable {
                        name,
                        version,
                        missing: "version object",
                    }),
                }
            }
        }
        Ok(violations)
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
    // pnpm's code for metadata that could not be read (an error status is that already); the
    // transport's own codes (TLS, a proxy's 407) say more and are kept.
    let code = match error.code() {
        "ERR_PNPM_TARBALL_FETCH_TARBALL" => "ERR_PNPM_META_FETCH_FAIL",
        code => code,
    };
    if let tack_tarball::FetchError::MetadataStatus { status: 404, .. } = error {
        // pnpm 12 fails here too: a package the registry does not know has no publish times
        // and no trust evidence to pass the check with.
        return CliError::new(code, error.to_string()).with_help(format!(
            "The lockfile locks {name}, which the registry does not have (unpublished, or a \
             registry or scope setting pointing elsewhere), so it cannot be checked against the \
             supply-chain policies (minimumReleaseAge, trustPolicy). Check the registry settings \
             in .npmrc; if you trust the lockfile, install with --trust-lockfile (or set \
             trustLockfile: true) to skip the check. {UNTOUCHED}"
        ));
    }
    let check = match &error {
        tack_tarball::FetchError::MetadataStatus { hint, .. } => format!("{hint}. "),
        _ => String::new(),
    };
    CliError::new(code, error.to_string()).with_help(format!(
        "{check}The registry's metadata of {name} is needed to check the lockfile against its \
         supply-chain policies (minimumReleaseAge, trustPolicy). If you trust the lockfile, install with --trust-lockfile (or set \
         trustLockfile: true) to skip the check. {UNTOUCHED}"
    ))
}

fn offline_error(locked: &BTreeMap<String, BTreeSet<String>>) -> CliError {
    let first = locked.keys().next().map_or("", String::as_str);
    // pnpm 12's code is the metadata fetch's; the cause's own code heads the message.
    CliError::new(
        "ERR_PNPM_META_FETCH_FAIL",
        format!(
            "ERR_PNPM_NO_OFFLINE_META: Cannot check the lockfile against its supply-chain policies offline: it has not passed \
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
