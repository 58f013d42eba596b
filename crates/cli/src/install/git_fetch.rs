//! Making the store row of a git dependency that the store does not have yet, as pnpm 12
//! makes it: the commit is checked out into a scratch directory (a clone, or the files of a
//! git host's archive copied out of the CAS), the package's sub-directory is taken, it is
//! prepared when it needs to be and the build policy allows it, and what `npm pack` would
//! keep of it is written to the CAS and recorded under the source's prepared key.
//!
//! The scratch directory lives in the system's temporary directory, as pnpm 12's does, and is
//! removed when the work is done, whatever happened (one left by a killed install stays
//! there). Nothing is recorded for a package that failed at any step.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use serde_json::Value;
use tack_store_dir::{CafsFileInfo, PackageFilesIndex, StoreDir};

use super::git_env::GitEnv;
use super::git_jobs::GitJobs;
use super::git_source::{CloneOrigin, GitSource};
use crate::error::CliError;

/// The scripts after which a package with a missing `main` counts as needing preparation
/// (pnpm's `PREPUBLISH_SCRIPTS`).
const PREPUBLISH_SCRIPTS: [&str; 3] = ["prepublish", "prepack", "publish"];

/// A scratch directory for one checkout, in the system's temporary directory as pnpm 12
/// makes it: a `prepare` script that looks for its repository (`husky install`, a nested
/// `pnpm install` looking for a workspace) must find the checkout, never a project the store
/// happens to sit in.
pub fn scratch_dir() -> Result<tempfile::TempDir, CliError> {
    let tmp = std::env::temp_dir();
    tempfile::Builder::new()
        .prefix("tack-git-")
        .tempdir_in(&tmp)
        .map_err(|e| {
            CliError::new(
                "ERR_TACK_STORE_WRITE",
                format!(
                    "cannot create a scratch directory in {}: {e}",
                    tmp.display()
                ),
            )
        })
}

/// Clones the repository into `dest` and checks out the commit, with the commands and
/// environment pnpm 12 uses (see `git_env`), then its submodules when it has any. A `shallow`
/// repository (its host is one of `gitShallowHosts`) is not cloned: only the commit is
/// fetched, `git fetch --depth 1 origin <commit>` into a new repository, as pnpm does. The
/// commands run as `jobs` (see `git_jobs`).
pub fn clone_commit(
    jobs: &GitJobs,
    dep_path: &str,
    origin: &CloneOrigin,
    dest: &Path,
) -> Result<(), CliError> {
    let (repo, commit) = (origin.repo.as_str(), origin.commit.as_str());
    let env = GitEnv::for_project(&origin.config_dir);
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CliError::new(
            "ERR_PNPM_INVALID_GIT_COMMIT",
            format!(
                "Invalid git commit hash \"{commit}\" for repository \"{}\". Expected a 40-character hexadecimal SHA.",
                tack_tarball::redact_url(repo)
            ),
        )
        .with_help("The lockfile is damaged: restore it from version control, or run `pnpm install` to resolve the dependency again."));
    }
    let git = |args: &[&str], cwd: &Path| -> Result<String, CliError> {
        let mut command = Command::new("git");
        let transport = matches!(args.first(), Some(&"clone" | &"fetch"));
        env.apply(&mut command, transport);
        command
            .args(args)
            .current_dir(cwd)
            .stdin(std::process::Stdio::null());
        let output = jobs
            .output(&mut command)
            .map_err(|e| fetch_failed(dep_path, repo, &format!("cannot run git: {e}")))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let error = fetch_failed(dep_path, repo, stderr.trim());
            return Err(match ssh_host(repo).filter(|_| transport) {
                Some(host) => error.with_help(ssh_help(&host, package_name(dep_path))),
                None => error,
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    if origin.shallow {
        fs_err::create_dir_all(dest).map_err(write_error)?;
        git(&["init", "--quiet"], dest)?;
        git(&["remote", "add", "origin", "--", repo], dest)?;
        git(
            &["fetch", "--quiet", "--depth", "1", "origin", commit],
            dest,
        )?;
    } else {
        let parent = dest.parent().unwrap_or(dest);
        let dest_str = dest.to_string_lossy();
        git(&["clone", "--quiet", "--", repo, &dest_str], parent)?;
    }
    git(&["checkout", "--quiet", commit], dest)?;
    let head = git(&["rev-parse", "HEAD"], dest)?;
    if !head.eq_ignore_ascii_case(commit) {
        return Err(CliError::new(
            "ERR_PNPM_GIT_CHECKOUT_FAILED",
            format!("received commit {head} does not match expected value {commit}"),
        )
        .with_help(format!(
            "The repository of {dep_path} does not have the locked commit. Check that it was not rewritten, or run `pnpm install` to resolve the dependency again."
        )));
    }
    if dest.join(".gitmodules").is_file() {
        git(
            &["submodule", "update", "--init", "--recursive", "--checkout"],
            dest,
        )?;
    }
    // `.git` stays while the package is prepared (its scripts may ask git where they are);
    // packing never takes it, and it goes with the scratch directory.
    let root = dest.canonicalize().map_err(write_error)?;
    copy_linked_files(&root, &root)
}

/// Replaces each committed symlink to a file of the checkout with a copy of that file, as
/// pnpm 12 stores it. Other symlinks (to directories, or out of the checkout, which could
/// name anything on this machine) are left as they are, and packing leaves them out.
fn copy_linked_files(root: &Path, dir: &Path) -> Result<(), CliError> {
    let io = write_error;
    for entry in fs_err::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() && entry.file_name() != ".git" {
            copy_linked_files(root, &path)?;
        } else if kind.is_symlink() {
            let Ok(target) = path.canonicalize() else {
                continue;
            };
            if target.starts_with(root) && target.is_file() {
                fs_err::remove_file(&path).map_err(io)?;
                fs_err::copy(&target, &path).map_err(io)?;
            }
        }
    }
    Ok(())
}

fn fetch_failed(dep_path: &str, repo: &str, detail: &str) -> CliError {
    let name = package_name(dep_path);
    CliError::new(
        "ERR_PNPM_GIT_FETCH_FAILED",
        format!(
            "Failed to fetch \"{name}\" from the git repository \"{}\": {detail}",
            tack_tarball::redact_url(repo)
        ),
    )
    .with_help("Check that git is installed and that the repository can be cloned from this machine (credentials, network), then install again.")
}

/// The host of an SSH remote (`[git+]ssh://[user@]host[:port]/path`, or scp-style
/// `user@host:path`), `None` for any other transport. The `user@` of the scp-style form is
/// required, as in pnpm, so that no other kind of path is taken for a host.
fn ssh_host(repo: &str) -> Option<String> {
    let url = repo.strip_prefix("git+").unwrap_or(repo);
    if url.starts_with("ssh://") {
        return super::git_source::url_host_name(url);
    }
    if repo.contains("://") {
        return None;
    }
    let (authority, _) = repo.split_once(':')?;
    let (_, host) = authority.rsplit_once('@')?;
    (!host.is_empty()).then(|| host.to_string())
}

/// What to do when an SSH remote cannot be fetched. Lockfiles written before pnpm 11.21 could
/// record an SSH URL for a specifier that never asked for one, and a frozen install keeps it.
fn ssh_help(host: &str, name: &str) -> String {
    format!(
        "The lockfile records an SSH remote for this dependency, so fetching it needs an SSH key for {host}. \
         If git reported \"Permission denied (publickey)\", the host refused the key: check that ssh-agent \
         holds one (`ssh-add -l`). If its specifier does not ask for SSH (for example \"github:owner/repo\"), the entry was written \
         before pnpm 11.21 and `pnpm update {name}` records it again over HTTPS; \
         `pnpm install --force` does not."
    )
}

/// Writes the files of a downloaded archive (its row) into `dest`, as copies: preparing the
/// package may change them, and the CAS files must stay as they are.
pub fn copy_archive_files(
    store: &StoreDir,
    row: &PackageFilesIndex,
    dest: &Path,
) -> Result<(), CliError> {
    for (rel, info) in &row.files {
        let target = dest.join(rel);
        if let Some(dir) = target.parent() {
            fs_err::create_dir_all(dir).map_err(write_error)?;
        }
        let source = store.cas_path(&info.digest, info.is_executable());
        fs_err::copy(&source, &target).map_err(write_error)?;
    }
    Ok(())
}

/// Prepares the checkout in `checkout` and records what `npm pack` would keep of its
/// package directory in the CAS; returns the row to record under `git.store_key`.
pub fn pack(
    jobs: &GitJobs,
    store: &StoreDir,
    git: &GitSource,
    dep_path: &str,
    checkout: &Path,
) -> Result<PackageFilesIndex, CliError> {
    // A repository is as untrusted as a tarball: the same limits hold for what it packs.
    let caps = tack_tarball::ExtractCaps::default();
    pack_within(jobs, store, git, dep_path, checkout, caps)
}

/// [`pack`] with the limits `caps` on what is packed.
fn pack_within(
    jobs: &GitJobs,
    store: &StoreDir,
    git: &GitSource,
    dep_path: &str,
    checkout: &Path,
    caps: tack_tarball::ExtractCaps,
) -> Result<PackageFilesIndex, CliError> {
    let pkg_dir = package_dir(checkout, git.path.as_deref())?;
    let manifest: Option<Value> = std::fs::read(pkg_dir.join("package.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok());
    let requires_prepare = manifest
        .as_ref()
        .is_some_and(|m| needs_prepare(m, &pkg_dir));
    if requires_prepare {
        match git.prepare {
            Some(false) => {}
            None => return Err(prepare_not_allowed(dep_path, manifest.as_ref(), git)),
            Some(true) => {
                if let Some(manifest) = &manifest {
                    run_prepare(jobs, git, checkout, &pkg_dir, manifest)?;
                }
            }
        }
    }
    let files = tack_linker::packlist::package_files(&pkg_dir).map_err(|e| {
        CliError::new(
            "ERR_TACK_STORE_WRITE",
            format!(
                "cannot list the files of {dep_path} in {}: {e}",
                pkg_dir.display()
            ),
        )
    })?;
    if files.len() as u64 > caps.max_entries {
        return Err(too_large(dep_path, "file count", caps.max_entries));
    }
    let mut total = 0u64;
    let mut row_files = IndexMap::with_capacity(files.len());
    for (rel, source) in files {
        // A prepare script may leave a FIFO or a socket behind, which reading would hang on.
        let meta = fs_err::symlink_metadata(&source).map_err(write_error)?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > caps.max_entry_bytes {
            return Err(too_large(dep_path, "per-file size", caps.max_entry_bytes));
        }
        total += meta.len();
        if total > caps.max_unpacked_bytes {
            return Err(too_large(
                dep_path,
                "unpacked size",
                caps.max_unpacked_bytes,
            ));
        }
        let content = fs_err::read(&source).map_err(write_error)?;
        if content.len() as u64 > caps.max_entry_bytes {
            return Err(too_large(dep_path, "per-file size", caps.max_entry_bytes));
        }
        let executable = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o111 != 0;
        let digest = store
            .write_cas_file(&content, executable)
            .map_err(|e| CliError::new("ERR_TACK_STORE_WRITE", e.to_string()))?;
        row_files.insert(
            rel,
            CafsFileInfo {
                digest,
                mode: if executable { 0o755 } else { 0o644 },
                size: content.len() as u64,
                checked_at: Some(now_ms()),
            },
        );
    }
    let bundled = manifest
        .as_ref()
        .and_then(tack_tarball::normalize_bundled_manifest);
    let requires_build =
        tack_tarball::requires_build(bundled.as_ref(), row_files.keys().map(String::as_str));
    Ok(PackageFilesIndex {
        manifest: bundled,
        requires_build: Some(requires_build),
        requires_prepare: Some(requires_prepare),
        algo: "sha512".to_string(),
        files: row_files,
        side_effects: None,
        tar_integrity: None,
    })
}

/// What the tarball extractor reports for the same limit (`ERR_TACK_TARBALL_TOO_LARGE`).
fn too_large(dep_path: &str, what: &'static str, limit: u64) -> CliError {
    CliError::from(tack_tarball::FetchError::TooLarge {
        pkg: dep_path.to_string(),
        what,
        limit,
    })
}

/// The package's directory inside the checkout: `path` with its leading `/` dropped, which
/// must name a directory inside it.
fn package_dir(checkout: &Path, path: Option<&str>) -> Result<PathBuf, CliError> {
    let Some(path) = path else {
        return Ok(checkout.to_path_buf());
    };
    let rel = path.trim_start_matches(['/', '\\']);
    let invalid = || {
        CliError::new(
            "ERR_PNPM_INVALID_PATH",
            format!("Path \"{rel}\" is not a valid sub-directory of the git checkout"),
        )
        .with_help("The lockfile's `path` of this git dependency names no directory of the locked commit. Fix the dependency's `#path:` and run `pnpm install`.")
    };
    let lexical_escape = Path::new(rel).components().any(|c| {
        !matches!(
            c,
            std::path::Component::Normal(_) | std::path::Component::CurDir
        )
    });
    if lexical_escape {
        return Err(invalid());
    }
    let dir = checkout.join(rel);
    let (Ok(real), Ok(root)) = (dir.canonicalize(), checkout.canonicalize()) else {
        return Err(invalid());
    };
    if !real.starts_with(&root) || !real.is_dir() {
        return Err(invalid());
    }
    Ok(real)
}

/// pnpm's `packageShouldBeBuilt`: a non-empty `prepare`, or a prepublish script while the
/// `main` file (`index.js` by default) is missing.
fn needs_prepare(manifest: &Value, pkg_dir: &Path) -> bool {
    let Some(scripts) = manifest.get("scripts").and_then(Value::as_object) else {
        return false;
    };
    let non_empty = |name: &str| {
        scripts
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if non_empty("prepare") {
        return true;
    }
    if !PREPUBLISH_SCRIPTS.iter().any(|s| non_empty(s)) {
        return false;
    }
    let main = manifest
        .get("main")
        .and_then(Value::as_str)
        .unwrap_or("index.js");
    !pkg_dir.join(main).exists()
}

/// pnpm's `preparePackage`: the package manager the repository uses (its lockfile at the
/// checkout's root; npm without one) installs the package's dependencies, which runs its
/// `prepare`, then its prepublish scripts run, and the `node_modules` it made is removed.
fn run_prepare(
    jobs: &GitJobs,
    git: &GitSource,
    checkout: &Path,
    pkg_dir: &Path,
    manifest: &Value,
) -> Result<(), CliError> {
    let pm = preferred_package_manager(checkout);
    let scripts = manifest.get("scripts").and_then(Value::as_object);
    let mut steps = vec![(format!("{pm}-install"), format!("{pm} install"))];
    for name in PREPUBLISH_SCRIPTS {
        let Some(script) = scripts
            .and_then(|s| s.get(name))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        let command = if pm == "pnpm" {
            script.to_string()
        } else {
            format!("{pm} run {name}")
        };
        steps.push((format!("{pm}-run-{name}"), command));
    }
    let field = |key: &str| manifest.get(key).and_then(Value::as_str).unwrap_or("");
    let package = format!("{}@{}", field("name"), field("version"));
    let script_env = prepare_script_env(git, pkg_dir);
    for (event, command) in &steps {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(command)
            .current_dir(pkg_dir)
            .envs(prepare_vars(&script_env, pkg_dir, manifest, event, command))
            .stdin(std::process::Stdio::null());
        if let Some(tmp) = script_env.tmp_dir_for(pkg_dir) {
            fs_err::create_dir_all(&tmp).map_err(write_error)?;
        }
        let output = jobs.output(&mut sh);
        let failure = match output {
            Ok(out) if out.status.success() => continue,
            Ok(out) => {
                let status = out
                    .status
                    .code()
                    .map_or_else(|| "a signal".to_string(), |c| c.to_string());
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "`{command}` exited with exit status: {status}\n{}",
                    tail.join("\n")
                )
            }
            Err(e) => format!("`{command}` could not be started: {e}"),
        };
        return Err(CliError::new(
            "ERR_PNPM_PREPARE_PACKAGE",
            format!("Failed to prepare package: {package} {event}: {failure}"),
        )
        .with_help("The git dependency's own install or prepare scripts failed: fix them in the repository, or set its allowBuilds entry to false to install it unprepared."));
    }
    let modules = pkg_dir.join("node_modules");
    if modules.exists() {
        fs_err::remove_dir_all(&modules).map_err(write_error)?;
    }
    Ok(())
}

/// The script environment of a preparation: pnpm 12 runs it as a project of its own, the
/// package directory, with the user agent it gives before it knows the `node` version.
fn prepare_script_env(git: &GitSource, pkg_dir: &Path) -> tack_build::ScriptEnv {
    let mut env = tack_build::ScriptEnv::new(
        pkg_dir.to_path_buf(),
        pkg_dir.join("node_modules/.pnpm"),
        Some("?"),
    );
    if let Some(unsafe_perm) = git.unsafe_perm {
        env.unsafe_perm = unsafe_perm;
    }
    super::build::add_node_gyp(&mut env);
    env
}

/// The variables of one preparation step, as pnpm 12 sets them (checked against it by
/// `tests/git_deps.rs`): a lifecycle script's, without `npm_command`, with a PATH of the
/// package's own `.bin` and node-gyp's before the caller's, and the nested install told to
/// skip unapproved builds of its own dependencies instead of failing.
fn prepare_vars(
    env: &tack_build::ScriptEnv,
    pkg_dir: &Path,
    manifest: &Value,
    event: &str,
    command: &str,
) -> Vec<(String, std::ffi::OsString)> {
    let mut vars = env.vars_for(
        pkg_dir,
        manifest,
        tack_build::ScriptOf::Project,
        event,
        command,
    );
    vars.retain(|(name, _)| name != "npm_command" && name != "PATH");
    let mut dirs = vec![pkg_dir.join("node_modules/.bin")];
    dirs.extend(env.extra_bin_paths.iter().cloned());
    if let Some(rest) = &env.base_path {
        dirs.extend(std::env::split_paths(rest));
    }
    let path = std::env::join_paths(dirs)
        .ok()
        .or_else(|| env.base_path.clone())
        .unwrap_or_default();
    vars.push(("PATH".into(), path));
    for name in [
        "pnpm_config_strict_dep_builds",
        "PNPM_CONFIG_STRICT_DEP_BUILDS",
    ] {
        vars.push((name.into(), "false".into()));
    }
    vars
}

/// The package manager a repository uses, by the lockfile at its root (`preferred-pm`).
fn preferred_package_manager(root: &Path) -> &'static str {
    [
        ("pnpm-lock.yaml", "pnpm"),
        ("yarn.lock", "yarn"),
        ("package-lock.json", "npm"),
        ("bun.lockb", "bun"),
        ("bun.lock", "bun"),
    ]
    .into_iter()
    .find(|(file, _)| root.join(file).is_file())
    .map_or("npm", |(_, pm)| pm)
}

fn prepare_not_allowed(dep_path: &str, manifest: Option<&Value>, git: &GitSource) -> CliError {
    let field = |key: &str| {
        manifest
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let name_of = package_name(dep_path);
    CliError::new(
        "ERR_PNPM_GIT_DEP_PREPARE_NOT_ALLOWED",
        format!(
            "The git-hosted package \"{}@{}\" needs to execute build scripts but is not in the \"allowBuilds\" allowlist.",
            field("name"),
            field("version")
        ),
    )
    .with_help(format!(
        "Add the package to \"allowBuilds\" in your project's pnpm-workspace.yaml to allow it to run scripts. For example:\nallowBuilds:\n  {name_of}@{}: true",
        git.package_id
    ))
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64)
        .unwrap_or(0.0)
}

/// The package name a dep path starts with (`@scope/name` or `name`).
fn package_name(dep_path: &str) -> &str {
    dep_path
        .get(1..)
        .and_then(|rest| rest.find('@'))
        .map_or(dep_path, |at| &dep_path[..at + 1])
}

/// A failed write of the scratch checkout or the store (fs-err names the path).
fn write_error(e: std::io::Error) -> CliError {
    CliError::new("ERR_TACK_STORE_WRITE", e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::install::git_source::GitOrigin;

    fn source() -> GitSource {
        GitSource {
            store_key: "x@git+file:///r#0\tbuilt".into(),
            origin: GitOrigin::Clone(CloneOrigin {
                repo: "file:///r".into(),
                commit: "0".repeat(40),
                shallow: false,
                config_dir: PathBuf::from("/"),
            }),
            path: None,
            package_id: "git+file:///r#0".into(),
            prepare: Some(true),
            unsafe_perm: None,
        }
    }

    /// Packs a checkout holding `files` (name, size) within `caps`.
    fn pack_files(
        files: &[(&str, usize)],
        caps: tack_tarball::ExtractCaps,
    ) -> Result<PackageFilesIndex, CliError> {
        let dir = tempfile::tempdir().unwrap();
        let checkout = dir.path().join("checkout");
        fs_err::create_dir_all(&checkout).unwrap();
        fs_err::write(
            checkout.join("package.json"),
            r#"{"name":"x","version":"1.0.0"}"#,
        )
        .unwrap();
        for (name, size) in files {
            fs_err::write(checkout.join(name), vec![b'a'; *size]).unwrap();
        }
        let store = StoreDir::new(dir.path().join("store"));
        store.ensure_layout().unwrap();
        pack_within(
            &GitJobs::default(),
            &store,
            &source(),
            "x@git+file:///r#0",
            &checkout,
            caps,
        )
    }

    const CAPS: tack_tarball::ExtractCaps = tack_tarball::ExtractCaps {
        max_unpacked_bytes: 1000,
        max_entries: 4,
        max_entry_bytes: 400,
    };

    #[test]
    fn a_checkout_within_the_limits_is_packed() {
        let row = pack_files(&[("a.js", 400), ("b.js", 300)], CAPS).unwrap();
        assert_eq!(row.files.len(), 3);
        assert_eq!(row.files["a.js"].size, 400);
    }

    #[test]
    fn a_checkout_beyond_the_tarball_limits_is_refused() {
        for (files, what) in [
            (&[("a.js", 401)][..], "per-file size"),
            (
                &[("a.js", 400), ("b.js", 400), ("c.js", 200)][..],
                "unpacked size",
            ),
            (
                &[("a.js", 1), ("b.js", 1), ("c.js", 1), ("d.js", 1)][..],
                "file count",
            ),
        ] {
            let err = pack_files(files, CAPS).unwrap_err();
            assert_eq!(err.code, "ERR_TACK_TARBALL_TOO_LARGE", "{what}");
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn ssh_remotes_are_told_apart_from_other_transports() {
        assert_eq!(
            ssh_host("git+ssh://git@h.example:2222/o/r.git").as_deref(),
            Some("h.example")
        );
        assert_eq!(
            ssh_host("ssh://h.example/o/r").as_deref(),
            Some("h.example")
        );
        assert_eq!(
            ssh_host("git@h.example:o/r.git").as_deref(),
            Some("h.example")
        );
        assert_eq!(ssh_host("https://git@h.example/o/r.git"), None);
        assert_eq!(ssh_host("git://h.example/o/r"), None);
        assert_eq!(ssh_host("C:/repos/r"), None, "no user@, no host");
    }
}
