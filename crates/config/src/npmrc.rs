//! `.npmrc` files: parsing the ini-like format, and the subset of keys pnpm 11/12 still read from
//! them (registries, per-registry credentials and TLS, proxies). Everything else in an `.npmrc` is
//! ignored.
//!
//! Security rule (pnpm 11+): in a *project* `.npmrc` (workspace root or project dir), `${VAR}` is
//! not expanded in credentials or in registry/proxy URLs; such a value is dropped with a warning,
//! so a checked-in file cannot exfiltrate a secret from the environment. The user `.npmrc`,
//! `auth.ini` and env vars expand `${VAR}` normally.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{ConfigError, Warning};

/// Who wrote a `.npmrc`: decides whether `${VAR}` may be expanded in sensitive values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpmrcTrust {
    /// `~/.npmrc`, `auth.ini`, the global npmrc, env vars.
    User,
    /// A `.npmrc` checked into the project or workspace.
    Project,
}

/// The accepted keys of one `.npmrc` file, after the security rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Npmrc {
    pub path: Option<PathBuf>,
    pub values: BTreeMap<String, String>,
}

/// Plain keys pnpm reads from `.npmrc` (`config/reader/src/localConfig.ts`).
const ACCEPTED_KEYS: &[&str] = &[
    "registry",
    "ca",
    "cafile",
    "cert",
    "key",
    "_auth",
    "_authToken",
    "_password",
    "email",
    "username",
    "https-proxy",
    "proxy",
    "no-proxy",
    "noproxy",
    "http-proxy",
    "local-address",
    "strict-ssl",
    "tokenHelper",
];

/// Whether pnpm reads `key` from an `.npmrc`.
pub fn is_npmrc_key(key: &str) -> bool {
    key.starts_with('@') || key.starts_with("//") || ACCEPTED_KEYS.contains(&key)
}

/// Credentials: never expanded from a project file.
fn is_credential_key(key: &str) -> bool {
    let last = key.rsplit(':').next().unwrap_or(key);
    matches!(
        last,
        "_auth" | "_authToken" | "_password" | "username" | "tokenHelper"
    )
}

/// Registry and proxy URLs: never expanded from a project file.
fn is_url_key(key: &str) -> bool {
    key == "registry"
        || key.ends_with(":registry")
        || matches!(key, "proxy" | "https-proxy" | "http-proxy")
}

/// Splits ini text into `key → raw value` pairs (last one wins; `key[]` entries are joined by
/// newlines).
pub fn parse_ini(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty()
            || line.starts_with(';')
            || line.starts_with('#')
            || line.starts_with('[')
        {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, "true"),
        };
        let value = unquote(value);
        if let Some(array_key) = key.strip_suffix("[]") {
            if let Some(existing) = out.iter_mut().find(|(k, _)| k == array_key) {
                existing.1.push('\n');
                existing.1.push_str(&value);
                continue;
            }
            out.push((array_key.to_string(), value));
            continue;
        }
        out.retain(|(k, _)| k != key);
        out.push((unquote(key), value));
    }
    out
}

fn unquote(value: &str) -> String {
    let bytes = value.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'"' && bytes[bytes.len() - 1] == b'"' {
        if let Ok(parsed) = serde_json::from_str::<String>(value) {
            return parsed;
        }
    }
    if bytes.len() >= 2 && bytes[0] == b'\'' && bytes[bytes.len() - 1] == b'\'' {
        return value[1..value.len() - 1].to_string();
    }
    value.to_string()
}

/// Expands `${VAR}` from `env` as pnpm's `env-replace` does: `${VAR:-fallback}` takes the
/// fallback when `VAR` is unset or empty, `${VAR-fallback}` only when it is unset, and an odd
/// number of backslashes before `${` escapes it (`\\${VAR}` stays `${VAR}`; each pair of
/// backslashes becomes one). An unset variable without a fallback expands to nothing, with a
/// warning, as in pnpm 12.
pub fn expand_env(
    value: &str,
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<Warning>,
    origin: &str,
) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let before = &rest[..start];
        let after = &rest[start + 2..];
        // `${name}`: a name without `$`, `{` or `}`.
        let Some(end) = after
            .find(['$', '{', '}'])
            .filter(|&end| end > 0 && after.as_bytes()[end] == b'}')
        else {
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        };
        let name = &after[..end];
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        out.push_str(&before[..before.len() - backslashes]);
        if backslashes % 2 == 1 {
            out.push_str(&"\\".repeat(backslashes / 2));
            out.push_str(&rest[start..start + 3 + end]);
        } else {
            out.push_str(&"\\".repeat(backslashes / 2));
            match env_value(env, name) {
                Some(v) => out.push_str(&v),
                // pnpm 12 replaces it with nothing, with a warning: a token written
                // `${NPM_TOKEN}` with the variable unset sends no credentials, not the text.
                None => warnings.push(Warning::new(
                    "ERR_TACK_NPMRC_UNSET_ENV",
                    format!("{origin}: environment variable {name} is not set; `${{{name}}}` is replaced with nothing"),
                )),
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// `VAR`, `VAR:-fallback` or `VAR-fallback` looked up in `env` (`None`: unset, no fallback).
fn env_value(env: &BTreeMap<String, String>, name: &str) -> Option<String> {
    // pnpm's `([^:-]+)(:?)-(.+)`: the variable name ends at the first `:` or `-`.
    let split = name.find([':', '-']).filter(|&at| at > 0);
    let Some((var, fallback, empty_too)) = split
        .and_then(|at| {
            let (var, tail) = name.split_at(at);
            match tail.strip_prefix(":-") {
                Some(fallback) => Some((var, fallback, true)),
                None => tail
                    .strip_prefix('-')
                    .map(|fallback| (var, fallback, false)),
            }
        })
        .filter(|(_, fallback, _)| !fallback.is_empty())
    else {
        return env.get(name).cloned();
    };
    match env.get(var) {
        Some(v) if v.is_empty() && empty_too => Some(fallback.to_string()),
        Some(v) => Some(v.clone()),
        None => Some(fallback.to_string()),
    }
}

/// The nerf-darted form of a registry URL: `//host[:port]/path/`, the host lowercased and
/// the scheme's default port left out (the form credentials are looked up by).
pub fn nerf_dart(url: &str) -> String {
    let (scheme, without_scheme) = url.split_once("://").unwrap_or(("", url));
    let without_query = without_scheme.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = without_query.split_once('/').unwrap_or((without_query, ""));
    let host = authority
        .rsplit('@')
        .next()
        .unwrap_or(authority)
        .to_ascii_lowercase();
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => Some(":443"),
        "http" => Some(":80"),
        _ => None,
    };
    let host = match default_port {
        Some(port) => host.strip_suffix(port).map(str::to_string).unwrap_or(host),
        None => host,
    };
    let without_auth = format!("{host}/{path}");
    let dir = match without_auth.rfind('/') {
        Some(i) => &without_auth[..=i],
        None => return format!("//{without_auth}/"),
    };
    format!("//{dir}")
}

impl Npmrc {
    /// Applies pnpm's key filter and security rules to parsed ini pairs.
    pub fn from_text(
        text: &str,
        path: Option<&Path>,
        trust: NpmrcTrust,
        env: &BTreeMap<String, String>,
        warnings: &mut Vec<Warning>,
    ) -> Result<Npmrc, ConfigError> {
        let origin = path.map_or_else(|| "<env>".to_string(), |p| p.display().to_string());
        let mut values = BTreeMap::new();
        for (key, raw) in parse_ini(text) {
            if !is_npmrc_key(&key) {
                continue;
            }
            if trust == NpmrcTrust::Project && key.rsplit(':').next() == Some("tokenHelper") {
                return Err(ConfigError::TokenHelperInProjectConfig {
                    path: path.map(Path::to_path_buf).unwrap_or_default(),
                });
            }
            let sensitive = is_credential_key(&key) || is_url_key(&key);
            let value = if raw.contains("${") {
                if trust == NpmrcTrust::Project && sensitive {
                    warnings.push(Warning::new(
                        "ERR_PNPM_ENV_VAR_IN_PROJECT_NPMRC",
                        format!(
                            "{origin}: `{key}` uses an environment variable; pnpm does not expand \
                             variables in credentials or registry/proxy URLs from a project .npmrc, \
                             so the value is ignored. Move it to ~/.npmrc or set it through the environment"
                        ),
                    ));
                    continue;
                }
                expand_env(&raw, env, warnings, &origin)
            } else {
                raw
            };
            values.insert(key, value);
        }
        // An unscoped `_authToken` is rescoped to this file's registry (deprecated by pnpm).
        for key in ["_authToken", "_auth", "username", "_password"] {
            if let Some(token) = values.remove(key) {
                match values.get("registry").map(|r| nerf_dart(r)) {
                    Some(scope) => {
                        warnings.push(Warning::new(
                            "ERR_TACK_UNSCOPED_AUTH",
                            format!(
                                "{origin}: unscoped `{key}` is deprecated; it was applied to {scope}. \
                                 Write it as `{scope}:{key}=…`"
                            ),
                        ));
                        values.insert(format!("{scope}:{key}"), token);
                    }
                    None => {
                        values.insert(key.to_string(), token);
                    }
                }
            }
        }
        Ok(Npmrc {
            path: path.map(Path::to_path_buf),
            values,
        })
    }

    /// Reads a file; `Ok(None)` when it does not exist.
    pub fn read(
        path: &Path,
        trust: NpmrcTrust,
        env: &BTreeMap<String, String>,
        warnings: &mut Vec<Warning>,
    ) -> Result<Option<Npmrc>, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Npmrc::from_text(&text, Some(path), trust, env, warnings).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConfigError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_ini() {
        let text = "; comment\n# comment\nregistry = \"http://r.test/\"\n@a:registry=http://a.test/\n\
                    //r.test/:_authToken='tok'\nca[]=one\nca[]=two\nstrict-ssl=false\nnode-linker=hoisted\n";
        let mut warnings = Vec::new();
        let rc = Npmrc::from_text(text, None, NpmrcTrust::User, &env(&[]), &mut warnings).unwrap();
        assert_eq!(rc.values["registry"], "http://r.test/");
        assert_eq!(rc.values["@a:registry"], "http://a.test/");
        assert_eq!(rc.values["//r.test/:_authToken"], "tok");
        assert_eq!(rc.values["ca"], "one\ntwo");
        assert_eq!(rc.values["strict-ssl"], "false");
        assert!(!rc.values.contains_key("node-linker"));
        assert!(warnings.is_empty());
    }

    #[test]
    fn project_npmrc_does_not_expand_secrets() {
        let text = "//r.test/:_authToken=${SECRET}\nregistry=${REG}\n@s:registry=${REG}\ncafile=${HOME}/ca.pem\n";
        let e = env(&[
            ("SECRET", "s3cr3t"),
            ("REG", "http://evil.test/"),
            ("HOME", "/h"),
        ]);
        let mut warnings = Vec::new();
        let rc = Npmrc::from_text(
            text,
            Some(Path::new("/p/.npmrc")),
            NpmrcTrust::Project,
            &e,
            &mut warnings,
        )
        .unwrap();
        assert!(!rc.values.contains_key("//r.test/:_authToken"));
        assert!(!rc.values.contains_key("registry"));
        assert!(!rc.values.contains_key("@s:registry"));
        assert_eq!(rc.values["cafile"], "/h/ca.pem");
        assert_eq!(warnings.len(), 3);
        assert!(warnings
            .iter()
            .all(|w| w.code == "ERR_PNPM_ENV_VAR_IN_PROJECT_NPMRC"));

        let mut warnings = Vec::new();
        let rc = Npmrc::from_text(text, None, NpmrcTrust::User, &e, &mut warnings).unwrap();
        assert_eq!(rc.values["//r.test/:_authToken"], "s3cr3t");
        assert_eq!(rc.values["registry"], "http://evil.test/");
        assert!(warnings.is_empty());
    }

    #[test]
    fn token_helper_in_project_is_an_error() {
        let mut warnings = Vec::new();
        let err = Npmrc::from_text(
            "//r.test/:tokenHelper=/bin/x\n",
            Some(Path::new("/p/.npmrc")),
            NpmrcTrust::Project,
            &env(&[]),
            &mut warnings,
        )
        .unwrap_err();
        assert_eq!(err.code(), "ERR_PNPM_TOKEN_HELPER_IN_PROJECT_CONFIG");
    }

    #[test]
    fn unscoped_token_is_rescoped() {
        let mut warnings = Vec::new();
        let rc = Npmrc::from_text(
            "registry=http://r.test:8080/npm/\n_authToken=abc\n",
            None,
            NpmrcTrust::User,
            &env(&[]),
            &mut warnings,
        )
        .unwrap();
        assert_eq!(rc.values["//r.test:8080/npm/:_authToken"], "abc");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn nerf_darts() {
        assert_eq!(nerf_dart("http://r.test/"), "//r.test/");
        assert_eq!(
            nerf_dart("https://u:p@r.test:8443/a/b/"),
            "//r.test:8443/a/b/"
        );
        assert_eq!(nerf_dart("http://r.test"), "//r.test/");
        assert_eq!(nerf_dart("http://r.test/a?x=1"), "//r.test/");
    }

    #[test]
    fn expands_with_defaults() {
        let mut warnings = Vec::new();
        let e = env(&[("A", "1")]);
        assert_eq!(
            expand_env("x${A}y${B:-2}z", &e, &mut warnings, "t"),
            "x1y2z"
        );
        assert_eq!(expand_env("a${C}b", &e, &mut warnings, "t"), "ab");
        assert_eq!(warnings.len(), 1);
    }

    /// pnpm's `env-replace` rules: `:-` falls back for an empty variable too, `-` only for an
    /// unset one, and backslashes escape `${` in pairs.
    #[test]
    fn expands_like_pnpm_env_replace() {
        let mut warnings = Vec::new();
        let e = env(&[("SET", "v"), ("EMPTY", "")]);
        let x = |text: &str, warnings: &mut Vec<Warning>| expand_env(text, &e, warnings, "t");
        assert_eq!(x("${EMPTY:-d}", &mut warnings), "d");
        assert_eq!(x("${EMPTY-d}", &mut warnings), "");
        assert_eq!(x("${UNSET-d}", &mut warnings), "d");
        assert_eq!(x("${SET-d}", &mut warnings), "v");
        assert_eq!(x("${SET:-d}", &mut warnings), "v");
        assert_eq!(x("\\${SET}", &mut warnings), "${SET}");
        assert_eq!(x("\\\\${SET}", &mut warnings), "\\v");
        assert_eq!(x("\\\\\\${SET}", &mut warnings), "\\${SET}");
        assert_eq!(x("a$b${SET}c", &mut warnings), "a$bvc");
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
