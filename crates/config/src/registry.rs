//! The default registry when nothing configures one. tack never hard-codes a registry host: it uses
//! what npm is configured with, in this order: `npm_config_registry` (already an env layer), the
//! user and global `.npmrc` files (already layered), then npm's own answer to `npm config get
//! registry`, asked once and cached in tack's state dir (`$XDG_STATE_HOME/tack/npm-registry` or
//! `~/.local/state/tack/npm-registry`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::error::ConfigError;

/// Asks npm for its registry; injectable so tests do not depend on the machine's npm.
pub type RegistryProbe = Box<dyn Fn() -> Option<String> + Send + Sync>;

/// Runs `npm config get registry`.
pub fn npm_config_get_registry() -> Option<String> {
    let output = Command::new("npm")
        .args(["config", "get", "registry"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let url = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())?
        .to_string();
    (url.starts_with("http://") || url.starts_with("https://")).then_some(url)
}

/// Ends a registry URL with `/`.
pub fn normalize_registry(url: &str) -> String {
    let url = url.trim();
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// tack's state dir from the given environment.
pub fn state_dir(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    if let Some(dir) = env.get("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("tack"));
    }
    env.get("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".local/state/tack"))
}

/// The registry npm is configured with: the cached answer, else the probe (whose answer is cached).
pub fn npm_default_registry(
    env: &BTreeMap<String, String>,
    probe: Option<&RegistryProbe>,
) -> Result<String, ConfigError> {
    let cache = state_dir(env).map(|dir| dir.join("npm-registry"));
    if let Some(cached) = cache
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_string())
        .filter(|text| text.starts_with("http://") || text.starts_with("https://"))
    {
        return Ok(normalize_registry(&cached));
    }
    let answer = match probe {
        Some(probe) => probe(),
        None => npm_config_get_registry(),
    };
    let url = normalize_registry(&answer.ok_or(ConfigError::NoRegistry)?);
    if let Some(path) = cache {
        write_cache(&path, &url);
    }
    Ok(url)
}

/// Best effort: a failed cache write only means npm is asked again next time.
fn write_cache(path: &std::path::Path, url: &str) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let tmp = dir.join(format!(".npm-registry.tack-tmp-{}", std::process::id()));
    if std::fs::write(&tmp, format!("{url}\n")).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
