//! Deterministic `.tgz` packing: the same files always give the same bytes, so a fixture's
//! integrity never changes and lockfiles committed against it stay valid.
//!
//! Entries go under `package/`, sorted by path, with a fixed mtime, uid/gid 0 and mode
//! 0o755 (any exec bit set) or 0o644. The gzip layer is written by hand with *stored*
//! deflate blocks, a zero mtime and no file name: its output depends on nothing but the
//! input bytes, not on the version of a compression library.

use std::io::Write;

/// The mtime stamped on every entry (1985-10-26T08:15:00Z, the date npm uses for packed files).
pub const FIXED_MTIME: u64 = 499_162_500;

/// Packs `(path, bytes, mode)` triples into a deterministic gzipped tarball, entries under
/// `package/`. Paths are relative to the package root and use `/`.
pub fn pack_tarball(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    gzip_stored(&tar_bytes(files))
}

/// The uncompressed tar stream of [`pack_tarball`].
pub fn tar_bytes(files: &[(String, Vec<u8>, u32)]) -> Vec<u8> {
    let mut sorted: Vec<&(String, Vec<u8>, u32)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data, mode) in sorted {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mtime(FIXED_MTIME);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mode(if mode & 0o111 != 0 { 0o755 } else { 0o644 });
        let full = format!("package/{}", path.trim_start_matches('/'));
        // Writing into a Vec cannot fail; a path the tar format rejects is skipped.
        let _ = builder.append_data(&mut header, full, data.as_slice());
    }
    builder.into_inner().unwrap_or_default()
}

/// Wraps `data` in a gzip member made of stored (uncompressed) deflate blocks.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 65_535 * 5 + 32);
    // magic, CM=deflate, FLG=0, MTIME=0, XFL=0, OS=255 (unknown)
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = chunk.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Gzips with real deflate compression (level 9). Not used for fixtures (see the module
/// doc); handy for tests that want a compressed stream.
pub fn gzip_deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    if enc.write_all(data).is_err() {
        return Vec::new();
    }
    enc.finish().unwrap_or_default()
}
