//! Frozen-lockfile checks against a workspace whose lockfile real pnpm 12 wrote
//! (`tests/fixtures/workspace`), with one input changed at a time.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tack_config::frozen::check_frozen_lockfile;
use tack_config::{find_workspace_projects, CliOverrides, Config, ConfigError, ConfigInputs};
use tack_lockfile::Lockfile;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/workspace"),
        &root,
    );
    (tmp, root)
}

fn check(root: &Path) -> Result<(), ConfigError> {
    let env = BTreeMap::from([("HOME".to_string(), root.join("home").display().to_string())]);
    let (config, _) = Config::load(ConfigInputs {
        cwd: root.to_path_buf(),
        workspace_root: None,
        env,
        cli: CliOverrides::default(),
        npm_registry_probe: Some(Box::new(|| Some("http://127.0.0.1:1/".into()))),
        update_config: None,
    })?;
    let globs = config.workspace_manifest.as_ref().unwrap().packages.clone();
    let projects = find_workspace_projects(root, &globs)?;
    let lockfile = Lockfile::read_from_path(&root.join("pnpm-lock.yaml")).unwrap();
    check_frozen_lockfile(&config, lockfile.as_ref(), &projects, true)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn up_to_date_workspace_passes() {
    let (_tmp, root) = workspace();
    check(&root).unwrap();
}

#[test]
fn specifier_changes_are_listed_like_pnpm() {
    let (_tmp, root) = workspace();
    let manifest = root.join("package.json");
    edit(
        &manifest,
        "\"is-odd\": \"^3.0.1\"",
        "\"is-odd\": \"^3.0.0\"",
    );
    edit(
        &manifest,
        "\"my-alias\": \"npm:is-number@6.0.0\",",
        "\"is-even\": \"1.0.0\", \"kind-of\": \"6.0.3\",",
    );
    let err = check(&root).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_OUTDATED_LOCKFILE");
    let message = err.to_string();
    let want = "specifiers in the lockfile don't match specifiers in package.json:\n\
                * in importers[\".\"]:\n\
                * 2 dependencies were added: is-even@1.0.0, kind-of@6.0.3\n\
                * 1 dependency was removed: my-alias@npm:is-number@6.0.0\n\
                * 1 dependency is mismatched:\n  \
                - is-odd (lockfile: ^3.0.1, manifest: ^3.0.0)";
    assert!(message.contains(want), "{message}");
    assert!(
        message.contains("not up to date with package.json"),
        "{message}"
    );
}

#[test]
fn subproject_mismatch_names_importer() {
    let (_tmp, root) = workspace();
    edit(
        &root.join("packages/a/package.json"),
        "\"react\":\"18.3.1\"",
        "\"react\":\"18.3.0\"",
    );
    let message = check(&root).unwrap_err().to_string();
    assert!(message.contains("importers[\"packages/a\"]"), "{message}");
    assert!(message.contains("packages/a/package.json"), "{message}");
}

#[test]
fn settings_mismatches() {
    let cases = [
        ("kind-of: 6.0.3", "kind-of: 6.0.2", "overrides"),
        ("  react: 18.3.1", "  react: 18.3.0", "catalogs"),
        (
            "minimumReleaseAge: 0",
            "minimumReleaseAge: 0\nautoInstallPeers: false",
            "settings.autoInstallPeers",
        ),
        (
            "minimumReleaseAge: 0",
            "minimumReleaseAge: 0\ndedupePeers: true",
            "settings.dedupePeers",
        ),
        (
            "minimumReleaseAge: 0",
            "minimumReleaseAge: 0\nignoredOptionalDependencies: [fsevents]",
            "ignoredOptionalDependencies",
        ),
        (
            "minimumReleaseAge: 0",
            "minimumReleaseAge: 0\npeersSuffixMaxLength: 100",
            "settings.peersSuffixMaxLength",
        ),
    ];
    for (from, to, field) in cases {
        let (_tmp, root) = workspace();
        edit(&root.join("pnpm-workspace.yaml"), from, to);
        let err = check(&root).unwrap_err();
        assert_eq!(
            err.code(),
            "ERR_PNPM_LOCKFILE_CONFIG_MISMATCH",
            "{field}: {err}"
        );
        assert!(
            err.to_string().contains(&format!("\"{field}\"")),
            "{field}: {err}"
        );
    }
}

#[test]
fn patch_content_change_is_a_mismatch_but_crlf_is_not() {
    let (_tmp, root) = workspace();
    let patch = root.join("patches/is-positive@1.0.0.patch");
    let text = std::fs::read_to_string(&patch).unwrap();
    std::fs::write(&patch, text.replace('\n', "\r\n")).unwrap();
    check(&root).unwrap();
    std::fs::write(&patch, format!("{text}\n")).unwrap();
    let err = check(&root).unwrap_err();
    assert!(err.to_string().contains("\"patchedDependencies\""), "{err}");
    std::fs::remove_file(&patch).unwrap();
    assert_eq!(check(&root).unwrap_err().code(), "ERR_PNPM_PATCH_NOT_FOUND");
}

#[test]
fn no_lockfile_and_missing_importer() {
    let (_tmp, root) = workspace();
    std::fs::create_dir_all(root.join("packages/c")).unwrap();
    std::fs::write(
        root.join("packages/c/package.json"),
        "{\"name\":\"c2\",\"dependencies\":{\"is-odd\":\"^3.0.1\"}}",
    )
    .unwrap();
    let err = check(&root).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_PACKAGE_MANAGER_NO_IMPORTER");
    assert!(
        err.to_string().contains("importers[\"packages/c\"]"),
        "{err}"
    );
    std::fs::remove_file(root.join("pnpm-lock.yaml")).unwrap();
    let err = check(&root).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_NO_LOCKFILE");
    assert!(
        err.to_string().contains("requires a pnpm-lock.yaml"),
        "{err}"
    );
}

#[test]
fn range_not_satisfied_by_locked_version() {
    let (_tmp, root) = workspace();
    let lock = root.join("pnpm-lock.yaml");
    edit(
        &lock,
        "      which:\n        specifier: ^2.0.2\n        version: 2.0.2",
        "      which:\n        specifier: ^2.0.2\n        version: 1.0.0",
    );
    let message = check(&root).unwrap_err().to_string();
    assert!(
        message.contains("doesn't satisfy the specifier ^2.0.2"),
        "{message}"
    );
}

/// `packageExtensions` and the lockfile checksum pnpm 12.21.0 wrote for it (see
/// `tests/checksums.rs`).
const EXTENSIONS_YAML: &str = "packageExtensions:\n  \"foo@1\":\n    dependencies:\n      b: \"^1\"\n      a: \"2\"\n    peerDependencies:\n      x: \"*\"\n  bar:\n    optionalDependencies:\n      z: \"1\"\n";
const EXTENSIONS_CHECKSUM: &str = "sha256-fH9/Fr9tzyUdgpcZY9HvQnIDfkOdSEDp9JHsc0+vEFY=";
/// A `.pnpmfile.cjs` and the checksum pnpm 12.21.0 wrote for it.
const PNPMFILE: &str =
    "module.exports = {\n  hooks: {\n    readPackage (pkg) {\n      return pkg\n    }\n  }\n}\n";
const PNPMFILE_CHECKSUM: &str = "sha256-knpxorrb5IkETDIn+FK8UcbNJ7SONh9KnrE9N41Ri28=";

fn record_in_lockfile(root: &Path, line: &str) {
    edit(
        &root.join("pnpm-lock.yaml"),
        "catalogs:\n  default:",
        &format!("{line}\n\ncatalogs:\n  default:"),
    );
}

fn assert_config_mismatch(root: &Path, field: &str) {
    let err = check(root).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_LOCKFILE_CONFIG_MISMATCH", "{err}");
    let phrase = format!(
        "The current \"{field}\" configuration doesn't match the value found in the lockfile"
    );
    assert!(err.to_string().contains(&phrase), "{err}");
}

#[test]
fn package_extensions_checksum_is_compared() {
    let (_tmp, root) = workspace();
    let yaml = root.join("pnpm-workspace.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(&yaml, format!("{text}{EXTENSIONS_YAML}")).unwrap();
    assert_config_mismatch(&root, "packageExtensionsChecksum");
    record_in_lockfile(
        &root,
        &format!("packageExtensionsChecksum: {EXTENSIONS_CHECKSUM}"),
    );
    check(&root).unwrap();
    // Key order does not matter.
    edit(
        &yaml,
        "      b: \"^1\"\n      a: \"2\"",
        "      a: \"2\"\n      b: \"^1\"",
    );
    check(&root).unwrap();
    // Same keys, another range.
    edit(&yaml, "b: \"^1\"", "b: \"^1.2\"");
    assert_config_mismatch(&root, "packageExtensionsChecksum");
    // A checksum without extensions.
    std::fs::write(&yaml, &text).unwrap();
    assert_config_mismatch(&root, "packageExtensionsChecksum");
}

#[test]
fn pnpmfile_checksum_is_compared() {
    let (_tmp, root) = workspace();
    let pnpmfile = root.join(".pnpmfile.cjs");
    std::fs::write(&pnpmfile, PNPMFILE).unwrap();
    assert_config_mismatch(&root, "pnpmfileChecksum");
    record_in_lockfile(&root, &format!("pnpmfileChecksum: {PNPMFILE_CHECKSUM}"));
    check(&root).unwrap();
    std::fs::write(&pnpmfile, PNPMFILE.replace('\n', "\r\n")).unwrap();
    check(&root).unwrap();
    std::fs::write(
        &pnpmfile,
        PNPMFILE.replace("return pkg", "return { ...pkg }"),
    )
    .unwrap();
    assert_config_mismatch(&root, "pnpmfileChecksum");
    // `.pnpmfile.mjs` is the one pnpm loads when both exist.
    std::fs::write(&pnpmfile, PNPMFILE).unwrap();
    std::fs::write(root.join(".pnpmfile.mjs"), "export const hooks = {}\n").unwrap();
    assert_config_mismatch(&root, "pnpmfileChecksum");
    // A checksum without a pnpmfile.
    std::fs::remove_file(root.join(".pnpmfile.mjs")).unwrap();
    std::fs::remove_file(&pnpmfile).unwrap();
    assert_config_mismatch(&root, "pnpmfileChecksum");
}

/// A locked version with a peers suffix (`1.2.0(react@18.3.1)`) is checked against the
/// specifier too: the suffix kept the version from parsing, and the check was skipped.
#[test]
fn range_not_satisfied_by_a_locked_version_with_peers() {
    let (_tmp, root) = workspace();
    let lock = root.join("pnpm-lock.yaml");
    edit(
        &lock,
        "        specifier: 1.2.0\n        version: 1.2.0(react@18.3.1)",
        "        specifier: 1.2.0\n        version: 0.9.0(react@18.3.1)",
    );
    let message = check(&root).unwrap_err().to_string();
    assert!(
        message.contains("doesn't satisfy the specifier 1.2.0"),
        "{message}"
    );
}

/// `ignoredOptionalDependencies` are patterns, as in pnpm (`fsev*`, `@esbuild/*`), applied to
/// the manifest's optionalDependencies: an ignored one the importer lacks is no change. tack
/// matched exact names only and refused the lockfile ("1 dependency was added").
#[test]
fn ignored_optional_dependencies_are_patterns() {
    let (_tmp, root) = workspace();
    let yaml = root.join("pnpm-workspace.yaml");
    let text = std::fs::read_to_string(&yaml).unwrap();
    std::fs::write(
        &yaml,
        format!("{text}ignoredOptionalDependencies:\n  - 'fsev*'\n"),
    )
    .unwrap();
    record_in_lockfile(&root, "ignoredOptionalDependencies:\n  - fsev*");
    edit(
        &root.join("pnpm-lock.yaml"),
        "    optionalDependencies:\n      fsevents:\n        specifier: 2.3.3\n        version: 2.3.3\n",
        "",
    );
    check(&root).unwrap();
}

/// A `workspace:` range that no longer accepts the linked project's version (the project
/// was bumped, the lockfile not updated) is an outdated lockfile, as in pnpm 12: "local
/// dependency "b" at "../b" is outdated". tack linked it anyway.
#[test]
fn a_linked_project_bumped_past_its_range_is_outdated() {
    let (_tmp, root) = workspace();
    let a = root.join("packages/a/package.json");
    edit(&a, r#""b":"workspace:*""#, r#""b":"workspace:^1.0.0""#);
    edit(
        &root.join("pnpm-lock.yaml"),
        "        specifier: workspace:*\n        version: link:../b",
        "        specifier: workspace:^1.0.0\n        version: link:../b",
    );
    check(&root).unwrap();
    edit(
        &root.join("packages/b/package.json"),
        r#""version":"1.0.0""#,
        r#""version":"2.0.0""#,
    );
    let err = check(&root).unwrap_err();
    assert_eq!(err.code(), "ERR_PNPM_OUTDATED_LOCKFILE", "{err}");
    assert!(
        err.to_string()
            .contains(r#"local dependency "b" at "../b" is outdated"#),
        "{err}"
    );
}

/// An override written `$name` stands for the root manifest's specifier of `name`, which is
/// what pnpm records in the lockfile: no mismatch. tack compared `$is-odd` with `^3.0.1`.
#[test]
fn an_override_referencing_a_root_dependency_is_resolved_before_comparing() {
    let (_tmp, root) = workspace();
    edit(
        &root.join("pnpm-workspace.yaml"),
        "overrides:\n  kind-of: 6.0.3\n",
        "overrides:\n  kind-of: 6.0.3\n  is-odd: $is-odd\n",
    );
    edit(
        &root.join("pnpm-lock.yaml"),
        "overrides:\n  kind-of: 6.0.3\n",
        "overrides:\n  kind-of: 6.0.3\n  is-odd: ^3.0.1\n",
    );
    // The override reaches `b`'s peer too, and pnpm 12 records the peer it installs with the
    // overridden specifier.
    edit(
        &root.join("pnpm-lock.yaml"),
        "  packages/b:\n    dependencies:\n      is-odd:\n        specifier: ^3.0.0\n",
        "  packages/b:\n    dependencies:\n      is-odd:\n        specifier: ^3.0.1\n",
    );
    check(&root).unwrap();
}
