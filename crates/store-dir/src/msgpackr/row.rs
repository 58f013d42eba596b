//! Mapping between a [`PackageFilesIndex`] row and msgpackr bytes, in pnpm's field order
//! (`algo`, `requiresBuild`, `requiresPrepare`, `manifest`, `files`, `sideEffects`,
//! `tarIntegrity`, as pnpm 12 writes them).

use super::read::Reader;
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
    if row.requires_prepare.is_some() {
        keys.push("requiresPrepare");
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
    if let Some(b) = row.requires_prepare {
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
///
/// A warm install decodes every row it imports, and a row is mostly its file records: the
/// row's own record is read field by field, and its `files` map straight into
/// [`CafsFileInfo`]s, without a [`Value`] (and a copy of the record's four field names) per
/// file. Anything shaped otherwise goes through the generic decoder, with the same result.
pub fn decode(bytes: &[u8]) -> Result<PackageFilesIndex, DecodeError> {
    decode_row(bytes, false).map(|(row, _)| row)
}

/// [`decode`] without the bundled manifest when the row says whether the package requires
/// a build (`requiresBuild` before `manifest`, as pnpm and tack write rows): the manifest
/// is checked and read past, and the row comes back with `manifest: None` and `true`. A
/// warm install imports every package from its row but needs the manifests of only the few
/// it builds; building each manifest's tree was about a third of the row decode. A row
/// decoded this way must not be written back: [`decode`] the same bytes for that.
pub fn decode_lean(bytes: &[u8]) -> Result<(PackageFilesIndex, bool), DecodeError> {
    decode_row(bytes, true)
}

fn decode_row(bytes: &[u8], lean: bool) -> Result<(PackageFilesIndex, bool), DecodeError> {
    let mut reader = Reader::new(bytes);
    let mut fields: Vec<(String, Value)> = Vec::new();
    let mut files: Option<IndexMap<String, CafsFileInfo>> = None;
    let mut skipped = false;
    // Of two same-named fields the first counts, as in `Value::get`: only the first
    // `manifest` is read past, only when the first `requiresBuild` said yes or no, and a
    // placeholder keeps its place so that a second `manifest` is not taken for it.
    let first_is_bool = |fields: &[(String, Value)], name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .is_some_and(|(_, v)| matches!(v, Value::Bool(_)))
    };
    let is_record = reader.read_record_fields(0, |r, key| {
        let value = match key {
            "manifest"
                if lean
                    && !fields.iter().any(|(k, _)| k == "manifest")
                    && first_is_bool(&fields, "requiresBuild") =>
            {
                match r.skip_value(1)? {
                    // As `row_from_fields` would: absent, or a map, or a bad row.
                    None => Value::Nil,
                    Some(true) => {
                        skipped = true;
                        Value::Nil
                    }
                    Some(false) => return Err(bad("manifest")),
                }
            }
            "files" if files.is_none() && !fields.iter().any(|(k, _)| k == "files") => {
                match read_files(r, 1)? {
                    Ok(decoded) => {
                        files = Some(decoded);
                        return Ok(());
                    }
                    Err(other) => other,
                }
            }
            _ => r.read_value(1)?,
        };
        fields.push((key.to_owned(), value));
        Ok(())
    })?;
    if !is_record {
        return Ok((row_from_value(decode_value(bytes)?)?, false));
    }
    reader.finish()?;
    Ok((row_from_fields(Value::Object(fields), files)?, skipped))
}

/// Reads a `files` map of file records. `Err` carries the value, read generically, when it
/// is shaped otherwise (not a map, a key that is not a string, an entry that is not a
/// record), for [`file_map`] to judge.
fn read_files(
    r: &mut Reader<'_>,
    depth: usize,
) -> Result<Result<IndexMap<String, CafsFileInfo>, Value>, DecodeError> {
    let mark = r.mark();
    if let Some(n) = r.map_len()? {
        let mut out = IndexMap::with_capacity(n.min(4096));
        let mut complete = true;
        for _ in 0..n {
            let Value::Str(path) = r.read_value(depth + 1)? else {
                complete = false;
                break;
            };
            let mut parts = FileParts::default();
            let is_record = r.read_record_fields(depth + 1, |r, key| {
                let value = r.read_value(depth + 2)?;
                let slot = match key {
                    "digest" => &mut parts.digest,
                    "mode" => &mut parts.mode,
                    "size" => &mut parts.size,
                    "checkedAt" => &mut parts.checked_at,
                    _ => return Ok(()),
                };
                // The first of two same-named fields counts, as in `Value::get`.
                slot.get_or_insert(value);
                Ok(())
            })?;
            if !is_record {
                complete = false;
                break;
            }
            let info = parts.into_info("files", &path)?;
            out.insert(path, info);
        }
        if complete {
            return Ok(Ok(out));
        }
        r.rewind(mark);
    }
    Ok(Err(r.read_value(depth)?))
}

/// The fields of one file record, as read.
#[derive(Default)]
struct FileParts {
    digest: Option<Value>,
    mode: Option<Value>,
    size: Option<Value>,
    checked_at: Option<Value>,
}

impl FileParts {
    /// The file info, or the error naming the first bad field (`{field}[{path}].{name}`).
    fn into_info(self, field: &str, path: &str) -> Result<CafsFileInfo, DecodeError> {
        let f = |name: &str| format!("{field}[{path}].{name}");
        let digest = match self.digest {
            Some(Value::Str(digest)) => digest,
            _ => return Err(bad(&f("digest"))),
        };
        let mode = self
            .mode
            .as_ref()
            .and_then(Value::as_u64)
            .and_then(|m| u32::try_from(m).ok())
            .ok_or_else(|| bad(&f("mode")))?;
        let size = self
            .size
            .as_ref()
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(&f("size")))?;
        let checked_at = match self.checked_at {
            None | Some(Value::Nil | Value::Undefined) => None,
            Some(v) => Some(v.as_f64().ok_or_else(|| bad(&f("checkedAt")))?),
        };
        Ok(CafsFileInfo {
            digest,
            mode,
            size,
            checked_at,
        })
    }
}

fn bad(field: &str) -> DecodeError {
    DecodeError::BadField {
        field: field.to_owned(),
    }
}

fn row_from_value(top: Value) -> Result<PackageFilesIndex, DecodeError> {
    row_from_fields(top, None)
}

/// The row from its decoded top-level value; `files`, when given, was decoded already and
/// is not in `top`.
fn row_from_fields(
    mut top: Value,
    files: Option<IndexMap<String, CafsFileInfo>>,
) -> Result<PackageFilesIndex, DecodeError> {
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
    let requires_prepare = match top.get("requiresPrepare") {
        None | Some(Value::Nil | Value::Undefined) => None,
        Some(Value::Bool(b)) => Some(*b),
        _ => return Err(bad("requiresPrepare")),
    };
    let manifest = match top.take("manifest") {
        None | Some(Value::Nil | Value::Undefined) => None,
        Some(v @ (Value::Object(_) | Value::Map(_))) => Some(v.into_json()),
        _ => return Err(bad("manifest")),
    };
    // Taken out of the decoded tree rather than copied: a warm install decodes every
    // file's path and digest once per package, and copying them showed up in profiles.
    let files = match files {
        Some(files) => files,
        None => file_map(top.take("files").ok_or_else(|| bad("files"))?, "files")?,
    };
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
        requires_prepare,
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
        let parts = FileParts {
            digest: info.take("digest"),
            mode: info.take("mode"),
            size: info.take("size"),
            checked_at: info.take("checkedAt"),
        };
        let info = parts.into_info(field, &path)?;
        out.insert(path, info);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(bytes: &[u8]) -> Result<PackageFilesIndex, DecodeError> {
        row_from_value(decode_value(bytes)?)
    }

    fn same_as_generic(bytes: &[u8]) {
        match (decode(bytes), generic(bytes)) {
            (Ok(fast), Ok(slow)) => assert_eq!(fast, slow, "input {bytes:02x?}"),
            (Err(_), Err(_)) => {}
            (fast, slow) => panic!("fast {fast:?} but generic {slow:?} for {bytes:02x?}"),
        }
    }

    fn info(digest: &str, checked_at: Option<f64>) -> CafsFileInfo {
        CafsFileInfo {
            digest: digest.repeat(64),
            mode: 0o644,
            size: 7,
            checked_at,
        }
    }

    /// Rows pnpm 12 wrote, rows tack writes, and every one-byte mutant of them decode the
    /// same through the file-record fast path as through the generic decoder.
    #[test]
    fn the_fast_path_decodes_what_the_generic_decoder_does() {
        let mut inputs: Vec<Vec<u8>> = vec![
            include_bytes!("../../tests/fixtures/pnpm12-local-a.msgpack").to_vec(),
            include_bytes!("../../tests/fixtures/pnpm12-scoped-local-b.msgpack").to_vec(),
            include_bytes!("../../tests/fixtures/pnpm12-side-effects-local-c.msgpack").to_vec(),
        ];
        let mut files = IndexMap::new();
        files.insert(
            "package.json".to_string(),
            info("ab", Some(1_700_000_000_000.0)),
        );
        files.insert("lib/index.js".to_string(), info("cd", None));
        inputs.push(encode(&PackageFilesIndex {
            manifest: Some(serde_json::json!({"name": "x", "version": "1.0.0"})),
            requires_build: Some(false),
            requires_prepare: None,
            algo: "sha512".to_string(),
            files,
            side_effects: None,
            tar_integrity: None,
        }));
        // A `files` map the fast path gives up on at its last entry (a plain map, which the
        // generic decoder accepts), after a later entry defined record shape 5: the first
        // entry's mode byte 0x45 must still read as the integer 69, not as a shape-5 record.
        let mut crafted = vec![0xd4, 0x72, 0x00, 0x91, 0xa5];
        crafted.extend_from_slice(b"files");
        crafted.push(0x83);
        let keys = |out: &mut Vec<u8>| {
            out.extend_from_slice(&[0x93, 0xa6]);
            out.extend_from_slice(b"digest");
            out.push(0xa4);
            out.extend_from_slice(b"mode");
            out.push(0xa4);
            out.extend_from_slice(b"size");
        };
        crafted.extend_from_slice(&[0xa1, b'a', 0xd4, 0x72, 0x01]);
        keys(&mut crafted);
        crafted.extend_from_slice(&[0xa1, b'x', 0x45, 0x07]);
        crafted.extend_from_slice(&[0xa1, b'b', 0xd4, 0x72, 0x05]);
        keys(&mut crafted);
        crafted.extend_from_slice(&[0xa1, b'y', 0x01, 0x02]);
        crafted.extend_from_slice(&[0xa1, b'c', 0x83, 0xa6]);
        crafted.extend_from_slice(b"digest");
        crafted.extend_from_slice(&[0xa1, b'z', 0xa4]);
        crafted.extend_from_slice(b"mode");
        crafted.extend_from_slice(&[0x01, 0xa4]);
        crafted.extend_from_slice(b"size");
        crafted.push(0x02);
        assert_eq!(decode(&crafted).expect("a valid row").files["a"].mode, 69);
        inputs.push(crafted);
        for input in &inputs {
            let row = decode(input).expect("a valid row");
            assert!(!row.files.is_empty());
            same_as_generic(input);
            for i in 0..input.len() {
                for byte in [
                    0x00, 0x01, 0x45, 0x7f, 0x80, 0x91, 0xa3, 0xc0, 0xcb, 0xd4, 0xde, 0xff,
                ] {
                    let mut mutant = input.clone();
                    mutant[i] = byte;
                    same_as_generic(&mutant);
                }
                same_as_generic(&input[..i]);
            }
        }
    }

    /// `decode_lean` and `decode` agree on the same inputs and mutants: both fail, or give
    /// the same row, but for the manifest when the lean one skipped it.
    #[test]
    fn the_lean_decode_is_the_decode_without_the_manifest() {
        let mut files = IndexMap::new();
        files.insert("package.json".to_string(), info("ab", None));
        let tack_row = |requires_build| {
            encode(&PackageFilesIndex {
                manifest: Some(serde_json::json!({
                    "name": "x",
                    "version": "1.0.0",
                    "bin": {"x": "cli.js"},
                    "scripts": {"postinstall": "node x"},
                })),
                requires_build,
                requires_prepare: None,
                algo: "sha512".to_string(),
                files: files.clone(),
                side_effects: None,
                tar_integrity: None,
            })
        };
        // Fields named twice (a review's finding): the first `manifest` and the first
        // `requiresBuild` are the ones that count, for the lean decode as for decode.
        let file = Value::Object(vec![
            ("digest".into(), Value::Str("ab".repeat(64))),
            ("mode".into(), Value::Int(0o644)),
            ("size".into(), Value::Int(1)),
        ]);
        let files_map = Value::Map(vec![(Value::Str("package.json".into()), file)]);
        let twice = |fields: Vec<(&str, Value)>| {
            let mut fields: Vec<(String, Value)> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            fields.push(("files".to_owned(), files_map.clone()));
            super::super::encode_value(&Value::Object(fields))
        };
        let inputs = [
            include_bytes!("../../tests/fixtures/pnpm12-local-a.msgpack").to_vec(),
            include_bytes!("../../tests/fixtures/pnpm12-side-effects-local-c.msgpack").to_vec(),
            tack_row(Some(true)),
            tack_row(None),
            twice(vec![
                ("requiresBuild", Value::Bool(true)),
                ("manifest", Value::Object(vec![])),
                ("manifest", Value::Int(5)),
            ]),
            twice(vec![
                ("requiresBuild", Value::Bool(false)),
                ("manifest", Value::Nil),
                ("manifest", Value::Int(5)),
            ]),
            twice(vec![
                ("requiresBuild", Value::Nil),
                ("requiresBuild", Value::Bool(true)),
                ("manifest", Value::Object(vec![])),
            ]),
        ];
        let mut skipped_rows = 0;
        let agree = |bytes: &[u8]| -> bool {
            match (decode_lean(bytes), decode(bytes)) {
                (Ok((lean, skipped)), Ok(full)) => {
                    let expected = if skipped {
                        assert!(
                            full.manifest.is_some(),
                            "skipped a manifest that was not there"
                        );
                        PackageFilesIndex {
                            manifest: None,
                            ..full
                        }
                    } else {
                        full
                    };
                    assert_eq!(lean, expected, "input {bytes:02x?}");
                    skipped
                }
                (Err(_), Err(_)) => false,
                (lean, full) => panic!("lean {lean:?} but full {full:?} for {bytes:02x?}"),
            }
        };
        for input in &inputs {
            if agree(input) {
                skipped_rows += 1;
            }
            for i in 0..input.len() {
                for byte in [
                    0x00, 0x45, 0x7f, 0x80, 0x91, 0xa3, 0xc0, 0xc1, 0xcb, 0xd4, 0xff,
                ] {
                    let mut mutant = input.clone();
                    mutant[i] = byte;
                    agree(&mutant);
                }
                agree(&input[..i]);
            }
        }
        // Rows with `requiresBuild` skip their manifest (the fifth row's first one); the one
        // without keeps it, and so do the sixth (its first manifest is nil) and the seventh
        // (its first `requiresBuild` is nil).
        assert_eq!(skipped_rows, 4);
    }
}
