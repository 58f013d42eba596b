//! The test registry as the suite uses it: the committed fixture packages plus a few that
//! only the conformance cases need (bins below depth 0, a self-dependency, nested peers and a
//! name long enough that pnpm shortens its virtual-store directory).

use serde_json::json;
use tack_test_registry::{PackageDef, RegistryOptions, TestRegistry};

fn js(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

/// A long name: with its peer suffix, its dep path is over 120 characters.
pub const LONG_NAME: &str =
    "tack-long-name-that-keeps-going-and-going-to-push-the-virtual-store-directory-name-past-the-limit";

/// Starts a registry with the fixtures and the suite's extra packages.
pub fn start() -> TestRegistry {
    let registry =
        TestRegistry::start_blocking(RegistryOptions::default()).expect("start the test registry");
    for def in extra_packages() {
        registry.add_package(def);
    }
    registry
}

fn extra_packages() -> Vec<PackageDef> {
    vec![
        // Bins of a dependency show up in the dependent's own node_modules/.bin.
        PackageDef::new("tack-deep-bin", "1.0.0")
            .field("dependencies", json!({"tack-bin-string": "1.0.0"}))
            .file("index.js", js("module.exports = 'deep';\n"), 0o644),
        // A package that depends on its own name gets a self link.
        PackageDef::new("tack-self", "1.0.0")
            .field("dependencies", json!({"tack-self": "1.0.0"}))
            .field("bin", json!({"tack-self": "bin.js"}))
            .file("index.js", js("module.exports = 'self';\n"), 0o644)
            .file(
                "bin.js",
                js("#!/usr/bin/env node\nconsole.log('self');\n"),
                0o755,
            ),
        // Peers of peers: tack-nested-peer(use-peer(peer-host)).
        PackageDef::new("tack-nested-peer", "1.0.0")
            .field("peerDependencies", json!({"use-peer": "^1.0.0"}))
            .field("dependencies", json!({"peer-host": "1.0.0"}))
            .file("index.js", js("module.exports = 'nested';\n"), 0o644),
        // Scoped children: one into a slot with no scope dir of its own (the link's scope
        // dir is made), one beside its own scope dir.
        PackageDef::new("tack-scoped-user", "1.0.0")
            .field("dependencies", json!({"@tack-test/scoped": "1.0.0"}))
            .file("index.js", js("module.exports = 'scoped user';\n"), 0o644),
        PackageDef::new("@tack-test/scoped-sibling", "1.0.0")
            .field("dependencies", json!({"@tack-test/scoped": "1.0.0"}))
            .file("index.js", js("module.exports = 'sibling';\n"), 0o644),
        PackageDef::new(LONG_NAME, "1.0.0")
            .field(
                "peerDependencies",
                json!({"peer-host": "^1.0.0", "use-peer": "^1.0.0"}),
            )
            .file("index.js", js("module.exports = 'long';\n"), 0o644),
    ]
}
