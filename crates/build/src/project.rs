//! The workspace projects' own install scripts, run after every dependency is built:
//! `preinstall`, `install`, `postinstall`, `preprepare`, `prepare`, `postprepare`, in each
//! project's dir (skipped entirely under `--ignore-scripts`). Projects that do not depend on
//! each other run at the same time, as in pnpm 12.

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

/// Run the projects' install scripts. `rounds` are groups of projects in dependency order
/// (a project after the projects it depends on): the projects of a round run at the same
/// time, up to `concurrency` of them, each one's stages in order, as pnpm 12 runs them
/// (`childConcurrency`). Returns the output of every script that ran, round by round and
/// project by project; a failure lets the running projects finish, starts no other, and is
/// returned (the first one in project order).
pub fn run_project_scripts(
    rounds: &[Vec<Project>],
    stages: &[&str],
    env: &ScriptEnv,
    ignore_scripts: bool,
    concurrency: usize,
    reporter: &Reporter<'_>,
) -> Result<Vec<ScriptOutput>, BuildError> {
    let mut outputs = Vec::new();
    if ignore_scripts {
        return Ok(outputs);
    }
    for round in rounds {
        for result in run_round(round, stages, env, concurrency, reporter) {
            outputs.extend(result?);
        }
    }
    Ok(outputs)
}

/// What one project's scripts came to.
type ProjectResult = Result<Vec<ScriptOutput>, BuildError>;

/// One round: its projects on up to `concurrency` threads; results in project order.
fn run_round(
    round: &[Project],
    stages: &[&str],
    env: &ScriptEnv,
    concurrency: usize,
    reporter: &Reporter<'_>,
) -> Vec<ProjectResult> {
    // Most rounds are one project (the root): no thread for it.
    if round.len() == 1 {
        return vec![run_project(&round[0], stages, env, reporter)];
    }
    crate::pool::run_all(
        round,
        concurrency,
        |project| run_project(project, stages, env, reporter),
        |_, result| result.is_err(),
    )
    .into_iter()
    .map(|result| result.unwrap_or_else(|| Ok(Vec::new())))
    .collect()
}

/// One project's stages, in order; the first failure stops it.
fn run_project(
    project: &Project,
    stages: &[&str],
    env: &ScriptEnv,
    reporter: &Reporter<'_>,
) -> ProjectResult {
    let mut outputs = Vec::new();
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
            own_project: true,
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
    Ok(outputs)
}
