//! Hoisting: order by depth then virtual-store dir name, reserved root aliases, lowercase
//! collisions, public vs private, and the hoisted `.bin`.

mod common;
use common::*;
use tack_linker::*;

#[test]
fn private_hoisting_order_tie_break_and_reserved_names() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    // zeta is listed first but alpha sorts first: alpha's `c` (2.0.0) wins.
    let mut zeta = cas.package("zeta", "1.0.0", "", &[]);
    zeta.children = vec![
        ("c".into(), dep("c@1.0.0")),
        ("shared".into(), dep("c@1.0.0")),
    ];
    let mut alpha = cas.package("alpha", "1.0.0", "", &[]);
    alpha.children = vec![
        ("c".into(), dep("c@2.0.0")),
        ("Deep".into(), dep("deep@1.0.0")),
    ];
    let mut c1 = cas.package("c", "1.0.0", "", &[]);
    // depth 1 offers `deep` (lowercase collision with `Deep` from depth 0) and `leaf`.
    c1.children = vec![
        ("deep".into(), dep("deep@2.0.0")),
        ("leaf".into(), dep("leaf@1.0.0")),
    ];
    let c2 = cas.package("c", "2.0.0", "", &[]);
    let d1 = cas.package("deep", "1.0.0", "", &[]);
    let d2 = cas.package("deep", "2.0.0", "", &[]);
    let leaf = cas.package(
        "leaf",
        "1.0.0",
        r#""bin":"bin/leaf.js""#,
        &[("bin/leaf.js", "#!/usr/bin/env node\n")],
    );
    let shared = cas.package("shared", "1.0.0", "", &[]);
    let mut plan = LinkPlan::new(&root);
    plan.packages = vec![zeta, alpha, c1, c2, d1, d2, leaf, shared];
    plan.importers = vec![importer(
        ".",
        &root,
        &[
            ("zeta", dep("zeta@1.0.0")),
            ("alpha", dep("alpha@1.0.0")),
            ("shared", dep("shared@1.0.0")),
        ],
    )];
    let report = link(&plan).unwrap();
    let got: Vec<(String, String)> = report
        .hoisted
        .iter()
        .map(|h| (h.alias.clone(), h.key.clone()))
        .collect();
    let want: Vec<(String, String)> = [
        ("c", "c@2.0.0"),
        ("Deep", "deep@1.0.0"),
        ("leaf", "leaf@1.0.0"),
    ]
    .iter()
    .map(|(a, k)| (a.to_string(), k.to_string()))
    .collect();
    assert_eq!(got, want);
    assert!(report.hoisted.iter().all(|h| h.kind == HoistKind::Private));
    let vs_nm = root.join("node_modules/.pnpm/node_modules");
    assert_eq!(readlink(&vs_nm.join("c")), "../c@2.0.0/node_modules/c");
    assert!(std::fs::symlink_metadata(vs_nm.join("shared")).is_err());
    assert!(std::fs::symlink_metadata(vs_nm.join("deep")).is_err());
    assert!(vs_nm.join(".bin/leaf").is_file());
    assert!(!root.join("node_modules/.bin/leaf").exists());
    let modules = read_modules_yaml(&root.join("node_modules")).unwrap();
    let keys: Vec<&String> = modules.hoisted_dependencies.keys().collect();
    assert_eq!(keys, ["c@2.0.0", "deep@1.0.0", "leaf@1.0.0"]);
}

#[test]
fn public_hoisting_links_into_the_root_with_bins_and_leaves_foreign_entries() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let js = "#!/usr/bin/env node\n";
    let mut app = cas.package("app", "1.0.0", "", &[]);
    app.children = vec![
        ("eslint-x".into(), dep("eslint-x@1.0.0")),
        ("prettier-y".into(), dep("prettier-y@1.0.0")),
        ("other".into(), dep("other@1.0.0")),
    ];
    let eslint = cas.package(
        "eslint-x",
        "1.0.0",
        r#""bin":{"lint":"bin/l.js"}"#,
        &[("bin/l.js", js)],
    );
    let prettier = cas.package("prettier-y", "1.0.0", "", &[]);
    let other = cas.package("other", "1.0.0", "", &[]);
    // The user's own directory where a public link would go is left alone.
    std::fs::create_dir_all(root.join("node_modules/prettier-y")).unwrap();
    let mut plan = LinkPlan::new(&root);
    plan.public_hoist_pattern = Some(vec!["*eslint*".into(), "*prettier*".into()]);
    plan.packages = vec![app, eslint, prettier, other];
    plan.importers = vec![importer(".", &root, &[("app", dep("app@1.0.0"))])];
    link(&plan).unwrap();
    let nm = root.join("node_modules");
    assert_eq!(
        readlink(&nm.join("eslint-x")),
        ".pnpm/eslint-x@1.0.0/node_modules/eslint-x"
    );
    assert!(std::fs::symlink_metadata(nm.join("prettier-y"))
        .unwrap()
        .is_dir());
    assert_eq!(
        readlink(&nm.join(".pnpm/node_modules/other")),
        "../other@1.0.0/node_modules/other"
    );
    assert!(nm.join(".bin/lint").is_file());
    let modules = read_modules_yaml(&nm).unwrap();
    assert_eq!(
        modules.hoisted_dependencies["eslint-x@1.0.0"],
        serde_json::json!({"eslint-x": "public"})
    );
}

#[test]
fn empty_patterns_hoist_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let mut a = cas.package("a", "1.0.0", "", &[]);
    a.children = vec![("b".into(), dep("b@1.0.0"))];
    let b = cas.package("b", "1.0.0", "", &[]);
    let mut plan = LinkPlan::new(&root);
    plan.hoist_pattern = vec![];
    plan.packages = vec![a, b];
    plan.importers = vec![importer(".", &root, &[("a", dep("a@1.0.0"))])];
    let report = link(&plan).unwrap();
    assert!(report.hoisted.is_empty());
    assert!(!root.join("node_modules/.pnpm/node_modules/b").exists());
}
