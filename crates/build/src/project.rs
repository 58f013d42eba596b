//! The workspace projects' own install scripts, run after every dependency is built:
//! `preinstall`, `install`, `postinstall`, `preprepare`, `prepare`, `postprepare`, in each
//! project's dir (skipped entirely under `--ignore-scripts`).

use crate::env::{ScriptEnv, ScriptOf};
use crate::error::BuildError;
use crate::events::Reporter;
use crate::runner::display_prefix;
use crate::script::{run_script, ScriptCommand, ScriptOutput};
use std::path::PathBuf;

/// The stages run for a project, in order.
pub const PROJECT_STAGES: [&str; 6] = [
    "preinstall",
    "install",
    "postinstall",
    "preprepare",
    "prepare",
    "postprepare",
];

/// One workspace project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Absolute project dir.
    pub dir: PathBuf,
    /// Its `package.json`.
    pub manifest: serde_json::Value,
    /// Its `preinstall` ran already (the root's runs before anything is installed).
    pub preinstall_done: bool,
}

/// Run the projects' install scripts, projects in the given order, stages among `stages`.
/// Returns the output of every script that ran; the first failure aborts.
pub fn run_project_scripts(
    projects: &[Project],
    stages: &[&str],
    env: &ScriptEnv,
    ignore_scripts: bool,
    reporter: &Reporter<'_>,
) -> Result<Vec<ScriptOutput>, BuildError> {
    let mut outputs = Vec::new();
    if ignore_scripts {
        return Ok(outputs);
    }
    for project in projects {
        let field = |k: &str| {
            project
                .manifest
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("")
        };
        let name = field("name");
        let version = field("version");
        let package = if name.is_empty() {
            project.dir.display().to_string()
        } else {
            format!("{name}@{version}")
        };
        let prefix = display_prefix(&project.dir, &env.prefix_dir);
        for &stage in stages {
            if stage == "preinstall" && project.preinstall_done {
                continue;
            }
            let Some(script) = project
                .manifest
                .get("scripts")
                .and_then(|s| s.get(stage))
                .and_then(|v| v.as_str())
            else {
                continue;
            };
            let cmd = ScriptCommand {
                package: &package,
                name,
                prefix: &prefix,
                dir: &project.dir,
                stage,
                script,
                shell: env.shell(),
                env: env.vars_for(
                    &project.dir,
                    &project.manifest,
                    ScriptOf::Project,
                    stage,
                    script,
                ),
            };
            run_script(&cmd, reporter, &mut outputs)?;
        }
    }
    Ok(outputs)
}
