//! The two digests a packument advertises for a tarball: `dist.integrity` (sha512 SRI) and
//! `dist.shasum` (sha1 hex).

use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha512};

/// `sha512-<base64>` of `bytes`.
pub fn sha512_integrity(bytes: &[u8]) -> String {
    let digest = Sha512::digest(bytes);
    format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Lowercase hex sha1 of `bytes`.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// `sha1-<base64>` of `bytes` (the SRI form old packuments carry).
pub fn sha1_integrity(bytes: &[u8]) -> String {
    format!(
        "sha1-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha1::digest(bytes))
    )
}
