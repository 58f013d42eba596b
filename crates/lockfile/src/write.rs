//! Writing a lockfile in pnpm's exact YAML formatting (§1.8): the form pnpm's js-yaml fork produces
//! with `blankLines`, no line width, no refs and pnpm's own key order. Used for
//! `node_modules/.pnpm/lock.yaml`, which pnpm compares byte for byte.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde_json::Value;

use crate::resolution::Resolution;
use crate::types::{BundledDependencies, ImporterDep, Lockfile, PackageInfo, SnapshotEntry};
use crate::yaml_scalar::scalar;

impl Lockfile {
    /// The lockfile as pnpm would write it.
    pub fn to_yaml_string(&self) -> String {
        let mut sections: Vec<String> = Vec::new();
        sections.push(format!(
            "lockfileVersion: {}\n",
            scalar(&self.lockfile_version, false)
        ));
        if let Some(settings) = &self.settings {
            let mut s = String::from("settings:\n");
            let mut put = |key: &str, value: Option<String>| {
                if let Some(value) = value {
                    let _ = writeln!(s, "  {key}: {value}");
                }
            };
            put(
                "autoInstallPeers",
                settings.auto_install_peers.map(|v| v.to_string()),
            );
            put(
                "excludeLinksFromLockfile",
                settings.exclude_links_from_lockfile.map(|v| v.to_string()),
            );
            put("dedupePeers", settings.dedupe_peers.map(|v| v.to_string()));
            put(
                "peersSuffixMaxLength",
                settings.peers_suffix_max_length.map(|v| v.to_string()),
            );
            put(
                "injectWorkspacePackages",
                settings.inject_workspace_packages.map(|v| v.to_string()),
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
            sections.push(format!(
                "packageExtensionsChecksum: {}\n",
                scalar(checksum, false)
            ));
        }
        if let Some(checksum) = &self.pnpmfile_checksum {
            sections.push(format!("pnpmfileChecksum: {}\n", scalar(checksum, false)));
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
                        for (dep, meta) in sorted(&importer.dependencies_meta) {
                            write_value_entry(&mut s, 6, dep, meta);
                        }
                        wrote = true;
                    }
                    if deps.is_empty() {
                        continue;
                    }
                    let _ = writeln!(s, "    {field}:");
                    for (alias, dep) in sorted(deps) {
                        write_importer_dep(&mut s, 6, alias, dep);
                    }
                    wrote = true;
                }
                if let Some(dir) = &importer.publish_directory {
                    let _ = writeln!(s, "    publishDirectory: {}", scalar(dir, false));
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
            let mut s = String::from("ignoredOptionalDependencies:\n");
            let mut names: Vec<&String> = self.ignored_optional_dependencies.iter().collect();
            names.sort();
            for name in names {
                let _ = writeln!(s, "  - {}", scalar(name, false));
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

/// JavaScript's `<` on strings: UTF-16 code unit order.
fn js_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

fn string_map_section(name: &str, map: &IndexMap<String, String>, sort: bool) -> String {
    let mut s = format!("{name}:\n");
    let entries: Vec<(&String, &String)> = if sort {
        sorted(map)
    } else {
        map.iter().collect()
    };
    for (k, v) in entries {
        let _ = writeln!(s, "  {}: {}", key(k), scalar(v, false));
    }
    s
}

fn pad(n: usize) -> String {
    " ".repeat(n)
}

fn write_importer_dep(s: &mut String, indent: usize, alias: &str, dep: &ImporterDep) {
    let p = pad(indent);
    let _ = writeln!(s, "{p}{}:", key(alias));
    let _ = writeln!(s, "{p}  specifier: {}", scalar(&dep.specifier, false));
    let _ = writeln!(s, "{p}  version: {}", scalar(&dep.version, false));
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

/// A block-style `key: value` entry for arbitrary JSON (used by `dependenciesMeta`).
fn write_value_entry(s: &mut String, indent: usize, k: &str, value: &Value) {
    let p = pad(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let _ = writeln!(s, "{p}{}:", key(k));
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| js_cmp(a.0, b.0));
            for (child, v) in entries {
                write_value_entry(s, indent + 2, child, v);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let _ = writeln!(s, "{p}{}:", key(k));
            for item in items {
                let _ = writeln!(s, "{p}  - {}", flow_value(item));
            }
        }
        other => {
            let _ = writeln!(s, "{p}{}: {}", key(k), flow_value(other));
        }
    }
}

fn write_package(s: &mut String, dep_path: &str, info: &PackageInfo) {
    let mut body = String::new();
    let _ = writeln!(
        body,
        "    resolution: {}",
        flow_value(&resolution_value(&info.resolution))
    );
    if let Some(name) = &info.name {
        let _ = writeln!(body, "    name: {}", scalar(name, false));
    }
    if let Some(version) = &info.version {
        let _ = writeln!(body, "    version: {}", scalar(version, false));
    }
    if !info.engines.is_empty() {
        let parts: Vec<String> = info
            .engines
            .iter()
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
        let _ = writeln!(body, "    deprecated: {}", scalar(deprecated, false));
    }
    if info.has_bin {
        body.push_str("    hasBin: true\n");
    }
    match &info.bundled_dependencies {
        Some(BundledDependencies::All(flag)) => {
            let _ = writeln!(body, "    bundledDependencies: {flag}");
        }
        Some(BundledDependencies::Names(names)) if !names.is_empty() => {
            body.push_str("    bundledDependencies:\n");
            for name in names {
                let _ = writeln!(body, "      - {}", scalar(name, false));
            }
        }
        _ => {}
    }
    if !info.peer_dependencies.is_empty() {
        body.push_str("    peerDependencies:\n");
        for (name, range) in sorted(&info.peer_dependencies) {
            let _ = writeln!(body, "      {}: {}", key(name), scalar(range, false));
        }
    }
    if !info.peer_dependencies_meta.is_empty() {
        body.push_str("    peerDependenciesMeta:\n");
        for (name, meta) in sorted(&info.peer_dependencies_meta) {
            let _ = writeln!(body, "      {}:", key(name));
            let _ = writeln!(body, "        optional: {}", meta.optional);
        }
    }
    let _ = write!(s, "  {}:\n{body}", key(dep_path));
}

fn write_snapshot(s: &mut String, dep_path: &str, snapshot: &SnapshotEntry) {
    let mut body = String::new();
    for (field, deps) in [
        ("dependencies", &snapshot.dependencies),
        ("optionalDependencies", &snapshot.optional_dependencies),
    ] {
        if deps.is_empty() {
            continue;
        }
        let _ = writeln!(body, "    {field}:");
        for (alias, reference) in sorted(deps) {
            let _ = writeln!(body, "      {}: {}", key(alias), scalar(reference, false));
        }
    }
    if !snapshot.transitive_peer_dependencies.is_empty() {
        body.push_str("    transitivePeerDependencies:\n");
        for name in &snapshot.transitive_peer_dependencies {
            let _ = writeln!(body, "      - {}", scalar(name, false));
        }
    }
    if snapshot.optional {
        body.push_str("    optional: true\n");
    }
    if body.is_empty() {
        let _ = writeln!(s, "  {}: {{}}", key(dep_path));
    } else {
        let _ = write!(s, "  {}:\n{body}", key(dep_path));
    }
}
