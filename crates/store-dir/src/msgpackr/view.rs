//! A package index row read in place: its file list borrowed from the row's bytes.
//!
//! A warm install reads a row for every package it imports and needs only its file list and
//! whether it requires a build. Decoding it into a [`crate::PackageFilesIndex`] made two
//! `String`s and a hashed map entry per file (some 22k of each for a project of 900
//! packages), on the import threads, and kept them until the end of the install. A view
//! makes one `Vec` per row.
//!
//! Only rows in the shape pnpm and tack write are viewed: a record with `requiresBuild`
//! set, `files` a map of file records, and no side-effects cache entries. Anything else
//! gives `None`, and the caller decodes the row with [`super::decode_lean`], which reads
//! every shape (or says why it cannot). A row [`decode_view`] accepts is one that decode
//! accepts too, with the same files (the tests hold it to that).

use super::read::{Keys, Reader};
use super::value::Value;
use super::DecodeError;
use crate::index_row::CafsFileRef;
use std::rc::Rc;

/// The parts of a row an import needs, borrowed from its bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RowView<'a> {
    /// The digests' hash algorithm (`sha512` when the row has none, as decode reads it).
    pub algo: &'a str,
    pub requires_build: bool,
    /// Path inside the package and file, in the row's order. A path the row lists twice is
    /// here twice; decode keeps one entry for it, with the later file at the earlier place,
    /// and an import that replaces an existing file ends with the same content.
    pub files: Vec<(&'a str, CafsFileRef<'a>)>,
}

/// The row in `bytes`, read in place; `None` when it is shaped otherwise than pnpm and tack
/// write rows, or is damaged (see the module docs).
pub fn decode_view(bytes: &[u8]) -> Option<RowView<'_>> {
    view(bytes).ok().flatten()
}

/// Stops reading a row the view does not take; the caller turns it into `None`.
fn not_viewed() -> DecodeError {
    DecodeError::BadField {
        field: "<not viewed>".to_owned(),
    }
}

/// Whether the next value is nil or undefined (read past), as decode treats an absent field.
fn skip_absent(r: &mut Reader<'_>, depth: usize) -> Result<(), DecodeError> {
    match r.skip_value(depth)? {
        None => Ok(()),
        Some(_) => Err(not_viewed()),
    }
}

fn view(bytes: &[u8]) -> Result<Option<RowView<'_>>, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut algo = "sha512";
    let mut requires_build = None;
    let mut files = None;
    // Each known field once: decode takes the first of two, which the view does not track.
    let mut seen = 0u8;
    let is_record = r.read_record_fields(0, |r, key| {
        let bit = match key {
            "algo" => 1,
            "requiresBuild" => 2,
            "manifest" => 4,
            "files" => 8,
            "sideEffects" => 16,
            "tarIntegrity" => 32,
            _ => 0,
        };
        if seen & bit != 0 {
            return Err(not_viewed());
        }
        seen |= bit;
        match key {
            "algo" => match r.str_ref()? {
                Some(s) => algo = s,
                None => skip_absent(r, 1)?,
            },
            "requiresBuild" => match r.read_value(1)? {
                Value::Bool(b) => requires_build = Some(b),
                _ => return Err(not_viewed()),
            },
            // Checked as decode checks it (a map, or absent), not built.
            "manifest" => {
                if r.skip_value(1)? == Some(false) {
                    return Err(not_viewed());
                }
            }
            "files" => files = Some(file_list(r)?.ok_or_else(not_viewed)?),
            // Cache entries need the whole row (the build step applies them).
            "sideEffects" => skip_absent(r, 1)?,
            "tarIntegrity" => {
                if r.str_ref()?.is_none() {
                    skip_absent(r, 1)?;
                }
            }
            _ => {
                r.skip_value(1)?;
            }
        }
        Ok(())
    })?;
    if !is_record {
        return Ok(None);
    }
    r.finish()?;
    Ok(requires_build
        .zip(files)
        .map(|(requires_build, files)| RowView {
            algo,
            requires_build,
            files,
        }))
}

/// What the view does with one field of a file record.
#[derive(Clone, Copy)]
enum FileField {
    Digest,
    Mode,
    Size,
    CheckedAt,
    /// Another field, or a later one of two with the same name (decode takes the first).
    Skip,
}

/// The role of each field of a file record shape, in order.
fn file_fields(keys: &[std::borrow::Cow<'_, str>]) -> Vec<FileField> {
    let mut seen = [false; 4];
    keys.iter()
        .map(|key| {
            let (field, slot) = match key.as_ref() {
                "digest" => (FileField::Digest, 0),
                "mode" => (FileField::Mode, 1),
                "size" => (FileField::Size, 2),
                "checkedAt" => (FileField::CheckedAt, 3),
                _ => return FileField::Skip,
            };
            if std::mem::replace(&mut seen[slot], true) {
                FileField::Skip
            } else {
                field
            }
        })
        .collect()
}

/// The `files` map, when it is a map of string paths to file records.
fn file_list<'a>(
    r: &mut Reader<'a>,
) -> Result<Option<Vec<(&'a str, CafsFileRef<'a>)>>, DecodeError> {
    let Some(n) = r.map_len()? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(r.capacity(n));
    // Every file record of a row has the same shape: its fields' roles are worked out once.
    let mut shape: Option<(Keys<'a>, Vec<FileField>)> = None;
    for _ in 0..n {
        let Some(path) = r.str_ref()? else {
            return Ok(None);
        };
        let Some(keys) = r.record_keys(2)? else {
            return Ok(None);
        };
        if !shape
            .as_ref()
            .is_some_and(|(known, _)| Rc::ptr_eq(known, &keys))
        {
            let fields = file_fields(&keys);
            shape = Some((keys, fields));
        }
        let Some((_, fields)) = &shape else {
            return Ok(None);
        };
        let mut digest: Option<Option<&'a str>> = None;
        let (mut mode, mut size, mut checked_at) = (None, None, None);
        for field in fields {
            match field {
                FileField::Digest => {
                    digest = Some(r.str_ref()?);
                    if digest == Some(None) {
                        r.skip_value(3)?;
                    }
                }
                FileField::Mode => mode = Some(r.read_value(3)?),
                FileField::Size => size = Some(r.read_value(3)?),
                FileField::CheckedAt => checked_at = Some(r.read_value(3)?),
                FileField::Skip => {
                    r.skip_value(3)?;
                }
            }
        }
        let file = (|| {
            Some(CafsFileRef {
                digest: digest??,
                mode: u32::try_from(mode?.as_u64()?).ok()?,
                size: size?.as_u64()?,
                checked_at: match checked_at {
                    None | Some(Value::Nil | Value::Undefined) => None,
                    Some(v) => Some(v.as_f64()?),
                },
            })
        })();
        let Some(file) = file else {
            return Ok(None);
        };
        out.push((path, file));
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index_row::{CafsFileInfo, PackageFilesIndex};
    use crate::msgpackr::{decode, encode};
    use indexmap::IndexMap;

    /// A file as compared here: the float by its bits, so that a mutant's NaN equals itself.
    type Compared<'a> = (&'a str, u32, u64, Option<u64>);

    fn compared(f: CafsFileRef<'_>) -> Compared<'_> {
        (f.digest, f.mode, f.size, f.checked_at.map(f64::to_bits))
    }

    /// Whether `bytes` was viewed; when it was, the view must be what decode reads, with a
    /// path listed twice folded as decode folds it (the later file at the earlier place).
    fn viewed_as_decoded(bytes: &[u8]) -> bool {
        let Some(view) = decode_view(bytes) else {
            return false;
        };
        let row =
            decode(bytes).unwrap_or_else(|e| panic!("viewed but not decoded ({e}): {bytes:02x?}"));
        assert_eq!(
            Some(view.requires_build),
            row.requires_build,
            "{bytes:02x?}"
        );
        assert_eq!(view.algo, row.algo, "{bytes:02x?}");
        assert_eq!(row.side_effects, None, "{bytes:02x?}");
        let mut expected: IndexMap<&str, Compared<'_>> = IndexMap::new();
        for (path, file) in &view.files {
            expected.insert(path, compared(*file));
        }
        let decoded: IndexMap<&str, Compared<'_>> = row
            .files
            .iter()
            .map(|(path, info)| (path.as_str(), compared(CafsFileRef::from(info))))
            .collect();
        assert_eq!(expected, decoded, "{bytes:02x?}");
        true
    }

    fn tack_row(requires_build: Option<bool>) -> Vec<u8> {
        let mut files = IndexMap::new();
        for (path, mode, checked_at) in [
            ("package.json", 0o644, None),
            ("bin/cli.js", 0o755, Some(1_700_000_000_123.0)),
        ] {
            let info = CafsFileInfo {
                digest: "ab".repeat(64),
                mode,
                size: 7,
                checked_at,
            };
            files.insert(path.to_string(), info);
        }
        encode(&PackageFilesIndex {
            manifest: Some(serde_json::json!({"name": "x", "version": "1.0.0"})),
            requires_build,
            requires_prepare: None,
            algo: "sha512".to_string(),
            files,
            side_effects: None,
            tar_integrity: Some("sha512-AAAA".to_string()),
        })
    }

    /// Rows pnpm 12 wrote, rows tack writes, and every one-byte mutant and truncation of
    /// them: viewed only as decode reads them, and never with side-effects entries or without
    /// `requiresBuild`.
    #[test]
    fn a_viewed_row_is_the_row_decode_reads() {
        let pnpm = include_bytes!("../../tests/fixtures/pnpm12-local-a.msgpack").to_vec();
        let side_effects =
            include_bytes!("../../tests/fixtures/pnpm12-side-effects-local-c.msgpack").to_vec();
        assert!(viewed_as_decoded(&pnpm));
        assert!(viewed_as_decoded(&tack_row(Some(true))));
        assert!(viewed_as_decoded(&tack_row(Some(false))));
        assert!(
            !viewed_as_decoded(&side_effects),
            "side effects need the whole row"
        );
        assert!(
            !viewed_as_decoded(&tack_row(None)),
            "a build decided from the manifest"
        );
        let view = decode_view(&pnpm).expect("viewed");
        assert!(!view.files.is_empty());

        let mut viewed_mutants = 0;
        for input in [pnpm, side_effects, tack_row(Some(true)), tack_row(None)] {
            for i in 0..input.len() {
                for byte in [
                    0x00, 0x45, 0x7f, 0x80, 0x91, 0xa3, 0xc0, 0xc1, 0xcb, 0xd4, 0xff,
                ] {
                    let mut mutant = input.clone();
                    mutant[i] = byte;
                    viewed_mutants += usize::from(viewed_as_decoded(&mutant));
                }
                assert!(!viewed_as_decoded(&input[..i]), "a truncated row");
            }
        }
        // Mutants that change a digit, a mode or a time are still rows.
        assert!(viewed_mutants > 100, "{viewed_mutants}");
    }
}
