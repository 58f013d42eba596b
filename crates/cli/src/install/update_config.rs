//! The pnpmfiles' `updateConfig` hooks, run as pnpm 12 runs them: with node, over the
//! finished configuration, before anything reads it. Config dependency plugins
//! (`pnpm-plugin-*`) exist mostly for this: a shared catalog, an allow-list of builds. Without
//! the hooks, such a project's lockfile does not match its settings (`catalogs` differ).
//!
//! Only this hook is run; the others (`readPackage`, `afterAllResolved`, …) act on resolution,
//! which a frozen install does not do. node starts only when a loaded pnpmfile names the hook.
//! Each pnpmfile is loaded in pnpm's order (plugins, then the workspace's own), and the
//! configuration each hook returns is the next one's input. What the last one returns is
//! compared with what went in: the settings that differ become a layer over all others.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Map, Value};
use tack_config::Config;

use crate::error::CliError;

/// Loads each pnpmfile given on the command line and passes the configuration read on stdin
/// through their `updateConfig` hooks; prints the result as JSON on stdout. A hook's own
/// console output goes to stderr.
const RUNNER: &str = r#"
const files = process.argv.slice(1);
console.log = console.info = console.error;
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', async () => {
  let config = JSON.parse(input);
  for (const file of files) {
    try {
      const loaded = file.endsWith('.mjs')
        ? await import(require('url').pathToFileURL(file).href)
        : require(file);
      const hooks = (loaded && (loaded.hooks || (loaded.default && loaded.default.hooks))) || {};
      if (typeof hooks.updateConfig === 'function') {
        const updated = await hooks.updateConfig(config);
        if (updated && typeof updated === 'object') config = updated;
      }
    } catch (err) {
      process.stderr.write(`${file}: ${(err && err.stack) || err}\n`);
      process.exit(1);
    }
  }
  process.stdout.write(JSON.stringify(config));
});
"#;

/// The settings the `updateConfig` hooks of the loaded pnpmfiles change, by pnpm's names;
/// `None` when no pnpmfile has such a hook or none changes anything.
pub fn changed_settings(config: &Config) -> Result<Option<Map<String, Value>>, CliError> {
    let pnpmfiles: Vec<PathBuf> = tack_config::checksums::loaded_pnpmfiles(config)?
        .into_iter()
        .filter(|file| {
            std::fs::read_to_string(file).is_ok_and(|text| text.contains("updateConfig"))
        })
        .collect();
    if pnpmfiles.is_empty() {
        return Ok(None);
    }
    let input = hook_input(config);
    let output = run_hooks(config, &pnpmfiles, &input)?;
    Ok(Some(differences(&input, output)).filter(|changed| !changed.is_empty()))
}

/// What the hooks see: every setting a layer sets, and the catalogs as pnpm keeps them (the
/// default one under `catalogs.default`, not `catalog`).
fn hook_input(config: &Config) -> Map<String, Value> {
    let mut input = match serde_json::to_value(&config.settings) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    input.remove("catalog");
    let catalogs = serde_json::to_value(&config.catalogs).unwrap_or_default();
    input.insert("catalogs".into(), catalogs);
    input
}

/// The settings `output` sets otherwise than `input`. Changed catalogs replace the default
/// catalog of the files too: a hook's `catalogs.default` is the whole default catalog.
fn differences(input: &Map<String, Value>, output: Map<String, Value>) -> Map<String, Value> {
    let mut changed: Map<String, Value> = output
        .into_iter()
        .filter(|(key, value)| input.get(key) != Some(value))
        .collect();
    if let Some(catalogs) = changed.get("catalogs") {
        let default = catalogs
            .get("default")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        changed.insert("catalog".into(), default);
    }
    changed
}

fn run_hooks(
    config: &Config,
    pnpmfiles: &[PathBuf],
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, CliError> {
    let names: Vec<String> = pnpmfiles.iter().map(|f| f.display().to_string()).collect();
    let failed = |what: String| {
        CliError::new(
            "ERR_PNPM_PNPMFILE_FAIL",
            format!("the updateConfig hook of {} {what}", names.join(", ")),
        )
        .with_help(
            "Fix the pnpmfile, or pass --ignore-pnpmfile to install without its hooks. \
             Nothing was installed.",
        )
    };
    let mut child = Command::new("node")
        .arg("-e")
        .arg(RUNNER)
        .arg("--")
        .args(pnpmfiles)
        .current_dir(&config.lockfile_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            CliError::new(
                "ERR_TACK_NODE_NOT_FOUND",
                format!(
                    "{} has an updateConfig hook, which runs in node, and node could not be started: {e}",
                    names.join(", ")
                ),
            )
            .with_help("Install node (pnpm needs it for these hooks too) or put it on PATH.")
        })?;
    let text = serde_json::to_string(input).unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that exits without reading closes the pipe: its exit status says why.
        let _ = stdin.write_all(text.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(format!("could not be run: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(failed(format!(
            "failed ({}):\n{}",
            output.status,
            stderr.trim_end()
        )));
    }
    match serde_json::from_slice(&output.stdout) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(failed("returned no configuration object".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_a_hook_changed_becomes_a_layer() {
        let input = json!({"hoistPattern": ["*"], "catalogs": {}})
            .as_object()
            .cloned()
            .expect("object");
        let output = json!({
            "hoistPattern": ["*"],
            "catalogs": {"default": {"is-odd": "3.0.1"}},
            "allowBuilds": {"esbuild": true}
        })
        .as_object()
        .cloned()
        .expect("object");
        let changed = differences(&input, output);
        assert_eq!(
            Value::Object(changed),
            json!({
                "catalogs": {"default": {"is-odd": "3.0.1"}},
                "catalog": {"is-odd": "3.0.1"},
                "allowBuilds": {"esbuild": true}
            })
        );
    }
}
