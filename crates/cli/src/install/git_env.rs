//! The environment the `git` commands of a git dependency run with, chosen as pnpm 12 chooses
//! it: no prompts; ssh in batch mode, unless the user has said how to run ssh; and only the
//! usual protocols for the clone or fetch, unless the user has a protocol policy of their own.
//!
//! Setting `GIT_SSH_COMMAND` outright would override a `core.sshCommand` the user configured
//! (a deploy key, a jump host), and a fixed `GIT_ALLOW_PROTOCOL` would lift a protocol the
//! user's git config forbids. So both are read from the user's environment and git config,
//! once per install at its first clone, in the project's directory (its repository's config
//! counts too).
//! Checked against pnpm 12 with a `git` on PATH that recorded its environment.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What pnpm 12 allows a dependency's clone to use when git's config says nothing.
const PROTOCOLS: &[&str] = &["file", "git", "http", "https", "ssh"];

/// How ssh runs when the user has not said: never ask for a password or a host key.
const BATCH_SSH: &str = "ssh -o BatchMode=yes";

/// The variables tack sets on a dependency's `git` commands (the rest of the environment is
/// passed on as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitEnv {
    /// `GIT_SSH_COMMAND`, unless the user set it, set `GIT_SSH`, or configured
    /// `core.sshCommand`.
    ssh_command: Option<String>,
    /// `GIT_ALLOW_PROTOCOL` for the clone or fetch, unless the user set it.
    allow_protocol: Option<String>,
}

impl GitEnv {
    /// The environment for this install, read the first time it is asked for.
    pub fn for_project(dir: &Path) -> &'static GitEnv {
        static ENV: OnceLock<GitEnv> = OnceLock::new();
        ENV.get_or_init(|| GitEnv::read(dir))
    }

    fn read(dir: &Path) -> GitEnv {
        let env_set = |name: &str| std::env::var_os(name).is_some();
        let ssh_command = if env_set("GIT_SSH_COMMAND") || env_set("GIT_SSH") {
            None
        } else {
            match git_config(dir, &["--get", "core.sshCommand"]) {
                Some(configured) if !configured.trim().is_empty() => None,
                _ => Some(BATCH_SSH.to_string()),
            }
        };
        let allow_protocol = if env_set("GIT_ALLOW_PROTOCOL") {
            None
        } else {
            let policy = git_config(dir, &["--null", "--get-regexp", r"^protocol\."]);
            Some(allowed_protocols(policy.as_deref().unwrap_or("")))
        };
        GitEnv {
            ssh_command,
            allow_protocol,
        }
    }

    /// Sets the variables on a `git` command; `transport` for the clone or fetch, the only
    /// commands that get the protocol list (given to `submodule update`, it would lift git's
    /// own refusal of `file` submodules, and a repository could pull this machine's files
    /// into the store).
    pub fn apply(&self, command: &mut Command, transport: bool) {
        command.env("GIT_TERMINAL_PROMPT", "0");
        if let Some(ssh) = &self.ssh_command {
            command.env("GIT_SSH_COMMAND", ssh);
        }
        if let (true, Some(allowed)) = (transport, &self.allow_protocol) {
            command.env("GIT_ALLOW_PROTOCOL", allowed);
        }
    }
}

/// The output of `git config <args>` in `dir`, `None` when git fails (nothing set, or no git:
/// the clone itself will report that).
fn git_config(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("config")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

/// pnpm's protocol list less what git's config forbids: `protocol.<name>.allow` decides for
/// its protocol, `protocol.allow` for the others; only `never` forbids. `policy` is the output
/// of `git config --null --get-regexp '^protocol\.'` (`key\nvalue\0` records, the last one of
/// a key winning).
fn allowed_protocols(policy: &str) -> String {
    let mut settings: Vec<(String, String)> = Vec::new();
    for record in policy.split('\0').filter(|r| !r.is_empty()) {
        let (key, value) = record.split_once('\n').unwrap_or((record, ""));
        settings.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
        settings.push((key.to_ascii_lowercase(), value.trim().to_string()));
    }
    let setting = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let default_allows = setting("protocol.allow") != Some("never");
    PROTOCOLS
        .iter()
        .filter(|name| match setting(&format!("protocol.{name}.allow")) {
            Some(value) => value != "never",
            None => default_allows,
        })
        .copied()
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_list_drops_what_git_config_forbids() {
        assert_eq!(allowed_protocols(""), "file:git:http:https:ssh");
        assert_eq!(
            allowed_protocols("protocol.ssh.allow\nnever\0protocol.ext.allow\nnever\0"),
            "file:git:http:https"
        );
        assert_eq!(allowed_protocols("protocol.allow\nnever\0"), "");
        assert_eq!(
            allowed_protocols("protocol.allow\nnever\0protocol.ssh.allow\nalways\0"),
            "ssh"
        );
        assert_eq!(
            allowed_protocols("protocol.file.allow\nuser\0protocol.allow\nuser\0"),
            "file:git:http:https:ssh"
        );
        assert_eq!(
            allowed_protocols("protocol.git.allow\nnever\0protocol.git.allow\nalways\0"),
            "file:git:http:https:ssh",
            "the last value wins"
        );
    }
}
