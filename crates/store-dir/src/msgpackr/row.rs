//! Mapping between a [`PackageFilesIndex`] row and msgpackr bytes, in pnpm's field order
//! (`algo`, `requiresBuild`, `manifest`, `files`, `sideEffects`, `tarIntegrity`, as pnpm 12
//! writes them).

use super::value::Value;
use super::write::Encoder;
use super::{decode_value, DecodeError};
use crate::index_row::{CafsFileInfo, PackageFilesIndex, SideEffectsDiff};
use indexmap::IndexMap;

/// Encode a row as pnpm writes it into `index.db`.
pub fn encode(row: &PackageFilesIndex) -> Vec<u8> {
    let mut enc = Encoder::default();
    let mut keys: Vec<&str> = vec!["algo"];
    if row.requires_build.is_some() {
        keys.push("requiresBuild");
    }
    if row.manifest.is_some() {
        keys.push("manifest");
    }
    keys.push("files");
    if row.side_effects.is_some() {
        keys.push("sideEffects");
    }
    if row.tar_integrity.is_some() {
        keys.push("tarIntegrity");
    }
    enc.write_record_header(keys.into_iter());
    enc.write_str(&row.algo);
    if let Some(b) = row.requires_build {
        enc.write(&Value::Bool(b));
    }
    if let Some(m) = &row.manifest {
        enc.write(&Value::from_json(m));
    }
    write_file_map(&mut enc, &row.files);
    if let Some(side_effects) = &row.side_effects {
        write_map_header(&mut enc, side_effects.len());
        for (cache_key, diff) in side_effects {
            enc.write_str(cache_key);
            let mut keys = Vec::new();
            if diff.added.is_some() {
                keys.push("added");
            }
            if diff.deleted.is_some() {
                keys.push("deleted");
            }
            enc.write_record_header(keys.into_iter());
            if let Some(added) = &diff.added {
                write_file_map(&mut enc, added);
            }
            if let Some(deleted) = &diff.deleted {
                enc.write(&Value::Array(
                    deleted.iter().map(|d| Value::Str(d.clone())).collect(),
                ));
            }
        }
    }
    if let Some(t) = &row.tar_integrity {
        enc.write_str(t);
    }
    enc.out
}

fn write_map_header(enc: &mut Encoder, n: usize) {
    // Reuse the generic header logic through an empty map of the right size.
    if n < 16 {
        enc.out.push(0x80 | n as u8);
    } else if n < 0x10000 {
        enc.out.push(0xde);
        enc.out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        enc.out.push(0xdf);
        enc.out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn write_file_map(enc: &mut Encoder, files: &IndexMap<String, CafsFileInfo>) {
    write_map_header(enc, files.len());
    for (path, info) in files {
        enc.write_str(path);
        if info.checked_at.is_some() {
            enc.write_record_header(["digest", "mode", "size", "checkedAt"].into_iter());
        } else {
            enc.write_record_header(["digest", "mode", "size"].into_iter());
        }
        enc.write_str(&info.digest);
        enc.write_int(i64::from(info.mode));
        match i64::try_from(info.size) {
            Ok(size) => enc.write_int(size),
            Err(_) => enc.write_f64(info.size as f64),
        }
        if let Some(checked_at) = info.checked_at {
            // Always float64 (msgpackr decodes a uint64 as a BigInt and pnpm 11 would
            // throw), and always whole milliseconds like `Date.now()`: pnpm 12 reads it back
            // as an integer and treats a row with a fractional `checkedAt` as missing.
            enc.write_f64(checked_at.trunc());
        }
    }
}

/// Decode a row written by pnpm (11 or 12) or by tack.
pub fn decode(bytes: &[u8]) -> Result<PackageFilesIndex, DecodeError> {
    let top = decode_value(bytes)?;
    row_from_value(top)
}

fn bad(field: &str) -> DecodeError {
    DecodeError::BadField {
        field: field.to_owned(),
    }
}

fn row_from_value(mut top: Value) -> Result<PackageFilesIndex, DecodeError> {
    if top.entries().is_none() {
        return Err(bad("<row>"));
    }
    let algo = match top.get("algo") {
        None | Some(Value::Nil | Value::Undefined) => "sha512".to_owned(),
        Some(Value::Str(s)) => s.clone(),
        _ => return Err(bad("algo")),
    };
    let requires_build = match top.get("requiresBuild") {
        None | Some(Value::Nil | Value::Undefined) => None,
        Some(Value::Bool(b)) => Some(*b),
        _ => return Err(bad("requiresBuild")),
    };
    let manifest = match top.get("manifest") {
        None | Some(Value::Nil | Value::Undefined) => None,
        Some(v @ (Value::Object(_) | Value::Map(_))) => Some(v.to_json()),
        _ => return Err(bad("manifest")),
    };
    // Taken out of the decoded tree rather than copied: a warm install decodes every
    // file's path and digest once per package, and copying them showed up in profiles.
    let files = file_map(top.take("files").ok_or_else(|| bad("files"))?, "files")?;
    let side_effects = match top.get("sideEffects") {
        None | Some(Value::Nil | Value::Undefined) => None,
        Some(v) => {
            let entries = v.entries().ok_or_else(|| bad("sideEffects"))?;
            let mut out = IndexMap::with_capacity(entries.len());
            for (cache_key, diff) in entries {
                let field = format!("sideEffects[{cache_key}]");
                if diff.entries().is_none() {
                    return Err(bad(&field));
                }
                let added = match diff.get("added") {
                    None | Some(Value::Nil | Value::Undefined) => None,
                    Some(v) => Some(file_map(v.clone(), &format!("{field}.added"))?),
                };
                let deleted = match diff.get("deleted") {
                    None | Some(Value::Nil | Value::Undefined) => None,
                    Some(Value::Array(items)) => Some(
                        items
                            .iter()
                            .map(|i| i.as_str().map(str::to_owned))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| bad(&format!("{field}.deleted")))?,
                    ),
                    _ => return Err(bad(&format!("{field}.deleted"))),
                };
                out.insert(cache_key.to_owned(), SideEffectsDiff { added, deleted });
            }
            Some(out)
        }
    };
    let tar_integrity = match top.get("tarIntegrity") {
        None | Some(Value::Nil | Value::Undefined) => None,
        Some(Value::Str(s)) => Some(s.clone()),
        _ => return Err(bad("tarIntegrity")),
    };
    Ok(PackageFilesIndex {
        manifest,
        requires_build,
        algo,
        files,
        side_effects,
        tar_integrity,
    })
}

fn file_map(v: Value, field: &str) -> Result<IndexMap<String, CafsFileInfo>, DecodeError> {
    let entries = v.into_entries().ok_or_else(|| bad(field))?;
    let mut out = IndexMap::with_capacity(entries.len());
    for (path, mut info) in entries {
        let f = |name: &str| format!("{field}[{path}].{name}");
        let digest = match info.take("digest") {
            Some(Value::Str(digest)) => digest,
            _ => return Err(bad(&f("digest"))),
        };
        let mode = info
            .get("mode")
            .and_then(Value::as_u64)
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(|| bad(&f("mode")))?;
        let size = info
            .get("size")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(&f("size")))?;
        let checked_at = match info.get("checkedAt") {
            None | Some(Value::Nil | Value::Undefined) => None,
            Some(v) => Some(v.as_f64().ok_or_else(|| bad(&f("checkedAt")))?),
        };
        out.insert(
            path,
            CafsFileInfo {
                digest,
                mode,
                size,
                checked_at,
            },
        );
    }
    Ok(out)
}
