//! Temp projects with an isolated environment: every tool run gets its own HOME, XDG dirs and
//! store, so tests never touch the developer's real store or npm config.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

/// A project directory plus an isolated home, inside one temp dir.
pub struct TestProject {
    tmp: TempDir,
}

impl Default for TestProject {
    fn default() -> Self {
        Self::new()
    }
}

impl TestProject {
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("tack-test-")
            .tempdir()
            .expect("temp dir");
        for dir in ["project", "home", "store"] {
            fs_err::create_dir_all(tmp.path().join(dir)).expect("create dir");
        }
        TestProject { tmp }
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// The project (lockfile) directory.
    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("project")
    }

    pub fn home(&self) -> PathBuf {
        self.tmp.path().join("home")
    }

    /// The store root handed to both tools with `--store-dir`.
    pub fn store(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    /// Writes a file relative to the project dir, creating parents.
    pub fn write(&self, rel: &str, contents: &str) -> &Self {
        let path = self.dir().join(rel);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).expect("create parent");
        }
        fs_err::write(&path, contents).expect("write file");
        self
    }

    /// Copies every file of `src` (not recursing into node_modules) into the project dir.
    pub fn copy_from(&self, src: &Path) -> &Self {
        copy_dir(src, &self.dir());
        self
    }

    /// An environment with nothing of the caller's home or npm config in it.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        let home = self.home();
        cmd.current_dir(self.dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("CI", "true");
        cmd
    }

    /// Runs `tack <args>` in the project with `--store-dir` set.
    pub fn tack(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(&crate::tack_bin());
        cmd.args(args);
        if args.first().is_some_and(|a| *a == "install" || *a == "i") {
            cmd.arg("--store-dir").arg(self.store());
        }
        cmd.output().expect("run tack")
    }

    /// Appends `text` to the project's `pnpm-workspace.yaml` (settings for one test).
    pub fn add_settings(&self, text: &str) -> &Self {
        let yaml = self.dir().join("pnpm-workspace.yaml");
        let old = fs_err::read_to_string(&yaml).unwrap_or_default();
        fs_err::write(&yaml, format!("{old}{text}")).expect("write pnpm-workspace.yaml");
        self
    }

    /// Writes the lockfile with real pnpm 12 (`install --lockfile-only`), failing the test if
    /// pnpm fails.
    pub fn lock_with_pnpm(&self) -> &Self {
        assert_success(
            &self.pnpm(&["install", "--lockfile-only"]),
            "pnpm install --lockfile-only",
        );
        self
    }

    /// Runs `tool` (`"pnpm"` or tack) with `args` in the directory `rel` of the project, which
    /// is created first; an install gets the project's store, as [`TestProject::run_tool`].
    pub fn run_tool_in(&self, rel: &str, tool: &str, args: &[&str]) -> Output {
        let dir = self.dir().join(rel);
        fs_err::create_dir_all(&dir).expect("create the working directory");
        let pnpm = tool == "pnpm";
        let mut cmd = self.command(&if pnpm {
            crate::pnpm_bin()
        } else {
            crate::tack_bin()
        });
        cmd.current_dir(&dir).args(args);
        if pnpm || args.first().is_some_and(|a| *a == "install" || *a == "i") {
            cmd.arg("--store-dir").arg(self.store());
        }
        cmd.output().expect("run the tool")
    }

    /// Runs `tool` (`"pnpm"` for real pnpm 12, anything else for tack) with `args`, as
    /// [`TestProject::pnpm`] and [`TestProject::tack`] do: the side-by-side tests run one
    /// command line through both.
    pub fn run_tool(&self, tool: &str, args: &[&str]) -> Output {
        if tool == "pnpm" {
            self.pnpm(args)
        } else {
            self.tack(args)
        }
    }

    /// Runs real pnpm 12 in the project with `--store-dir` set.
    pub fn pnpm(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(&crate::pnpm_bin());
        cmd.args(args).arg("--store-dir").arg(self.store());
        cmd.output().expect("run pnpm")
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    fs_err::create_dir_all(dst).expect("create dir");
    for entry in fs_err::read_dir(src).expect("read dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        if name == "node_modules" {
            continue;
        }
        let path = entry.path();
        let target = dst.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&path, &target);
        } else {
            fs_err::copy(&path, &target).expect("copy file");
        }
    }
}

/// Panics with both output streams when a command failed.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed with {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
