//! The allowBuilds policy in pnpm's evaluation order, and the IGNORED_BUILDS error.

use indexmap::IndexMap;
use serde_json::{json, Value};
use tack_build::{ignored_builds_error, BuildPolicy};

fn policy(entries: &[(&str, Value)]) -> BuildPolicy {
    let map: IndexMap<String, Value> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    BuildPolicy::new(&map, false, None, None)
}

/// (rules, dep_path, name, version, expected verdict)
type Case = (
    Vec<(&'static str, Value)>,
    &'static str,
    &'static str,
    &'static str,
    Option<bool>,
);

#[test]
fn evaluation_order_table() {
    let cases: Vec<Case> = vec![
        (
            vec![("esbuild", json!(true))],
            "esbuild@0.25.0",
            "esbuild",
            "0.25.0",
            Some(true),
        ),
        (
            vec![("esbuild@0.25.0", json!(true))],
            "esbuild@0.25.0",
            "esbuild",
            "0.25.0",
            Some(true),
        ),
        (
            vec![("esbuild@0.24.0", json!(true))],
            "esbuild@0.25.0",
            "esbuild",
            "0.25.0",
            None,
        ),
        (
            vec![("esbuild@0.24.0 || 0.25.0", json!(true))],
            "esbuild@0.25.0",
            "esbuild",
            "0.25.0",
            Some(true),
        ),
        // false beats true, whatever the key kinds.
        (
            vec![("esbuild", json!(true)), ("esbuild@0.25.0", json!(false))],
            "esbuild@0.25.0",
            "esbuild",
            "0.25.0",
            Some(false),
        ),
        (
            vec![("a@1.0.0(b@2.0.0)", json!(true)), ("a", json!(false))],
            "a@1.0.0(b@2.0.0)",
            "a",
            "1.0.0",
            Some(false),
        ),
        // A true dep path wins over an undecided name; peers suffixes are normalized away.
        (
            vec![("a@1.0.0(c@3.0.0)", json!(true))],
            "a@1.0.0(b@2.0.0)",
            "a",
            "1.0.0",
            Some(true),
        ),
        // A false dep path beats a true name.
        (
            vec![("a", json!(true)), ("a@1.0.0(b@2.0.0)", json!(false))],
            "a@1.0.0(b@2.0.0)",
            "a",
            "1.0.0",
            Some(false),
        ),
        // The placeholder value leaves it undecided.
        (
            vec![("a", json!("set this to true or false"))],
            "a@1.0.0",
            "a",
            "1.0.0",
            None,
        ),
        // Name rules only vouch for registry-shaped dep paths.
        (
            vec![("a", json!(true))],
            "a@git+ssh://example.invalid/a.git#0123abc",
            "a",
            "1.0.0",
            None,
        ),
        // ...but a git key addresses the git dep path directly.
        (
            vec![("a@git+ssh://example.invalid/a.git#0123abc", json!(true))],
            "a@git+ssh://example.invalid/a.git#0123abc",
            "a",
            "1.0.0",
            Some(true),
        ),
        // A false name still denies a non-registry package.
        (
            vec![("a", json!(false))],
            "a@file:../a",
            "a",
            "1.0.0",
            Some(false),
        ),
        (
            vec![("@scope/x", json!(true))],
            "@scope/x@1.2.3",
            "@scope/x",
            "1.2.3",
            Some(true),
        ),
        (vec![("other", json!(true))], "a@1.0.0", "a", "1.0.0", None),
    ];
    for (i, (rules, dep_path, name, version, expected)) in cases.into_iter().enumerate() {
        let p = policy(&rules);
        assert_eq!(
            p.allows(dep_path, name, version),
            expected,
            "case {i}: {rules:?} for {dep_path}"
        );
    }
}

#[test]
fn no_policy_ignores_everything_and_dangerously_allow_all_allows_everything() {
    let empty = IndexMap::new();
    assert_eq!(
        BuildPolicy::new(&empty, false, None, None).allows("a@1.0.0", "a", "1.0.0"),
        None
    );
    assert_eq!(
        BuildPolicy::new(&empty, true, None, None).allows("a@1.0.0", "a", "1.0.0"),
        Some(true)
    );
}

#[test]
fn legacy_lists_are_read_as_true_and_false() {
    let empty = IndexMap::new();
    let only = vec!["a".to_string()];
    let never = vec!["b".to_string()];
    let p = BuildPolicy::new(&empty, false, Some(&only), Some(&never));
    assert_eq!(p.allows("a@1.0.0", "a", "1.0.0"), Some(true));
    assert_eq!(p.allows("b@1.0.0", "b", "1.0.0"), Some(false));
    assert_eq!(p.allows("c@1.0.0", "c", "1.0.0"), None);
    // allowBuilds decides a key the legacy list also names.
    let mut allow = IndexMap::new();
    allow.insert("a".to_string(), json!(false));
    let p = BuildPolicy::new(&allow, false, Some(&only), None);
    assert_eq!(p.allows("a@1.0.0", "a", "1.0.0"), Some(false));
}

#[test]
fn ignored_builds_error_names_every_package_and_the_fix() {
    assert!(ignored_builds_error(&[]).is_none());
    let err = ignored_builds_error(&["esbuild@0.25.0".into(), "bufferutil@4.0.8".into()])
        .expect("an error");
    assert_eq!(err.code(), "ERR_PNPM_IGNORED_BUILDS");
    let msg = err.to_string();
    assert!(
        msg.contains("Ignored build scripts: bufferutil@4.0.8, esbuild@0.25.0"),
        "{msg}"
    );
    assert!(msg.contains("pnpm approve-builds"), "{msg}");
    assert!(msg.contains("allowBuilds: { bufferutil: true }"), "{msg}");
}
