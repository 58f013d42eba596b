//! Deserialization helpers for lockfile fields whose shape changed between pnpm versions.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};

/// One `patchedDependencies` value: a hash (pnpm 10+) or pnpm 9's `{path, hash}` object.
#[derive(Deserialize)]
#[serde(untagged)]
enum PatchValue {
    Hash(String),
    Legacy { hash: String },
}

/// `patchedDependencies`, with pnpm 9's `{path, hash}` objects migrated to their hash.
pub(crate) fn patched_dependencies<'de, D>(
    deserializer: D,
) -> Result<Option<IndexMap<String, String>>, D::Error>
where
    D: Deserializer<'de>,
{
    let raw: Option<IndexMap<String, PatchValue>> = Option::deserialize(deserializer)?;
    Ok(raw.map(|map| {
        map.into_iter()
            .map(|(key, value)| {
                let hash = match value {
                    PatchValue::Hash(hash) | PatchValue::Legacy { hash } => hash,
                };
                (key, hash)
            })
            .collect()
    }))
}
