//! A git dependency as the plan sees it: where its commit comes from (a git host's archive or
//! a clone), which sub-directory holds the package, and the store key of its prepared files.
//!
//! pnpm does not store a git dependency as it comes: it prepares it (its `prepare` script,
//! when the build policy approves), keeps what `npm pack` would keep, and records those files
//! under `<pkgId>\tbuilt`, or `<pkgId>\tnot-built` when the preparation was skipped
//! (`--ignore-scripts`, or `allowBuilds` set to `false` for it). The key is chosen before
//! anything is fetched, so a store that has the prepared row serves the package like any
//! other; `git_fetch` makes the row when it is missing.

use std::path::PathBuf;

use tack_build::BuildPolicy;
use tack_config::Config;
use tack_lockfile::Resolution;

use crate::error::CliError;

/// Where a git dependency's commit comes from.
#[derive(Debug, Clone)]
pub enum GitOrigin {
    /// A git host's archive of the commit (`gitHosted` tarball); its integrity may be absent
    /// for a git host's own archive URL.
    Archive {
        url: String,
        integrity: Option<String>,
    },
    /// A repository cloned at a commit (`type: git`).
    Clone(CloneOrigin),
}

/// A repository to clone at a commit.
#[derive(Debug, Clone)]
pub struct CloneOrigin {
    pub repo: String,
    pub commit: String,
    /// Its host is one of `gitShallowHosts`: only the commit is fetched (`git fetch --depth 1`).
    pub shallow: bool,
    /// The lockfile's directory, where git's config is read for the clone's environment
    /// (`git_env`, read at the first clone, so an install that clones nothing runs no git).
    pub config_dir: PathBuf,
}

/// A git dependency of the plan.
#[derive(Debug, Clone)]
pub struct GitSource {
    /// The key its prepared files are recorded under: `<pkgId>\tbuilt` or `\tnot-built`.
    pub store_key: String,
    pub origin: GitOrigin,
    /// The sub-directory of the checkout that holds the package (`path:`), if any.
    pub path: Option<String>,
    /// pnpm's package id (the lockfile key without `name@`).
    pub package_id: String,
    /// What the build policy says about preparing it: `Some(true)` to run its `prepare`,
    /// `Some(false)` to store it unprepared, `None` when nothing approves it (an error if it
    /// needs preparing). Always `Some(false)` under `--ignore-scripts`.
    pub prepare: Option<bool>,
    /// The `unsafePerm` setting, which decides the preparation's `TMPDIR` as it does a build's.
    pub unsafe_perm: Option<bool>,
}

impl GitSource {
    /// The git source of a resolution, `None` when it is no git dependency. `dep_path` is
    /// `name@<pkgId>`, the key `allowBuilds` approves git dependencies by.
    pub fn from_resolution(
        resolution: &Resolution,
        dep_path: &str,
        name: &str,
        package_id: &str,
        config: &Config,
        policy: &BuildPolicy,
    ) -> Result<Option<GitSource>, CliError> {
        let (origin, path, repo_key) = match resolution {
            Resolution::Git { repo, commit, path } => (
                GitOrigin::Clone(CloneOrigin {
                    repo: repo.clone(),
                    commit: commit.clone(),
                    shallow: is_shallow_host(repo, config.settings.git_shallow_hosts.as_deref()),
                    config_dir: config.lockfile_dir.clone(),
                }),
                path.clone(),
                Some(format!("{name}@{}", git_plus(repo))),
            ),
            Resolution::Tarball {
                git_hosted: true,
                tarball,
                integrity,
                path,
            } => {
                if integrity.is_none() && !tack_lockfile::is_git_host_archive_url(tarball) {
                    return Err(CliError::new(
                        "ERR_PNPM_MISSING_TARBALL_INTEGRITY",
                        format!(
                            "{dep_path} has no \"integrity\" field, so its downloaded tarball cannot be verified"
                        ),
                    )
                    .with_help("Only a git host's own archive URLs may go without an integrity. Re-resolve the package with `pnpm install` so the lockfile records one."));
                }
                (
                    GitOrigin::Archive {
                        url: tarball.clone(),
                        integrity: integrity.clone(),
                    },
                    path.clone(),
                    None,
                )
            }
            _ => return Ok(None),
        };
        let prepare = if config.ignore_scripts {
            Some(false)
        } else {
            prepare_verdict(policy, dep_path, name, repo_key.as_deref())
        };
        let built = prepare != Some(false);
        Ok(Some(GitSource {
            store_key: tack_store_dir::git_hosted_store_index_key(package_id, built),
            origin,
            path,
            package_id: package_id.to_string(),
            prepare,
            unsafe_perm: config.settings.unsafe_perm,
        }))
    }
}

/// pnpm 12's verdict on preparing a git dependency: the rules for its dep path
/// (`name@<pkgId>`), then, for a clone, those for `name@git+<repo>` (the repository at any
/// commit). A bare name or `name@version` never approves a git dependency.
fn prepare_verdict(
    policy: &BuildPolicy,
    dep_path: &str,
    name: &str,
    repo_key: Option<&str>,
) -> Option<bool> {
    let exact = policy.allows_with_trust(dep_path, name, "", false);
    exact.or_else(|| repo_key.and_then(|key| policy.allows_with_trust(key, name, "", false)))
}

/// The hosts whose repositories pnpm 12 fetches at one commit when `gitShallowHosts` is not
/// set (checked against pnpm with these names pointed at a local `git daemon`).
const DEFAULT_SHALLOW_HOSTS: &[&str] = &[
    "github.com",
    "gist.github.com",
    "gitlab.com",
    "bitbucket.com",
    "bitbucket.org",
];

/// Whether `repo`'s host name is one of `hosts` (`gitShallowHosts`, or pnpm's defaults). As
/// in pnpm 12, the port does not count (`127.0.0.1`, not `127.0.0.1:9418`), and a repository
/// that is no URL (scp-style `git@host:path`) is cloned whole.
fn is_shallow_host(repo: &str, hosts: Option<&[String]>) -> bool {
    let Some(host) = url_host_name(repo) else {
        return false;
    };
    match hosts {
        Some(hosts) => hosts.iter().any(|h| h.eq_ignore_ascii_case(&host)),
        None => DEFAULT_SHALLOW_HOSTS.contains(&host.as_str()),
    }
}

/// The host name of a `scheme://[user@]host[:port]/…` URL, lowercased; `None` when `url` has
/// no scheme or no host.
pub(super) fn url_host_name(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next()?
    } else {
        host_port.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `git+<repo>` as a clone's package id starts (pnpm's `createGitHostedPkgId`): a repository
/// without a scheme is an `https://` one, and `git+` is not repeated.
fn git_plus(repo: &str) -> String {
    let scheme = if repo.contains("://") { "" } else { "https://" };
    let url = format!("{scheme}{repo}");
    if url.starts_with("git+") {
        url
    } else {
        format!("git+{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;

    fn policy(rules: &[(&str, bool)]) -> BuildPolicy {
        let map: IndexMap<String, serde_json::Value> = rules
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::Bool(*v)))
            .collect();
        BuildPolicy::new(&map, false, None, None)
    }

    #[test]
    fn a_repository_is_named_as_pnpm_names_it_in_package_ids() {
        assert_eq!(git_plus("file:///r/x.git"), "git+file:///r/x.git");
        assert_eq!(git_plus("git+ssh://h/x.git"), "git+ssh://h/x.git");
        assert_eq!(git_plus("h.example/x.git"), "git+https://h.example/x.git");
    }

    #[test]
    fn only_the_dep_path_or_the_repository_approves_a_git_dependency() {
        let dep_path = "x@git+file:///r/x.git#0123";
        let repo = Some("x@git+file:///r/x.git");
        assert_eq!(
            prepare_verdict(&policy(&[("x", true)]), dep_path, "x", repo),
            None
        );
        assert_eq!(
            prepare_verdict(&policy(&[(dep_path, true)]), dep_path, "x", repo),
            Some(true)
        );
        assert_eq!(
            prepare_verdict(
                &policy(&[("x@git+file:///r/x.git", true)]),
                dep_path,
                "x",
                repo
            ),
            Some(true)
        );
        assert_eq!(
            prepare_verdict(&policy(&[(dep_path, false)]), dep_path, "x", repo),
            Some(false)
        );
        assert_eq!(
            prepare_verdict(&BuildPolicy::allow_all(), dep_path, "x", None),
            Some(true)
        );
    }

    #[test]
    fn shallow_hosts_match_the_host_name_without_the_port() {
        let hosts = vec!["127.0.0.1".to_string(), "Git.Example".to_string()];
        let shallow = |repo: &str| is_shallow_host(repo, Some(&hosts));
        assert!(shallow("git://127.0.0.1:9418/x"));
        assert!(shallow("git+ssh://git@git.example/o/r.git"));
        assert!(shallow("https://user:pw@GIT.EXAMPLE:8443/o/r"));
        assert!(!shallow("git://127.0.0.2/x"));
        assert!(!shallow("file:///srv/x"));
        assert!(!shallow("git@git.example:o/r.git"), "scp-style is no URL");
        assert!(!is_shallow_host("git://127.0.0.1/x", Some(&[])));
        let by_port = vec!["127.0.0.1:9418".to_string()];
        assert!(!is_shallow_host("git://127.0.0.1:9418/x", Some(&by_port)));
        assert!(is_shallow_host("https://gitlab.com/o/r.git", None));
        assert!(!is_shallow_host("https://127.0.0.1/o/r.git", None));
        assert_eq!(url_host_name("ssh://[::1]:22/x").as_deref(), Some("[::1]"));
        assert_eq!(url_host_name("1x://h/x"), None);
    }
}
