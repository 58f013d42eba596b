//! Bins: pnpm 12 shim text (compared byte-for-byte with shims captured from a real pnpm
//! 12.21.0 install), placement at depth 0 / hoisted / children / self, conflicts, chmod,
//! and rejected names.

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use tack_linker::*;

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pnpm12-shims")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The same layout as the captured pnpm install (see fixtures/pnpm12-shims/README.md).
#[test]
fn shims_match_pnpm_12_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let mut mybin = cas.package(
        "mybin",
        "1.0.0",
        r#""bin":{"my-cli":"bin/cli.js","mybin":"bin/self.js"}"#,
        &[
            ("bin/cli.js", "#!/usr/bin/env node\nconsole.log(\"hi\")\n"),
            ("bin/self.js", "#!/usr/bin/env node\n"),
        ],
    );
    mybin.dep_path = "mybin@file:../src/mybin.tgz".into();
    mybin.dir_name = "mybin@file+..+src+mybin.tgz".into();
    mybin.children = vec![("dep2".into(), dep("dep2@file:../src/dep2.tgz"))];
    let mut dep2 = cas.package(
        "dep2",
        "2.0.0",
        r#""bin":"bin/d.js""#,
        &[("bin/d.js", "#!/usr/bin/env node\n1\n")],
    );
    dep2.dep_path = "dep2@file:../src/dep2.tgz".into();
    dep2.dir_name = "dep2@file+..+src+dep2.tgz".into();
    let mut plan = LinkPlan::new(&root);
    plan.packages = vec![mybin, dep2];
    plan.importers = vec![importer(
        ".",
        &root,
        &[("mybin", dep("mybin@file:../src/mybin.tgz"))],
    )];
    let report = link(&plan).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let nm = root.join("node_modules");
    let vs = nm.join(".pnpm");
    let mybin_dir = vs.join("mybin@file+..+src+mybin.tgz/node_modules/mybin");
    assert_eq!(list(&nm.join(".bin")), ["my-cli", "mybin"]);
    assert_eq!(read(&nm.join(".bin/my-cli")), fixture("root-bin-my-cli"));
    assert_eq!(list(&vs.join("node_modules/.bin")), ["dep2"]);
    assert_eq!(
        read(&vs.join("node_modules/.bin/dep2")),
        fixture("hoisted-bin-dep2")
    );
    assert_eq!(
        list(&mybin_dir.join("node_modules/.bin")),
        ["dep2", "my-cli", "mybin"]
    );
    assert_eq!(
        read(&mybin_dir.join("node_modules/.bin/dep2")),
        fixture("child-bin-dep2")
    );
    assert_eq!(
        read(&mybin_dir.join("node_modules/.bin/mybin")),
        fixture("self-bin-mybin")
    );
    // dep2's own bin (pnpm 12 self-bin).
    assert!(vs
        .join("dep2@file+..+src+dep2.tgz/node_modules/dep2/node_modules/.bin/dep2")
        .is_file());
    assert_eq!(mode(&nm.join(".bin/my-cli")), 0o755);
    // Shims in a slot this link created are written directly, not through a temp file:
    // same text, same mode, and no leftovers.
    assert_eq!(mode(&mybin_dir.join("node_modules/.bin/dep2")), 0o755);
}

/// `app` (with `app_files`) depending on `tool`, whose bin `tool` lands in app's own `.bin`.
/// Returns the plan and that `.bin` directory.
fn app_using_a_tool(root: &Path, cas: &Cas, app_files: &[(&str, &str)]) -> (LinkPlan, PathBuf) {
    let mut app = cas.package("app", "1.0.0", "", app_files);
    app.children = vec![("tool".into(), dep("tool@1.0.0"))];
    let tool = cas.package(
        "tool",
        "1.0.0",
        r#""bin":"cli.js""#,
        &[("cli.js", "#!/usr/bin/env node\n")],
    );
    let mut plan = LinkPlan::new(root);
    plan.packages = vec![app, tool];
    plan.importers = vec![importer(".", root, &[("app", dep("app@1.0.0"))])];
    let bin = root.join("node_modules/.pnpm/app@1.0.0/node_modules/app/node_modules/.bin");
    (plan, bin)
}

/// A package's `.bin` is written straight into a slot the link has just created; a shim torn
/// by a crash there is found and rewritten by the next link, which sees the slot as reused.
#[test]
fn a_torn_shim_in_a_package_slot_is_rewritten_by_the_next_link() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let (plan, bin) = app_using_a_tool(&root, &cas, &[("index.js", "")]);
    link(&plan).unwrap();
    assert_eq!(list(&bin), ["tool"]);
    let shim = bin.join("tool");
    let whole = read(&shim);
    assert!(whole.contains("cli.js"), "{whole}");
    assert_eq!(mode(&shim), 0o755);

    fs::write(&shim, &whole[..whole.len() / 2]).unwrap();
    let report = link(&plan).unwrap();
    assert_eq!(
        report.reused, 2,
        "the second link must see both slots as complete"
    );
    assert_eq!(read(&shim), whole);
    assert_eq!(list(&bin), ["tool"]);
}

/// A package that ships its own `node_modules/.bin` (bundled dependencies) has a `.bin` in
/// its fresh slot already: the link falls back to comparing, replacing and pruning.
#[test]
fn a_bin_dir_shipped_in_the_tarball_is_pruned_to_the_chosen_shims() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    // A shim in `cmd-shim`'s format, which the prune removes (a plain file would stay).
    let stale_shim = "#!/bin/sh\nbasedir=$(dirname \"$0\")\n";
    let shipped = [("index.js", ""), ("node_modules/.bin/stale", stale_shim)];
    let (plan, bin) = app_using_a_tool(&root, &cas, &shipped);
    link(&plan).unwrap();
    assert_eq!(list(&bin), ["tool"]);
    assert!(read(&bin.join("tool")).contains("cli.js"));
}

/// A package with `bundledDependencies` lists the bins of every package in its own
/// `node_modules` (scoped ones too) in its `.bin`, beside its children's, with the bundled
/// package's and the shipping package's `node_modules` on `NODE_PATH`. A bundled manifest
/// that is not JSON costs a warning, not the install. (pnpm 12's layout, checked against
/// real pnpm by the suite's conformance test, which takes the early-bins path.)
#[test]
fn bins_of_bundled_dependencies_go_into_the_shipping_package_bin_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let shipped = [
        ("index.js", ""),
        (
            "node_modules/bundled/package.json",
            r#"{"name":"bundled","version":"1.0.0","bin":{"b-cmd":"b.js"}}"#,
        ),
        ("node_modules/bundled/b.js", "#!/usr/bin/env node\n"),
        (
            "node_modules/@s/scoped/package.json",
            r#"{"name":"@s/scoped","version":"1.0.0","bin":"s.js"}"#,
        ),
        ("node_modules/@s/scoped/s.js", "#!/usr/bin/env node\n"),
        ("node_modules/broken/package.json", "{not json"),
    ];
    let (mut plan, bin) = app_using_a_tool(&root, &cas, &shipped);
    plan.packages[0].has_bundled_dependencies = true;
    let report = link(&plan).unwrap();
    assert_eq!(list(&bin), ["b-cmd", "scoped", "tool"]);
    let shim = read(&bin.join("b-cmd"));
    assert!(
        shim.contains(
            r#"export NODE_PATH="$basedir_abs"/'../bundled/node_modules':"$basedir_abs"/'..':"#
        ),
        "{shim}"
    );
    assert!(
        shim.ends_with("# cmd-shim-target=../bundled/b.js\n"),
        "{shim}"
    );
    let app = root.join("node_modules/.pnpm/app@1.0.0/node_modules/app");
    assert_eq!(mode(&app.join("node_modules/bundled/b.js")), 0o755);
    assert!(
        report.warnings.iter().any(|w| w.contains("broken")),
        "{:?}",
        report.warnings
    );
    // Without the lockfile's `bundledDependencies`, nothing shipped is looked at.
    let other = tmp.path().join("other");
    let (plan, bin) = app_using_a_tool(&other, &cas, &shipped);
    link(&plan).unwrap();
    assert_eq!(list(&bin), ["tool"]);
}

#[test]
fn workspace_bin_shim_matches_pnpm_12() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    let (a, b) = (root.join("packages/a"), root.join("packages/b"));
    std::fs::create_dir_all(b.join("bin")).unwrap();
    std::fs::create_dir_all(&a).unwrap();
    std::fs::write(
        b.join("package.json"),
        r#"{"name":"@s/b","version":"1.0.0","bin":{"b-cli":"bin/b.js"}}"#,
    )
    .unwrap();
    std::fs::write(b.join("bin/b.js"), "#!/usr/bin/env node\n").unwrap();
    let user_mode = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o644);
    fs::set_permissions(b.join("bin/b.js"), user_mode).unwrap();
    let mut plan = LinkPlan::new(&root);
    let mut root_imp = importer(".", &root, &[]);
    root_imp.name = Some("root".into());
    let mut a_imp = importer("packages/a", &a, &[("@s/b", ChildTarget::Link(b.clone()))]);
    a_imp.name = Some("a".into());
    let mut b_imp = importer("packages/b", &b, &[]);
    b_imp.name = Some("@s/b".into());
    plan.importers = vec![root_imp, a_imp, b_imp];
    link(&plan).unwrap();
    assert_eq!(
        read(&a.join("node_modules/.bin/b-cli")),
        fixture("workspace-bin-b-cli")
    );
    // A project's files are the user's: pnpm 12 leaves the bin target's mode alone.
    assert_eq!(mode(&b.join("bin/b.js")), 0o644);
    assert_eq!(readlink(&a.join("node_modules/@s/b")), "../../../b");
    let vs_nm = root.join("node_modules/.pnpm/node_modules");
    assert_eq!(readlink(&vs_nm.join("@s/b")), "../../../../packages/b");
    assert_eq!(readlink(&vs_nm.join("a")), "../../../packages/a");
    let modules = read_modules_yaml(&root.join("node_modules")).unwrap();
    assert_eq!(
        serde_json::Value::Object(modules.hoisted_dependencies),
        serde_json::json!({"packages/a": {"a": "private"}, "packages/b": {"@s/b": "private"}})
    );
}

fn trailer(p: &Path) -> String {
    read(p).lines().last().unwrap().to_string()
}

#[test]
fn bin_conflicts_follow_pnpm_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let js = "#!/usr/bin/env node\n";
    // `foo` owns the name foo even though `zzz` is lexically greater.
    let foo = cas.package(
        "foo",
        "1.0.0",
        r#""bin":{"foo":"bin/a.js"}"#,
        &[("bin/a.js", js)],
    );
    let zzz = cas.package(
        "zzz",
        "1.0.0",
        r#""bin":{"foo":"bin/z.js","x":"bin/z.js"}"#,
        &[("bin/z.js", js)],
    );
    // Neither owns `x`: pnpm 12.21 keeps the lexically smaller name (aaa over zzz;
    // observed with tack-bin-conflict over tack-bin-map).
    let aaa = cas.package(
        "aaa",
        "1.0.0",
        r#""bin":{"x":"bin/x.js"}"#,
        &[("bin/x.js", js)],
    );
    // Two versions of one package under different aliases: the higher wins.
    let t1 = cas.package(
        "tool",
        "1.9.0",
        r#""bin":{"t":"bin/t1.js"}"#,
        &[("bin/t1.js", js)],
    );
    let t2 = cas.package(
        "tool",
        "1.10.0",
        r#""bin":{"t":"bin/t2.js"}"#,
        &[("bin/t2.js", js)],
    );
    let mut plan = LinkPlan::new(&root);
    plan.packages = vec![foo, zzz, aaa, t1, t2];
    plan.importers = vec![importer(
        ".",
        &root,
        &[
            ("zzz", dep("zzz@1.0.0")),
            ("foo", dep("foo@1.0.0")),
            ("aaa", dep("aaa@1.0.0")),
            ("t-new", dep("tool@1.10.0")),
            ("t-old", dep("tool@1.9.0")),
        ],
    )];
    link(&plan).unwrap();
    let bin = root.join("node_modules/.bin");
    assert_eq!(
        trailer(&bin.join("foo")),
        "# cmd-shim-target=../.pnpm/foo@1.0.0/node_modules/foo/bin/a.js"
    );
    assert_eq!(
        trailer(&bin.join("x")),
        "# cmd-shim-target=../.pnpm/aaa@1.0.0/node_modules/aaa/bin/x.js"
    );
    assert_eq!(
        trailer(&bin.join("t")),
        "# cmd-shim-target=../.pnpm/tool@1.10.0/node_modules/tool/bin/t2.js"
    );
}

#[test]
fn bin_targets_are_made_executable_and_bad_names_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let pkg = cas.package(
        "p",
        "1.0.0",
        r#""bin":{"ok":"lib/t.js","../evil":"lib/t.js","esc":"../../../../../etc/passwd"}"#,
        &[("lib/t.js", "#!/usr/bin/env node\n")],
    );
    let PackageFiles::Cas(files) = &pkg.files else {
        unreachable!()
    };
    let cas_target = files[0].1.clone();
    assert_eq!(mode(&cas_target), 0o644);
    let mut plan = LinkPlan::new(&root);
    plan.import_method = ImportMethod::Hardlink;
    plan.packages = vec![pkg];
    plan.importers = vec![importer(".", &root, &[("p", dep("p@1.0.0"))])];
    let report = link(&plan).unwrap();
    let bin = root.join("node_modules/.bin");
    assert_eq!(list(&bin), ["ok"]);
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
    assert_eq!(
        mode(&root.join("node_modules/.pnpm/p@1.0.0/node_modules/p/lib/t.js")),
        0o755
    );
    // Through the hardlink the CAS file's mode changed too, as with pnpm.
    assert_eq!(mode(&cas_target), 0o755);
    assert!(!tmp.path().join("evil").exists() && !root.join("node_modules/evil").exists());
}

#[test]
fn directories_bin_provides_every_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let js = "#!/usr/bin/env node\n";
    let mut pkg = cas.package(
        "d",
        "1.0.0",
        r#""directories":{"bin":"./cmds"}"#,
        &[("cmds/one", js), ("cmds/sub/two", js)],
    );
    pkg.has_bin = true;
    let mut plan = LinkPlan::new(&root);
    plan.packages = vec![pkg];
    plan.importers = vec![importer(".", &root, &[("d", dep("d@1.0.0"))])];
    link(&plan).unwrap();
    assert_eq!(list(&root.join("node_modules/.bin")), ["one", "two"]);
}

#[test]
fn a_native_binary_bin_is_executed_directly_after_relinking() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    // Like esbuild: the published bin is a JS launcher that a postinstall replaces with the
    // native binary.
    let pkg = cas.package(
        "native",
        "1.0.0",
        r#""bin":{"native":"bin/native"}"#,
        &[("bin/native", "#!/usr/bin/env node\nrequire('../install')\n")],
    );
    let mut plan = LinkPlan::new(&root);
    plan.packages = vec![pkg];
    plan.importers = vec![importer(".", &root, &[("native", dep("native@1.0.0"))])];
    link(&plan).unwrap();
    let shim = root.join("node_modules/.bin/native");
    assert!(fs::read_to_string(&shim).unwrap().contains("exec node "));

    let target = root.join("node_modules/.pnpm/native@1.0.0/node_modules/native/bin/native");
    fs::remove_file(&target).unwrap();
    fs::write(&target, b"\x7fELF\x02\x01\x01\0binary").unwrap();
    tack_linker::relink_bins(&plan, &Default::default()).unwrap();
    let text = fs::read_to_string(&shim).unwrap();
    assert!(
        text.contains("exec \"$basedir_abs\"/'../.pnpm/native@1.0.0/node_modules/native/bin/native'  \"$@\"\nexit $?\n"),
        "{text}"
    );
    assert!(!text.contains("exec node "), "{text}");
}

/// A tree where `app` uses the tool `tool` (which has a bin) and `plain` (which has none).
fn app_with_tool_and_plain(root: &Path, cas: &Cas) -> LinkPlan {
    let mut app = cas.package("app", "1.0.0", "", &[("index.js", "")]);
    app.children = vec![
        ("tool".into(), dep("tool@2.0.0")),
        ("plain".into(), dep("plain@1.0.0")),
    ];
    let tool = cas.package(
        "tool",
        "2.0.0",
        r#""bin":{"tool":"bin/tool.js"}"#,
        &[("bin/tool.js", "#!/usr/bin/env node\n")],
    );
    let plain = cas.package("plain", "1.0.0", "", &[("index.js", "")]);
    let mut plan = LinkPlan::new(root);
    plan.packages = vec![app, tool, plain];
    plan.importers = vec![importer(".", root, &[("app", dep("app@1.0.0"))])];
    plan
}

/// Every `.bin` entry under `root/node_modules`, with its text (the root's path taken out).
fn bin_entries(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.join("node_modules")];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if path.parent().is_some_and(|p| p.ends_with(".bin")) {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                let root_text = root.display().to_string();
                out.push((rel, read(&path).replace(&root_text, "<root>")));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_package_bin_dir_is_written_once_it_and_its_children_are_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let cas = Cas::new(tmp.path());
    let root = tmp.path().join("early");
    let plan = app_with_tool_and_plain(&root, &cas);
    let importer = PackageImporter::new(plan.import_method);
    let early = std::sync::Arc::new(EarlyBins::new(&plan));
    let app_bins = plan
        .package_dir(&plan.packages[0])
        .join("node_modules/.bin");
    let tool_bins = plan
        .package_dir(&plan.packages[1])
        .join("node_modules/.bin");
    let mut summary = ImportSummary::default();
    let mut place = |i: usize| {
        let pkg = &plan.packages[i];
        let outcome = import_package(pkg, &plan.virtual_store_dir, &importer).unwrap();
        assert_eq!(outcome, ImportOutcome::Imported);
        summary.record(pkg.dep_path.clone(), outcome);
        early.in_place(&plan, i, true);
    };

    // `app` waits for `tool`, whose manifest is not there yet; `plain` has no bins.
    place(0);
    place(2);
    assert!(
        !app_bins.exists(),
        "written before its child with bins was in place"
    );
    place(1);
    assert_eq!(list(&app_bins), ["tool"]);
    assert_eq!(list(&tool_bins), ["tool"]);

    // `finish` leaves them as they are and writes the rest: the tree is what `link` makes.
    summary.early_bins = Some(early);
    let report = finish(&plan, &summary).unwrap();
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let other = tmp.path().join("plain-link");
    link(&app_with_tool_and_plain(&other, &cas)).unwrap();
    let written = bin_entries(&root);
    assert_eq!(written.len(), 3, "{written:?}");
    assert_eq!(written, bin_entries(&other));
}

#[test]
fn a_reused_package_bin_dir_is_left_to_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let cas = Cas::new(tmp.path());
    let root = tmp.path().join("proj");
    let plan = app_with_tool_and_plain(&root, &cas);
    link(&plan).unwrap();
    let app_bins = plan
        .package_dir(&plan.packages[0])
        .join("node_modules/.bin");
    // A stale shim that only the careful path (compare and prune) removes; a plain file that
    // no prune removes, as pnpm 12 leaves it.
    fs::write(
        app_bins.join("stale"),
        "#!/bin/sh\nbasedir=$(dirname \"$0\")\n",
    )
    .unwrap();
    fs::write(app_bins.join("notes.txt"), "mine\n").unwrap();

    let early = EarlyBins::new(&plan);
    for i in 0..plan.packages.len() {
        early.in_place(&plan, i, false);
    }
    assert_eq!(list(&app_bins), ["notes.txt", "stale", "tool"]);
    let mut summary = ImportSummary::default();
    for pkg in &plan.packages {
        summary.record(pkg.dep_path.clone(), ImportOutcome::Reused);
    }
    summary.early_bins = Some(std::sync::Arc::new(early));
    finish(&plan, &summary).unwrap();
    assert_eq!(list(&app_bins), ["notes.txt", "tool"]);
}

#[test]
fn the_top_level_bin_dirs_are_written_once_the_hoisting_is_known_and_their_packages_arrive() {
    let tmp = tempfile::tempdir().unwrap();
    let cas = Cas::new(tmp.path());
    let other = tmp.path().join("plain-link");
    link(&app_with_tool_and_plain(&other, &cas)).unwrap();
    // The hoisting known first (the packages arrive after it), or last.
    for hoisting_first in [true, false] {
        let root = tmp.path().join(format!("early-{hoisting_first}"));
        let plan = app_with_tool_and_plain(&root, &cas);
        let importer = PackageImporter::new(plan.import_method);
        let early = std::sync::Arc::new(EarlyBins::new(&plan));
        // `tool` is hoisted privately: `<vs>/node_modules/.bin` lists it.
        let hidden_bins = plan.virtual_store_dir.join("node_modules/.bin");
        let hoisted = link_top_level(&plan, &EarlyTopLevel::default(), None).unwrap();
        let mut summary = ImportSummary::default();
        let mut place = |i: usize| {
            let pkg = &plan.packages[i];
            let outcome = import_package(pkg, &plan.virtual_store_dir, &importer).unwrap();
            summary.record(pkg.dep_path.clone(), outcome);
            early.in_place(&plan, i, true);
        };
        if hoisting_first {
            early.hoisting_known(&plan, &hoisted);
            place(0);
            place(2);
            assert!(
                !hidden_bins.exists(),
                "written before the package with bins was in place"
            );
            place(1);
        } else {
            (0..3).for_each(&mut place);
            assert!(
                !hidden_bins.exists(),
                "written before the hoisting was known"
            );
            early.hoisting_known(&plan, &hoisted);
        }
        assert_eq!(list(&hidden_bins), ["tool"]);
        // A shim `finish` would not write: it must leave the directory alone.
        fs::write(hidden_bins.join("marker"), "").unwrap();

        summary.early_bins = Some(early);
        summary.top_level_linked = Some(hoisted);
        let report = finish(&plan, &summary).unwrap();
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
        assert_eq!(
            list(&hidden_bins),
            ["marker", "tool"],
            "rewritten by finish"
        );
        fs::remove_file(hidden_bins.join("marker")).unwrap();
        assert_eq!(bin_entries(&root), bin_entries(&other));
    }
}
