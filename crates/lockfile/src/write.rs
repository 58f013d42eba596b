//! Writing a lockfile in pnpm's exact YAML formatting (§1.8): the form pnpm's js-yaml fork produces
//! with `blankLines`, no line width, no refs and pnpm's own key order. Used for
//! `node_modules/.pnpm/lock.yaml`, which pnpm compares byte for byte.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde_json::Value;

use crate::resolution::Resolution;
use crate::types::{BundledDependencies, ImporterDep, Lockfile, PackageInfo, SnapshotEntry};
use crate::yaml_scalar::{push_block_value, push_scalar, scalar};

impl Lockfile {
    /// The lockfile as pnpm would write it.
    pub fn to_yaml_string(&self) -> String {
        let mut sections: Vec<String> = Vec::new();
        sections.push(top_level_entry("lockfileVersion", &self.lockfile_version));
        if let Some(settings) = &self.settings {
            let mut s = String::from("settings:\n");
            let mut put = |key: &str, value: Option<String>| {
                if let Some(value) = value {
                    let _ = writeln!(s, "  {key}: {value}");
                }
            };
            // pnpm sorts the keys of every root section by name (none of these is ranked).
            put(
                "autoInstallPeers",
                settings.auto_install_peers.map(|v| v.to_string()),
            );
            put("dedupePeers", settings.dedupe_peers.map(|v| v.to_string()));
            put(
                "excludeLinksFromLockfile",
                settings.exclude_links_from_lockfile.map(|v| v.to_string()),
            );
            put(
                "injectWorkspacePackages",
                settings.inject_workspace_packages.map(|v| v.to_string()),
            );
            put(
                "peersSuffixMaxLength",
                settings.peers_suffix_max_length.map(|v| v.to_string()),
            );
            if s.len() > "settings:\n".len() {
                sections.push(s);
            }
        }
        if !self.catalogs.is_empty() {
            let mut s = String::from("catalogs:\n");
            for (name, entries) in sorted(&self.catalogs) {
                let _ = writeln!(s, "  {}:", key(name));
                for (dep, entry) in sorted(entries) {
                    write_importer_dep(&mut s, 4, dep, entry);
                }
            }
            sections.push(s);
        }
        if !self.overrides.is_empty() {
            sections.push(string_map_section("overrides", &self.overrides, false));
        }
        if let Some(checksum) = &self.package_extensions_checksum {
            sections.push(top_level_entry("packageExtensionsChecksum", checksum));
        }
        if let Some(checksum) = &self.pnpmfile_checksum {
            sections.push(top_level_entry("pnpmfileChecksum", checksum));
        }
        if let Some(patches) = self.patched_dependencies.as_ref().filter(|p| !p.is_empty()) {
            sections.push(string_map_section("patchedDependencies", patches, true));
        }
        if !self.importers.is_empty() {
            let mut s = String::from("importers:\n");
            for (id, importer) in sorted(&self.importers) {
                s.push('\n');
                let _ = writeln!(s, "  {}:", key(id));
                let groups = [
                    ("dependencies", &importer.dependencies),
                    ("devDependencies", &importer.dev_dependencies),
                    ("optionalDependencies", &importer.optional_dependencies),
                ];
                let mut wrote = false;
                for (index, (field, deps)) in groups.iter().enumerate() {
                    if index == 1 && !importer.dependencies_meta.is_empty() {
                        s.push_str("    dependenciesMeta:\n");
                        for (dep, meta) in ranked(&importer.dependencies_meta, ROOT_KEY_RANKS) {
                            write_value_entry(&mut s, 6, dep, meta, ROOT_KEY_RANKS);
                        }
                        wrote = true;
                    }
                    if deps.is_empty() {
                        continue;
                    }
                    let _ = writeln!(s, "    {field}:");
                    for (alias, dep) in ranked(deps, ROOT_KEY_RANKS) {
                        write_importer_dep(&mut s, 6, alias, dep);
                    }
                    wrote = true;
                }
                if let Some(dir) = &importer.publish_directory {
                    push_entry(&mut s, "    ", "publishDirectory", dir);
                    wrote = true;
                }
                if !wrote {
                    s.truncate(s.len() - 1);
                    s.push_str(" {}\n");
                }
            }
            sections.push(s);
        }
        if !self.packages.is_empty() {
            let mut s = String::from("packages:\n");
            for (dep_path, info) in sorted(&self.packages) {
                s.push('\n');
                write_package(&mut s, dep_path, info);
            }
            sections.push(s);
        }
        if !self.ignored_optional_dependencies.is_empty() {
            // In the order the setting lists them, as pnpm writes them (not sorted).
            let mut s = String::from("ignoredOptionalDependencies:\n");
            for name in &self.ignored_optional_dependencies {
                push_item(&mut s, "  ", name);
            }
            sections.push(s);
        }
        if !self.snapshots.is_empty() {
            let mut s = String::from("snapshots:\n");
            for (dep_path, snapshot) in sorted(&self.snapshots) {
                s.push('\n');
                write_snapshot(&mut s, dep_path, snapshot);
            }
            sections.push(s);
        }
        if !self.time.is_empty() {
            sections.push(string_map_section("time", &self.time, true));
        }
        sections.join("\n")
    }
}

fn key(text: &str) -> String {
    scalar(text, false)
}

fn sorted<V>(map: &IndexMap<String, V>) -> Vec<(&String, &V)> {
    let mut entries: Vec<(&String, &V)> = map.iter().collect();
    entries.sort_by(|a, b| js_cmp(a.0, b.0));
    entries
}

/// pnpm's order for the keys of a `packages` or `snapshots` entry (`ORDERED_KEYS` in
/// `sortLockfileKeys`), which it applies at every depth of the entry: a dependency named `os`
/// or `deprecated` is written before one named `aaa`. `bundledDependencies` is not ranked
/// (pnpm ranks a `bundleDependencies` it never writes), so it comes after every ranked field.
const ENTRY_KEY_RANKS: &[&str] = &[
    "resolution",
    "id",
    "name",
    "version",
    "engines",
    "cpu",
    "os",
    "libc",
    "deprecated",
    "hasBin",
    "prepare",
    "requiresBuild",
    "bundleDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "dependencies",
    "optionalDependencies",
    "transitivePeerDependencies",
    "dev",
    "optional",
];

/// pnpm's order for the top-level sections, which it also applies at every depth of an
/// importer: dependencies named `settings` or `packages` are written first.
const ROOT_KEY_RANKS: &[&str] = &[
    "lockfileVersion",
    "settings",
    "catalogs",
    "overrides",
    "packageExtensionsChecksum",
    "pnpmfileChecksum",
    "patchedDependencies",
    "importers",
    "packages",
];

/// Keys whose mapping or list pnpm writes in flow style wherever they are
/// (`os: {specifier: 1.0.0, version: 1.0.0}` for a dependency named `os`).
const FLOW_KEYS: &[&str] = &["cpu", "engines", "libc", "os", "resolution"];

/// Keys whose mapping pnpm writes with a blank line before each entry wherever they are, as it
/// does for the sections of those names.
const BLANK_LINE_KEYS: &[&str] = &["importers", "packages", "snapshots"];

/// `map`'s entries with the keys in `ranks` first, in that order, then the others by name.
fn ranked<'m, V>(map: &'m IndexMap<String, V>, ranks: &[&str]) -> Vec<(&'m String, &'m V)> {
    let mut entries: Vec<(&String, &V)> = map.iter().collect();
    entries.sort_by(|a, b| ranked_cmp(ranks, a.0, b.0));
    entries
}

/// pnpm's `compareWithPriority`: ranked keys first, by rank; the others in JavaScript order.
fn ranked_cmp(ranks: &[&str], a: &str, b: &str) -> std::cmp::Ordering {
    let rank = |k: &str| ranks.iter().position(|r| *r == k);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => js_cmp(a, b),
    }
}

/// The line that separates the entries of a mapping under `key`: a blank one for the keys
/// pnpm spaces out, none otherwise.
fn entry_separator(key: &str) -> &'static str {
    if BLANK_LINE_KEYS.contains(&key) {
        "\n"
    } else {
        ""
    }
}

/// JavaScript's `<` on strings: UTF-16 code unit order. That is byte order unless the first
/// difference is between two non-ASCII characters (UTF-16 puts U+10000 and above, as
/// surrogates, before U+E000–U+FFFF), so only then are the code units compared.
fn js_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let same = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    match (x.get(same), y.get(same)) {
        (Some(&p), Some(&q)) if p.is_ascii() || q.is_ascii() => p.cmp(&q),
        (Some(_), Some(_)) => a.encode_utf16().cmp(b.encode_utf16()),
        // One is the other's beginning (the same code units, fewer of them).
        _ => x.len().cmp(&y.len()),
    }
}

/// `{indent}{key}: {value}` and a line break, the key as a scalar and the value as a block
/// value (a literal block when it has line feeds).
fn push_entry(s: &mut String, indent: &str, key: &str, value: &str) {
    s.push_str(indent);
    push_scalar(s, key, false);
    s.push_str(": ");
    push_block_value(s, value, indent.len());
    s.push('\n');
}

/// A section that is one `key: value` line at the top level.
fn top_level_entry(key: &str, value: &str) -> String {
    let mut s = String::new();
    push_entry(&mut s, "", key, value);
    s
}

/// `{indent}- {item}` and a line break.
fn push_item(s: &mut String, indent: &str, item: &str) {
    s.push_str(indent);
    s.push_str("- ");
    push_block_value(s, item, indent.len());
    s.push('\n');
}

fn string_map_section(name: &str, map: &IndexMap<String, String>, sort: bool) -> String {
    let mut s = format!("{name}:\n");
    let entries: Vec<(&String, &String)> = if sort {
        sorted(map)
    } else {
        map.iter().collect()
    };
    for (k, v) in entries {
        push_entry(&mut s, "  ", k, v);
    }
    s
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn write_importer_dep(s: &mut String, indent: usize, alias: &str, dep: &ImporterDep) {
    let p = pad(indent);
    s.push_str(&p);
    push_scalar(s, alias, false);
    if FLOW_KEYS.contains(&alias) {
        s.push_str(": {specifier: ");
        push_scalar(s, &dep.specifier, true);
        s.push_str(", version: ");
        push_scalar(s, &dep.version, true);
        s.push_str("}\n");
        return;
    }
    s.push_str(":\n");
    let p = pad(indent + 2);
    let separator = entry_separator(alias);
    s.push_str(separator);
    push_entry(s, &p, "specifier", &dep.specifier);
    s.push_str(separator);
    push_entry(s, &p, "version", &dep.version);
}

fn flow_list(items: &[String]) -> String {
    let parts: Vec<String> = items.iter().map(|i| scalar(i, true)).collect();
    format!("[{}]", parts.join(", "))
}

fn flow_value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(text) => scalar(text, true),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(flow_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| js_cmp(a.0, b.0));
            let parts: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}: {}", scalar(k, true), flow_value(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn resolution_value(resolution: &Resolution) -> Value {
    let mut map = serde_json::Map::new();
    let mut put = |k: &str, v: Value| {
        map.insert(k.to_string(), v);
    };
    match resolution {
        Resolution::Registry { integrity } => put("integrity", Value::from(integrity.clone())),
        Resolution::Tarball {
            integrity,
            tarball,
            git_hosted,
            path,
        } => {
            if *git_hosted {
                put("gitHosted", Value::Bool(true));
            }
            if let Some(integrity) = integrity {
                put("integrity", Value::from(integrity.clone()));
            }
            if let Some(path) = path {
                put("path", Value::from(path.clone()));
            }
            put("tarball", Value::from(tarball.clone()));
        }
        Resolution::Directory { directory } => {
            put("directory", Value::from(directory.clone()));
            put("type", Value::from("directory"));
        }
        Resolution::Git { repo, commit, path } => {
            put("commit", Value::from(commit.clone()));
            if let Some(path) = path {
                put("path", Value::from(path.clone()));
            }
            put("repo", Value::from(repo.clone()));
            put("type", Value::from("git"));
        }
        Resolution::Other(value) => return value.clone(),
    }
    Value::Object(map)
}

/// A block-style `key: value` entry for arbitrary JSON (used by `dependenciesMeta`), its
/// mappings' keys in `ranks` order, as pnpm writes them.
fn write_value_entry(s: &mut String, indent: usize, k: &str, value: &Value, ranks: &[&str]) {
    let p = pad(indent);
    match value {
        Value::Object(_) | Value::Array(_) if FLOW_KEYS.contains(&k) => {
            let _ = writeln!(s, "{p}{}: {}", key(k), flow_value(value));
        }
        Value::Object(map) if !map.is_empty() => {
            let _ = writeln!(s, "{p}{}:", key(k));
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| ranked_cmp(ranks, a.0, b.0));
            for (child, v) in entries {
                s.push_str(entry_separator(k));
                write_value_entry(s, indent + 2, child, v, ranks);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let _ = writeln!(s, "{p}{}:", key(k));
            for item in items {
                match item {
                    Value::String(text) => push_item(s, &format!("{p}  "), text),
                    other => {
                        let _ = writeln!(s, "{p}  - {}", flow_value(other));
                    }
                }
            }
        }
        Value::String(text) => push_entry(s, &p, k, text),
        other => {
            let _ = writeln!(s, "{p}{}: {}", key(k), flow_value(other));
        }
    }
}

/// A resolution as a flow mapping: a registry package's directly, any other through
/// [`resolution_value`].
fn push_resolution(s: &mut String, resolution: &Resolution) {
    match resolution {
        Resolution::Registry { integrity } => {
            s.push_str("{integrity: ");
            push_scalar(s, integrity, true);
            s.push('}');
        }
        other => s.push_str(&flow_value(&resolution_value(other))),
    }
}

fn write_package(s: &mut String, dep_path: &str, info: &PackageInfo) {
    s.push_str("  ");
    push_scalar(s, dep_path, false);
    s.push_str(":\n");
    let body = s;
    body.push_str("    resolution: ");
    push_resolution(body, &info.resolution);
    body.push('\n');
    if let Some(name) = &info.name {
        push_entry(body, "    ", "name", name);
    }
    if let Some(version) = &info.version {
        push_entry(body, "    ", "version", version);
    }
    if !info.engines.is_empty() {
        let parts: Vec<String> = ranked(&info.engines, ENTRY_KEY_RANKS)
            .into_iter()
            .map(|(k, v)| format!("{}: {}", scalar(k, true), scalar(v, true)))
            .collect();
        let _ = writeln!(body, "    engines: {{{}}}", parts.join(", "));
    }
    for (field, list) in [("cpu", &info.cpu), ("os", &info.os), ("libc", &info.libc)] {
        if let Some(list) = list {
            let _ = writeln!(body, "    {field}: {}", flow_list(list));
        }
    }
    if let Some(deprecated) = &info.deprecated {
        push_entry(body, "    ", "deprecated", deprecated);
    }
    if info.has_bin {
        body.push_str("    hasBin: true\n");
    }
    if !info.peer_dependencies.is_empty() {
        body.push_str("    peerDependencies:\n");
        for (name, range) in ranked(&info.peer_dependencies, ENTRY_KEY_RANKS) {
            push_entry(body, "      ", name, range);
        }
    }
    if !info.peer_dependencies_meta.is_empty() {
        body.push_str("    peerDependenciesMeta:\n");
        for (name, meta) in ranked(&info.peer_dependencies_meta, ENTRY_KEY_RANKS) {
            if FLOW_KEYS.contains(&name.as_str()) {
                let _ = writeln!(body, "      {}: {{optional: {}}}", key(name), meta.optional);
            } else {
                let _ = writeln!(body, "      {}:", key(name));
                body.push_str(entry_separator(name));
                let _ = writeln!(body, "        optional: {}", meta.optional);
            }
        }
    }
    // Not a ranked key (see `ENTRY_KEY_RANKS`): after every field that is.
    match &info.bundled_dependencies {
        Some(BundledDependencies::All(flag)) => {
            let _ = writeln!(body, "    bundledDependencies: {flag}");
        }
        Some(BundledDependencies::Names(names)) if !names.is_empty() => {
            body.push_str("    bundledDependencies:\n");
            for name in names {
                push_item(body, "      ", name);
            }
        }
        _ => {}
    }
}

fn write_snapshot(s: &mut String, dep_path: &str, snapshot: &SnapshotEntry) {
    s.push_str("  ");
    push_scalar(s, dep_path, false);
    s.push_str(":\n");
    let body_start = s.len();
    for (field, deps) in [
        ("dependencies", &snapshot.dependencies),
        ("optionalDependencies", &snapshot.optional_dependencies),
    ] {
        if deps.is_empty() {
            continue;
        }
        s.push_str("    ");
        s.push_str(field);
        s.push_str(":\n");
        for (alias, reference) in ranked(deps, ENTRY_KEY_RANKS) {
            push_entry(s, "      ", alias, reference);
        }
    }
    if !snapshot.transitive_peer_dependencies.is_empty() {
        s.push_str("    transitivePeerDependencies:\n");
        for name in &snapshot.transitive_peer_dependencies {
            push_item(s, "      ", name);
        }
    }
    if snapshot.optional {
        s.push_str("    optional: true\n");
    }
    if s.len() == body_start {
        // No fields: `key: {}` on one line.
        s.truncate(body_start - ":\n".len());
        s.push_str(": {}\n");
    }
}

#[cfg(test)]
mod tests {
    use super::js_cmp;
    use serde_json::json;

    /// Byte order where it agrees with UTF-16's, code units where it does not: every pair
    /// of a set of ASCII, two-, three- and four-byte characters, and their pairings.
    #[test]
    fn js_cmp_is_utf16_code_unit_order() {
        let chars = [
            "",
            "a",
            "A",
            "z",
            "-",
            "~",
            "\u{7f}",
            "\u{80}",
            "é",
            "\u{7ff}",
            "\u{800}",
            "\u{d7ff}",
            "\u{e000}",
            "\u{ffff}",
            "\u{10000}",
            "😀",
            "\u{10ffff}",
        ];
        let words: Vec<String> = chars
            .iter()
            .flat_map(|a| chars.iter().map(move |b| format!("{a}{b}")))
            .collect();
        for x in &words {
            for y in &words {
                let want = x.encode_utf16().cmp(y.encode_utf16());
                assert_eq!(js_cmp(x, y), want, "{x:?} against {y:?}");
            }
        }
    }

    /// Strings under `dependenciesMeta`, as values and as sequence items, are block values
    /// as js-yaml writes them: plain where YAML reads them back the same (`a,b` needs no
    /// quotes outside a flow collection), a literal block for a line feed.
    #[test]
    fn dependencies_meta_strings_are_block_values() {
        let mut s = String::new();
        super::write_value_entry(
            &mut s,
            6,
            "dep",
            &json!({"list": ["a,b", "one\ntwo"], "text": "x\ny", "injected": true}),
            super::ROOT_KEY_RANKS,
        );
        assert_eq!(
            s,
            "      dep:\n        injected: true\n        list:\n          - a,b\n          - |-\n            one\n            two\n        text: |-\n          x\n          y\n"
        );
    }
}
