//! Run one lifecycle script with `sh -c` in a package dir, streaming its output line by line
//! to the reporter (tagged with the package prefix and stage) while keeping a full copy, so
//! the CLI can print everything on failure in append-only mode.

use crate::error::{BuildError, ScriptFailure};
use crate::events::{BuildEvent, Reporter};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;

/// How many trailing output lines a failure error shows.
pub const ERROR_TAIL_LINES: usize = 20;

/// One script to run.
#[derive(Debug)]
pub(crate) struct ScriptCommand<'a> {
    /// `name@version` for messages.
    pub package: &'a str,
    pub name: &'a str,
    /// A workspace project's own script, not a dependency's build (for the hint).
    pub own_project: bool,
    /// Shown before each line (the package dir relative to the lockfile dir).
    pub prefix: &'a str,
    pub dir: &'a Path,
    pub stage: &'a str,
    pub script: &'a str,
    pub env: Vec<(String, OsString)>,
    /// The shell that runs it, as `<shell> -c <script>` (`scriptShell`; `sh` by default).
    pub shell: &'a str,
}

/// The result of a script that ran (successfully or not).
#[derive(Debug, Clone)]
pub struct ScriptOutput {
    pub stage: String,
    pub script: String,
    /// Every line the script printed (stdout and stderr, interleaved as read).
    pub lines: Vec<String>,
}

/// Run the script; `Err(ScriptFailed)` when it exits unsuccessfully. The output of a
/// successful script is appended to `captured`; a failed script's output is in the error.
pub(crate) fn run_script(
    cmd: &ScriptCommand<'_>,
    reporter: &Reporter<'_>,
    captured: &mut Vec<ScriptOutput>,
) -> Result<(), BuildError> {
    reporter(&BuildEvent::ScriptStarted {
        prefix: cmd.prefix,
        stage: cmd.stage,
        script: cmd.script,
    });
    // The package-local TMPDIR that pnpm gives scripts must exist before they use it.
    if let Some((_, tmp)) = cmd.env.iter().find(|(k, _)| k == "TMPDIR") {
        std::fs::create_dir_all(tmp).map_err(|source| BuildError::ScriptSpawn {
            package: cmd.package.to_string(),
            stage: cmd.stage.to_string(),
            dir: PathBuf::from(tmp),
            source,
        })?;
    }
    let mut child = Command::new(cmd.shell)
        .arg("-c")
        .arg(cmd.script)
        .current_dir(cmd.dir)
        .envs(cmd.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| BuildError::ScriptSpawn {
            package: cmd.package.to_string(),
            stage: cmd.stage.to_string(),
            dir: cmd.dir.to_path_buf(),
            source,
        })?;
    let lines = Mutex::new(Vec::new());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::scope(|s| {
        if let Some(out) = stdout {
            s.spawn(|| pump(out, false, cmd, reporter, &lines));
        }
        if let Some(err) = stderr {
            s.spawn(|| pump(err, true, cmd, reporter, &lines));
        }
    });
    let status = child.wait().map_err(|source| BuildError::ScriptSpawn {
        package: cmd.package.to_string(),
        stage: cmd.stage.to_string(),
        dir: cmd.dir.to_path_buf(),
        source,
    })?;
    let lines = lines.into_inner().unwrap_or_else(|e| e.into_inner());
    reporter(&BuildEvent::ScriptFinished {
        prefix: cmd.prefix,
        stage: cmd.stage,
        success: status.success(),
        exit_code: status.code(),
    });
    let tail: Vec<String> = lines[lines.len().saturating_sub(ERROR_TAIL_LINES)..].to_vec();
    if status.success() {
        captured.push(ScriptOutput {
            stage: cmd.stage.to_string(),
            script: cmd.script.to_string(),
            lines,
        });
        return Ok(());
    }
    Err(BuildError::ScriptFailed(Box::new(ScriptFailure {
        package: cmd.package.to_string(),
        name: cmd.name.to_string(),
        own_project: cmd.own_project,
        dir: cmd.dir.to_path_buf(),
        stage: cmd.stage.to_string(),
        script: cmd.script.to_string(),
        status: describe_status(status),
        exit_code: status.code(),
        last_lines: tail,
        output: lines,
    })))
}

/// Read lines from one pipe, report and capture them.
fn pump(
    pipe: impl Read,
    stderr: bool,
    cmd: &ScriptCommand<'_>,
    reporter: &Reporter<'_>,
    lines: &Mutex<Vec<String>>,
) {
    for chunk in BufReader::new(pipe).split(b'\n') {
        let Ok(mut bytes) = chunk else { break };
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = String::from_utf8_lossy(&bytes).into_owned();
        reporter(&BuildEvent::Output {
            prefix: cmd.prefix,
            stage: cmd.stage,
            line: &line,
            stderr,
        });
        if let Ok(mut all) = lines.lock() {
            all.push(line);
        }
    }
}

#[cfg(unix)]
fn describe_status(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => "an unknown status".to_string(),
    }
}

#[cfg(not(unix))]
fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "an unknown status".to_string(),
    }
}
