//! The project's declared package manager: a project that says it is installed with another
//! one (`"packageManager": "yarn@4.0.0"`, or `devEngines.packageManager`) is refused before
//! anything is written, as pnpm 12 refuses it (`ERR_PNPM_OTHER_PM_EXPECTED`), unless
//! `pmOnFail` (or the field's own `onFail`) says `warn` or `ignore`. A project pinned to
//! pnpm passes: tack installs what pnpm would.

use serde_json::Value;
use tack_config::Manifest;

use crate::error::CliError;

/// What the root manifest's declaration asks of tack, given `pmOnFail`: `Ok(None)` to go on,
/// `Ok(Some(warning))` to go on and say so, or the refusal.
pub fn check(root: &Manifest, pm_on_fail: Option<&str>) -> Result<Option<String>, CliError> {
    let Some((name, on_fail)) = declared(&root.raw) else {
        return Ok(None);
    };
    if name == "pnpm" {
        return Ok(None);
    }
    let message = format!("This project is configured to use {name}");
    match on_fail.as_deref().or(pm_on_fail) {
        Some("ignore") => Ok(None),
        Some("warn") => Ok(Some(message)),
        _ => Err(CliError::new("ERR_PNPM_OTHER_PM_EXPECTED", message).with_help(help(&name))),
    }
}

/// The declared package manager's name and the declaration's own `onFail`:
/// `devEngines.packageManager` first (an object, or a list of which one naming pnpm wins,
/// else the first), then `packageManager` (`name[@version][+hash]`).
fn declared(raw: &Value) -> Option<(String, Option<String>)> {
    let dev_engines = raw.get("devEngines").and_then(|d| d.get("packageManager"));
    let entry = match dev_engines {
        Some(Value::Array(entries)) => entries
            .iter()
            .find(|e| e.get("name").and_then(Value::as_str) == Some("pnpm"))
            .or_else(|| entries.first()),
        Some(entry @ Value::Object(_)) => Some(entry),
        _ => None,
    };
    if let Some(name) = entry.and_then(|e| e.get("name")).and_then(Value::as_str) {
        let on_fail = entry
            .and_then(|e| e.get("onFail"))
            .and_then(Value::as_str)
            .map(str::to_string);
        return Some((name.to_string(), on_fail));
    }
    let spec = raw.get("packageManager")?.as_str()?.trim();
    let name = match spec.strip_prefix('@') {
        Some(rest) => format!("@{}", rest.split('@').next().unwrap_or(rest)),
        None => spec.split('@').next().unwrap_or(spec).to_string(),
    };
    (!name.is_empty()).then_some((name, None))
}

/// pnpm 12's way out for `name`.
fn help(name: &str) -> String {
    if matches!(name, "npm" | "yarn" | "bun") {
        format!(
            "Run a one-off command with \"pnpm dlx {name} <command>\", or link a {name} command \
             that follows this project's pin with \"pnpm shim add {name}\". To install with tack \
             anyway, set `pmOnFail: warn` in pnpm-workspace.yaml."
        )
    } else {
        format!(
            "pnpm cannot provide {name}. Install it to work on this project. To install with \
             tack anyway, set `pmOnFail: warn` in pnpm-workspace.yaml."
        )
    }
}

#[cfg(test)]
mod tests {
    use super::declared;
    use serde_json::json;

    #[test]
    fn the_declared_name_is_read_from_either_field() {
        let name = |raw| declared(&raw).map(|(name, _)| name);
        assert_eq!(
            name(json!({"packageManager": "yarn@4.0.0"})).as_deref(),
            Some("yarn")
        );
        assert_eq!(
            name(json!({"packageManager": "yarn"})).as_deref(),
            Some("yarn")
        );
        assert_eq!(
            name(json!({"packageManager": "pnpm@12.0.0+sha512.abc"})).as_deref(),
            Some("pnpm")
        );
        assert_eq!(
            name(json!({"devEngines": {"packageManager": [{"name": "yarn"}, {"name": "pnpm"}]}}))
                .as_deref(),
            Some("pnpm")
        );
        assert_eq!(
            declared(&json!({"devEngines": {"packageManager": {"name": "bun", "onFail": "warn"}}})),
            Some(("bun".to_string(), Some("warn".to_string())))
        );
        assert_eq!(name(json!({"packageManager": 5})), None);
        assert_eq!(name(json!({})), None);
    }
}
