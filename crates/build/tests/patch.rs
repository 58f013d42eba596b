//! patchedDependencies: applying git-style diffs strictly, hashing, selection and the
//! unused-patch check.

mod common;

use common::{graph, node, Events, Tree};
use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use tack_build::{
    apply_patch_file, build_dependencies, check_patch_hash, check_unused_patches, patch_hash,
    BuildOptions, BuildPolicy, PatchRef, PatchedDependencies,
};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t.invalid",
            "-c",
            "core.autocrlf=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write(dir: &Path, rel: &str, content: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

const INDEX: &str = "line1\nline2\nline3\nline4\nline5\nline6\nline7\nline8\nline9\nline10\n";

/// A package dir plus a patch made by real `git diff` that modifies `index.js` (two hunks),
/// creates `lib/new.js`, deletes `old.js` and adds a file without a final newline.
fn package_and_git_patch(tmp: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let work = tmp.join("work");
    std::fs::create_dir_all(&work).unwrap();
    write(&work, "index.js", INDEX);
    write(&work, "old.js", "module.exports = 'old'\n");
    write(
        &work,
        "package.json",
        "{\"name\":\"p\",\"version\":\"1.0.0\"}\n",
    );
    git(&work, &["init", "-q"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "base"]);
    let pkg = tmp.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for f in ["index.js", "old.js", "package.json"] {
        std::fs::copy(work.join(f), pkg.join(f)).unwrap();
    }
    write(
        &work,
        "index.js",
        &INDEX
            .replace("line2\n", "line2 patched\n")
            .replace("line9\n", "line9\ninserted\n"),
    );
    write(&work, "lib/new.js", "created\n");
    write(&work, "no-eol.txt", "no newline");
    std::fs::remove_file(work.join("old.js")).unwrap();
    git(&work, &["add", "-A"]);
    let diff = git(&work, &["diff", "--cached"]);
    let patch = tmp.join("p@1.0.0.patch");
    std::fs::write(&patch, diff).unwrap();
    (pkg, patch)
}

#[test]
fn git_patch_modifies_creates_and_deletes() {
    let tmp = tempfile::tempdir().unwrap();
    let (pkg, patch) = package_and_git_patch(tmp.path());
    apply_patch_file(&pkg, &patch, "p@1.0.0").unwrap();
    let index = std::fs::read_to_string(pkg.join("index.js")).unwrap();
    assert_eq!(
        index,
        INDEX
            .replace("line2\n", "line2 patched\n")
            .replace("line9\n", "line9\ninserted\n")
    );
    assert_eq!(
        std::fs::read_to_string(pkg.join("lib/new.js")).unwrap(),
        "created\n"
    );
    assert_eq!(
        std::fs::read_to_string(pkg.join("no-eol.txt")).unwrap(),
        "no newline"
    );
    assert!(!pkg.join("old.js").exists());
}

#[test]
fn patched_file_replaces_a_hardlink_instead_of_writing_through_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (pkg, patch) = package_and_git_patch(tmp.path());
    let store_copy = tmp.path().join("store-file");
    std::fs::rename(pkg.join("index.js"), &store_copy).unwrap();
    std::fs::hard_link(&store_copy, pkg.join("index.js")).unwrap();
    apply_patch_file(&pkg, &patch, "p@1.0.0").unwrap();
    assert_eq!(std::fs::read_to_string(&store_copy).unwrap(), INDEX);
}

#[test]
fn broken_hunk_fails_naming_file_and_hunk_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    write(&pkg, "a.js", "one\ntwo\nthree\n");
    write(&pkg, "b.js", "alpha\nbeta\ngamma\n");
    // The a.js hunk applies, the b.js one does not: nothing may be written.
    let patch_text = "\
diff --git a/a.js b/a.js
--- a/a.js
+++ b/a.js
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
diff --git a/b.js b/b.js
--- a/b.js
+++ b/b.js
@@ -1,3 +1,3 @@ context
 alpha
-BETA-DIFFERENT
+beta2
 gamma
diff --git a/c.js b/c.js
new file mode 100644
--- /dev/null
+++ b/c.js
@@ -0,0 +1 @@
+new
";
    let patch = tmp.path().join("x.patch");
    std::fs::write(&patch, patch_text).unwrap();
    let err = apply_patch_file(&pkg, &patch, "x@1.0.0").unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_PATCH_FAILED");
    let msg = err.to_string();
    for needle in [
        "x.patch",
        "b.js",
        "@@ -1,3 +1,3 @@ context",
        "x@1.0.0",
        "BETA-DIFFERENT",
    ] {
        assert!(msg.contains(needle), "missing {needle} in {msg}");
    }
    assert_eq!(
        std::fs::read_to_string(pkg.join("a.js")).unwrap(),
        "one\ntwo\nthree\n"
    );
    assert!(!pkg.join("c.js").exists());
}

#[test]
fn patch_against_a_different_version_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let (pkg, patch) = package_and_git_patch(tmp.path());
    // The package moved its lines: hunks are checked at their positions, not searched for.
    std::fs::write(pkg.join("index.js"), format!("header\n{INDEX}")).unwrap();
    let err = apply_patch_file(&pkg, &patch, "p@1.0.0").unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_PATCH_FAILED");
    assert!(err.to_string().contains("index.js"), "{err}");
    assert!(pkg.join("old.js").exists());
}

#[test]
fn traversal_paths_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let patch = tmp.path().join("evil.patch");
    std::fs::write(
        &patch,
        "--- /dev/null\n+++ b/../escaped.js\n@@ -0,0 +1 @@\n+x\n",
    )
    .unwrap();
    let err = apply_patch_file(&pkg, &patch, "e@1.0.0").unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_PATCH_FAILED");
    assert!(!tmp.path().join("escaped.js").exists());
}

#[test]
fn patch_hash_matches_pnpm_and_ignores_crlf() {
    let tmp = tempfile::tempdir().unwrap();
    let lf = tmp.path().join("lf.patch");
    let crlf = tmp.path().join("crlf.patch");
    std::fs::write(&lf, "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
    std::fs::write(&crlf, "--- a/x\r\n+++ b/x\r\n@@ -1 +1 @@\r\n-a\r\n+b\r\n").unwrap();
    // What pnpm computes: sha256 hex of the text with CRLF turned into LF.
    let out = Command::new("node")
        .arg("-e")
        .arg("const c=require('crypto'),fs=require('fs');process.stdout.write(c.createHash('sha256').update(fs.readFileSync(process.argv[1],'utf8').replace(/\\r\\n/g,'\\n')).digest('hex'))")
        .arg(&crlf)
        .output()
        .unwrap();
    let expected = String::from_utf8(out.stdout).unwrap();
    assert_eq!(expected.len(), 64);
    assert_eq!(patch_hash(&std::fs::read(&crlf).unwrap()), expected);
    assert_eq!(patch_hash(&std::fs::read(&lf).unwrap()), expected);
    check_patch_hash(&crlf, &expected).unwrap();
    let err = check_patch_hash(&lf, &"0".repeat(64)).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_PATCH_HASH_MISMATCH");
    assert!(err.to_string().contains("lf.patch"));
}

#[test]
fn build_step_applies_patches_even_with_ignore_scripts_and_checks_the_hash() {
    let tree = Tree::new();
    let tmp = tempfile::tempdir().unwrap();
    let (src_pkg, patch) = package_and_git_patch(tmp.path());
    let mut n = node(&tree, "p", "1.0.0", &[]);
    for f in ["index.js", "old.js", "package.json"] {
        std::fs::copy(src_pkg.join(f), n.dir.join(f)).unwrap();
    }
    let hash = patch_hash(&std::fs::read(&patch).unwrap());
    n.patch = Some(PatchRef {
        path: patch.clone(),
        hash: "f".repeat(64),
    });
    let dir = n.dir.clone();
    let policy = BuildPolicy::allow_all();
    let opts = BuildOptions {
        env: tree.env(),
        policy: &policy,
        child_concurrency: 2,
        ignore_scripts: true,
        link_bins: None,
        discard_failed: None,
    };
    let g = graph(vec![n.clone()], &["p@1.0.0"]);
    let err = build_dependencies(&g, &opts, &|_| {}).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_PATCH_HASH_MISMATCH");
    assert!(dir.join("old.js").exists());

    n.patch = Some(PatchRef { path: patch, hash });
    n.requires_build = true;
    n.scripts.postinstall = Some("exit 1".to_string());
    let g = graph(vec![n], &["p@1.0.0"]);
    let events = Events::default();
    let report = build_dependencies(&g, &opts, &|e| events.record(e)).unwrap();
    assert!(!dir.join("old.js").exists());
    assert_eq!(report.built.len(), 1);
    assert!(report.built[0].patched && !report.built[0].ran_scripts);
    assert!(events.all().iter().any(|e| e.contains("patched")));
    // It still needed a build: with --ignore-scripts that is a pending build as well.
    assert_eq!(report.pending_builds, vec!["p@1.0.0".to_string()]);
    // Created files get the mode from the patch (0644).
    let mode = std::fs::metadata(dir.join("lib/new.js"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn patch_selection_and_unused_patches() {
    let p = |s: &str| PatchRef {
        path: s.into(),
        hash: String::new(),
    };
    let mut m = indexmap::IndexMap::new();
    m.insert("a".to_string(), p("all-a"));
    m.insert("a@1.0.0".to_string(), p("exact"));
    m.insert("a@^2.0.0".to_string(), p("range"));
    m.insert("unused@1.0.0".to_string(), p("unused"));
    let pd = PatchedDependencies::new(m);
    assert_eq!(pd.find("a", "1.0.0").unwrap().0, "a@1.0.0");
    assert_eq!(pd.find("a", "2.3.0").unwrap().0, "a@^2.0.0");
    assert_eq!(pd.find("a", "3.0.0").unwrap().0, "a");
    assert!(pd.find("b", "1.0.0").is_none());

    let used: HashSet<String> = ["a", "a@1.0.0", "a@^2.0.0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let err = check_unused_patches(pd.keys(), &used, false).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_UNUSED_PATCH");
    assert!(err.to_string().contains("unused@1.0.0"));
    let warning = check_unused_patches(pd.keys(), &used, true)
        .unwrap()
        .unwrap();
    assert!(warning.contains("unused@1.0.0"));
    let mut all = used.clone();
    all.insert("unused@1.0.0".into());
    assert!(check_unused_patches(pd.keys(), &all, false)
        .unwrap()
        .is_none());
}
