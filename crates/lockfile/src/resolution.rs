//! `resolution:` of a `packages` entry: where a package's bytes come from (§1.5).
//! Kinds tack does not handle itself (runtimes, custom resolvers) are kept as raw JSON in
//! [`Resolution::Other`] so the caller can report them by name.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Where a locked package comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// A registry package: the tarball URL is derived from the registry, name and version.
    Registry { integrity: String },
    /// A tarball at a recorded URL: a non-canonical registry URL (absolute, or relative to the
    /// registry), a remote tarball dep, a git-hosted tarball (`git_hosted`), or a local `file:`
    /// tarball.
    Tarball {
        integrity: Option<String>,
        tarball: String,
        git_hosted: bool,
        /// Subdirectory of a git-hosted tarball holding the package.
        path: Option<String>,
    },
    /// A local directory (`file:<dir>`), relative to the lockfile dir.
    Directory { directory: String },
    /// A git clone at a commit.
    Git {
        repo: String,
        commit: String,
        path: Option<String>,
    },
    /// Anything else (`type: variations`, `custom:*`, …), kept verbatim.
    Other(Value),
}

impl Resolution {
    /// The integrity of the bytes, when the lockfile pins one.
    pub fn integrity(&self) -> Option<&str> {
        match self {
            Resolution::Registry { integrity } => Some(integrity),
            Resolution::Tarball { integrity, .. } => integrity.as_deref(),
            _ => None,
        }
    }

    /// Converts a raw JSON-like value to a resolution; unknown shapes become [`Resolution::Other`].
    pub fn from_value(value: Value) -> Resolution {
        let Value::Object(map) = &value else {
            return Resolution::Other(value);
        };
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        match map.get("type").and_then(Value::as_str) {
            Some("directory") => match text("directory") {
                Some(directory) => Resolution::Directory { directory },
                None => Resolution::Other(value),
            },
            Some("git") => match (text("repo"), text("commit")) {
                (Some(repo), Some(commit)) => Resolution::Git {
                    repo,
                    commit,
                    path: text("path"),
                },
                _ => Resolution::Other(value),
            },
            Some(_) => Resolution::Other(value),
            None => match (text("tarball"), text("integrity")) {
                (Some(tarball), integrity) => {
                    let git_hosted = map
                        .get("gitHosted")
                        .and_then(Value::as_bool)
                        .unwrap_or_else(|| is_git_host_archive_url(&tarball));
                    Resolution::Tarball {
                        integrity,
                        tarball,
                        git_hosted,
                        path: text("path"),
                    }
                }
                (None, Some(integrity)) => Resolution::Registry { integrity },
                (None, None) => Resolution::Other(value),
            },
        }
    }
}

/// Old lockfiles lack `gitHosted`; pnpm sets it on load when the URL is a known git host's tarball
/// endpoint (`enrichGitHostedFlag`).
/// Whether `url` is a git host's archive of a commit (codeload, GitLab or Bitbucket): pnpm
/// fetches those without an integrity when the lockfile pins none.
pub fn is_git_host_archive_url(url: &str) -> bool {
    const HOSTS: [&str; 3] = [
        "https://codeload.github.com/",
        "https://bitbucket.org/",
        "https://gitlab.com/",
    ];
    HOSTS.iter().any(|host| url.starts_with(host))
        && (url.contains("/tar.gz/") || url.contains("/get/") || url.contains("/-/archive/"))
}

impl<'de> Deserialize<'de> for Resolution {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Resolution::from_value(Value::deserialize(deserializer)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds() {
        assert_eq!(
            Resolution::from_value(json!({"integrity": "sha512-x"})),
            Resolution::Registry {
                integrity: "sha512-x".into()
            }
        );
        assert_eq!(
            Resolution::from_value(json!({"directory": "local/c", "type": "directory"})),
            Resolution::Directory {
                directory: "local/c".into()
            }
        );
        assert_eq!(
            Resolution::from_value(
                json!({"commit": "abc", "repo": "https://h/r.git", "type": "git", "path": "/sub"})
            ),
            Resolution::Git {
                repo: "https://h/r.git".into(),
                commit: "abc".into(),
                path: Some("/sub".into())
            }
        );
        let old = json!({"tarball": "https://codeload.github.com/o/r/tar.gz/abc"});
        assert!(matches!(
            Resolution::from_value(old),
            Resolution::Tarball {
                git_hosted: true,
                ..
            }
        ));
        let local = json!({"integrity": "sha512-y", "tarball": "file:x.tgz"});
        assert!(matches!(
            Resolution::from_value(local),
            Resolution::Tarball {
                git_hosted: false,
                integrity: Some(_),
                ..
            }
        ));
        let runtime = json!({"type": "variations", "variants": []});
        assert!(matches!(
            Resolution::from_value(runtime),
            Resolution::Other(_)
        ));
    }
}
