//! Tree shape: virtual-store dirs, child symlinks, importer links, scoped names, self deps,
//! `link:` deps, file: directories, hardlinks and force_copy.

mod common;
use common::*;
use tack_linker::*;

#[test]
fn virtual_store_children_and_importer_links() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let mut is_odd = cas.package(
        "is-odd",
        "3.0.1",
        "",
        &[("index.js", "odd"), ("lib/deep/x.js", "x")],
    );
    is_odd.children = vec![("is-number".into(), dep("is-number@6.0.0"))];
    let is_number = cas.package("is-number", "6.0.0", "", &[("index.js", "num")]);
    let mut scoped = cas.package("@sindresorhus/is", "4.6.0", "", &[("dist/index.js", "is")]);
    scoped.children = vec![
        ("@sindresorhus/is".into(), dep("@sindresorhus/is@4.6.0")),
        ("odd-alias".into(), dep("is-odd@3.0.1")),
    ];
    let local = tmp.path().join("local-pkg");
    std::fs::create_dir_all(&local).unwrap();

    let mut plan = LinkPlan::new(&root);
    plan.packages = vec![is_odd, is_number, scoped];
    plan.importers = vec![importer(
        ".",
        &root,
        &[
            ("is-odd", dep("is-odd@3.0.1")),
            ("@sindresorhus/is", dep("@sindresorhus/is@4.6.0")),
            ("local", ChildTarget::Link(local.clone())),
        ],
    )];
    let report = link(&plan).unwrap();
    assert_eq!(report.imported, 3);

    let nm = root.join("node_modules");
    let vs = nm.join(".pnpm");
    assert_eq!(
        std::fs::read_to_string(vs.join("is-odd@3.0.1/node_modules/is-odd/lib/deep/x.js")).unwrap(),
        "x"
    );
    assert_eq!(
        readlink(&vs.join("is-odd@3.0.1/node_modules/is-number")),
        "../../is-number@6.0.0/node_modules/is-number"
    );
    assert_eq!(
        readlink(&nm.join("is-odd")),
        ".pnpm/is-odd@3.0.1/node_modules/is-odd"
    );
    assert_eq!(
        readlink(&nm.join("@sindresorhus/is")),
        "../.pnpm/@sindresorhus+is@4.6.0/node_modules/@sindresorhus/is"
    );
    assert_eq!(readlink(&nm.join("local")), "../../local-pkg");
    // Scoped package: real dir under its @scope; alias link to another package beside it.
    let scoped_nm = vs.join("@sindresorhus+is@4.6.0/node_modules");
    assert!(
        std::fs::symlink_metadata(scoped_nm.join("@sindresorhus/is"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(
        readlink(&scoped_nm.join("odd-alias")),
        "../../is-odd@3.0.1/node_modules/is-odd"
    );
    // Self dependency: the package's own slot is the package itself.
    assert!(scoped_nm.join("@sindresorhus/is/dist/index.js").is_file());
}

#[test]
fn hardlinks_share_the_cas_inode_and_force_copy_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let a = cas.package("a", "1.0.0", "", &[("index.js", "a")]);
    let mut b = cas.package("b", "1.0.0", "", &[("index.js", "b")]);
    b.force_copy = true;
    let (PackageFiles::Cas(af), PackageFiles::Cas(bf)) = (&a.files, &b.files) else {
        unreachable!()
    };
    let (a_src, b_src) = (af[0].1.clone(), bf[0].1.clone());
    let mut plan = LinkPlan::new(&root);
    plan.import_method = ImportMethod::Hardlink;
    plan.packages = vec![a, b];
    plan.importers = vec![importer(
        ".",
        &root,
        &[("a", dep("a@1.0.0")), ("b", dep("b@1.0.0"))],
    )];
    link(&plan).unwrap();
    let vs = root.join("node_modules/.pnpm");
    assert_eq!(
        ino(&vs.join("a@1.0.0/node_modules/a/index.js")).0,
        ino(&a_src).0
    );
    let (b_ino, b_links) = ino(&vs.join("b@1.0.0/node_modules/b/index.js"));
    assert_ne!(b_ino, ino(&b_src).0);
    assert_eq!(b_links, 1);
    assert_eq!(ino(&b_src).1, 1);
}

#[test]
fn file_directory_deps_are_linked_from_the_source_without_node_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let src = root.join("local/c");
    std::fs::create_dir_all(src.join("node_modules/junk")).unwrap();
    std::fs::create_dir_all(src.join("lib")).unwrap();
    std::fs::write(
        src.join("package.json"),
        r#"{"name":"c","version":"1.0.0"}"#,
    )
    .unwrap();
    std::fs::write(src.join("lib/index.js"), "c").unwrap();
    std::fs::write(src.join("node_modules/junk/x.js"), "junk").unwrap();
    let mut plan = LinkPlan::new(&root);
    plan.import_method = ImportMethod::Hardlink;
    plan.packages = vec![PlannedPackage {
        dep_path: "c@file:local/c".into(),
        dir_name: "c@file+local+c".into(),
        name: "c".into(),
        version: "1.0.0".into(),
        files: PackageFiles::Directory(src.clone()),
        children: vec![],
        has_bin: false,
        has_bundled_dependencies: false,
        unlinked_optional_children: Vec::new(),
        force_copy: false,
    }];
    plan.importers = vec![importer(".", &root, &[("c", dep("c@file:local/c"))])];
    link(&plan).unwrap();
    let pkg = root.join("node_modules/.pnpm/c@file+local+c/node_modules/c");
    assert_eq!(
        ino(&pkg.join("lib/index.js")).0,
        ino(&src.join("lib/index.js")).0
    );
    assert!(!pkg.join("node_modules/junk").exists());
    let modules = read_modules_yaml(&root.join("node_modules")).unwrap();
    assert_eq!(
        modules.injected_deps["local/c"],
        serde_json::json!(["node_modules/.pnpm/c@file+local+c/node_modules/c"])
    );
}

#[test]
fn unsafe_names_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("proj");
    let cas = Cas::new(tmp.path());
    let evil = cas.package("evil", "1.0.0", "", &[("../../escape.js", "x")]);
    let mut plan = LinkPlan::new(&root);
    plan.packages = vec![evil];
    let err = link(&plan).unwrap_err();
    assert_eq!(err.code(), "ERR_TACK_UNSAFE_PATH");
    assert!(!tmp.path().join("proj/node_modules/escape.js").exists());
    assert!(!tmp.path().join("escape.js").exists());
}
