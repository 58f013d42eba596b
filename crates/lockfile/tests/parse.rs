//! Parses lockfiles written by real pnpm and checks the fields installers rely on.

use std::path::{Path, PathBuf};

use tack_lockfile::{dep_path_to_filename, ref_to_dep_path, Lockfile, LockfileError, Resolution};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load(name: &str) -> Lockfile {
    Lockfile::read_from_path(&fixture(name))
        .unwrap()
        .expect("fixture exists")
}

fn parse_err(text: &str) -> LockfileError {
    Lockfile::from_str(text, Path::new("/p/pnpm-lock.yaml")).unwrap_err()
}

#[test]
fn missing_file_is_none() {
    assert!(Lockfile::read_from_path(&fixture("nope.yaml"))
        .unwrap()
        .is_none());
}

#[test]
fn workspace_features_lockfile() {
    let lf = load("workspace-features.yaml");
    assert_eq!(lf.lockfile_version, "9.0");
    let settings = lf.settings.as_ref().unwrap();
    assert_eq!(settings.auto_install_peers, Some(true));
    assert_eq!(settings.exclude_links_from_lockfile, Some(false));
    assert_eq!(lf.catalogs["default"]["react"].specifier, "18.3.1");
    assert_eq!(lf.catalogs["legacy"]["is-even"].version, "1.0.0");
    assert_eq!(lf.overrides["kind-of"], "6.0.3");
    let patch_hash = "ff46af8dc0fb392732944abc44898b92bad3bed22ccb52003d66db5e5a292c86";
    assert_eq!(
        lf.patched_dependencies.as_ref().unwrap()["is-positive@1.0.0"],
        patch_hash
    );
    assert_eq!(lf.importers.len(), 3);

    let root = &lf.importers["."];
    assert_eq!(root.dependencies["react"].specifier, "catalog:");
    assert_eq!(root.dependencies["my-alias"].version, "is-number@6.0.0");
    assert_eq!(root.dependencies["d"].version, "link:local/d");
    assert_eq!(root.dev_dependencies["which"].version, "2.0.2");
    assert_eq!(root.optional_dependencies["fsevents"].version, "2.3.3");
    assert_eq!(
        lf.importers["packages/a"].dependencies["b"].version,
        "link:../b"
    );

    // Every importer ref that is not a link resolves to a snapshot and a package.
    for importer in lf.importers.values() {
        for (alias, dep, _) in importer.all_deps() {
            let Some(dep_path) = ref_to_dep_path(&dep.version, alias) else {
                assert!(dep.version.starts_with("link:"));
                continue;
            };
            assert!(lf.snapshots.contains_key(&dep_path), "{dep_path}");
            assert!(lf.package(&dep_path).is_some(), "{dep_path}");
        }
    }

    let patched = format!("is-positive@1.0.0(patch_hash={patch_hash})");
    assert!(lf.snapshots.contains_key(&patched));
    assert_eq!(lf.package_id(&patched), "is-positive@1.0.0");

    assert_eq!(
        lf.packages["c@file:local/c"].resolution,
        Resolution::Directory {
            directory: "local/c".into()
        }
    );
    assert_eq!(lf.package_id("c@file:local/c"), "file:local/c");
    assert_eq!(
        dep_path_to_filename("c@file:local/c", 120),
        "c@file+local+c"
    );
    let tar = &lf.packages["tar-pkg@file:tar-pkg-1.0.0.tgz"];
    assert!(matches!(
        &tar.resolution,
        Resolution::Tarball { tarball, integrity: Some(_), git_hosted: false, .. } if tarball == "file:tar-pkg-1.0.0.tgz"
    ));
    assert_eq!(tar.version.as_deref(), Some("1.0.0"));
    assert_eq!(
        lf.name_version("tar-pkg@file:tar-pkg-1.0.0.tgz"),
        ("tar-pkg".to_string(), "1.0.0".to_string())
    );

    let fsevents = &lf.packages["fsevents@2.3.3"];
    assert_eq!(fsevents.os.as_deref(), Some(&["darwin".to_string()][..]));
    assert_eq!(fsevents.engines["node"], "^8.16.0 || ^10.6.0 || >=11.0.0");
    assert!(lf.snapshots["fsevents@2.3.3"].optional);
    assert!(lf.packages["which@2.0.2"].has_bin);
    assert!(!lf.packages["isexe@2.0.0"].has_bin);
    assert_eq!(
        lf.packages["use-sync-external-store@1.2.0"].peer_dependencies["react"],
        "^16.8.0 || ^17.0.0 || ^18.0.0"
    );
    assert_eq!(
        lf.snapshots["use-sync-external-store@1.2.0(react@18.3.1)"].dependencies["react"],
        "18.3.1"
    );
}

#[test]
fn small_and_medium_fixtures() {
    let small = load("small.yaml");
    let axios = &small.importers["."].dependencies["axios"].version;
    assert_eq!(
        axios,
        "1.21.1(debug@4.4.3(supports-color@7.2.0))(supports-color@7.2.0)"
    );
    let dep_path = ref_to_dep_path(axios, "axios").unwrap();
    assert!(small.snapshots.contains_key(&dep_path));
    assert!(small.package(&dep_path).is_some());

    let medium = load("medium.yaml");
    assert!(medium.packages.len() > 800, "{}", medium.packages.len());
    assert!(medium.snapshots.len() >= medium.packages.len());
    for (dep_path, snapshot) in &medium.snapshots {
        assert!(medium.package(dep_path).is_some(), "{dep_path}");
        for (alias, reference) in snapshot
            .dependencies
            .iter()
            .chain(&snapshot.optional_dependencies)
        {
            let child = ref_to_dep_path(reference, alias).unwrap();
            assert!(
                medium.snapshots.contains_key(&child),
                "{dep_path} -> {child}"
            );
        }
    }
    for package in medium.packages.values() {
        assert!(package.resolution.integrity().is_some());
    }
}

#[test]
fn hand_written_kinds() {
    let lf = load("git-and-legacy.yaml");
    let patches = lf.patched_dependencies.as_ref().unwrap();
    assert_eq!(patches["foo@1.0.0"], "abc123");
    assert_eq!(patches["bar"], "def456");
    assert_eq!(
        lf.ignored_optional_dependencies,
        vec!["fsevents".to_string()]
    );
    assert_eq!(lf.time["is-odd@3.0.1"], "2018-10-06T08:09:24.000Z");
    let git_hosted = "is-negative@https://codeload.github.com/kevva/is-negative/tar.gz/1d7e288";
    assert!(matches!(
        &lf.packages[git_hosted].resolution,
        Resolution::Tarball {
            git_hosted: true,
            ..
        }
    ));
    assert_eq!(
        lf.package_id(git_hosted),
        "https://codeload.github.com/kevva/is-negative/tar.gz/1d7e288"
    );
    let git = "sub@git+https://git.example/o/r.git#0123456789abcdef0123456789abcdef01234567&path:/packages/sub";
    assert_eq!(
        lf.packages[git].resolution,
        Resolution::Git {
            repo: "https://git.example/o/r.git".into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            path: Some("/packages/sub".into())
        }
    );
    assert!(matches!(
        &lf.packages["url-pkg@https://tarballs.example/url-pkg-1.0.0.tgz"].resolution,
        Resolution::Tarball {
            git_hosted: false,
            integrity: Some(_),
            ..
        }
    ));
    assert!(matches!(
        lf.packages["node@runtime:22.0.0"].resolution,
        Resolution::Other(_)
    ));
    let libc_pkg = &lf.packages["@img/sharp-linux-x64@0.33.5"];
    assert_eq!(libc_pkg.libc.as_deref(), Some(&["glibc".to_string()][..]));
    assert_eq!(libc_pkg.cpu.as_deref(), Some(&["x64".to_string()][..]));
    assert_eq!(
        lf.snapshots["a@1.0.0(b@2.0.0(c@3.0.0))(d@1.0.0)"].transitive_peer_dependencies,
        vec!["e".to_string()]
    );
}

/// `yes`, `no`, `on` and `off` are strings to pnpm's YAML 1.2 reader, unquoted or not: a
/// hand-edited lockfile with a package named `yes` must read as pnpm reads it. The fast reader
/// leaves such scalars to serde-saphyr, which reads them by the field's type.
#[test]
fn yaml_1_1_booleans_are_strings() {
    let text = r#"lockfileVersion: '9.0'
importers:
  .:
    dependencies:
      yes:
        specifier: ^1.0.0
        version: 1.0.0
      on:
        specifier: off
        version: 2.0.0
packages:
  yes@1.0.0:
    resolution: {integrity: sha512-AAAA}
  on@2.0.0:
    resolution: {integrity: sha512-BBBB}
snapshots:
  yes@1.0.0: {}
  on@2.0.0: {}
"#;
    let lf = Lockfile::from_str(text, Path::new("/p/pnpm-lock.yaml")).expect("reads");
    let deps = &lf.importers["."].dependencies;
    assert_eq!(deps["yes"].version, "1.0.0");
    assert_eq!(deps["on"].specifier, "off");
    assert!(lf.packages.contains_key("yes@1.0.0"));
}

#[test]
fn bom_crlf_and_env_document() {
    let plain = std::fs::read_to_string(fixture("workspace-features.yaml")).unwrap();
    let want = Lockfile::from_str(&plain, Path::new("x")).unwrap();
    let crlf = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
    assert_eq!(Lockfile::from_str(&crlf, Path::new("x")).unwrap(), want);
    let env = "---\nlockfileVersion: '9.0'\nimporters:\n  .:\n    configDependencies:\n      is-positive:\n        specifier: 1.0.0\n        version: 1.0.0\n\n---\n";
    let with_env = format!("{env}{plain}");
    assert_eq!(Lockfile::from_str(&with_env, Path::new("x")).unwrap(), want);
}

#[test]
fn broken_yaml_names_line_and_column() {
    let err = parse_err("lockfileVersion: '9.0'\nimporters:\n  .: [unclosed\n");
    assert_eq!(err.code(), "ERR_PNPM_BROKEN_LOCKFILE");
    let LockfileError::Broken { line, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*line >= 3, "{err}");
    assert!(err.to_string().contains("/p/pnpm-lock.yaml"), "{err}");
    assert!(err.to_string().contains("line"), "{err}");
}

#[test]
fn broken_yaml_after_env_document_counts_all_lines() {
    let text = "---\nlockfileVersion: '9.0'\n---\nlockfileVersion: '9.0'\nimporters: [\n";
    let LockfileError::Broken { line, .. } = parse_err(text) else {
        panic!()
    };
    assert!(line >= 5, "line {line}");
}

#[test]
fn wrong_shape_is_broken() {
    let err = parse_err("lockfileVersion: '9.0'\npackages:\n  a@1.0.0:\n    hasBin: true\n");
    assert_eq!(err.code(), "ERR_PNPM_BROKEN_LOCKFILE");
    assert!(err.to_string().contains("resolution"), "{err}");
}

#[test]
fn other_major_version_is_breaking_change() {
    for version in ["'6.0'", "'5.4'", "'10.0'"] {
        let err = parse_err(&format!("lockfileVersion: {version}\n"));
        assert_eq!(err.code(), "ERR_PNPM_BROKEN_LOCKFILE");
        assert!(
            err.to_string().contains(version.trim_matches('\'')),
            "{err}"
        );
    }
    assert!(Lockfile::from_str("lockfileVersion: 9.1\n", Path::new("x")).is_ok());
}

#[test]
fn v13_format_says_what_to_do() {
    let err = Lockfile::read_from_path(&fixture("v13-format.yaml")).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_LOCKFILE_FORMAT_V13");
    let message = err.to_string();
    assert!(message.contains("lockfile.format"), "{message}");
    assert!(message.contains("pnpm install"), "{message}");
}

#[test]
fn merge_conflict_is_reported() {
    let text = "lockfileVersion: '9.0'\nimporters:\n<<<<<<< HEAD\n  .: {}\n=======\n  .: {}\n>>>>>>> branch\n";
    let err = parse_err(text);
    assert_eq!(err.code(), "ERR_PNPM_BROKEN_LOCKFILE");
    let message = err.to_string();
    assert!(message.contains("merge conflict"), "{message}");
    assert!(message.contains("line 3"), "{message}");
    assert!(message.contains("pnpm install"), "{message}");
}

#[test]
fn hostile_input_is_refused() {
    let mut bomb = String::from("lockfileVersion: '9.0'\nx0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        bomb.push_str(&format!(
            "x{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    assert_eq!(parse_err(&bomb).code(), "ERR_PNPM_BROKEN_LOCKFILE");
    let deep = format!(
        "lockfileVersion: '9.0'\nx: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    assert_eq!(parse_err(&deep).code(), "ERR_PNPM_BROKEN_LOCKFILE");
}

#[test]
fn writes_real_lockfiles_byte_for_byte() {
    for name in [
        "workspace-features.yaml",
        "small.yaml",
        "medium.yaml",
        "git-and-legacy.yaml",
    ] {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let lockfile = Lockfile::from_str(&text, Path::new(name)).unwrap();
        let written = lockfile.to_yaml_string();
        if name == "git-and-legacy.yaml" {
            // Hand-written: pnpm 9's `{path, hash}` patch objects are migrated, so only check a
            // re-read.
            assert_eq!(
                Lockfile::from_str(&written, Path::new(name)).unwrap(),
                lockfile
            );
            continue;
        }
        if written != text {
            let line = written
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            panic!(
                "{name} differs at line {}:\n  wrote: {:?}\n  pnpm:  {:?}",
                line + 1,
                written.lines().nth(line),
                text.lines().nth(line)
            );
        }
    }
}

/// `bundledDependencies` as pnpm 12 writes it for a package that names what it bundles: a
/// block list under the key, whose names are strings even where YAML 1.1 reads a boolean
/// (`y`, `on`). tack refused such a lockfile as broken ("did not match any variant"); the
/// flow list and `true` still read.
#[test]
fn bundled_dependencies_read_as_a_block_list_a_flow_list_or_true() {
    use tack_lockfile::BundledDependencies;
    let lockfile = |value: &str| {
        format!(
            "lockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n      b:\n        \
             specifier: 1.0.0\n        version: 1.0.0\n\npackages:\n\n  b@1.0.0:\n    \
             resolution: {{integrity: sha512-abc}}\n    bundledDependencies:{value}\n\n\
             snapshots:\n\n  b@1.0.0: {{}}\n"
        )
    };
    for (value, expected) in [
        (
            "\n      - y\n      - on\n      - '@s/y'",
            BundledDependencies::Names(vec!["y".into(), "on".into(), "@s/y".into()]),
        ),
        (
            " [x, y]",
            BundledDependencies::Names(vec!["x".into(), "y".into()]),
        ),
        (" true", BundledDependencies::All(true)),
    ] {
        let parsed = Lockfile::from_str(&lockfile(value), Path::new("/p/pnpm-lock.yaml"))
            .unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert_eq!(
            parsed.packages["b@1.0.0"].bundled_dependencies,
            Some(expected),
            "{value:?}"
        );
    }
}
