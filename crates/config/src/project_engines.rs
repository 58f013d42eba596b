//! The installed projects' own `engines`, which pnpm 12 checks before it installs anything: a
//! `pnpm` range its version does not satisfy fails the install whatever the settings (a project
//! pinned to pnpm 9 is not installed by pnpm 12, so tack, which builds pnpm 12's tree, refuses it
//! too); a `node` range the node in use does not satisfy fails it with `engineStrict` and is a
//! warning otherwise. Dependencies' `engines` are [`crate::installability`]'s.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::error::{ConfigError, Warning};

/// The pnpm version whose tree tack builds, and that `engines.pnpm` ranges are checked against.
pub const PNPM_VERSION: &str = "12.21.0";

/// Checks the `engines` of the project in `dir` against pnpm [`PNPM_VERSION`] and the node
/// version `node` (`None` when unknown: that range is not checked). `Ok(Some(_))` is a warning.
pub fn check_project_engines(
    dir: &Path,
    engines: &IndexMap<String, String>,
    node: Option<&str>,
    engine_strict: bool,
) -> Result<Option<Warning>, ConfigError> {
    let pnpm_ok = engines
        .get("pnpm")
        .is_none_or(|range| satisfies(range, PNPM_VERSION));
    let node_ok = match (engines.get("node"), node) {
        (Some(range), Some(version)) => satisfies(range, version),
        _ => true,
    };
    if pnpm_ok && node_ok {
        return Ok(None);
    }
    let mut wanted = Map::new();
    for key in ["node", "pnpm"] {
        if let Some(range) = engines.get(key) {
            wanted.insert(key.to_string(), Value::from(range.clone()));
        }
    }
    let mut current = Map::new();
    current.insert("node".into(), Value::from(node.unwrap_or_default()));
    current.insert("pnpm".into(), Value::from(PNPM_VERSION));
    let err = ConfigError::UnsupportedProjectEngine {
        dir: dir.to_path_buf(),
        wanted: Value::Object(wanted).to_string(),
        current: Value::Object(current).to_string(),
    };
    if !pnpm_ok || engine_strict {
        return Err(err);
    }
    Ok(Some(Warning::new(err.code(), err.to_string())))
}

/// Whether `version` is in `range`; a range or version that does not parse passes, as pnpm
/// skips the check then.
fn satisfies(range: &str, version: &str) -> bool {
    match (
        node_semver::Range::parse(range),
        node_semver::Version::parse(version),
    ) {
        (Ok(range), Ok(version)) => range.satisfies(&version),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engines(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_pnpm_range_without_12_fails_and_a_node_range_warns_unless_strict() {
        let dir = Path::new("/p");
        let old_pnpm = engines(&[("pnpm", ">=8 <10")]);
        let err = check_project_engines(dir, &old_pnpm, Some("20.1.0"), false).unwrap_err();
        assert_eq!(err.code(), "ERR_PNPM_UNSUPPORTED_ENGINE");
        let text = err.to_string();
        assert!(text.contains(r#"{"pnpm":">=8 <10"}"#), "{text}");
        assert!(text.contains(r#""pnpm":"12.21.0""#), "{text}");

        let new_node = engines(&[("node", ">=99")]);
        let warning = check_project_engines(dir, &new_node, Some("20.1.0"), false).unwrap();
        assert!(warning.is_some());
        assert!(check_project_engines(dir, &new_node, Some("20.1.0"), true).is_err());
        assert_eq!(
            check_project_engines(dir, &new_node, None, true).unwrap(),
            None
        );

        let fine = engines(&[("node", ">=18"), ("pnpm", ">=9")]);
        assert_eq!(
            check_project_engines(dir, &fine, Some("20.1.0"), true).unwrap(),
            None
        );
    }
}
