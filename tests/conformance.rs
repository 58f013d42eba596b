//! Conformance with pnpm 12: each fixture project is resolved by real pnpm 12 against the test
//! registry, then installed by pnpm and by tack from the same lockfile; the two `node_modules`
//! trees must be equal path by path (type, symlink target, content hash, exec bit, hard-link
//! class), except for the documented allow-list in `tack_suite::conformance::ALLOW_LIST`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use tack_suite::conformance::{
    assert_basic_fixture_runs, assert_same_tree, publish, resolve_with_pnpm, resolved_project,
};
use tack_suite::project::{assert_success, TestProject};
use tack_suite::registry;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn basic_project_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    let tack = assert_same_tree(&reference, &[]);

    // Behaviour: the tree works for node and for a shim.
    assert_basic_fixture_runs(&tack);
}

#[test]
fn prod_only_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    assert_same_tree(&reference, &["--prod"]);
}

/// `--prod` over a project with only dev dependencies installs nothing, and pnpm 12 then
/// records no `.pnpm/lock.yaml` and makes no `.pnpm` (tack made both).
#[test]
fn prod_only_of_a_dev_only_project_makes_no_virtual_store_like_pnpm() {
    let registry = registry::start();
    let reference = tack_suite::conformance::resolved_project(
        r#"{"name": "dev-only", "version": "1.0.0", "devDependencies": {"is-odd": "^3.0.1"}}"#,
        &registry.url(),
    );
    let tack = assert_same_tree(&reference, &["--prod"]);
    assert!(!tack.dir().join("node_modules/.pnpm").exists());
    // And prints what pnpm 12 prints: no store context, no progress, "Already up to date".
    let outputs: Vec<Vec<String>> = ["pnpm", "tack"]
        .iter()
        .map(|tool| {
            let project = tack_suite::conformance::clone_inputs(&reference);
            let out = project.run_tool(tool, &["install", "--frozen-lockfile", "--prod"]);
            assert_success(&out, tool);
            tack_suite::conformance::comparable_output(&out.stdout)
        })
        .collect();
    assert_eq!(outputs[1], outputs[0], "tack's output, then pnpm's");
}

#[test]
fn no_optional_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    assert_same_tree(&reference, &["--no-optional"]);
}

#[test]
fn workspace_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    assert_same_tree(&reference, &[]);
}

#[test]
fn public_hoist_pattern_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("public-hoist"), &registry.url());
    assert_same_tree(&reference, &[]);
}

/// An explicit `shamefullyHoist: false` unsets `publicHoistPattern` in pnpm 12: what the
/// pattern names is hoisted privately, and `.modules.yaml` records no `publicHoistPattern`.
/// A pattern of one empty string is recorded as it is and matches nothing. (tack hoisted
/// `is-number` publicly with `shamefullyHoist: false`.)
#[test]
fn shamefully_hoist_false_unsets_the_public_hoist_pattern_like_pnpm() {
    let registry = registry::start();
    for setting in ["shamefullyHoist: false\n", "publicHoistPattern:\n  - ''\n"] {
        let project = TestProject::new();
        tack_suite::conformance::prepare(&project, &fixture("public-hoist"), &registry.url());
        if setting.starts_with("publicHoistPattern") {
            project.write(
                "pnpm-workspace.yaml",
                &format!("{setting}minimumReleaseAge: 0\n"),
            );
        } else {
            project.add_settings(setting);
        }
        project.lock_with_pnpm();
        let tack = assert_same_tree(&project, &[]);
        let root = tack.dir().join("node_modules");
        assert!(
            fs_err::symlink_metadata(root.join("is-number")).is_err(),
            "{setting}: is-number is hoisted publicly"
        );
        assert!(
            root.join(".pnpm/node_modules/is-number").exists(),
            "{setting}"
        );
        let modules = fs_err::read_to_string(root.join(".modules.yaml")).unwrap();
        assert_eq!(
            modules.contains("publicHoistPattern"),
            setting.starts_with("publicHoistPattern"),
            "{setting}: {modules}"
        );
    }
}

#[test]
fn workspace_filter_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    assert_same_tree(&reference, &["--filter", "a"]);
}

/// A filtered install over a modules directory made with other layout settings stops, as
/// pnpm 12 does, with pnpm's code for the setting, before anything is written: purging the
/// directory, as a full install does, would take the other projects' trees with it. Then a
/// full install recreates it.
#[test]
fn a_filtered_install_over_another_layout_is_refused_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    let changes = [
        ("nodeLinker: hoisted\n", "ERR_PNPM_NODE_LINKER_DIFF"),
        (
            "publicHoistPattern: ['*odd*']\n",
            "ERR_PNPM_PUBLIC_HOIST_PATTERN_DIFF",
        ),
        ("hoistPattern: ['nothing']\n", "ERR_PNPM_HOIST_PATTERN_DIFF"),
        (
            "virtualStoreDir: node_modules/.vs\n",
            "ERR_PNPM_UNEXPECTED_VIRTUAL_STORE",
        ),
        (
            "virtualStoreDirMaxLength: 60\n",
            "ERR_PNPM_VIRTUAL_STORE_DIR_MAX_LENGTH_DIFF",
        ),
    ];
    for (setting, code) in changes {
        for tool in ["pnpm", "tack"] {
            let project = tack_suite::conformance::clone_inputs(&reference);
            let full = ["install", "--frozen-lockfile", "--ignore-scripts"];
            assert_success(&project.run_tool(tool, &full), "the first install");
            project.add_settings(setting);
            let before = tack_suite::conformance::project_tree(&project);
            let filtered = [&full[..], &["--filter", "a"]].concat();
            let out = project.run_tool(tool, &filtered);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && stderr.contains(code),
                "{tool} with {setting:?}: {code} expected:\n{stderr}"
            );
            let after = tack_suite::conformance::project_tree(&project);
            let changed = tack_suite::tree::diff(&before, &after);
            assert!(
                changed.is_empty(),
                "{tool} with {setting:?} changed the tree:\n{}",
                changed.join("\n")
            );
            assert_success(&project.run_tool(tool, &full), "the full install after");
        }
    }
}

/// A filtered install over an earlier install leaves the projects it does not select as they
/// were, as pnpm 12 does: their packages stay in the virtual store though a prune is due
/// (`modulesCacheMaxAge: 0`), their hoisted links and `injectedDeps` stay, and
/// `.pnpm/lock.yaml` keeps their importers. When the lockfile has since dropped a dependency of
/// an unselected project, that project keeps it until it is installed again. tack used to
/// record only the selected projects and prune the packages the others link to.
#[test]
fn a_filtered_install_keeps_what_the_other_projects_use_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    reference.add_settings("modulesCacheMaxAge: 0\n");
    let filter_a: &[&str] = &["--filter", "a"];
    let filter_d: &[&str] = &["--filter", "d"];
    let drop_dependency: &[&str] = &["drop"];
    let runs: [&[&[&str]]; 4] = [
        &[filter_a, filter_d],
        &[&[], filter_d],
        &[&[], drop_dependency, filter_d],
        // Installed again as a whole, a drops it (and its emptied `.bin` directories stay).
        &[&[], drop_dependency, filter_d, &[]],
    ];
    for steps in runs {
        let by_tool = ["pnpm", "tack"].map(|tool| {
            let project = tack_suite::conformance::clone_inputs(&reference);
            for step in steps {
                if *step == drop_dependency {
                    // a no longer depends on tack-bin-string (only the lockfile is written).
                    let manifest = project.dir().join("packages/a/package.json");
                    let text = std::fs::read_to_string(&manifest).expect("read a's manifest");
                    let dropped = text.replace("\"tack-bin-string\": \"1.0.0\"", "");
                    let dropped = dropped.replace("\"^3.0.1\",", "\"^3.0.1\"");
                    assert_ne!(dropped, text, "a's manifest changed");
                    std::fs::write(&manifest, dropped).expect("write a's manifest");
                    project.lock_with_pnpm();
                    continue;
                }
                let mut args = vec!["install", "--frozen-lockfile", "--ignore-scripts"];
                args.extend_from_slice(step);
                let out = project.run_tool(tool, &args);
                assert_success(&out, &format!("{tool} install {step:?}"));
            }
            project
        });
        let [pnpm_project, tack_project] = &by_tool;
        let differences = tack_suite::tree::diff(
            &tack_suite::conformance::project_tree(pnpm_project),
            &tack_suite::conformance::project_tree(tack_project),
        );
        assert!(
            differences.is_empty(),
            "after {steps:?}, tack's tree differs from pnpm 12's:\n{}",
            differences.join("\n")
        );
        assert_eq!(
            tack_suite::conformance::normalized_modules_yaml(pnpm_project),
            tack_suite::conformance::normalized_modules_yaml(tack_project),
            "after {steps:?}, .modules.yaml differs"
        );
        // What the unselected project links to is there.
        if steps.last() != Some(&filter_d) {
            continue;
        }
        for link in ["c", "is-odd", "tack-bin-string"] {
            let path = tack_project
                .dir()
                .join("packages/a/node_modules")
                .join(link);
            assert!(
                path.join("package.json").exists(),
                "{path:?} after {steps:?}"
            );
        }
    }
}

/// `nodeVersion` in pnpm-workspace.yaml is the version `engines.node` is checked against:
/// an optional dependency that wants node 99 is skipped without it and installed with it,
/// by pnpm and by tack alike.
#[test]
fn node_version_setting_decides_engines_checks_like_pnpm() {
    let project = TestProject::new();
    project.write(
        "package.json",
        r#"{"name":"engines-app","version":"1.0.0","optionalDependencies":{"future":"file:./future"}}"#,
    );
    project.write(
        "future/package.json",
        r#"{"name":"future","version":"1.0.0","engines":{"node":">=99"}}"#,
    );
    for (workspace_yaml, installed) in [("", false), ("nodeVersion: 99.0.0\n", true)] {
        project.write("pnpm-workspace.yaml", workspace_yaml);
        let _ = fs_err::remove_dir_all(project.dir().join("node_modules"));
        assert_success(&project.pnpm(&["install"]), "pnpm install");
        let by_pnpm = project.dir().join("node_modules/future").exists();
        fs_err::remove_dir_all(project.dir().join("node_modules")).expect("clear");
        let out = project.tack(&["install", "--frozen-lockfile"]);
        assert_success(&out, "tack install");
        let by_tack = project.dir().join("node_modules/future").exists();
        assert_eq!(by_pnpm, installed, "pnpm with {workspace_yaml:?}");
        assert_eq!(by_tack, installed, "tack with {workspace_yaml:?}");
    }
}

/// A lockfile with a character YAML does not allow (a control, DEL, a C1 control, U+FFFE), a
/// byte-order mark where a value starts, a merge key without a mapping, or `.inf` where nothing
/// reads it, is refused by pnpm 12 and by tack alike:
/// `ERR_PNPM_BROKEN_LOCKFILE`, with the same message, line and column. (tack's fast lockfile reader
/// once read such text as if the character were any other, and could then write a `.pnpm/lock.yaml`
/// nothing reads.)
#[test]
fn unprintable_character_in_the_lockfile_is_broken_like_pnpm() {
    let project = TestProject::new();
    project.write(
        "package.json",
        r#"{"name":"unprintable","version":"1.0.0","dependencies":{"x":"1.0.0"}}"#,
    );
    let unexpected = |shown: &str| format!("unexpected character: `{shown}'");
    let lockfile = |raw: &str, tail: &str| {
        format!(
            "lockfileVersion: '9.0'\n\nsettings:\n  autoInstallPeers: true\n  \
             excludeLinksFromLockfile: false\n\nimporters:\n\n  .:\n    dependencies:\n      \
             x:\n        specifier: {raw}1.0.0\n        version: 1.0.0\n{tail}"
        )
    };
    for (text, message) in [
        (lockfile("\u{7f}", ""), unexpected(r"\u{7f}")),
        (lockfile("\u{0}a", ""), unexpected(r"\u{0}")),
        (lockfile("\u{9f}", ""), unexpected(r"\u{9f}")),
        (lockfile("\u{fffe}", ""), unexpected(r"\u{fffe}")),
        (lockfile("\u{1b}", ""), unexpected(r"\u{1b}")),
        // A byte-order mark where a token starts (inside a scalar, pnpm keeps it).
        (
            lockfile("\u{feff}", ""),
            "a BOM must not appear inside a document".to_string(),
        ),
        // A merge key without a mapping, even in a section neither tool reads (tack's fast
        // reader once took it).
        (
            lockfile("", "\nextra:\n  a:\n    <<: 2.0\n"),
            "YAML merge value must be mapping or sequence of mappings".to_string(),
        ),
        // A non-finite number where nothing reads it: pnpm 12 judges it all the same.
        (
            lockfile("", "\nextra:\n  a: [1, +.INF]\n"),
            "non-finite float `+.INF` rejected by the configured policy".to_string(),
        ),
    ] {
        let shown = &message;
        project.write("pnpm-lock.yaml", &text);
        let args = ["install", "--frozen-lockfile", "--offline"];
        let [by_pnpm, by_tack] = [project.pnpm(&args), project.tack(&args)].map(|out| {
            assert!(!out.status.success(), "{shown}: the install succeeded");
            // Both wrap long lines in a box; only the words matter.
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            text.split(|c: char| c.is_whitespace() || "│╰─▶×".contains(c))
                .filter(|word| !word.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        });
        for text in [&by_pnpm, &by_tack] {
            assert!(text.contains("ERR_PNPM_BROKEN_LOCKFILE"), "{shown}: {text}");
            assert!(text.contains(shown.as_str()), "{shown}: {text}");
        }
        // pnpm: "… (12:20)"; tack: "… (line 12, column 20)", once.
        let column = |text: &str, before: &str, after: &str| {
            let at = text.find(before).map(|i| i + before.len());
            at.and_then(|i| text[i..].split(after).next().map(str::to_string))
        };
        let pnpm_at = column(&by_pnpm, &format!("{shown} ("), ")");
        let tack_at = column(&by_tack, &format!("{shown} (line "), ")")
            .map(|at| at.replacen(", column ", ":", 1));
        assert_eq!(by_tack.matches("column").count(), 1, "{shown}: {by_tack}");
        assert!(pnpm_at.is_some(), "{shown}: {by_pnpm}");
        assert_eq!(tack_at, pnpm_at, "{shown}: pnpm {by_pnpm}\ntack {by_tack}");
    }
}

/// Characters js-yaml escapes (controls, DEL, C1 controls, no-break space, the separators,
/// the byte-order mark) in a lockfile pnpm 12 wrote: tack reads them, and writes
/// `node_modules/.pnpm/lock.yaml` byte for byte as pnpm 12 does (`\x1F`, `\e`, `\N`, `\_`,
/// `\uFEFF`, …), and links the same `node_modules/<name>` symlinks.
#[test]
fn escaped_characters_in_the_lockfile_are_written_back_like_pnpm() {
    let project = TestProject::new();
    let odd = [
        "\u{7}", "\u{8}", "\t", "\u{b}", "\u{c}", "\r", "\u{1b}", "\u{1f}", "\u{7f}", "\u{85}",
        "\u{9f}", "\u{a0}", "\u{2028}", "\u{feff}", "\u{fffe}", "\"\u{1}", "é",
    ];
    let mut deps = serde_json::Map::new();
    for (i, c) in odd.iter().enumerate() {
        let dir = format!("dep{c}{i}");
        project.write(
            &format!("{dir}/package.json"),
            &format!(r#"{{"name":"d{i}","version":"1.0.0"}}"#),
        );
        deps.insert(format!("d{i:02}"), format!("link:{dir}").into());
    }
    let manifest = serde_json::json!({"name": "escapes", "version": "1.0.0", "dependencies": deps});
    project.write("package.json", &manifest.to_string());
    project.lock_with_pnpm();
    let lockfile = fs_err::read(project.dir().join("pnpm-lock.yaml")).expect("pnpm's lockfile");
    assert!(
        String::from_utf8_lossy(&lockfile).contains(r"\x1F"),
        "pnpm escaped nothing: {}",
        String::from_utf8_lossy(&lockfile)
    );

    let args = ["install", "--frozen-lockfile", "--offline"];
    assert_success(&project.pnpm(&args), "pnpm install");
    let modules = project.dir().join("node_modules");
    let by_pnpm = fs_err::read(modules.join(".pnpm/lock.yaml")).expect("pnpm's lock.yaml");
    let links = |dir: &std::path::Path| {
        let mut links: Vec<_> = fs_err::read_dir(dir)
            .expect("node_modules")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.is_symlink())
            .map(|p| (p.clone(), fs_err::read_link(&p).expect("link")))
            .collect();
        links.sort();
        links
    };
    let pnpm_links = links(&modules);
    fs_err::rename(&modules, project.dir().join("node_modules.pnpm")).expect("move aside");

    assert_success(&project.tack(&args), "tack install");
    let by_tack = fs_err::read(modules.join(".pnpm/lock.yaml")).expect("tack's lock.yaml");
    assert_eq!(
        String::from_utf8_lossy(&by_tack),
        String::from_utf8_lossy(&by_pnpm)
    );
    assert_eq!(links(&modules), pnpm_links);
}

/// Multi-line deprecation messages (npm keeps them as published): pnpm 12 writes them as
/// literal blocks (`|-`, `|`, `|+`, `|2-` when the text starts with a space), and tack reads
/// that lockfile and writes `node_modules/.pnpm/lock.yaml` byte for byte as pnpm does (tack
/// once wrote every such value double-quoted).
#[test]
fn multi_line_deprecations_are_written_like_pnpm() {
    let registry = registry::start();
    let messages = [
        "line one\nline two",
        "ends with a line feed\n",
        "ends with two\n\n",
        " starts with a space\nsecond",
        "\n starts with a line feed and a space",
        "\nstarts with a line feed",
        "a blank line\n\ninside",
        "  \nthe first line only spaces",
        "trailing spaces   \n  indented\n\tand a tab\n",
        "'quotes' \"and\" # : \\ and é\nx",
    ];
    let mut deps = serde_json::Map::new();
    for (i, message) in messages.iter().enumerate() {
        let name = format!("tack-deprecated-{i}");
        registry.add_package(
            tack_test_registry::PackageDef::new(name.as_str(), "1.0.0")
                .field("deprecated", serde_json::json!(message))
                .file("index.js", b"module.exports = 1;\n".to_vec(), 0o644),
        );
        deps.insert(name, "1.0.0".into());
    }
    let project = TestProject::new();
    let manifest =
        serde_json::json!({"name": "deprecations", "version": "1.0.0", "dependencies": deps});
    project.write("package.json", &manifest.to_string());
    project.write(".npmrc", &format!("registry={}\n", registry.url()));
    project.write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    let lockfile = fs_err::read_to_string(project.dir().join("pnpm-lock.yaml")).expect("lockfile");
    for header in [
        "deprecated: |-\n",
        "deprecated: |\n",
        "deprecated: |+\n",
        "deprecated: |2-\n",
    ] {
        assert!(
            lockfile.contains(header),
            "pnpm wrote no {header:?}:\n{lockfile}"
        );
    }
    assert_same_tree(&project, &[]);
}

/// A package skipped for its platform takes down with it the packages only it depends on:
/// pnpm 12 installs none of them and lists every one in `.modules.yaml#skipped`, sorted, but not
/// a package something installed also needs. (tack listed only the incompatible package itself,
/// in the order it met it.)
#[test]
fn packages_below_a_skipped_one_are_listed_as_skipped_like_pnpm() {
    let registry = registry::start();
    registry.add_package(
        tack_test_registry::PackageDef::new("tack-darwin-parent", "1.0.0")
            .field("os", serde_json::json!(["darwin"]))
            .field(
                "dependencies",
                serde_json::json!({"is-odd": "3.0.1", "tack-below-skipped": "1.0.0"}),
            )
            .file("index.js", b"module.exports = 1;\n".to_vec(), 0o644),
    );
    registry.add_package(
        tack_test_registry::PackageDef::new("tack-below-skipped", "1.0.0")
            .field(
                "dependencies",
                serde_json::json!({"tack-bin-string": "1.0.0"}),
            )
            .file("index.js", b"module.exports = 2;\n".to_vec(), 0o644),
    );
    let project = resolved_project(
        r#"{"name":"below-skipped","version":"1.0.0","dependencies":{"is-number":"6.0.0"},"optionalDependencies":{"tack-darwin-parent":"1.0.0","only-darwin":"1.0.0"}}"#,
        &registry.url(),
    );
    let tack = assert_same_tree(&project, &[]);
    let modules = tack_suite::conformance::normalized_modules_yaml(&tack);
    assert_eq!(
        modules["skipped"],
        serde_json::json!([
            "is-odd@3.0.1",
            "only-darwin@1.0.0",
            "tack-below-skipped@1.0.0",
            "tack-bin-string@1.0.0",
            "tack-darwin-parent@1.0.0"
        ]),
        "is-number@6.0.0 is a direct dependency, so it is installed and not listed"
    );
}

/// A package that ships its dependencies (`bundledDependencies`) gets their bins in its own
/// `node_modules/.bin`, beside its own and its children's, as pnpm 12 links them: `npm` has a
/// dozen. A bundled package's `node_modules` sits first on its shims' `NODE_PATH`, then the
/// bundling package's `node_modules`. (tack linked none of them.) The tree comparison covers
/// the shims' text and the exec bit pnpm sets on their targets.
#[test]
fn bins_of_bundled_dependencies_are_linked_like_pnpm() {
    let registry = registry::start();
    publish_bundler(&registry);
    let project = resolved_project(
        r#"{"name":"bundles","version":"1.0.0","dependencies":{"tack-bundler":"1.0.0"}}"#,
        &registry.url(),
    );
    let tack = assert_same_tree(&project, &[]);
    let bin_dir = tack
        .dir()
        .join("node_modules/.pnpm/tack-bundler@1.0.0/node_modules/tack-bundler/node_modules/.bin");
    let names = sorted_names(&bin_dir);
    // Every package in the bundling package's `node_modules`, named in `bundledDependencies`
    // or not, beside its own bin and its child's.
    assert_eq!(
        names,
        [
            "not-declared",
            "scoped",
            "tack-a-bundled-tool",
            "tack-bin-map",
            "tack-bundler",
            "tack-shared-cmd"
        ]
    );
    // One conflict rule over bundled packages and children alike: the smaller package name.
    let shim = fs_err::read_to_string(bin_dir.join("tack-shared-cmd")).expect("shim");
    assert!(
        shim.ends_with("# cmd-shim-target=../tack-a-bundled-tool/tool.js\n"),
        "{shim}"
    );
}

/// The names in directory `dir`, sorted.
fn sorted_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `tack-bundler`, which ships two of its dependencies and a package it does not declare in
/// its own `node_modules`, each with bins (see the tests that use it).
fn publish_bundler(registry: &tack_test_registry::TestRegistry) {
    let script = b"#!/usr/bin/env node\nconsole.log('bundled')\n".to_vec();
    registry.add_package(
        tack_test_registry::PackageDef::new("tack-bundler", "1.0.0")
            .field("bin", serde_json::json!({"tack-bundler": "cli.js"}))
            .field(
                "dependencies",
                serde_json::json!({
                    "tack-a-bundled-tool": "1.0.0",
                    "@tack-bundled/scoped": "1.0.0",
                    "tack-bin-map": "1.0.0"
                }),
            )
            .field(
                "bundledDependencies",
                serde_json::json!(["tack-a-bundled-tool", "@tack-bundled/scoped"]),
            )
            .file("cli.js", script.clone(), 0o755)
            .file(
                "node_modules/tack-a-bundled-tool/package.json",
                br#"{"name":"tack-a-bundled-tool","version":"1.0.0","bin":{"tack-a-bundled-tool":"tool.js","tack-shared-cmd":"tool.js"}}"#.to_vec(),
                0o644,
            )
            .file("node_modules/tack-a-bundled-tool/tool.js", script.clone(), 0o644)
            .file(
                "node_modules/@tack-bundled/scoped/package.json",
                br#"{"name":"@tack-bundled/scoped","version":"1.0.0","bin":"run.js"}"#.to_vec(),
                0o644,
            )
            .file("node_modules/@tack-bundled/scoped/run.js", script.clone(), 0o644)
            .file(
                "node_modules/not-declared/package.json",
                br#"{"name":"not-declared","version":"1.0.0","bin":"x.js"}"#.to_vec(),
                0o644,
            )
            .file("node_modules/not-declared/x.js", script, 0o644),
    );
}

/// In the hoisted layout, what a package ships in its own `node_modules` has its bins in that
/// directory's `.bin` as well, as pnpm 12 links them (tack linked none there).
#[test]
fn bins_of_bundled_dependencies_are_linked_in_the_hoisted_layout_like_pnpm() {
    let registry = registry::start();
    publish_bundler(&registry);
    let project = resolved_project(
        r#"{"name":"bundles","version":"1.0.0","dependencies":{"tack-bundler":"1.0.0"}}"#,
        &registry.url(),
    );
    project.add_settings("nodeLinker: hoisted\n");
    let tack = assert_same_tree(&project, &[]);
    let bin_dir = tack
        .dir()
        .join("node_modules/tack-bundler/node_modules/.bin");
    let names = sorted_names(&bin_dir);
    assert_eq!(
        names,
        [
            "not-declared",
            "scoped",
            "tack-a-bundled-tool",
            "tack-shared-cmd"
        ]
    );
}

/// The peers a direct dependency was resolved with have their bins in the project's `.bin`
/// (pnpm 12 installs a missing required peer, such as `storybook` for `@storybook/react`, and
/// links its bins there), after the direct dependencies' own. Not an optional peer, a peer of
/// a peer, a peer of a deeper package, or a plain child. (tack linked only the direct
/// dependencies' bins.)
#[test]
fn bins_of_the_peers_of_direct_dependencies_are_linked_like_pnpm() {
    let registry = registry::start();
    let package = |name: &str, fields: serde_json::Value| {
        tack_suite::conformance::publish_with_file(
            &registry,
            name,
            "1.0.0",
            fields,
            (
                "cli.js",
                b"#!/usr/bin/env node\nconsole.log('tool')\n",
                0o755,
            ),
        )
    };
    use serde_json::json;
    package(
        "tack-peer-tool",
        json!({"bin": {"tack-peer-tool": "cli.js", "tack-same-bin": "cli.js"},
               "peerDependencies": {"tack-peer-of-peer": "^1.0.0"}}),
    );
    package("tack-peer-of-peer", json!({"bin": "cli.js"}));
    package(
        "tack-peer-user",
        json!({"peerDependencies": {"tack-peer-tool": "^1.0.0"},
               "dependencies": {"tack-bin-string": "1.0.0"}}),
    );
    package("tack-opt-peer-tool", json!({"bin": "cli.js"}));
    package(
        "tack-opt-peer-user",
        json!({"peerDependencies": {"tack-opt-peer-tool": "^1.0.0"},
               "peerDependenciesMeta": {"tack-opt-peer-tool": {"optional": true}}}),
    );
    package(
        "tack-opt-provider",
        json!({"dependencies": {"tack-opt-peer-tool": "1.0.0"}}),
    );
    package("tack-deep-peer-tool", json!({"bin": "cli.js"}));
    package(
        "tack-deep-peer-user",
        json!({"peerDependencies": {"tack-deep-peer-tool": "^1.0.0"}}),
    );
    package(
        "tack-deep-parent",
        json!({"dependencies": {"tack-deep-peer-user": "1.0.0"}}),
    );
    package(
        "zz-tack-direct",
        json!({"bin": {"tack-same-bin": "cli.js"}}),
    );
    let project = resolved_project(
        &json!({"name": "peers", "version": "1.0.0", "dependencies": {
            "tack-peer-user": "1.0.0", "tack-opt-peer-user": "1.0.0", "tack-opt-provider": "1.0.0",
            "tack-deep-parent": "1.0.0"
        }, "devDependencies": {"zz-tack-direct": "1.0.0"}})
        .to_string(),
        &registry.url(),
    );
    let tack = assert_same_tree(&project, &[]);
    let bin_dir = tack.dir().join("node_modules/.bin");
    let mut names: Vec<String> = fs_err::read_dir(&bin_dir)
        .expect("the project's .bin")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["tack-peer-tool", "tack-same-bin"]);
    // A direct dependency's bin beats a peer's of the same name, though the peer's package name
    // is the smaller one.
    let shim = fs_err::read_to_string(bin_dir.join("tack-same-bin")).expect("shim");
    assert!(
        shim.ends_with(
            "# cmd-shim-target=../.pnpm/zz-tack-direct@1.0.0/node_modules/zz-tack-direct/cli.js\n"
        ),
        "{shim}"
    );
}

/// Under `excludeLinksFromLockfile: true` the lockfile has no `link:` dependencies, and pnpm 12
/// links them from the projects' `package.json` (the root's and a workspace project's), with
/// their bins, and lists them as the manifest spells them (`+ foo <- ./foo`). (tack read only
/// the lockfile and linked neither.)
#[test]
fn links_left_out_of_the_lockfile_are_linked_from_the_manifests_like_pnpm() {
    let registry = registry::start();
    use serde_json::json;
    let project = TestProject::new();
    let tool =
        |name: &str| json!({"name": name, "version": "1.0.0", "bin": {name: "cli.js"}}).to_string();
    project
        .write(
            "package.json",
            &json!({"name": "root", "version": "1.0.0", "private": true,
                    "dependencies": {"foo": "link:./foo", "is-odd": "3.0.1"}})
            .to_string(),
        )
        .write("foo/package.json", &tool("foo"))
        .write("foo/cli.js", "#!/usr/bin/env node\nconsole.log('foo')\n")
        .write(
            "tools/package.json",
            &json!({"name": "tools", "version": "1.0.0",
                    "devDependencies": {"sub": "link:./sub"}})
            .to_string(),
        )
        .write("tools/sub/package.json", &tool("sub"))
        .write(
            "tools/sub/cli.js",
            "#!/usr/bin/env node\nconsole.log('sub')\n",
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\npackages:\n  - tools\nexcludeLinksFromLockfile: true\n",
        );
    project.lock_with_pnpm();
    let lockfile = fs_err::read_to_string(project.dir().join("pnpm-lock.yaml")).unwrap();
    assert!(!lockfile.contains("link:"), "{lockfile}");
    let tack = assert_same_tree(&project, &[]);
    for link in [
        "node_modules/foo",
        "node_modules/.bin/foo",
        "tools/node_modules/.bin/sub",
    ] {
        assert!(tack.dir().join(link).exists(), "{link} is missing");
    }
    let [pnpm_lines, tack_lines] = ["pnpm", "tack"].map(|tool| {
        let copy = tack_suite::conformance::clone_inputs(&project);
        let out = copy.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        tack_suite::conformance::comparable_output(&out.stdout)
    });
    assert_eq!(tack_lines, pnpm_lines, "tack's output, then pnpm's");
    assert!(
        pnpm_lines.contains(&"+ foo <- ./foo".to_string()),
        "{pnpm_lines:?}"
    );
}

/// The bins of a peer go into the project's `.bin` only under `autoInstallPeers: true`: with it
/// off, pnpm 12 gives a project whose dependency took its peer from the workspace root only
/// its direct dependencies' bins. (tack linked the peer's bins either way; found on `ts-node`
/// with `typescript` at the root.)
#[test]
fn bins_of_peers_follow_auto_install_peers_like_pnpm() {
    let registry = registry::start();
    use serde_json::json;
    tack_suite::conformance::publish_with_file(
        &registry,
        "tack-wpeer-tool",
        "1.0.0",
        json!({"bin": {"tack-wpeer-tool": "cli.js"}}),
        (
            "cli.js",
            b"#!/usr/bin/env node\nconsole.log('tool')\n",
            0o755,
        ),
    );
    publish(
        &registry,
        "tack-wpeer-user",
        "1.0.0",
        json!({"peerDependencies": {"tack-wpeer-tool": "^1.0.0"}}),
    );
    for auto in [false, true] {
        let project = TestProject::new();
        project
            .write(
                "package.json",
                &json!({"name": "root", "version": "1.0.0", "private": true,
                        "devDependencies": {"tack-wpeer-tool": "1.0.0"}})
                .to_string(),
            )
            .write(
                "packages/b/package.json",
                &json!({"name": "b", "version": "1.0.0",
                        "dependencies": {"tack-wpeer-user": "1.0.0"}})
                .to_string(),
            )
            .write(".npmrc", &format!("registry={}\n", registry.url()))
            .write(
                "pnpm-workspace.yaml",
                &format!(
                    "minimumReleaseAge: 0\npackages:\n  - packages/*\nautoInstallPeers: {auto}\n"
                ),
            );
        project.lock_with_pnpm();
        let tack = assert_same_tree(&project, &[]);
        let shim = tack
            .dir()
            .join("packages/b/node_modules/.bin/tack-wpeer-tool");
        assert_eq!(shim.exists(), auto, "autoInstallPeers: {auto}");
    }
}

/// pnpm sorts the keys of every map in a `packages` or `snapshots` entry, at any depth, with
/// its field names first (`resolution`, …, `os`, …, `deprecated`, …), and in an importer its
/// top-level section names (`settings`, `packages`, …): so a dependency named `deprecated` or
/// `os` comes before `aaa`. tack's `.pnpm/lock.yaml` must hold them in that order too (it sorted
/// them by name only; found on `gulp@3`, which depends on a package named `deprecated`).
#[test]
fn dependencies_named_like_lockfile_fields_are_sorted_like_pnpm() {
    let registry = registry::start();
    let plain = |name: &str| publish(&registry, name, "1.0.0", serde_json::json!({}));
    for name in [
        "deprecated",
        "os",
        "version",
        "resolution",
        "settings",
        "packages",
        "aaa-dep",
        "zzz-dep",
        "optional",
        "cpu",
        "engines",
        "importers",
        "snapshots",
        "name",
    ] {
        plain(name);
    }
    use serde_json::json;
    registry.add_package(
        tack_test_registry::PackageDef::new("tack-key-holder", "1.0.0")
            .field(
                "dependencies",
                json!({"aaa-dep": "1.0.0", "os": "1.0.0", "deprecated": "1.0.0",
                       "resolution": "1.0.0", "version": "1.0.0", "bundled-x": "1.0.0"}),
            )
            .field(
                "optionalDependencies",
                json!({"optional": "1.0.0", "aaa-dep": "1.0.0"}),
            )
            .field(
                "peerDependencies",
                json!({"zzz-dep": "*", "os": "*", "aaa-dep": "*", "deprecated": "*",
                       "packages": "*"}),
            )
            .field(
                "peerDependenciesMeta",
                json!({"zzz-dep": {"optional": true}, "deprecated": {"optional": true},
                       "os": {"optional": true}, "packages": {"optional": true}}),
            )
            .field("bundledDependencies", json!(["bundled-x"]))
            .field("engines", json!({"npm": ">=1", "node": ">=1"}))
            .file("index.js", b"module.exports = 2;\n".to_vec(), 0o644)
            .file(
                "node_modules/bundled-x/package.json",
                br#"{"name":"bundled-x","version":"1.0.0"}"#.to_vec(),
                0o644,
            ),
    );
    let project = resolved_project(
        &json!({"name": "keys", "version": "1.0.0", "dependencies": {
            "aaa-dep": "1.0.0", "settings": "1.0.0", "packages": "1.0.0", "os": "1.0.0",
            "zzz-dep": "1.0.0", "tack-key-holder": "1.0.0", "deprecated": "1.0.0",
            "cpu": "1.0.0", "engines": "1.0.0", "resolution": "1.0.0", "importers": "1.0.0",
            "snapshots": "1.0.0", "name": "1.0.0", "version": "1.0.0"
        }, "dependenciesMeta": {"os": {"injected": true}, "packages": {"injected": true},
                                "aaa-dep": {"injected": true}}})
        .to_string(),
        &registry.url(),
    );
    let lockfile = fs_err::read_to_string(project.dir().join("pnpm-lock.yaml")).expect("lockfile");
    for shape in [
        "    dependencies:\n      settings:\n",
        "      packages:\n\n        specifier: 1.0.0\n\n        version: 1.0.0\n",
        "      os: {specifier: 1.0.0, version: 1.0.0}\n",
        "      resolution: 1.0.0\n      version: 1.0.0\n    optionalDependencies:\n      os: 1.0.0\n      deprecated: 1.0.0\n      optional: 1.0.0\n      aaa-dep: 1.0.0\n",
        "      os: {optional: true}\n",
        "      packages:\n\n        optional: true\n",
        "    bundledDependencies:\n      - bundled-x\n",
    ] {
        assert!(
            lockfile.contains(shape),
            "pnpm wrote no {shape:?}:\n{lockfile}"
        );
    }
    // The tree comparison holds `.pnpm/lock.yaml` byte for byte.
    assert_same_tree(&project, &[]);
}

/// Which version a hoisted alias gets follows pnpm's lockfile walk, not breadth-first depth:
/// the walk goes to the end of the first direct dependency's subtree before the second's, so
/// a package it meets deep there (`m`, four levels down) keeps that depth though the second
/// direct dependency reaches it two levels down. Here `m` offers `x@1` and `a3`, at depth
/// three, offers `x@2`: pnpm hoists `x@2`. (tack hoisted `x@1`; found on a large app where
/// `color-convert` and `is-fullwidth-code-point` were hoisted at other versions than pnpm's.)
#[test]
fn hoisting_follows_pnpm_lockfile_walk_like_pnpm() {
    let registry = registry::start();
    let package = |name: &str, version: &str, deps: serde_json::Value| {
        publish(
            &registry,
            name,
            version,
            serde_json::json!({ "dependencies": deps }),
        )
    };
    use serde_json::json;
    package("tack-hw-a", "1.0.0", json!({"tack-hw-a1": "1.0.0"}));
    package("tack-hw-a1", "1.0.0", json!({"tack-hw-a2": "1.0.0"}));
    package("tack-hw-a2", "1.0.0", json!({"tack-hw-a3": "1.0.0"}));
    package(
        "tack-hw-a3",
        "1.0.0",
        json!({"tack-hw-m": "1.0.0", "tack-hw-x": "2.0.0"}),
    );
    package("tack-hw-b", "1.0.0", json!({"tack-hw-b1": "1.0.0"}));
    package("tack-hw-b1", "1.0.0", json!({"tack-hw-m": "1.0.0"}));
    package("tack-hw-m", "1.0.0", json!({"tack-hw-x": "1.0.0"}));
    package("tack-hw-x", "1.0.0", json!({}));
    package("tack-hw-x", "2.0.0", json!({}));
    let project = resolved_project(
        r#"{"name":"hoist-walk","version":"1.0.0","dependencies":{"tack-hw-a":"1.0.0","tack-hw-b":"1.0.0"}}"#,
        &registry.url(),
    );
    let tack = assert_same_tree(&project, &[]);
    let hoisted = tack.dir().join("node_modules/.pnpm/node_modules/tack-hw-x");
    assert_eq!(
        fs_err::read_link(&hoisted).expect("hoisted link"),
        std::path::Path::new("../tack-hw-x@2.0.0/node_modules/tack-hw-x")
    );
}

/// `--dev` installs the devDependencies and what they need, optional dependencies included,
/// but not the project's own `optionalDependencies`: pnpm 12 counts those as production
/// dependencies, though `.modules.yaml` still records optional dependencies as included.
/// (tack installed them.)
#[test]
fn dev_only_leaves_out_the_project_optional_dependencies_like_pnpm() {
    let registry = registry::start();
    let package = |name: &str, fields: serde_json::Value| publish(&registry, name, "1.0.0", fields);
    use serde_json::json;
    package("tack-prod-dep", json!({}));
    package(
        "tack-dev-dep",
        json!({"optionalDependencies": {"tack-dev-optional": "1.0.0"}}),
    );
    package("tack-dev-optional", json!({}));
    package("tack-project-optional", json!({"bin": "index.js"}));
    let project = resolved_project(
        &json!({"name": "dev-only", "version": "1.0.0",
            "dependencies": {"tack-prod-dep": "1.0.0"},
            "devDependencies": {"tack-dev-dep": "1.0.0"},
            "optionalDependencies": {"tack-project-optional": "1.0.0", "only-darwin": "1.0.0"}})
        .to_string(),
        &registry.url(),
    );
    let tack = assert_same_tree(&project, &["--dev"]);
    let modules = tack.dir().join("node_modules");
    assert!(modules.join("tack-dev-dep").exists());
    assert!(modules
        .join(".pnpm/tack-dev-optional@1.0.0/node_modules/tack-dev-optional")
        .exists());
    assert!(!modules.join("tack-project-optional").exists());
    assert!(!modules.join("tack-prod-dep").exists());
}

/// With `--no-optional`, a package's optional dependency that another package installs is not
/// linked into it, but pnpm 12 still writes its bins into the package's `.bin`, each shim aimed
/// at the missing link (`../../../<alias>/<bin>`). tack writes the same shims, so that the two
/// trees stay equal. (tack wrote none.)
#[test]
fn no_optional_keeps_pnpm_shims_for_unlinked_optional_dependencies() {
    let registry = registry::start();
    use serde_json::json;
    registry.add_package(
        tack_test_registry::PackageDef::new("tack-opt-user", "1.0.0")
            .field(
                "optionalDependencies",
                json!({"tack-bin-string": "1.0.0", "tack-bin-map": "1.0.0"}),
            )
            .file("index.js", b"module.exports = 1;\n".to_vec(), 0o644),
    );
    let project = resolved_project(
        r#"{"name":"no-opt","version":"1.0.0","dependencies":{"tack-opt-user":"1.0.0","tack-bin-string":"1.0.0"}}"#,
        &registry.url(),
    );
    let tack = assert_same_tree(&project, &["--no-optional"]);
    let slot = tack
        .dir()
        .join("node_modules/.pnpm/tack-opt-user@1.0.0/node_modules");
    assert!(fs_err::symlink_metadata(slot.join("tack-bin-string")).is_err());
    let shim = fs_err::read_to_string(slot.join("tack-opt-user/node_modules/.bin/tack-bin-string"))
        .expect("the shim pnpm writes");
    assert!(
        shim.ends_with("# cmd-shim-target=../../../tack-bin-string/cli.js\n"),
        "{shim}"
    );
    // tack-bin-map is not installed at all: no shim.
    assert!(!slot
        .join("tack-opt-user/node_modules/.bin/tack-bin-map")
        .exists());
    // A re-install over the tree (a reused slot: the bins are checked after the imports, not
    // as they complete) writes the same shim again.
    let shim_path = slot.join("tack-opt-user/node_modules/.bin/tack-bin-string");
    fs_err::remove_file(&shim_path).unwrap();
    // A manifest that changes no dependency: the install goes past its no-op gate (which
    // takes a file written again with the same content for unchanged).
    let mut manifest = fs_err::read(tack.dir().join("package.json")).unwrap();
    manifest.push(b'\n');
    fs_err::write(tack.dir().join("package.json"), manifest).unwrap();
    assert_success(
        &tack.tack(&[
            "install",
            "--frozen-lockfile",
            "--ignore-scripts",
            "--no-optional",
        ]),
        "tack re-install",
    );
    assert_eq!(fs_err::read_to_string(&shim_path).unwrap(), shim);
}

/// With `injectWorkspacePackages: true` and `dedupeInjectedDeps: false` the lockfile gives a
/// workspace dependency as its
/// injected copy (`b@file:packages/b`), and pnpm 12 hoists that copy, which a project's direct
/// dependency offers before the workspace project itself is offered. (tack hoisted the project
/// directory; found on a turbo-style workspace.)
#[test]
fn injected_workspace_packages_are_hoisted_as_their_copies_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    tack_suite::conformance::prepare(&project, &fixture("workspace"), &registry.url());
    project.add_settings("injectWorkspacePackages: true\ndedupeInjectedDeps: false\n");
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let hoisted = fs_err::read_link(tack.dir().join("node_modules/.pnpm/node_modules/b")).unwrap();
    assert!(
        hoisted
            .to_string_lossy()
            .starts_with("../b@file+packages+b"),
        "{}",
        hoisted.display()
    );
}

/// pnpm 12 keeps the workspace state in `<root>/node_modules` whatever `modulesDir` says; the
/// rest of the tree goes into the configured directory, and the project's `.bin` shims put that
/// directory first on `NODE_PATH` (Node searches only directories named `node_modules`). (tack
/// wrote the state into the configured directory and left it off `NODE_PATH`.)
#[test]
fn a_custom_modules_dir_leaves_the_workspace_state_in_node_modules_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    reference.add_settings("modulesDir: nm_custom\n");
    let mut trees = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let args = ["install", "--frozen-lockfile", "--ignore-scripts"];
        let out = project.run_tool(tool, &args);
        assert_success(&out, tool);
        assert!(
            project
                .dir()
                .join("node_modules/.pnpm-workspace-state-v1.json")
                .is_file(),
            "{tool} wrote no node_modules/.pnpm-workspace-state-v1.json"
        );
        trees.push(tack_suite::tree::snapshot(
            &project.dir().join("nm_custom"),
            &|rel: &str| rel == ".modules.yaml" || rel == ".pnpm/.tack-markers",
        ));
    }
    let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// A workspace state file that cannot be written (a directory in its place) fails no install:
/// pnpm 12 warns, in the words checked here, and completes it. (tack failed the install, and
/// had taken back its links.) The next install, the directory gone, finds no workspace state:
/// pnpm 12 then says "Already up to date" and lists the optional dependency it skips (tack
/// said only that the lockfile was up to date).
#[test]
fn a_workspace_state_that_cannot_be_written_is_a_warning_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    let mut outputs = Vec::new();
    let mut projects = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let state = project
            .dir()
            .join("node_modules/.pnpm-workspace-state-v1.json");
        fs_err::create_dir_all(state.join("in-the-way")).unwrap();
        let args = ["install", "--frozen-lockfile", "--ignore-scripts"];
        let out = project.run_tool(tool, &args);
        assert_success(&out, tool);
        let stdout = String::from_utf8_lossy(&out.stdout)
            .replace(&project.dir().display().to_string(), "<project>");
        outputs.push(tack_suite::conformance::comparable_output(
            stdout.as_bytes(),
        ));
        fs_err::remove_dir_all(&state).unwrap();
        let again = project.run_tool(tool, &args);
        assert_success(&again, tool);
        outputs.push(tack_suite::conformance::comparable_output(&again.stdout));
        projects.push(project);
    }
    let warning = "[WARN] Failed to write the workspace state: Failed to write \
                   \"<project>/node_modules/.pnpm-workspace-state-v1.json\": Is a directory \
                   (os error 21)";
    assert!(
        outputs[0].iter().any(|line| line == warning),
        "pnpm 12 warns: {:#?}",
        outputs[0]
    );
    assert_eq!(
        outputs[0], outputs[2],
        "the install with the file in the way"
    );
    assert_eq!(outputs[1], outputs[3], "the install after it");
    let differences = tack_suite::tree::diff(
        &tack_suite::conformance::project_tree(&projects[0]),
        &tack_suite::conformance::project_tree(&projects[1]),
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// With `hoist: false` pnpm 12 writes its shims without any `NODE_PATH`, not even the
/// package's own directories: it adds them only along with a directory to add (the hidden
/// hoisting directory, or a renamed modules directory). (tack kept the package's own.)
#[test]
fn shims_set_no_node_path_when_nothing_is_hoisted_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    reference.add_settings("hoist: false\n");
    let tack = assert_same_tree(&reference, &[]);
    let shim = fs_err::read_to_string(
        tack.dir()
            .join("packages/a/node_modules/.bin/tack-bin-string"),
    )
    .unwrap();
    assert!(!shim.contains("NODE_PATH"), "{shim}");
}

/// A workspace project reached through an injected package's `link:` dependency is not hoisted
/// by pnpm 12, and does not take its name from a registry package hoisted after it; with
/// `hoistWorkspacePackages: false` nothing hoists the project. (tack hoisted the project.)
#[test]
fn workspace_projects_behind_injected_packages_are_not_hoisted_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write("package.json", r#"{"name": "root", "private": true}"#)
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\nhoistWorkspacePackages: false\n",
        )
        .write(
            "packages/app/package.json",
            r#"{"name": "app", "version": "1.0.0",
                "dependencies": {"aaa-ui": "workspace:*", "is-odd": "^3.0.1"},
                "dependenciesMeta": {"aaa-ui": {"injected": true}}}"#,
        )
        .write(
            "packages/aaa-ui/package.json",
            r#"{"name": "aaa-ui", "version": "1.0.0", "dependencies": {"is-number": "workspace:*"}}"#,
        )
        .write(
            "packages/is-number/package.json",
            r#"{"name": "is-number", "version": "99.0.0"}"#,
        );
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let hoisted =
        fs_err::read_link(tack.dir().join("node_modules/.pnpm/node_modules/is-number")).unwrap();
    assert!(
        hoisted.to_string_lossy().starts_with("../is-number@"),
        "{}",
        hoisted.display()
    );
}

/// pnpm 12 reserves the names of the root's dependencies on packages, not of its `link:` ones:
/// a workspace project the root depends on is still hoisted into `.pnpm/node_modules`, while
/// the root's registry dependency is not. (tack reserved both, and left the project out.)
#[test]
fn a_workspace_project_the_root_depends_on_is_hoisted_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "root", "private": true,
                "dependencies": {"app": "workspace:*", "is-odd": "^3.0.1"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        )
        .write(
            "packages/app/package.json",
            r#"{"name": "app", "version": "1.0.0", "dependencies": {"lib": "workspace:*"}}"#,
        )
        .write(
            "packages/lib/package.json",
            r#"{"name": "lib", "version": "1.0.0"}"#,
        );
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let hidden = tack.dir().join("node_modules/.pnpm/node_modules");
    assert_eq!(
        fs_err::read_link(hidden.join("app")).unwrap(),
        std::path::Path::new("../../../packages/app")
    );
    assert!(!hidden.join("is-odd").exists());
}

/// Bin shims as pnpm 12 writes them where tack differed: a shebang's program keeps its path
/// and its arguments their leading blank (`#!/bin/sh -e`); a target that does not exist yet
/// (a build would make it) still gets its shim in the projects' and the dependents' `.bin`,
/// not in the package's own; a workspace project's bin target keeps its mode; and an injected
/// copy's `link:` child gets no shim in the copy's `.bin`. (tack wrote `sh`, skipped missing
/// targets with a warning, chmodded the project's file and linked the child's bin.)
#[test]
fn bins_of_missing_targets_and_absolute_interpreters_are_linked_like_pnpm() {
    use std::os::unix::fs::PermissionsExt;
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write(
            "package.json",
            r#"{"name": "root", "private": true,
                "dependencies": {"tool": "workspace:*", "tack-bin-missing-user": "1.0.0",
                                 "tack-bin-missing": "1.0.0"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        )
        .write(
            "packages/tool/package.json",
            r#"{"name": "tool", "version": "1.0.0",
                "bin": {"tool-sh": "./t.sh", "tool-py": "./p.py", "tool-gone": "./dist/gone.js"}}"#,
        )
        .write("packages/tool/t.sh", "#!/bin/sh -e\necho tool\n")
        .write(
            "packages/tool/p.py",
            "#!/usr/bin/env -S python3 -u\nprint(1)\n",
        )
        .write(
            "packages/lib/package.json",
            r#"{"name": "lib", "version": "1.0.0", "dependencies": {"tool": "workspace:*"}}"#,
        )
        .write(
            "packages/app/package.json",
            r#"{"name": "app", "version": "1.0.0", "dependencies": {"lib": "workspace:*"},
                "dependenciesMeta": {"lib": {"injected": true}}}"#,
        );
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let mode = |rel: &str| {
        fs_err::metadata(tack.dir().join(rel))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("packages/tool/t.sh"), 0o644);
    let shim = fs_err::read_to_string(tack.dir().join("node_modules/.bin/tool-sh")).unwrap();
    assert!(shim.contains("exec /bin/sh  -e "), "{shim}");
    assert!(tack.dir().join("node_modules/.bin/tool-gone").is_file());
    assert!(tack.dir().join("node_modules/.bin/tbm-built").is_file());
}

/// `--filter` and `--filter-prod` selectors choose the projects pnpm 12 chooses: with their
/// dependencies (`a...`), their dependents (`...b`, which walks an injected dependency too),
/// without themselves (`...^b`), excluded (`!a`), by directory glob (`./packages/*`,
/// `{packages/d}...`); the tree, the "Scope: N of M" line and the package count are pnpm's.
/// (tack ignored `...`, and chose nothing for the others, installing nothing with exit 0.)
#[test]
fn filter_selectors_choose_the_projects_pnpm_chooses() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    let lines = |stdout: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(stdout)
            .lines()
            .filter(|l| l.starts_with("Scope:") || l.starts_with("Packages:"))
            .map(str::to_string)
            .collect()
    };
    for args in [
        ["--filter", "a..."],
        ["--filter", "...b"],
        ["--filter", "...^b"],
        ["--filter", "!a"],
        ["--filter", "./packages/*"],
        ["--filter", "{packages/d}..."],
        ["--filter-prod", "a..."],
    ] {
        let mut outputs = Vec::new();
        let mut trees = Vec::new();
        for tool in ["pnpm", "tack"] {
            let project = tack_suite::conformance::clone_inputs(&reference);
            let mut all = vec!["install", "--frozen-lockfile"];
            all.extend(args);
            let out = project.run_tool(tool, &all);
            assert_success(&out, &format!("{tool} {args:?}"));
            outputs.push(lines(&out.stdout));
            trees.push(tack_suite::conformance::project_tree(&project));
        }
        let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
        assert!(
            differences.is_empty(),
            "{args:?}: {}",
            differences.join("\n")
        );
        assert_eq!(
            outputs[1], outputs[0],
            "{args:?}: tack's lines, then pnpm's"
        );
        assert!(!outputs[0].is_empty(), "{args:?}: pnpm printed no counts");
    }
}

/// `production` and `dev` narrow an install only as the `--prod` and `--dev` flags: pnpm 12
/// installs every group when `pnpm-workspace.yaml` or `--config.` set them. (tack took them
/// as the flags.)
#[test]
fn production_and_dev_settings_do_not_narrow_the_install_like_pnpm() {
    let registry = registry::start();
    let reference = resolved_project(
        r#"{"name": "groups", "version": "1.0.0", "dependencies": {"is-odd": "^3.0.1"},
            "devDependencies": {"tack-bin-string": "1.0.0"}}"#,
        &registry.url(),
    );
    reference.add_settings("production: true\n");
    let tack = assert_same_tree(&reference, &[]);
    assert!(tack.dir().join("node_modules/tack-bin-string").exists());
    let tack = assert_same_tree(&reference, &["--config.dev=true"]);
    assert!(tack.dir().join("node_modules/is-odd").exists());
}

/// pnpm 12 writes the lockfile's `settings` in name order (`dedupePeers` before
/// `excludeLinksFromLockfile`); `node_modules/.pnpm/lock.yaml` must be byte-equal.
#[test]
fn lockfile_settings_are_written_in_name_order_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    tack_suite::conformance::prepare(&project, &fixture("workspace"), &registry.url());
    project.add_settings(
        "dedupePeers: true\npeersSuffixMaxLength: 500\n\
             injectWorkspacePackages: true\nautoInstallPeers: false\n",
    );
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let written = fs_err::read_to_string(tack.dir().join("node_modules/.pnpm/lock.yaml")).unwrap();
    assert!(
        written.contains("  dedupePeers: true\n  excludeLinksFromLockfile: false\n"),
        "{written}"
    );
}

/// A warm install (the store filled by a first install of the same project, its tree moved
/// aside) builds pnpm 12's tree too. Linking a bin chmods its target through the hard link,
/// so a target shipped without exec bits makes its store file executable; pnpm 12 then
/// imports that file as a copy with its recorded mode, not as a link. (tack linked it.)
#[test]
fn a_warm_install_matches_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    let mut trees = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let args = ["install", "--frozen-lockfile", "--ignore-scripts"];
        let install = || project.run_tool(tool, &args);
        assert_success(&install(), tool);
        fs_err::rename(
            project.dir().join("node_modules"),
            project.root().join("first-tree"),
        )
        .unwrap();
        assert_success(&install(), tool);
        trees.push(tack_suite::conformance::project_tree(&project));
        let target = project.dir().join(
            "node_modules/.pnpm/tack-bin-conflict@1.0.0/node_modules/tack-bin-conflict/shared.js",
        );
        let meta = fs_err::metadata(&target).unwrap();
        assert_eq!(
            (
                std::os::unix::fs::MetadataExt::nlink(&meta),
                meta.permissions().mode() & 0o777
            ),
            (1, 0o755),
            "{tool}: {}",
            target.display()
        );
    }
    let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// `extendNodePath: false` writes shims without `NODE_PATH`, and `preferSymlinkedExecutables`
/// writes each command as a relative symlink to its target's real path, in the project's
/// `.bin` and in the packages' own; a command named `node` is treated like any other. (tack
/// read neither setting.)
#[test]
fn bin_settings_shape_the_bin_directories_like_pnpm() {
    let registry = registry::start();
    let package = |name: &str, fields: serde_json::Value| {
        tack_suite::conformance::publish_with_file(
            &registry,
            name,
            "1.0.0",
            fields,
            ("cli.js", b"console.log('tool')\n", 0o644),
        )
    };
    use serde_json::json;
    package(
        "tack-node-named-bin",
        json!({"bin": {"node": "cli.js", "tack-nb": "cli.js"}}),
    );
    package(
        "tack-node-bin-user",
        json!({"dependencies": {"tack-node-named-bin": "1.0.0"}}),
    );
    let manifest = json!({"name": "bins", "version": "1.0.0",
        "dependencies": {"tack-node-bin-user": "1.0.0", "tack-bin-string": "1.0.0"}});
    for settings in [
        "",
        "extendNodePath: false\n",
        "preferSymlinkedExecutables: true\n",
    ] {
        let project = resolved_project(&manifest.to_string(), &registry.url());
        project.add_settings(settings);
        let tack = assert_same_tree(&project, &[]);
        let shim = tack.dir().join("node_modules/.bin/tack-bin-string");
        let linked = fs_err::symlink_metadata(&shim)
            .unwrap()
            .file_type()
            .is_symlink();
        assert_eq!(linked, settings.starts_with("prefer"), "{settings}");
        if !linked {
            let text = fs_err::read_to_string(&shim).unwrap();
            assert_eq!(
                text.contains("NODE_PATH"),
                settings.is_empty(),
                "{settings}"
            );
        }
    }
}

/// With `dedupeDirectDeps: true` a workspace project does not link a dependency the root
/// links under the same name to the same package, nor its bins. (tack read the setting and
/// linked them anyway.)
#[test]
fn dedupe_direct_deps_leaves_the_root_s_dependencies_out_of_projects_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    tack_suite::conformance::prepare(&project, &fixture("workspace"), &registry.url());
    project.add_settings("dedupeDirectDeps: true\n");
    project.write(
        "package.json",
        r#"{"name": "conformance-workspace", "version": "1.0.0", "private": true,
            "dependencies": {"is-odd": "^3.0.1", "tack-bin-string": "1.0.0"}}"#,
    );
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let a = tack.dir().join("packages/a/node_modules");
    assert!(a.join("b").exists(), "a's own dependencies stay");
    for gone in ["is-odd", ".bin/tack-bin-string"] {
        assert!(
            fs_err::symlink_metadata(a.join(gone)).is_err(),
            "{gone} is linked in packages/a"
        );
    }
}

/// With `dedupeDirectDeps: true` pnpm 12 also leaves out of a project a direct dependency the
/// root's `node_modules` has through public hoisting (`b`'s `is-number@7`), and hoists as if
/// nothing were left out: `is-number@7`, which `b` offers before `is-odd`'s `is-number@6`.
/// (tack kept `b`'s link; leaving it out first would have hoisted `is-number@6`.)
#[test]
fn dedupe_direct_deps_leaves_publicly_hoisted_packages_out_of_projects_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    tack_suite::conformance::prepare(&project, &fixture("workspace"), &registry.url());
    project.add_settings("dedupeDirectDeps: true\npublicHoistPattern:\n  - is-number\n");
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let b = tack.dir().join("packages/b/node_modules/is-number");
    assert!(
        fs_err::symlink_metadata(&b).is_err(),
        "{} is linked",
        b.display()
    );
    let hoisted = fs_err::read_link(tack.dir().join("node_modules/is-number")).unwrap();
    assert!(
        hoisted.to_string_lossy().contains("is-number@7"),
        "{}",
        hoisted.display()
    );
}

/// pnpm 12 writes `ignoredOptionalDependencies` in the order the setting lists them, not
/// sorted; `node_modules/.pnpm/lock.yaml` must be byte-equal. (tack sorted them.)
#[test]
fn ignored_optional_dependencies_keep_their_order_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    tack_suite::conformance::prepare(&project, &fixture("basic"), &registry.url());
    project.add_settings("ignoredOptionalDependencies:\n  - zzz-not-there\n  - only-darwin\n");
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let written = fs_err::read_to_string(tack.dir().join("node_modules/.pnpm/lock.yaml")).unwrap();
    assert!(
        written.contains("ignoredOptionalDependencies:\n  - zzz-not-there\n  - only-darwin\n"),
        "{written}"
    );
}

/// `--filter app`, where `app` injects `ui` and `ui` depends on the workspace project `lib`:
/// pnpm 12 installs `lib` too (the injected copy links to it), with its own dependencies.
/// (tack linked only the root and `app`, leaving `lib` without its dependencies.)
#[test]
fn a_filtered_install_installs_the_projects_injected_packages_link_to_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write("package.json", r#"{"name": "root", "private": true}"#)
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        )
        .write(
            "packages/app/package.json",
            r#"{"name": "app", "version": "1.0.0", "dependencies": {"ui": "workspace:*"},
                "dependenciesMeta": {"ui": {"injected": true}}}"#,
        )
        .write(
            "packages/ui/package.json",
            r#"{"name": "ui", "version": "1.0.0",
                "dependencies": {"lib": "workspace:*", "is-odd": "^3.0.1"}}"#,
        )
        .write(
            "packages/lib/package.json",
            r#"{"name": "lib", "version": "1.0.0", "dependencies": {"is-number": "^7.0.0"}}"#,
        )
        .write(
            "packages/other/package.json",
            r#"{"name": "other", "version": "1.0.0", "dependencies": {"tack-bin-string": "1.0.0"}}"#,
        );
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &["--filter", "app"]);
    assert!(tack
        .dir()
        .join("packages/lib/node_modules/is-number")
        .exists());
    assert!(!tack.dir().join("packages/other/node_modules").exists());
}

/// With `injectWorkspacePackages`, a project's workspace dependencies are `file:` references in
/// the lockfile, with a peers suffix when the injected project has peers
/// (`file:packages/core(is-number@6.0.0)`): `--filter` walks them all the same, as pnpm 12 does,
/// both ways (tack saw no edge behind a suffix and installed only the selected project).
#[test]
fn filters_walk_injected_projects_with_peers_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write("package.json", r#"{"name": "root", "private": true}"#)
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\ninjectWorkspacePackages: true\n",
        )
        .write(
            "packages/core/package.json",
            r#"{"name": "core", "version": "1.0.0", "peerDependencies": {"is-number": ">=6"},
                "devDependencies": {"is-number": "7.0.0"}}"#,
        )
        .write(
            "packages/ui/package.json",
            r#"{"name": "ui", "version": "1.0.0",
                "dependencies": {"core": "workspace:*", "is-odd": "^3.0.1", "is-number": "6.0.0"}}"#,
        )
        .write(
            "packages/app/package.json",
            r#"{"name": "app", "version": "1.0.0",
                "dependencies": {"ui": "workspace:*", "is-number": "6.0.0"},
                "devDependencies": {"cli": "workspace:^"}}"#,
        )
        .write(
            "packages/cli/package.json",
            r#"{"name": "cli", "version": "1.0.0",
                "dependencies": {"core": "workspace:^", "is-number": "6.0.0"}}"#,
        )
        .write(
            "packages/other/package.json",
            r#"{"name": "other", "version": "1.0.0", "dependencies": {"tack-bin-string": "1.0.0"}}"#,
        );
    project.lock_with_pnpm();
    let lockfile = fs_err::read_to_string(project.dir().join("pnpm-lock.yaml")).unwrap();
    assert!(
        lockfile.contains("version: file:packages/core(is-number@6.0.0)"),
        "the case needs an injected project with a peers suffix:\n{lockfile}"
    );
    for (filter, installed) in [
        ("app...", &["app", "ui", "core", "cli"][..]),
        ("...core", &["app", "ui", "core", "cli"][..]),
    ] {
        let tack = assert_same_tree(&project, &["--filter", filter]);
        for name in installed {
            let modules = tack.dir().join(format!("packages/{name}/node_modules"));
            assert!(modules.is_dir(), "{filter}: {name} was not installed");
        }
        assert!(!tack.dir().join("packages/other/node_modules").exists());
    }
}

/// A virtual store outside the project (`virtualStoreDir: ../vs`) gets the root's direct
/// dependencies hoisted into its `node_modules` too, as pnpm 12 hoists them: Node, walking up
/// from a package there, never reaches the project's `node_modules`. Inside the project
/// (`.vstore`) they stay reserved. (tack reserved them in both cases.)
#[test]
fn a_virtual_store_outside_the_project_gets_the_direct_dependencies_hoisted_like_pnpm() {
    let registry = registry::start();
    for (dir, hoisted) in [("../vs", true), (".vstore", false)] {
        let project = resolved_project(
            r#"{"name": "vs", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"}}"#,
            &registry.url(),
        );
        project.add_settings(&format!("virtualStoreDir: {dir}\n"));
        let tack = assert_same_tree(&project, &[]);
        let link = tack.dir().join(dir).join("node_modules/is-odd");
        assert_eq!(link.exists(), hoisted, "{dir}");
        assert!(tack.dir().join(dir).join("node_modules/is-number").exists());
    }
}

/// An injected project copied once per peer variant is listed in `.modules.yaml`'s
/// `injectedDeps` by directory, as pnpm 12 lists it, also when `virtualStoreDirMaxLength`
/// hashes the directory names and their order is no longer the dep paths' (tack listed the
/// copies in dep-path order).
#[test]
fn injected_copies_are_listed_by_directory_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    project
        .write("package.json", r#"{"name": "root", "private": true}"#)
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\ninjectWorkspacePackages: true\n\
             virtualStoreDirMaxLength: 30\n",
        )
        .write(
            "packages/core/package.json",
            r#"{"name": "core", "version": "1.0.0",
                "peerDependencies": {"is-number": ">=6", "peer-host": ">=1"},
                "devDependencies": {"is-number": "7.0.0", "peer-host": "1.0.0"}}"#,
        );
    for (name, number, host) in [
        ("a", "7.0.0", "1.1.0"),
        ("b", "6.0.0", "1.0.0"),
        ("c", "6.0.0", "1.1.0"),
    ] {
        project.write(
            &format!("packages/{name}/package.json"),
            &format!(
                r#"{{"name": "{name}", "version": "1.0.0", "dependencies":
                    {{"core": "workspace:*", "is-number": "{number}", "peer-host": "{host}"}}}}"#
            ),
        );
    }
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let modules = tack_suite::conformance::normalized_modules_yaml(&tack);
    let copies: Vec<&str> = modules["injectedDeps"]["packages/core"]
        .as_array()
        .expect("the copies of core")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(copies.len(), 3, "{copies:?}");
    assert!(
        copies.iter().all(|copy| copy.contains("/_")),
        "the case needs hashed directory names: {copies:?}"
    );
}

/// A project's own `engines`: a `pnpm` range without 12.21.0 fails pnpm 12's install (and
/// tack's, before anything is written); a `node` range the node in use is outside of fails
/// only with `engineStrict`, and is a warning otherwise. (tack did not look at them.)
#[test]
fn the_projects_own_engines_are_checked_like_pnpm() {
    let registry = registry::start();
    for (engines, strict, fails) in [
        (r#"{"pnpm": ">=8 <10"}"#, false, true),
        (r#"{"node": ">=99"}"#, false, false),
        (r#"{"node": ">=99"}"#, true, true),
        (r#"{"node": ">=18", "pnpm": ">=9"}"#, true, false),
    ] {
        let project = TestProject::new();
        tack_suite::conformance::prepare(&project, &fixture("basic"), &registry.url());
        assert_success(
            &project.pnpm(&["install", "--lockfile-only"]),
            "pnpm install --lockfile-only",
        );
        let path = project.dir().join("package.json");
        let mut manifest: serde_json::Value =
            serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
        manifest["engines"] = serde_json::from_str(engines).unwrap();
        fs_err::write(&path, manifest.to_string()).unwrap();
        if strict {
            project.add_settings("engineStrict: true\n");
        }
        for tool in ["pnpm", "tack"] {
            let copy = tack_suite::conformance::clone_inputs(&project);
            let args = ["install", "--frozen-lockfile", "--ignore-scripts"];
            let out = copy.run_tool(tool, &args);
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                !out.status.success(),
                fails,
                "{tool} {engines} {strict}: {all}"
            );
            let warned = all.contains("Unsupported engine");
            assert_eq!(warned, !engines.contains(">=18"), "{tool} {engines}: {all}");
            if tool == "tack" && fails {
                assert!(all.contains("ERR_PNPM_UNSUPPORTED_ENGINE"), "{all}");
                assert!(!copy.dir().join("node_modules").exists(), "{engines}");
            }
        }
    }
}

/// In a workspace pnpm 12 starts with `Scope: all N workspace projects` (the root counted),
/// and leaves the line out under `--filter`; so does tack.
#[test]
fn a_workspace_install_names_its_scope_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    for filter in [None, Some("a")] {
        let mut scopes = Vec::new();
        for tool in ["pnpm", "tack"] {
            let project = tack_suite::conformance::clone_inputs(&reference);
            let mut args = vec!["install", "--frozen-lockfile", "--ignore-scripts"];
            args.extend(filter.iter().flat_map(|f| ["--filter", *f]));
            let out = project.run_tool(tool, &args);
            assert_success(&out, tool);
            scopes.push(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .filter(|l| l.starts_with("Scope:"))
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(scopes[0], scopes[1], "{filter:?}");
        assert_eq!(scopes[1].len(), usize::from(filter.is_none()), "{filter:?}");
    }
}

/// Run from inside a project, pnpm 12 installs the project whose `package.json` is nearest
/// above the working directory: in a workspace, the whole workspace, reported as the project
/// it runs in (its summary, with `link:` dependencies as `<- path`; paths relative to it; the
/// progress under the root's prefix; no `Packages:` line). Outside any project it fails with
/// `ERR_PNPM_NO_PKG_MANIFEST`. tack used to take the working directory itself for the project:
/// "Already up to date" with nothing installed.
#[test]
fn an_install_from_inside_a_project_works_and_reports_like_pnpm() {
    let registry = registry::start();
    for (fixture_name, inside) in [("workspace", "packages/a/src"), ("basic", "src/lib")] {
        let reference = resolve_with_pnpm(&fixture(fixture_name), &registry.url());
        let mut outputs = Vec::new();
        let mut trees = Vec::new();
        for tool in ["pnpm", "tack"] {
            let project = tack_suite::conformance::clone_inputs(&reference);
            let out = project.run_tool_in(
                inside,
                tool,
                &["install", "--frozen-lockfile", "--ignore-scripts"],
            );
            assert_success(&out, tool);
            outputs.push(tack_suite::conformance::comparable_output(&out.stdout));
            trees.push(tack_suite::conformance::project_tree(&project));
        }
        let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
        assert!(differences.is_empty(), "{fixture_name}: {differences:#?}");
        assert_eq!(outputs[0], outputs[1], "{fixture_name}");
        let wanted = if fixture_name == "workspace" {
            "+ b <- ../b"
        } else {
            "+ is-odd 3.0.1"
        };
        assert!(
            outputs[1].iter().any(|l| l == wanted),
            "{fixture_name}: no `{wanted}` in the summary: {:#?}",
            outputs[1]
        );
    }

    // `local/c` has a package.json but is not one of the workspace's projects: a project of
    // its own, without a lockfile. (tack installed the workspace and said nothing of it.)
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let out = project.run_tool_in("local/c", tool, &["install", "--frozen-lockfile"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success() && text.contains("ERR_PNPM_NO_LOCKFILE"),
            "{tool}: {text}"
        );
        assert!(!project.dir().join("node_modules").exists(), "{tool}");
    }

    let empty = TestProject::new();
    for tool in ["pnpm", "tack"] {
        let out = empty.run_tool_in("a", tool, &["install", "--frozen-lockfile"]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.status.success() && text.contains("ERR_PNPM_NO_PKG_MANIFEST"),
            "{tool}: {text}"
        );
        assert!(!empty.dir().join("a/node_modules").exists(), "{tool}");
    }
}

/// A second install over an installed tree says what pnpm 12 says: with `--frozen-lockfile`
/// given, pnpm skips its quick check and says the lockfile is up to date; without (frozen
/// anyway in CI), "Already up to date"; a workspace's first line names its scope either way.
/// tack said "Already up to date" in both cases and never named the scope.
/// (A workspace with directory dependencies, `file:` or injected, is no no-op to pnpm 12: it
/// imports them again on every install. tack's no-op check stamps their files instead, so
/// the workspace here has none.)
#[test]
fn a_noop_says_what_pnpm_says() {
    let registry = registry::start();
    let workspace = TestProject::new();
    workspace
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        )
        .write("package.json", r#"{"name":"root","private":true}"#)
        .write(
            "packages/a/package.json",
            r#"{"name":"a","version":"1.0.0","dependencies":{"is-odd":"3.0.1"}}"#,
        )
        .write(
            "packages/b/package.json",
            r#"{"name":"b","version":"1.0.0","dependencies":{"a":"workspace:*"}}"#,
        )
        .lock_with_pnpm();
    for (name, reference) in [
        (
            "basic",
            resolve_with_pnpm(&fixture("basic"), &registry.url()),
        ),
        ("workspace", workspace),
    ] {
        let fixture_name = name;
        let mut outputs = Vec::new();
        for tool in ["pnpm", "tack"] {
            let project = tack_suite::conformance::clone_inputs(&reference);
            assert_success(
                &project.run_tool(tool, &["install", "--frozen-lockfile"]),
                tool,
            );
            let mut said = Vec::new();
            for args in [&["install", "--frozen-lockfile"][..], &["install"][..]] {
                let out = project.run_tool(tool, args);
                assert_success(&out, tool);
                said.push(tack_suite::conformance::comparable_output(&out.stdout));
            }
            outputs.push(said);
        }
        assert_eq!(outputs[0], outputs[1], "{fixture_name}");
        let flagged = &outputs[1][0];
        assert!(
            flagged.contains(&"Lockfile is up to date, resolution step is skipped".to_string()),
            "{fixture_name}: {flagged:?}"
        );
    }
}

/// A dependency on a local tarball (`file:vendor/x.tgz`) is read from disk, relative to the
/// lockfile's directory, into pnpm 12's tree; tack asked the registry for
/// `<registry>/file:vendor/x.tgz` and failed with a 404. Without the file, both fail with
/// pnpm's code.
#[test]
fn a_local_tarball_dependency_is_read_from_disk_like_pnpm() {
    let registry = registry::start();
    let tgz = registry
        .tarball("is-number", "6.0.0")
        .expect("the fixture's tarball");
    let reference = TestProject::new();
    reference
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n")
        .write(
            "package.json",
            r#"{"name":"p","version":"1.0.0","dependencies":{"vendored":"file:vendor/is-number-6.0.0.tgz","is-odd":"3.0.1"}}"#,
        );
    fs_err::create_dir_all(reference.dir().join("vendor")).expect("vendor dir");
    fs_err::write(reference.dir().join("vendor/is-number-6.0.0.tgz"), &tgz).expect("write tgz");
    reference.lock_with_pnpm();
    let installed = assert_same_tree(&reference, &[]);
    assert!(installed
        .dir()
        .join("node_modules/vendored/package.json")
        .is_file());

    // Changed under an unchanged lockfile, the file fails the integrity check even with the
    // package in the store (tack took the stored copy without reading the file).
    let other = registry
        .tarball("is-number", "7.0.0")
        .expect("another tarball");
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        assert_success(
            &project.run_tool(tool, &["install", "--frozen-lockfile"]),
            tool,
        );
        fs_err::write(project.dir().join("vendor/is-number-6.0.0.tgz"), &other).expect("swap");
        fs_err::remove_dir_all(project.dir().join("node_modules")).expect("clear");
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("ERR_PNPM_TARBALL_INTEGRITY"),
            "{tool}: {stderr}"
        );
    }

    fs_err::remove_file(reference.dir().join("vendor/is-number-6.0.0.tgz")).expect("remove tgz");
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("ERR_PNPM_TARBALL_READ_LOCAL_TARBALL"),
            "{tool}: {stderr}"
        );
    }
}

/// A workspace project without dependencies needs no importer (pnpm 12 installs the
/// workspace from a lockfile resolved before the project was added, hoists the project and
/// records it), and `packages/.name` directories are no projects to `packages/*`; tack
/// refused both lockfiles with `ERR_PNPM_PACKAGE_MANAGER_NO_IMPORTER`. Once the new project
/// has a dependency, both refuse it, also after a first install (not "Already up to date").
#[test]
fn projects_the_lockfile_does_not_know_are_judged_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    reference
        .write(
            "packages/e/package.json",
            r#"{"name":"e","version":"1.0.0"}"#,
        )
        .write(
            "packages/.template/package.json",
            r#"{"name":"template","version":"1.0.0","dependencies":{"is-odd":"3.0.1"}}"#,
        );
    let tack_project = assert_same_tree(&reference, &[]);
    let state = |project: &TestProject| -> Vec<String> {
        let text = fs_err::read_to_string(
            project
                .dir()
                .join("node_modules/.pnpm-workspace-state-v1.json"),
        )
        .expect("state file");
        let json: serde_json::Value = serde_json::from_str(&text).expect("json");
        let root = project.dir().display().to_string();
        json["projects"]
            .as_object()
            .expect("projects")
            .keys()
            .map(|k| k.replacen(&root, "<root>", 1))
            .collect()
    };
    let pnpm_project = tack_suite::conformance::clone_inputs(&reference);
    assert_success(
        &pnpm_project.pnpm(&["install", "--frozen-lockfile"]),
        "pnpm",
    );
    assert_eq!(state(&pnpm_project), state(&tack_project));
    assert!(state(&tack_project).contains(&"<root>/packages/e".to_string()));

    for project in [&pnpm_project, &tack_project] {
        project.write(
            "packages/e/package.json",
            r#"{"name":"e","version":"1.0.0","dependencies":{"is-odd":"3.0.1"}}"#,
        );
    }
    for (tool, project) in [("pnpm", &pnpm_project), ("tack", &tack_project)] {
        let out = project.run_tool(tool, &["install"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains("ERR_PNPM_PACKAGE_MANAGER_NO_IMPORTER"),
            "{tool}: {stderr}"
        );
    }
}

/// `--registry <url>` and `--config.registry=<url>` name the registry over `.npmrc`, as in
/// pnpm 12. tack had no such flag (clap refused it) and dropped the setting.
#[test]
fn the_registry_flag_names_the_registry_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    reference.write(".npmrc", "registry=http://127.0.0.1:1/\n");
    let flag = format!("--registry={}", registry.url());
    let setting = format!("--config.registry={}", registry.url());
    for args in [&flag, &setting] {
        for tool in ["pnpm", "tack"] {
            let project = tack_suite::conformance::clone_inputs(&reference);
            let out = project.run_tool(tool, &["install", "--frozen-lockfile", args]);
            assert_success(&out, &format!("{tool} {args}"));
            assert!(
                project.dir().join("node_modules/is-odd").exists(),
                "{tool} {args}"
            );
        }
    }
}

/// `registry:` and the proxy settings of `pnpm-workspace.yaml` override the `.npmrc`, as in pnpm
/// 12; keys pnpm accepts pass in silence, the others get pnpm 12's warnings, line for line (no
/// code before them, and the keys pnpm 12 suggests: `globalDir`, `stateDir`, not `global` or
/// `json`). tack took the registry from the `.npmrc` alone and called every key it had no use
/// for "unknown".
#[test]
fn network_settings_in_the_workspace_manifest_are_read_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    reference.write(
        ".npmrc",
        "registry=http://127.0.0.1:1/\nproxy=http://127.0.0.1:1/\n",
    );
    reference.add_settings(&format!(
        "registry: {}\nnoProxy: 127.0.0.1\n$schema: x\nsavePrefix: '~'\nci: true\nnodeLinkr: x\n\
         save-exact: true\nfooBar: 1\nstateDr: 1\njsn: 1\nconfiDir: 1\n_auth: x\n",
        registry.url()
    ));
    let mut warned = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        assert_success(&out, tool);
        assert!(project.dir().join("node_modules/is-odd").exists(), "{tool}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for expected in [
            "The following settings cannot be set in a project's pnpm-workspace.yaml and were \
             ignored: \"ci\" (Set it for the machine instead: pnpm config set --global ci).",
            "The following settings in pnpm-workspace.yaml were ignored because they are not \
             written in camelCase: \"save-exact\" (use \"saveExact\").",
            "The following settings in pnpm-workspace.yaml are not recognized by this version of \
             pnpm and were ignored: \"nodeLinkr\" (did you mean \"nodeLinker\"?), \"fooBar\" \
             (did you mean \"globalDir\"?), \"stateDr\" (did you mean \"stateDir\"?), \"jsn\", \
             \"confiDir\" (did you mean \"configByUri\"?), \"_auth\" (did you mean \"_auth\"?).",
        ] {
            assert!(all.contains(expected), "{tool}: {expected}\n{all}");
        }
        warned.push(
            all.lines()
                .filter(|line| line.contains("The following settings"))
                .map(str::to_string)
                .collect::<Vec<_>>(),
        );
        for quiet in ["$schema", "savePrefix", "registry", "noProxy"] {
            assert!(
                !all.contains(&format!("\"{quiet}\"")),
                "{tool}: {quiet}\n{all}"
            );
        }
    }
    assert_eq!(warned[1], warned[0], "tack's warnings, then pnpm's");
}

/// The `pnpmfile` setting names the pnpmfile whose checksum the lockfile holds, a missing one
/// fails with `ERR_PNPM_PNPMFILE_NOT_FOUND`, and `ignorePnpmfile` (or `--ignore-pnpmfile`)
/// compares no checksum, as in pnpm 12. tack checked `.pnpmfile.cjs` alone, whatever the
/// settings said.
#[test]
fn the_pnpmfile_settings_are_read_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    tack_suite::conformance::prepare(&project, &fixture("basic"), &registry.url());
    project
        .write("hooks/x.cjs", "module.exports = { hooks: {} };\n")
        .write(
            ".pnpmfile.cjs",
            "module.exports = { hooks: {} }; // the default one\n",
        )
        .add_settings("pnpmfile: hooks/x.cjs\n");
    let out = project.pnpm(&["install", "--lockfile-only"]);
    assert_success(&out, "pnpm install --lockfile-only");
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // (settings appended, flags, what both tools do: `None` installs, `Some(code)` fails)
    let cases: [(&str, &[&str], Option<&str>); 5] = [
        ("", &[], None),
        (
            "pnpmfile: .pnpmfile.cjs\n",
            &[],
            Some("ERR_PNPM_LOCKFILE_CONFIG_MISMATCH"),
        ),
        ("pnpmfile: .pnpmfile.cjs\nignorePnpmfile: true\n", &[], None),
        ("pnpmfile: .pnpmfile.cjs\n", &["--ignore-pnpmfile"], None),
        (
            "pnpmfile: hooks/nope.cjs\n",
            &[],
            Some("ERR_PNPM_PNPMFILE_NOT_FOUND"),
        ),
    ];
    for (settings, flags, expected) in cases {
        for tool in ["pnpm", "tack"] {
            let copy = tack_suite::conformance::clone_inputs(&project);
            if settings.contains("pnpmfile:") {
                let yaml = copy.dir().join("pnpm-workspace.yaml");
                let text = fs_err::read_to_string(&yaml).expect("read pnpm-workspace.yaml");
                copy.write(
                    "pnpm-workspace.yaml",
                    &text.replace("pnpmfile: hooks/x.cjs\n", ""),
                );
            }
            copy.add_settings(settings);
            let mut args = vec!["install", "--frozen-lockfile"];
            args.extend_from_slice(flags);
            let out = copy.run_tool(tool, &args);
            let what = format!("{tool} with {settings:?} {flags:?}");
            match expected {
                None => {
                    assert_success(&out, &what);
                    assert!(copy.dir().join("node_modules/is-odd").exists(), "{what}");
                }
                Some(code) => {
                    assert!(!out.status.success(), "{what}: {}", text(&out));
                    assert!(text(&out).contains(code), "{what}: {}", text(&out));
                    assert!(!copy.dir().join("node_modules/is-odd").exists(), "{what}");
                }
            }
            if expected == Some("ERR_PNPM_PNPMFILE_NOT_FOUND") {
                let missing = copy.dir().join("hooks/nope.cjs");
                let shown = format!("pnpmfile at \"{}\" is not found", missing.display());
                assert!(text(&out).contains(&shown), "{what}: {}", text(&out));
            }
        }
    }
}

/// A download that gets no response (here a refused connection) fails with pnpm 12's code,
/// and nothing is installed. tack said `ERR_TACK_NETWORK`.
#[test]
fn a_refused_download_fails_with_pnpm_s_code() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    reference.write(".npmrc", "registry=http://127.0.0.1:1/\n");
    reference.add_settings("fetchRetries: 0\n");
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{tool}: {all}");
        assert!(
            all.contains("ERR_PNPM_TARBALL_FETCH_TARBALL"),
            "{tool}: {all}"
        );
        assert!(all.contains("Connection refused"), "{tool}: {all}");
        assert!(
            !project.dir().join("node_modules/is-odd").exists(),
            "{tool}"
        );
    }
}

/// Projects without a dependency and without a lockfile are installed as pnpm 12 installs
/// them, `--frozen-lockfile` or not: the lockfile they have is written (with the settings the
/// configuration records), their own lifecycle scripts run, and the output is pnpm's (no store
/// context, no progress line, "Already up to date"). Links-only workspaces print the same way.
/// tack said "Already up to date" and did nothing. pnpm 12 records no `.pnpm/lock.yaml` for a
/// lockfile that installs nothing, so a project without dependencies gets no `.pnpm` (tack
/// made one, with its marker list and `lock.yaml`).
#[test]
fn projects_without_dependencies_are_installed_like_pnpm() {
    let single = TestProject::new();
    single.write(
        "package.json",
        r#"{"name": "nd", "version": "1.0.0", "scripts": {"postinstall": "echo POSTINSTALL-RAN"}}"#,
    );
    let workspace = TestProject::new();
    workspace
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "scripts": {"postinstall": "echo ROOT"}}"#,
        )
        .write(
            "packages/a/package.json",
            r#"{"name": "a", "version": "1.0.0"}"#,
        )
        .write(".pnpmfile.cjs", "module.exports = { hooks: {} };\n")
        .add_settings(
            "packages: [packages/*]\ninjectWorkspacePackages: true\npeersSuffixMaxLength: 40\n\
             overrides:\n  foo: 1.0.0\n",
        );
    let links = TestProject::new();
    links
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "dependencies": {"a": "workspace:*"}}"#,
        )
        .write(
            "packages/a/package.json",
            r#"{"name": "a", "version": "1.0.0"}"#,
        )
        .add_settings("packages: [packages/*]\n");
    links.lock_with_pnpm();
    for (name, inputs) in [
        ("single", &single),
        ("workspace", &workspace),
        ("links", &links),
    ] {
        let mut outputs = Vec::new();
        let mut lockfiles = Vec::new();
        let mut trees = Vec::new();
        for tool in ["pnpm", "tack"] {
            let project = tack_suite::conformance::clone_inputs(inputs);
            let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, &format!("{name}: {tool}"));
            let lockfile = fs_err::read_to_string(project.dir().join("pnpm-lock.yaml"))
                .unwrap_or_else(|_| panic!("{name}: {tool} wrote no lockfile"));
            assert!(
                project.dir().join("node_modules/.modules.yaml").is_file(),
                "{name}: {tool}"
            );
            outputs.push(tack_suite::conformance::comparable_output(&out.stdout));
            lockfiles.push(lockfile);
            let again = project.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&again, &format!("{name}: {tool} again"));
            outputs.push(tack_suite::conformance::comparable_output(&again.stdout));
            trees.push(tack_suite::conformance::project_tree(&project));
        }
        let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
        assert!(differences.is_empty(), "{name}: {}", differences.join("\n"));
        assert_eq!(
            outputs[2..],
            outputs[..2],
            "{name}: tack's output, then pnpm's"
        );
        assert_eq!(
            lockfiles[1], lockfiles[0],
            "{name}: tack's lockfile, then pnpm's"
        );
    }
}

/// A lockfile of another major version fails with pnpm 12's code, and nothing is installed.
#[test]
fn a_lockfile_of_another_major_version_fails_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    let lockfile =
        fs_err::read_to_string(reference.dir().join("pnpm-lock.yaml")).expect("lockfile");
    assert!(lockfile.starts_with("lockfileVersion: '9.0'"), "{lockfile}");
    reference.write("pnpm-lock.yaml", &lockfile.replacen("'9.0'", "'6.0'", 1));
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let out = project.run_tool(tool, &["install", "--frozen-lockfile"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{tool}");
        // Named once, heading the message (tack's box repeated it on a line of its own).
        assert_eq!(
            stderr.matches("ERR_PNPM_BROKEN_LOCKFILE").count(),
            1,
            "{tool}: {stderr}"
        );
        assert!(
            stderr.starts_with("Error: ERR_PNPM_BROKEN_LOCKFILE\n\n"),
            "{tool}: {stderr}"
        );
        assert!(!project.dir().join("node_modules").exists(), "{tool}");
    }
}

/// A workspace project deleted while the lockfile still has its importer: pnpm 12 installs
/// the projects that are there and leaves that importer out; tack made the deleted project's
/// directory again to link its dependencies into.
#[test]
fn a_deleted_workspace_project_is_left_out_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    fs_err::remove_dir_all(reference.dir().join("packages/d")).expect("delete project d");
    let tack_project = assert_same_tree(&reference, &[]);
    assert!(!tack_project.dir().join("packages/d").exists());
}

/// The flags CI scripts pass to `pnpm install` work on `tack install` too: settings as flags
/// (`--shamefully-hoist`, `--config.<key>=<value>`) build pnpm 12's tree, the no-op flags are
/// accepted, `--silent` prints nothing, and a flag that needs resolution is refused clearly.
/// (clap refused all of these but `--reporter`.)
#[test]
fn pnpm_install_flags_are_accepted_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("workspace"), &registry.url());
    assert_same_tree(&reference, &["--shamefully-hoist", "-r"]);
    assert_same_tree(
        &reference,
        &["--config.hoist-pattern=is-*", "--production", "-w"],
    );

    let project = tack_suite::conformance::clone_inputs(&reference);
    let out = project.tack(&[
        "install",
        "--frozen-lockfile",
        "--silent",
        "--loglevel=error",
    ]);
    assert_success(&out, "tack install --silent");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = project.tack(&["install", "--config.node-linker=pnp"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERR_TACK_UNSUPPORTED_SETTING"));
    let out = project.tack(&["install", "--lockfile-only"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ERR_TACK_UNSUPPORTED_FLAG"),
        "{stderr}"
    );
    // Not silently dropped where it does not apply.
    let out = project.tack(&["store", "path", "--config.store-dir=/elsewhere"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ERR_TACK_UNSUPPORTED_FLAG"),
        "{stderr}"
    );
}

/// pnpm 12 no longer reads package.json's `pnpm` field and warns, naming the keys it ignored;
/// tack ignores the field too (it always did) and says so the same way. pnpm also warns of `$`
/// version references in overrides. Both warnings come first, in pnpm's words, on every
/// install, a no-op one too. (tack had its own ending for the first, said it only when it
/// linked, and never said the second.)
#[test]
fn configuration_warnings_are_printed_on_every_install_like_pnpm() {
    let registry = registry::start();
    let reference = TestProject::new();
    reference
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0",
                "dependencies": {"is-odd": "3.0.1", "is-number": "7.0.0"},
                "pnpm": {"overrides": {"is-number": "7.0.0"}}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\noverrides:\n  is-odd>is-number: $is-number\n",
        );
    reference.lock_with_pnpm();
    let runs = ["pnpm", "tack"].map(|tool| {
        let copy = tack_suite::conformance::clone_inputs(&reference);
        [1, 2].map(|_| {
            let out = copy.run_tool(tool, &["install", "--frozen-lockfile"]);
            assert_success(&out, tool);
            // pnpm prints the first warning before its reporter starts, on stderr.
            let warned: Vec<String> = String::from_utf8_lossy(&out.stderr)
                .lines()
                .filter(|l| l.contains("[WARN]"))
                .map(str::to_string)
                .collect();
            (
                tack_suite::conformance::comparable_output(&out.stdout),
                warned,
            )
        })
    });
    assert_eq!(runs[0], runs[1]);
    for (stdout, stderr) in &runs[1] {
        let pnpm_field = "[WARN] The \"pnpm\" field in package.json is no longer read by pnpm. The following keys were ignored: \"pnpm.overrides\".";
        let reference = "[WARN] The \"$\" version reference syntax in overrides is deprecated (used by: is-odd>is-number).";
        assert!(
            stderr.iter().any(|l| l.starts_with(pnpm_field)),
            "{stderr:#?}"
        );
        assert!(
            stdout.iter().any(|l| l.starts_with(reference)),
            "{stdout:#?}"
        );
    }
}

/// A directory dependency is imported with what `npm pack` would take, as pnpm 12 imports it:
/// no version-control directories, lockfiles or leftovers, nothing its `.npmignore` (or, without
/// one, its `.gitignore`) ignores, only what a `files` field lists, but always `package.json`,
/// the README and LICENSE, and the `main` and `bin` files. (tack took every file but
/// `node_modules`.)
#[test]
fn directory_dependencies_take_what_npm_pack_would_like_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    let files = [
        // `files` listed: lib and docs/*.md; main and bin forced; root .npmignore not read.
        (
            "local/listed/package.json",
            r#"{"name": "listed", "version": "1.0.0", "main": "index.js",
                "bin": {"listed": "bin/cli.js"}, "files": ["lib", "docs/*.md"]}"#,
        ),
        ("local/listed/index.js", "1"),
        ("local/listed/bin/cli.js", "#!/usr/bin/env node\n"),
        ("local/listed/lib/a.js", "1"),
        ("local/listed/src/b.js", "1"),
        ("local/listed/docs/x.md", "1"),
        ("local/listed/docs/y.txt", "1"),
        ("local/listed/README.md", "1"),
        ("local/listed/LICENSE", "1"),
        ("local/listed/CHANGELOG.md", "1"),
        ("local/listed/.npmignore", "lib/a.js\n"),
        // Ignore files: .gitignore at the root, a nested .npmignore, a nested re-include.
        (
            "local/ignoring/package.json",
            r#"{"name": "ignoring", "version": "1.0.0"}"#,
        ),
        ("local/ignoring/.gitignore", "dist/\n*.log\n"),
        ("local/ignoring/dist/out.js", "1"),
        ("local/ignoring/x.log", "1"),
        ("local/ignoring/keep.js", "1"),
        ("local/ignoring/sub/.npmignore", "hidden.js\n"),
        ("local/ignoring/sub/hidden.js", "1"),
        ("local/ignoring/sub/shown.js", "1"),
        ("local/ignoring/other/.gitignore", "!x.log\n"),
        ("local/ignoring/other/x.log", "1"),
        // .npmignore replaces .gitignore in its directory; the built-in exclusions.
        (
            "local/plain/package.json",
            r#"{"name": "plain", "version": "1.0.0"}"#,
        ),
        ("local/plain/.npmignore", "secret.txt\n"),
        ("local/plain/.gitignore", "kept.txt\n"),
        ("local/plain/secret.txt", "1"),
        ("local/plain/kept.txt", "1"),
        ("local/plain/.hidden", "1"),
        ("local/plain/.git/HEAD", "ref\n"),
        ("local/plain/.npmrc", "x=1\n"),
        ("local/plain/package-lock.json", "{}"),
        ("local/plain/yarn.lock", "1"),
        ("local/plain/a.orig", "1"),
        ("local/plain/.DS_Store", "1"),
        ("local/plain/npm-debug.log", "1"),
        ("local/plain/config.gypi", "1"),
        ("local/plain/build/config.gypi", "1"),
        ("local/plain/build/keep.js", "1"),
    ];
    for (path, text) in files {
        project.write(path, text);
    }
    project
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0", "dependencies": {
                "listed": "file:local/listed", "ignoring": "file:local/ignoring",
                "plain": "file:local/plain"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let listed = tack
        .dir()
        .join("node_modules/.pnpm/listed@file+local+listed/node_modules/listed");
    assert!(listed.join("lib/a.js").exists() && !listed.join("src").exists());
}

/// The `files` field of a directory dependency is read as pnpm 12 reads it: an entry that takes
/// names paths from the package's root (`*.js` is the root's scripts only), a `!` entry excludes
/// at any depth and takes a directory's contents with it, and a later entry wins over an earlier
/// one. (tack matched `*.js` at every depth and kept what `!src/test` or `!sub` excludes.)
#[test]
fn directory_dependency_files_wildcards_and_exclusions_match_pnpm() {
    let registry = registry::start();
    let project = TestProject::new();
    let fields = [
        ("root-js", r#"["*.js"]"#),
        ("excluded-dir", r#"["src/**", "!src/test"]"#),
        ("excluded-name", r#"["lib", "!sub", "!*.map"]"#),
        ("taken-again", r#"["!lib/sub", "lib"]"#),
        ("dotted", r#"["./lib/", "!./lib/sub/"]"#),
    ];
    let mut deps = serde_json::Map::new();
    for (name, files) in fields {
        let dir = format!("local/{name}");
        project.write(
            &format!("{dir}/package.json"),
            &format!(r#"{{"name": "{name}", "version": "1.0.0", "files": {files}}}"#),
        );
        for file in [
            "a.js",
            "lib/b.js",
            "lib/b.js.map",
            "lib/sub/c.js",
            "src/s.js",
            "src/test/t.js",
            "src/test/deep/u.js",
        ] {
            project.write(&format!("{dir}/{file}"), "1");
        }
        deps.insert(name.to_string(), format!("file:{dir}").into());
    }
    let manifest = serde_json::json!({"name": "p", "version": "1.0.0", "dependencies": deps});
    project
        .write("package.json", &manifest.to_string())
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let package = |name: &str| {
        tack.dir().join(format!(
            "node_modules/.pnpm/{name}@file+local+{name}/node_modules/{name}"
        ))
    };
    assert!(package("root-js").join("a.js").exists());
    assert!(!package("root-js").join("lib/b.js").exists());
    assert!(package("excluded-dir").join("src/s.js").exists());
    assert!(!package("excluded-dir").join("src/test").exists());
    assert!(!package("excluded-name").join("lib/sub").exists());
    assert!(!package("excluded-name").join("lib/b.js.map").exists());
    assert!(package("taken-again").join("lib/sub/c.js").exists());
    assert!(package("dotted").join("lib/sub/c.js").exists());
}

/// The symlinks and nested `node_modules` of directory dependencies, a `file:` directory and an
/// injected workspace project, are imported as pnpm 12 imports them: only the package's own
/// `node_modules` is left out (a nested one, with its `.bin`, is taken, as when a workspace
/// project is nested in an injected one); a symlink to an entry of the package stays a symlink
/// with its text (an absolute one made relative), one to a file the rules leave out becomes a
/// copy of it (with its mode), one that leads out of the package or nowhere is left out (the
/// directories above it are made all the same), with a `files` field too. (tack left out every
/// symlink and every `node_modules`; a sweep of real projects found it.)
#[test]
fn directory_dependencies_keep_symlinks_and_nested_node_modules_like_pnpm() {
    use std::os::unix::fs::symlink;
    let registry = registry::start();
    let reference = TestProject::new();
    reference
        .write(
            "package.json",
            r#"{"name": "root", "version": "1.0.0", "private": true,
                "dependencies": {"vendorlib": "file:./vendor"}}"#,
        )
        .write(
            "app/package.json",
            r#"{"name": "app", "version": "1.0.0", "dependencies": {"lib": "workspace:*"}}"#,
        )
        .write(
            "lib/package.json",
            r#"{"name": "lib", "version": "1.0.0", "dependencies": {"is-odd": "3.0.1"},
                "files": ["index.js", "src", "sub", "links", "only-broken", "node_modules"]}"#,
        )
        .write(
            "vendor/package.json",
            r#"{"name": "vendorlib", "version": "1.0.0"}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\npackages:\n  - app\n  - lib\n\
             injectWorkspacePackages: true\ndedupeInjectedDeps: false\n",
        );
    reference.lock_with_pnpm();
    // Written into each copy, after its inputs: copying the inputs skips `node_modules` and
    // follows symlinks. (The injected project's own `node_modules` is the install's: it gets
    // nothing of ours, which the install could change while the project is imported.)
    let lay_out = |project: &TestProject, pkg: &str| {
        let dir = project.dir().join(pkg);
        let own_modules = pkg == "vendor";
        for rel in [
            "index.js",
            "src/a.js",
            ".git/HEAD",
            "ignored.txt",
            "sub/node_modules/x/index.js",
            "sub/node_modules/.bin/tool",
        ]
        .into_iter()
        .chain(own_modules.then_some("node_modules/y/index.js"))
        {
            project.write(&format!("{pkg}/{rel}"), &format!("{rel}\n"));
        }
        project.write(&format!("{pkg}/.npmignore"), "ignored.txt\n");
        fs_err::set_permissions(
            dir.join("sub/node_modules/.bin/tool"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        fs_err::set_permissions(
            dir.join("ignored.txt"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        for sub in ["links", "only-broken"] {
            fs_err::create_dir_all(dir.join(sub)).unwrap();
        }
        let mut links: Vec<(&str, PathBuf)> = vec![
            ("links/in", "../index.js".into()),
            ("links/chain", "in".into()),
            ("links/dir", "../src".into()),
            ("links/root", "..".into()),
            ("links/abs-in", dir.join("src/../index.js")),
            ("links/to-git", "../.git/HEAD".into()),
            ("links/to-ignored", "../ignored.txt".into()),
            ("links/up", "../../package.json".into()),
            ("links/abs-out", project.dir().join("package.json")),
            ("links/broken", "../missing".into()),
            ("only-broken/broken", "../missing".into()),
            ("sub/node_modules/link-in", "../../index.js".into()),
            ("sub/node_modules/link-out", "../../../package.json".into()),
        ];
        if own_modules {
            links.push(("links/to-own-modules", "../node_modules/y/index.js".into()));
        }
        for (rel, text) in links {
            symlink(text, dir.join(rel)).unwrap();
        }
    };
    let mut trees = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        lay_out(&project, "vendor");
        lay_out(&project, "lib");
        let args = ["install", "--frozen-lockfile", "--ignore-scripts"];
        assert_success(&project.run_tool(tool, &args), tool);
        trees.push(tack_suite::conformance::project_tree(&project));
    }
    let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
    assert!(
        differences.is_empty(),
        "tack's tree differs from pnpm 12's ({} differences):\n{}",
        differences.len(),
        differences.join("\n")
    );
    // What the rules above give, so that the comparison has something to compare.
    use tack_suite::tree::Entry;
    for copy in [
        "node_modules/.pnpm/vendorlib@file+vendor/node_modules/vendorlib",
        "node_modules/.pnpm/lib@file+lib/node_modules/lib",
    ] {
        let at = |rel: &str| trees[1].get(&format!("{copy}/{rel}"));
        let link = |text: &str| Entry::Symlink(text.to_string());
        assert_eq!(at("links/in"), Some(&link("../index.js")), "{copy}");
        assert_eq!(at("links/abs-in"), Some(&link("../index.js")), "{copy}");
        assert_eq!(at("links/root"), Some(&link("..")), "{copy}");
        assert_eq!(
            at("sub/node_modules/link-in"),
            Some(&link("../../index.js"))
        );
        assert!(
            matches!(
                at("links/to-ignored"),
                Some(Entry::File {
                    executable: true,
                    ..
                })
            ),
            "{copy}"
        );
        assert!(
            matches!(at("sub/node_modules/.bin/tool"), Some(Entry::File { .. })),
            "{copy}"
        );
        assert_eq!(at("only-broken"), Some(&Entry::Dir), "{copy}");
        if copy.contains("vendorlib") {
            let copied = at("links/to-own-modules");
            assert!(matches!(copied, Some(Entry::File { .. })), "{copied:?}");
        }
        let gone = [
            "links/up",
            "links/abs-out",
            "links/broken",
            "sub/node_modules/link-out",
            "node_modules",
        ];
        for gone in gone {
            assert_eq!(at(gone), None, "{copy}/{gone}");
        }
    }
}

/// Over a `node_modules` another package manager made (real directories where the direct
/// dependencies' links go), pnpm 12 moves each such directory aside to `.ignored_<name>` beside
/// it and links; nothing else is touched. So does tack. (tack refused: "is a directory, not a
/// symlink".)
#[test]
fn directories_another_installer_left_are_moved_aside_like_pnpm() {
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    let mut trees = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        project
            .write(
                "node_modules/is-odd/package.json",
                r#"{"name": "is-odd", "version": "0.0.1"}"#,
            )
            .write("node_modules/is-odd/mine.txt", "mine\n")
            .write(
                "node_modules/@tack-test/scoped/package.json",
                r#"{"name": "@tack-test/scoped", "version": "0.0.1"}"#,
            )
            .write("node_modules/unrelated/index.js", "1\n")
            // Another tool's `.bin` entry: pruned once every package is in place.
            .write("node_modules/.bin/unrelated", "#!/bin/sh\n");
        let args = ["install", "--frozen-lockfile", "--ignore-scripts"];
        let out = project.run_tool(tool, &args);
        assert_success(&out, tool);
        assert_eq!(
            fs_err::read_to_string(project.dir().join("node_modules/.ignored_is-odd/mine.txt"))
                .unwrap(),
            "mine\n",
            "{tool}"
        );
        trees.push(tack_suite::conformance::project_tree(&project));
    }
    let differences = tack_suite::tree::diff(&trees[0], &trees[1]);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// What another tool left in `node_modules/.bin` is pruned as pnpm 12 prunes it, on a first
/// install and on a forced one: its symlinks go (npm links its commands), and so do shims in
/// pnpm 12's format or `cmd-shim`'s, while any other file stays (tack removed every entry no
/// command claimed, a script someone put there included).
#[test]
fn bin_entries_another_tool_left_are_pruned_like_pnpm() {
    use std::os::unix::fs::symlink;
    let registry = registry::start();
    let reference = resolve_with_pnpm(&fixture("basic"), &registry.url());
    let listing = |project: &TestProject| sorted_names(&project.dir().join("node_modules/.bin"));
    let mut listings = Vec::new();
    for tool in ["pnpm", "tack"] {
        let project = tack_suite::conformance::clone_inputs(&reference);
        let pnpm_shim = "#!/bin/sh\n# Resolve $0 through symlinks so basedir is the shim's \
                         real directory.\nexec node \"$basedir/../npm-tool/cli.js\" \"$@\"\n";
        let old_shim = "#!/bin/sh\nbasedir=$(dirname \"$0\")\nexec node \"$basedir/x.js\"\n";
        project
            .write(
                "node_modules/npm-tool/package.json",
                r#"{"name": "npm-tool", "version": "1.0.0", "bin": "cli.js"}"#,
            )
            .write("node_modules/npm-tool/cli.js", "#!/usr/bin/env node\n")
            .write("node_modules/.bin/a-script", "#!/bin/sh\necho mine\n")
            .write("node_modules/.bin/notes.txt", "mine\n")
            .write("node_modules/.bin/a-pnpm-shim", pnpm_shim)
            .write("node_modules/.bin/a-cmd-shim", old_shim)
            .write("node_modules/.bin/tack-bin-string", old_shim);
        let bin = project.dir().join("node_modules/.bin");
        fs_err::set_permissions(bin.join("a-script"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        symlink("../npm-tool/cli.js", bin.join("npm-tool")).unwrap();
        symlink("../gone/cli.js", bin.join("dangling")).unwrap();
        let args = ["install", "--frozen-lockfile", "--ignore-scripts"];
        assert_success(&project.run_tool(tool, &args), tool);
        let fresh = listing(&project);
        project.write("node_modules/.bin/later-shim", old_shim);
        symlink("../npm-tool/cli.js", bin.join("later-link")).unwrap();
        let forced = [
            "install",
            "--frozen-lockfile",
            "--ignore-scripts",
            "--force",
        ];
        assert_success(&project.run_tool(tool, &forced), tool);
        listings.push((fresh, listing(&project)));
    }
    let (pnpm, tack) = (&listings[0], &listings[1]);
    assert_eq!(
        tack, pnpm,
        "the .bin entries (first install, forced install): tack, pnpm"
    );
    // What the case rests on, as pnpm 12.21 does it.
    for kept in ["a-script", "notes.txt", "tack-bin-string"] {
        assert!(pnpm.0.iter().any(|n| n == kept), "{kept}: {pnpm:?}");
    }
    for gone in ["npm-tool", "dangling", "a-pnpm-shim", "a-cmd-shim"] {
        assert!(!pnpm.0.iter().any(|n| n == gone), "{gone}: {pnpm:?}");
    }
}

/// pnpm 12 checks the workspace projects an install selects for cycles (their dependencies
/// of every group, a peer it installed included), right after the
/// "Scope" line: a warning naming each cycle's directories, an error
/// (`ERR_PNPM_DISALLOW_WORKSPACE_CYCLES`) with `disallowWorkspaceCycles`, nothing with
/// `ignoreWorkspaceCycles` or when the selection breaks the cycle. (tack never checked.)
#[test]
fn cyclic_workspace_dependencies_are_reported_like_pnpm() {
    let registry = registry::start();
    let reference = TestProject::new();
    reference
        .write("package.json", r#"{"name": "root", "private": true}"#)
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n",
        );
    for (name, deps) in [
        // a → c → b → a, and c ⇄ d: pnpm lists the first loop it walks from `a`, in walk
        // order, and not `d` (which sequences after the listed cycle).
        ("a", r#""dependencies": {"c": "workspace:*"}"#),
        (
            "c",
            r#""devDependencies": {"b": "workspace:*"}, "optionalDependencies": {"d": "workspace:*"}"#,
        ),
        ("b", r#""dependencies": {"a": "workspace:*"}"#),
        ("d", r#""dependencies": {"c": "workspace:*"}"#),
        ("z", r#""dependencies": {"y": "workspace:*"}"#),
        ("y", r#""optionalDependencies": {"z": "workspace:*"}"#),
        // A peer pnpm installs for `p` counts.
        ("p", r#""peerDependencies": {"q": "workspace:*"}"#),
        ("q", r#""dependencies": {"p": "workspace:*"}"#),
        ("s", r#""dependencies": {"s": "workspace:*"}"#),
    ] {
        reference.write(
            &format!("packages/{name}/package.json"),
            &format!(r#"{{"name": "{name}", "version": "1.0.0", {deps}}}"#),
        );
    }
    reference.lock_with_pnpm();
    let cases: [(&[&str], &str); 5] = [
        (&[], ""),
        (&["--filter", "a..."], ""),
        (&["--filter", "a", "--filter", "b"], ""),
        (&[], "disallowWorkspaceCycles: true\n"),
        (&[], "ignoreWorkspaceCycles: true\n"),
    ];
    for (args, settings) in cases {
        let runs = ["pnpm", "tack"].map(|tool| {
            let project = tack_suite::conformance::clone_inputs(&reference);
            project.add_settings(settings);
            let mut full = vec!["install", "--frozen-lockfile"];
            full.extend_from_slice(args);
            let out = project.run_tool(tool, &full);
            let dir = project.dir().display().to_string();
            let said = |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&dir, "<dir>");
            let lines: Vec<String> = said(&out.stdout)
                .lines()
                .filter(|l| !l.starts_with("Done in"))
                .map(str::to_string)
                .collect();
            (out.status.code(), lines, said(&out.stderr))
        });
        let context = format!("{args:?} {settings}");
        assert_eq!(runs[0].0, runs[1].0, "{context}: exit codes");
        assert_eq!(runs[0].1, runs[1].1, "{context}: stdout");
        let cycles = "There are cyclic workspace dependencies: <dir>/packages/a, \
                      <dir>/packages/c, <dir>/packages/b; <dir>/packages/p, <dir>/packages/q; \
                      <dir>/packages/y, <dir>/packages/z";
        match (args.len(), settings) {
            (0, "") => assert_eq!(runs[1].1[1], format!("[WARN] {cycles}"), "{context}"),
            (2, _) => assert!(
                runs[1].1.iter().any(|l| l.ends_with(
                    "dependencies: <dir>/packages/a, <dir>/packages/c, <dir>/packages/b"
                )),
                "{context}: {:#?}",
                runs[1].1
            ),
            (0, s) if s.starts_with("disallow") => {
                assert!(
                    runs[1].2.contains("ERR_PNPM_DISALLOW_WORKSPACE_CYCLES"),
                    "{}",
                    runs[1].2
                );
                assert!(runs[1].2.contains(cycles), "{}", runs[1].2);
            }
            _ => assert!(
                !runs[1].1.iter().any(|l| l.contains("cyclic")),
                "{context}: {:#?}",
                runs[1].1
            ),
        }
    }
}

/// An override that reaches a project's own dependency changes the specifier pnpm 12 records
/// for it (`^7.0.0` under `is-number: 6.0.0` is `6.0.0`), by name, by a parent selector
/// naming the workspace project (`lib@^1>…`), through a catalog, or removes it (`-`). A
/// frozen install compares the manifest as the overrides leave it. (tack compared the
/// manifest as written and failed with `ERR_PNPM_OUTDATED_LOCKFILE`.)
#[test]
fn overrides_of_a_project_s_own_dependencies_install_frozen_like_pnpm() {
    let registry = registry::start();
    let single = TestProject::new();
    single
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0",
                "dependencies": {"is-number": "^7.0.0", "is-odd": "^3.0.1"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "minimumReleaseAge: 0\ncatalog:\n  is-number: 6.0.0\noverrides:\n  is-number: 'catalog:'\n",
        );
    let workspace = TestProject::new();
    workspace
        .write("package.json", r#"{"name": "root", "private": true}"#)
        .write(
            "packages/lib/package.json",
            r#"{"name": "lib", "version": "1.0.0",
                "dependencies": {"is-number": "^7.0.0", "is-odd": "^3.0.1"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write(
            "pnpm-workspace.yaml",
            "packages:\n  - packages/*\nminimumReleaseAge: 0\n\
             overrides:\n  'lib@^1>is-number': 6.0.0\n  is-odd: '-'\n",
        );
    for (project, importer) in [(&single, "."), (&workspace, "packages/lib")] {
        project.lock_with_pnpm();
        let tack = assert_same_tree(project, &[]);
        let lock = fs_err::read_to_string(tack.dir().join("pnpm-lock.yaml")).unwrap();
        assert!(
            lock.contains(&format!(
                "  {importer}:\n    dependencies:\n      is-number:\n        specifier: 6.0.0\n"
            )),
            "{lock}"
        );
        let modules = tack.dir().join(importer).join("node_modules");
        let linked = fs_err::read_link(modules.join("is-number")).unwrap();
        assert!(
            linked.to_string_lossy().contains("is-number@6.0.0"),
            "{}",
            linked.display()
        );
    }
}

/// pnpm 12 gives a tarball URL or a local path whose part after the protocol has `+`, `#`, `:`
/// or `?` (a registry port, a directory named `c+x`) a virtual-store name with a hash of its
/// dep path, so that it cannot share a directory with one that had `/` there. (tack named
/// them `…+8765+…` and `cx@file+local+c+x` without the hash.)
#[test]
fn urls_and_paths_with_ambiguous_characters_get_hashed_store_names_like_pnpm() {
    let registry = registry::start();
    // Another server's tarball: a URL of the configured registry pnpm takes for a registry
    // package.
    let elsewhere = registry::start();
    let project = TestProject::new();
    let tarball = format!("{}is-odd/-/is-odd-3.0.1.tgz", elsewhere.url());
    assert!(tarball.contains("127.0.0.1:"), "{tarball}");
    project
        .write(
            "package.json",
            &format!(
                r#"{{"name": "p", "version": "1.0.0",
                    "dependencies": {{"odd": "{tarball}", "cx": "file:local/c+x"}}}}"#
            ),
        )
        .write(
            "local/c+x/package.json",
            r#"{"name": "cx", "version": "1.0.0"}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    project.lock_with_pnpm();
    let tack = assert_same_tree(&project, &[]);
    let names: Vec<String> = fs_err::read_dir(tack.dir().join("node_modules/.pnpm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for prefix in ["cx@file+local+c+x_", "is-odd@http+++127.0.0.1+"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(prefix) && n.len() >= prefix.len() + 32),
            "{prefix}: {names:?}"
        );
    }
}

/// A package this host does not fit, reached by a regular dependency, is installed with a
/// warning in pnpm 12's words (`wanted {"os":["darwin"],"cpu":[…]} (current: {…})`, `wanted:
/// {"node":">=99"}` for engines), printed before "Lockfile is up to date"; with
/// `engineStrict` the install fails before that line. (tack had its own wording, with the
/// code, after the line.)
#[test]
fn unsupported_platform_and_engine_warnings_are_printed_like_pnpm() {
    let registry = registry::start();
    let reference = TestProject::new();
    reference
        .write(
            "package.json",
            r#"{"name": "p", "version": "1.0.0",
                "dependencies": {"only-darwin": "1.0.0", "future": "file:./future"}}"#,
        )
        .write(
            "future/package.json",
            r#"{"name": "future", "version": "1.0.0", "engines": {"node": ">=99"}}"#,
        )
        .write(".npmrc", &format!("registry={}\n", registry.url()))
        .write("pnpm-workspace.yaml", "minimumReleaseAge: 0\n");
    reference.lock_with_pnpm();
    for strict in [false, true] {
        let runs = ["pnpm", "tack"].map(|tool| {
            let copy = tack_suite::conformance::clone_inputs(&reference);
            if strict {
                copy.add_settings("engineStrict: true\n");
            }
            let out = copy.run_tool(tool, &["install", "--frozen-lockfile"]);
            let raw = String::from_utf8_lossy(&out.stdout).into_owned();
            (
                out.status.code(),
                tack_suite::conformance::comparable_output(&out.stdout),
                raw,
            )
        });
        assert_eq!(runs[0].0, runs[1].0, "strict {strict}: exit codes");
        assert_eq!(runs[0].1, runs[1].1, "strict {strict}");
        let tack = &runs[1].2;
        if strict {
            assert!(!tack.contains("Lockfile is up to date"), "{tack}");
            continue;
        }
        let platform = tack
            .find("[WARN] Unsupported platform for only-darwin@1.0.0: wanted {\"os\":[\"darwin\"],\"cpu\":[\"x64\",\"arm64\"]} (current: {\"os\":\"linux\"");
        let engine = tack.find(
            "[WARN] Unsupported engine for future@file:future: wanted: {\"node\":\">=99\"} (current: {\"node\":\"",
        );
        let lockfile_line = tack.find("Lockfile is up to date");
        assert!(
            platform.is_some()
                && engine.is_some()
                && platform < lockfile_line
                && engine < lockfile_line,
            "{tack}"
        );
    }
}
