//! `CasName`: a CAS file's name relative to the store's `files/` directory
//! (`ab/cdef…[-exec]`), built on the stack.
//!
//! A warm install stats and links about 20k CAS files relative to an open `files/`
//! directory ([`crate::DirFd`]). Building each name as a heap path (and dropping it again)
//! was one of the larger user-space costs of that loop, so the store's verifier and the
//! linker both build the name here instead, from the digest an index row holds.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Hex digits of a sha512 digest, the only digest pnpm's `files/` layout names files by.
const DIGEST_HEX: usize = 128;
const EXEC_SUFFIX: &[u8] = b"-exec";
/// `ab/` + the other 126 digits + `-exec`.
const MAX_LEN: usize = DIGEST_HEX + 1 + EXEC_SUFFIX.len();

/// The relative name of one CAS file: `<first two digits>/<the rest>`, with `-exec` for the
/// executable variant.
#[derive(Clone, Copy)]
pub struct CasName {
    buf: [u8; MAX_LEN],
    len: u8,
}

impl CasName {
    /// The name for `hex_digest`; `None` unless it is 128 lowercase hex digits (a malformed
    /// digest from a damaged row never becomes a path).
    pub fn new(hex_digest: &str, executable: bool) -> Option<CasName> {
        let digits = hex_digest.as_bytes();
        if digits.len() != DIGEST_HEX || !all_lower_hex(digits) {
            return None;
        }
        let mut buf = [0u8; MAX_LEN];
        buf[..2].copy_from_slice(&digits[..2]);
        buf[2] = b'/';
        buf[3..=DIGEST_HEX].copy_from_slice(&digits[2..]);
        let mut len = DIGEST_HEX + 1;
        if executable {
            buf[len..len + EXEC_SUFFIX.len()].copy_from_slice(EXEC_SUFFIX);
            len += EXEC_SUFFIX.len();
        }
        Some(CasName {
            buf,
            len: len as u8,
        })
    }

    /// The name as a relative path.
    pub fn as_path(&self) -> &Path {
        Path::new(OsStr::from_bytes(&self.buf[..usize::from(self.len)]))
    }
}

impl std::fmt::Debug for CasName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CasName").field(&self.as_path()).finish()
    }
}

/// Without an early exit, so that the compiler checks many digits per instruction: every
/// file of a warm install is named here.
fn all_lower_hex(digits: &[u8]) -> bool {
    digits.iter().fold(true, |ok, &b| {
        ok & (b.is_ascii_digit() | (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_digest_by_shard_and_rest() {
        let digest = format!("ab{}", "c".repeat(126));
        let plain = CasName::new(&digest, false).unwrap();
        assert_eq!(
            plain.as_path(),
            Path::new(&format!("ab/{}", "c".repeat(126)))
        );
        let exec = CasName::new(&digest, true).unwrap();
        assert_eq!(
            exec.as_path(),
            Path::new(&format!("ab/{}-exec", "c".repeat(126)))
        );
    }

    #[test]
    fn refuses_what_is_not_a_sha512_hex_digest() {
        assert!(CasName::new("", false).is_none());
        assert!(CasName::new("ab", false).is_none());
        assert!(CasName::new(&"a".repeat(127), false).is_none());
        assert!(CasName::new(&"a".repeat(129), false).is_none());
        assert!(CasName::new(&"A".repeat(128), false).is_none());
        assert!(CasName::new(&format!("../{}", "a".repeat(125)), false).is_none());
        // One bad digit anywhere, the last one included.
        assert!(CasName::new(&format!("{}g", "a".repeat(127)), false).is_none());
        assert!(CasName::new(&format!("{}/{}", "a".repeat(64), "a".repeat(63)), false).is_none());
    }
}
