//! `packageExtensionsChecksum` / `pnpmfileChecksum` against values real pnpm 12.21.0 wrote: each
//! input below went into a project (`pnpm-workspace.yaml`, `.pnpmfile.*`) that
//! `pnpm install --lockfile-only` turned into a `pnpm-lock.yaml`, and the expected string is the
//! one that lockfile recorded.

use std::path::{Path, PathBuf};

use serde_json::json;
use tack_config::checksums::{
    default_pnpmfile, hash_object, package_extensions_checksum, pnpmfile_checksum,
};
use tack_config::WorkspaceManifest;

/// Plain dependency maps, keys out of order.
const YAML_1: &str = r#"packageExtensions:
  "foo@1":
    dependencies:
      b: "^1"
      a: "2"
    peerDependencies:
      x: "*"
  bar:
    optionalDependencies:
      z: "1"
"#;
const CHECKSUM_1: &str = "sha256-fH9/Fr9tzyUdgpcZY9HvQnIDfkOdSEDp9JHsc0+vEFY=";

/// Fields pnpm drops (`funding`, `bin`, `engines`), a numeric range, `peerDependenciesMeta`.
const YAML_2: &str = r#"packageExtensions:
  "zeta@^2.0.0":
    peerDependenciesMeta:
      Zed:
        optional: true
      "@types/zed":
        optional: false
    dependencies:
      "naïve-ü": "~1.2.3"
      Upper: 2
      lower: "1.0.0 || 2.0.0"
    funding: [c, a, b, 10, {k: v}]
  "@scope/alpha":
    bin: null
    engines:
      node: ">=18"
"#;
const CHECKSUM_2: &str = "sha256-0tk7MBbEZ+WsWO43SCxWomsPfHjEaB9Ycmr+HrfaxRI=";

/// Keys whose code-point order differs from their UTF-16 order, and an astral character.
const YAML_3: &str = r#"packageExtensions:
  "react-redux@1":
    peerDependencies:
      react-dom: "*"
    peerDependenciesMeta:
      react-dom:
        optional: true
  "fork-ts-checker-webpack-plugin":
    dependencies:
      "Ａwide": "1"
      "😀emoji": 2
      "@babel/core": "1"
    optionalDependencies:
      typescript: "~4.9 || ^5"
"#;
const CHECKSUM_3: &str = "sha256-FHVCUkhAe5NSKVt3YzsZPPau41rQRdJME3oVIEiqeUA=";

const PNPMFILE_1: &str =
    "module.exports = {\n  hooks: {\n    readPackage (pkg) {\n      return pkg\n    }\n  }\n}\n";
const PNPMFILE_CHECKSUM_1: &str = "sha256-knpxorrb5IkETDIn+FK8UcbNJ7SONh9KnrE9N41Ri28=";

/// CRLF line endings and non-ASCII text (`.pnpmfile.cjs`).
const PNPMFILE_2: &str = "module.exports = {\r\n  hooks: {\r\n    readPackage (pkg) { /* é ✓ */ return pkg }\r\n  }\r\n}\r\n";
const PNPMFILE_CHECKSUM_2: &str = "sha256-FHqDjNcY+9iMF9E0DmRKAxtpDtfSz8ZldkQn7q+lYFk=";

/// An ES module pnpmfile (`.pnpmfile.mjs`).
const PNPMFILE_3: &str = "export const hooks = {\n  readPackage (pkg) {\n    pkg.description = \"é ✓ 😀\"\n    return pkg\n  },\n}\n";
const PNPMFILE_CHECKSUM_3: &str = "sha256-/DfVhuOnWwIxpWPL+tqFTuHsXa0qE5rSMG5C1r1ZEmw=";

fn from_workspace_yaml(yaml: &str) -> Option<String> {
    let manifest = WorkspaceManifest::from_str(
        yaml,
        Path::new("pnpm-workspace.yaml"),
        tack_config::ManifestScope::Project,
        &mut Vec::new(),
    )
    .unwrap();
    package_extensions_checksum(manifest.settings.package_extensions.as_ref())
}

#[test]
fn package_extensions_checksums_match_pnpm() {
    assert_eq!(from_workspace_yaml(YAML_1).as_deref(), Some(CHECKSUM_1));
    assert_eq!(from_workspace_yaml(YAML_2).as_deref(), Some(CHECKSUM_2));
    assert_eq!(from_workspace_yaml(YAML_3).as_deref(), Some(CHECKSUM_3));
}

#[test]
fn package_extensions_checksum_from_json_values() {
    let extensions = json!({
        "foo@1": {"dependencies": {"b": "^1", "a": "2"}, "peerDependencies": {"x": "*"}},
        "bar": {"optionalDependencies": {"z": "1"}},
    });
    assert_eq!(
        package_extensions_checksum(Some(&extensions)).as_deref(),
        Some(CHECKSUM_1)
    );
    let reordered = json!({
        "bar": {"optionalDependencies": {"z": "1"}},
        "foo@1": {"peerDependencies": {"x": "*"}, "dependencies": {"a": "2", "b": "^1"}},
    });
    assert_eq!(
        package_extensions_checksum(Some(&reordered)).as_deref(),
        Some(CHECKSUM_1)
    );
    let changed = json!({
        "foo@1": {"dependencies": {"b": "^2", "a": "2"}, "peerDependencies": {"x": "*"}},
        "bar": {"optionalDependencies": {"z": "1"}},
    });
    assert_ne!(
        package_extensions_checksum(Some(&changed)).as_deref(),
        Some(CHECKSUM_1)
    );
    // No checksum without extensions (pnpm writes none for an absent or empty map).
    assert_eq!(package_extensions_checksum(None), None);
    assert_eq!(package_extensions_checksum(Some(&json!({}))), None);
}

/// The generic serialiser against the `object-hash` 3.0.0 npm package itself, run with pnpm's
/// `hashObject` options (sha256, base64, unordered objects and arrays, `respectType: false`):
/// arrays (sorted by their serialised entries), numbers in JavaScript's notation, null, booleans.
#[test]
fn hash_object_matches_object_hash_package() {
    let value = json!({
        "list": [3, "x", null, true, {"k": 1.5}, [2, 1]],
        "small": -0.000001,
        "big": 1e21,
        "tiny": 1.5e-7,
        "int": -42,
        "flag": false,
        "empty": [],
        "one": ["only"],
        "nested": {"z": null, "a": {}},
    });
    assert_eq!(
        hash_object(&value),
        "SDSor0oH+z44/xByrgfDUwnNXnvkpzROYRK/JqFKfsA="
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn pnpmfile_checksums_match_pnpm() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (text, want)) in [
        (PNPMFILE_1, PNPMFILE_CHECKSUM_1),
        (PNPMFILE_2, PNPMFILE_CHECKSUM_2),
        (PNPMFILE_3, PNPMFILE_CHECKSUM_3),
    ]
    .into_iter()
    .enumerate()
    {
        let file = write(tmp.path(), &format!("pnpmfile-{i}.cjs"), text);
        assert_eq!(pnpmfile_checksum(&[file]).unwrap(), want, "pnpmfile {i}");
    }
    // CRLF does not count; content does.
    let crlf = write(tmp.path(), "crlf.cjs", &PNPMFILE_1.replace('\n', "\r\n"));
    assert_eq!(pnpmfile_checksum(&[crlf]).unwrap(), PNPMFILE_CHECKSUM_1);
    let edited = write(
        tmp.path(),
        "edited.cjs",
        &PNPMFILE_1.replace("pkg\n", "pkg;\n"),
    );
    assert_ne!(pnpmfile_checksum(&[edited]).unwrap(), PNPMFILE_CHECKSUM_1);
}

#[test]
fn default_pnpmfile_prefers_mjs() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(default_pnpmfile(tmp.path()), None);
    let cjs = write(tmp.path(), ".pnpmfile.cjs", PNPMFILE_1);
    assert_eq!(default_pnpmfile(tmp.path()), Some(cjs));
    let mjs = write(tmp.path(), ".pnpmfile.mjs", PNPMFILE_3);
    assert_eq!(default_pnpmfile(tmp.path()), Some(mjs));
}
