//! The lockfile's file name: `pnpm-lock.yaml`, or `pnpm-lock.<branch>.yaml` with
//! `useGitBranchLockfile`.

use std::path::Path;
use std::process::Command;

/// pnpm's wanted-lockfile name.
pub const WANTED_LOCKFILE: &str = "pnpm-lock.yaml";

/// The lockfile name to read. With `use_git_branch` and a known branch, every character outside
/// `[A-Za-z0-9_.-]` becomes `!` and the result is lowercased (`lockfileName.ts`).
pub fn lockfile_name(use_git_branch: bool, branch: Option<&str>) -> String {
    match branch {
        Some(branch) if use_git_branch => {
            let sanitized: String = branch
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                        c
                    } else {
                        '!'
                    }
                })
                .collect();
            format!("pnpm-lock.{}.yaml", sanitized.to_lowercase())
        }
        _ => WANTED_LOCKFILE.to_string(),
    }
}

/// The current git branch of `dir` (`git rev-parse --abbrev-ref HEAD`), or `None` outside a
/// repository or when git is missing.
pub fn current_git_branch(dir: &Path) -> Option<String> {
    let output = Command::new("git")
        .args(["rev-parse", "--abbrev-ref", "HEAD"])
        .current_dir(dir)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let branch = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (!branch.is_empty()).then_some(branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(lockfile_name(false, Some("main")), "pnpm-lock.yaml");
        assert_eq!(lockfile_name(true, None), "pnpm-lock.yaml");
        assert_eq!(
            lockfile_name(true, Some("Feature/Foo Bar")),
            "pnpm-lock.feature!foo!bar.yaml"
        );
        assert_eq!(
            lockfile_name(true, Some("v1.2-rc_1")),
            "pnpm-lock.v1.2-rc_1.yaml"
        );
    }
}
