//! Hostile tarballs for the reliability suite, written header by header (ustar) so that they
//! can hold what a well-behaved packer refuses to write: `..` and absolute paths, symlink
//! and hard-link entries pointing anywhere, and sizes far beyond any real package.

use std::io::Write;

/// One raw tar entry.
#[derive(Debug, Clone)]
pub enum RawEntry {
    File { path: String, data: Vec<u8> },
    Symlink { path: String, target: String },
    Hardlink { path: String, target: String },
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

/// A 512-byte ustar header.
fn header(path: &str, size: u64, kind: u8, link: &str, mode: u32) -> [u8; 512] {
    let mut h = [0u8; 512];
    let name = path.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 499_162_500);
    h[156] = kind;
    let link = link.as_bytes();
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

/// The uncompressed tar stream of `entries` (paths used verbatim, no `package/` added).
pub fn tar(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        match entry {
            RawEntry::File { path, data } => {
                out.extend_from_slice(&header(path, data.len() as u64, b'0', "", 0o644));
                out.extend_from_slice(data);
                out.resize(out.len().div_ceil(512) * 512, 0);
            }
            RawEntry::Symlink { path, target } => {
                out.extend_from_slice(&header(path, 0, b'2', target, 0o777));
            }
            RawEntry::Hardlink { path, target } => {
                out.extend_from_slice(&header(path, 0, b'1', target, 0o644));
            }
        }
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A gzipped tarball of `entries`.
pub fn tgz(entries: &[RawEntry]) -> Vec<u8> {
    tack_test_registry::gzip_deflate(&tar(entries))
}

/// A decompression bomb: a `package.json`, then one entry of `size` zero bytes, streamed
/// through gzip so the bomb never sits uncompressed in memory.
pub fn bomb(manifest: &[u8], size: u64) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let head = tar(&[RawEntry::File {
        path: "package/package.json".into(),
        data: manifest.to_vec(),
    }]);
    // Drop the end-of-archive blocks of the first part.
    enc.write_all(&head[..head.len() - 1024]).expect("gzip");
    enc.write_all(&header("package/zeros.bin", size, b'0', "", 0o644))
        .expect("gzip");
    let chunk = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        enc.write_all(&chunk[..n]).expect("gzip");
        left -= n as u64;
    }
    enc.write_all(&[0u8; 1024]).expect("gzip");
    enc.finish().expect("gzip")
}
