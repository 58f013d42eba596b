//! The lockfile's `packageExtensionsChecksum` and `pnpmfileChecksum`, computed the way pnpm 12
//! does.
//!
//! pnpm records both in `pnpm-lock.yaml` so that a frozen install can tell whether
//! `packageExtensions` or the pnpmfile changed since the lockfile was written; a frozen install
//! compares the recorded value with a fresh one (§1, §5.2). To pass and fail in the same cases,
//! tack has to produce the same strings byte for byte:
//!
//! - `packageExtensionsChecksum` is `sha256-` + base64 of a sha256 over the `object-hash`
//!   serialisation of `packageExtensions` (pnpm's `hashObject`: `respectType: false`, unordered
//!   objects and arrays). pnpm 12.21 hashes the settings as its typed reader keeps them: per
//!   selector only `dependencies`, `optionalDependencies`, `peerDependencies` (values as text, so
//!   `2` and `"2"` are the same) and `peerDependenciesMeta` (only `optional`); other fields and
//!   `null`s are dropped. Keys sort by code point; string lengths count UTF-16 units.
//! - `pnpmfileChecksum` is `sha256-` + base64 of a sha256 over the pnpmfile's text with CRLF turned
//!   into LF; several pnpmfiles hash the comma-joined list of their sorted per-file checksums
//!   (`createHashFromMultipleFiles`). The default pnpmfile is `.pnpmfile.mjs`, else
//!   `.pnpmfile.cjs`.
//!
//! pnpm writes `pnpmfileChecksum` only when the pnpmfile exports `hooks`; tack does not load the
//! pnpmfile to see what it exports, so it expects a checksum whenever the file exists. The
//! pnpmfiles of plugin config dependencies (`pnpm-plugin-*`) count as well: pnpm loads them first.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::Config;

/// The dependency maps a package extension can add to a manifest.
const DEPENDENCY_FIELDS: [&str; 3] = ["dependencies", "optionalDependencies", "peerDependencies"];

/// The pnpmfiles pnpm loads by default from a directory, in order of preference.
const DEFAULT_PNPMFILES: [&str; 2] = [".pnpmfile.mjs", ".pnpmfile.cjs"];

/// `packageExtensionsChecksum` for the `packageExtensions` setting; `None` when it is absent, not a
/// map or empty (pnpm's `hashObjectNullableWithPrefix`).
pub fn package_extensions_checksum(extensions: Option<&Value>) -> Option<String> {
    let extensions = extensions?.as_object()?;
    if extensions.is_empty() {
        return None;
    }
    let normalized: Map<String, Value> = extensions
        .iter()
        .map(|(selector, extension)| (selector.clone(), normalize_extension(extension)))
        .collect();
    Some(prefixed(&Sha256::digest(serialize(&Value::Object(
        normalized,
    )))))
}

/// One extension as pnpm 12's typed settings reader keeps it.
fn normalize_extension(extension: &Value) -> Value {
    let mut kept = Map::new();
    let Some(fields) = extension.as_object() else {
        return Value::Object(kept);
    };
    for field in DEPENDENCY_FIELDS {
        if let Some(Value::Object(deps)) = fields.get(field) {
            let deps = deps
                .iter()
                .map(|(name, spec)| (name.clone(), Value::String(scalar_text(spec))))
                .collect();
            kept.insert(field.to_string(), Value::Object(deps));
        }
    }
    if let Some(Value::Object(meta)) = fields.get("peerDependenciesMeta") {
        let meta = meta
            .iter()
            .map(|(name, entry)| {
                let mut entry_kept = Map::new();
                if let Some(optional) = entry.get("optional").and_then(lenient_bool) {
                    entry_kept.insert("optional".to_string(), Value::Bool(optional));
                }
                (name.clone(), Value::Object(entry_kept))
            })
            .collect();
        kept.insert("peerDependenciesMeta".to_string(), Value::Object(meta));
    }
    Value::Object(kept)
}

/// A YAML scalar read into a string field (`react: 18` is the range `"18"`).
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A YAML scalar read into a boolean field (`optional: "true"` counts as `true`).
fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// base64 sha256 of `value`'s `object-hash` serialisation with pnpm's sorting options
/// (`hashObject` in `@pnpm/crypto.object-hasher`, sha256/base64 flavour).
pub fn hash_object(value: &Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(serialize(value)))
}

fn serialize(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// `object-hash`'s `typeHasher` for JSON values, with unordered objects and arrays.
fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("Null"),
        Value::Bool(flag) => {
            out.push_str("bool:");
            out.push_str(if *flag { "true" } else { "false" });
        }
        Value::Number(number) => {
            out.push_str("number:");
            out.push_str(&js_number(number));
        }
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            write_len(out, "array:", items.len());
            if items.len() <= 1 {
                for item in items {
                    write_value(out, item);
                }
                return;
            }
            // Unordered arrays: each entry is serialised on its own, the texts are sorted, and
            // the sorted texts are hashed as an ordered array of strings (`array:<n>:` again).
            let mut entries: Vec<String> = items.iter().map(serialize).collect();
            entries.sort();
            write_len(out, "array:", entries.len());
            for entry in &entries {
                write_string(out, entry);
            }
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            write_len(out, "object:", entries.len());
            for (key, item) in entries {
                write_string(out, key);
                out.push(':');
                write_value(out, item);
                out.push(',');
            }
        }
    }
}

fn write_len(out: &mut String, tag: &str, len: usize) {
    out.push_str(tag);
    out.push_str(&len.to_string());
    out.push(':');
}

/// `string:<length in UTF-16 units>:<text>`.
fn write_string(out: &mut String, text: &str) {
    write_len(out, "string:", text.encode_utf16().count());
    out.push_str(text);
}

/// JavaScript's `Number.prototype.toString()` for a JSON number.
fn js_number(number: &Number) -> String {
    if number.is_i64() || number.is_u64() {
        return number.to_string();
    }
    let Some(float) = number.as_f64() else {
        return number.to_string();
    };
    if float == 0.0 {
        return "0".to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, as JavaScript does: `d.ddde<exp>`.
    let formatted = format!("{:e}", float.abs());
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let k = digits.len() as i64;
    let n = exponent + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let dot = if rest.is_empty() { "" } else { "." };
        format!("{first}{dot}{rest}e{sign}{}", (n - 1).abs())
    };
    if float < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

/// The pnpmfiles pnpm 12 loads, whose checksum the lockfile holds, in its order: none under
/// `ignorePnpmfile`; else those of the installed plugin config dependencies (see
/// [`crate::plugin_pnpmfiles`]), then the `pnpmfile` setting's, each of which must exist
/// (`ERR_PNPM_PNPMFILE_NOT_FOUND`), or else the default one of the workspace root, if any.
pub fn loaded_pnpmfiles(config: &Config) -> Result<Vec<PathBuf>, ConfigError> {
    if config.ignore_pnpmfile {
        return Ok(Vec::new());
    }
    let mut loaded = crate::plugin_pnpmfiles(config);
    match &config.pnpmfiles {
        Some(files) => match files.iter().find(|path| !path.is_file()) {
            Some(missing) => {
                return Err(ConfigError::PnpmfileNotFound {
                    path: missing.clone(),
                })
            }
            None => loaded.extend(files.iter().cloned()),
        },
        None => loaded.extend(default_pnpmfile(&config.workspace_root)),
    }
    Ok(loaded)
}

/// The `pnpmfileChecksum` the lockfile should hold: of the [`loaded_pnpmfiles`], `None` when
/// there are none.
pub fn wanted_pnpmfile_checksum(config: &Config) -> Result<Option<String>, ConfigError> {
    let pnpmfiles = loaded_pnpmfiles(config)?;
    if pnpmfiles.is_empty() {
        return Ok(None);
    }
    pnpmfile_checksum(&pnpmfiles).map(Some)
}

/// The pnpmfile pnpm 12 loads from `dir` when none is configured: `.pnpmfile.mjs`, else
/// `.pnpmfile.cjs` (only one of them is loaded).
pub fn default_pnpmfile(dir: &Path) -> Option<PathBuf> {
    DEFAULT_PNPMFILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
}

/// `pnpmfileChecksum` for the loaded pnpmfiles (`createHashFromMultipleFiles` over the sorted
/// paths): one file's checksum is its own; several hash the comma-joined per-file checksums.
pub fn pnpmfile_checksum(files: &[PathBuf]) -> Result<String, ConfigError> {
    let mut files: Vec<&PathBuf> = files.iter().collect();
    files.sort();
    let mut hashes = Vec::with_capacity(files.len());
    for file in files {
        hashes.push(file_checksum(file)?);
    }
    if hashes.len() == 1 {
        return Ok(hashes.swap_remove(0));
    }
    Ok(prefixed(&Sha256::digest(hashes.join(","))))
}

/// `createHashFromFile`: the text read as UTF-8 (invalid bytes become U+FFFD), CRLF → LF.
fn file_checksum(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
    Ok(prefixed(&Sha256::digest(text)))
}

fn prefixed(digest: &[u8]) -> String {
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}
