//! Workspace project discovery on a real directory tree.

use std::path::Path;

use tack_config::find_workspace_projects;

fn manifest(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("package.json"), format!("{{\"name\":\"{name}\"}}")).unwrap();
}

#[test]
fn globs_negations_and_node_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    manifest(root, "root");
    manifest(&root.join("packages/a"), "a");
    manifest(&root.join("packages/b"), "b");
    manifest(&root.join("packages/b/test/fixture"), "fixture");
    manifest(&root.join("packages/a/nested"), "nested-not-matched");
    manifest(&root.join("packages/a/node_modules/dep"), "dep");
    manifest(&root.join("tools/x/test"), "tool-test");
    manifest(&root.join("tools/y"), "y");
    std::fs::create_dir_all(root.join("packages/empty")).unwrap();
    let globs = vec![
        "packages/*".to_string(),
        "tools/**".to_string(),
        "!**/test/**".to_string(),
        "!**/test".to_string(),
    ];
    let projects = find_workspace_projects(root, &globs).unwrap();
    let ids: Vec<_> = projects.iter().map(|p| p.importer_id.as_str()).collect();
    assert_eq!(ids, vec![".", "packages/a", "packages/b", "tools/y"]);
    assert_eq!(projects[1].manifest.name.as_deref(), Some("a"));
}

#[test]
fn broken_manifest_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("package.json"),
        "{\n  \"name\": \"x\",\n  oops\n}",
    )
    .unwrap();
    let err = find_workspace_projects(tmp.path(), &[]).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_JSON_PARSE");
    let message = err.to_string();
    assert!(message.contains("package.json"), "{message}");
    assert!(message.contains("(line 3, column 3)"), "{message}");
    assert_eq!(
        message.matches("line 3").count(),
        1,
        "said twice: {message}"
    );
}

/// Like pnpm's globs (no `dot`): `*` and `**` pass over directories whose names start with
/// `.` and `bower_components`, unless a pattern names a dot directory itself; a symlink to a
/// directory is a project like the directory. tack took `packages/.template` for a project
/// and refused the lockfile, which has no importer for it.
#[test]
fn dot_directories_and_bower_components_are_not_matched_but_symlinks_are() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    manifest(root, "root");
    manifest(&root.join("packages/a"), "a");
    manifest(&root.join("packages/.template"), "template");
    manifest(&root.join("packages/bower_components"), "bower");
    manifest(&root.join("tools/.hidden/x"), "hidden-x");
    manifest(&root.join("elsewhere/linked"), "linked");
    std::os::unix::fs::symlink(root.join("elsewhere/linked"), root.join("packages/linked"))
        .unwrap();
    let ids = |globs: &[&str]| -> Vec<String> {
        let globs: Vec<String> = globs.iter().map(|g| g.to_string()).collect();
        find_workspace_projects(root, &globs)
            .unwrap()
            .into_iter()
            .map(|p| p.importer_id)
            .collect()
    };
    assert_eq!(
        ids(&["packages/*", "tools/**"]),
        [".", "packages/a", "packages/linked"]
    );
    assert_eq!(
        ids(&["packages/*", "packages/.template"]),
        [".", "packages/.template", "packages/a", "packages/linked"]
    );
}
