//! Running `git` for tests that commit packages into local repositories: one place for the
//! committer identity and the settings every such test needs.

use std::path::Path;
use std::process::Command;

use crate::project::assert_success;

/// Runs `git <args>` in `dir` (with a committer, and `file` submodules allowed for making
/// them); returns its trimmed stdout.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@localhost"])
        .args(["-c", "protocol.file.allow=always"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run git (is it installed?)");
    assert_success(&out, &format!("git {args:?}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
