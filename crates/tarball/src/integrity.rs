//! Subresource Integrity for tarballs: parse the lockfile's `integrity`, pick its
//! strongest algorithm, and hash the compressed bytes incrementally as they arrive.
//!
//! Only the strongest algorithm present is checked (sha512 for modern packages, sha1 for
//! very old ones), as npm's `ssri` does; weaker hashes next to it are ignored.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Hash algorithms in SRI strings, weakest first so `Ord` picks the strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Algorithm {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    /// The algorithm an SRI prefix names (`sha512`), if it is one of these.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The SRI prefix (`sha512`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

/// The expectation to check a tarball against: the strongest algorithm of an SRI string
/// and every digest given for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedIntegrity {
    pub algorithm: Algorithm,
    digests: Vec<Vec<u8>>,
}

impl ExpectedIntegrity {
    /// Parses `sha512-<b64> sha1-<b64>…`; `None` when no entry is usable.
    pub fn parse(sri: &str) -> Option<Self> {
        let mut best: Option<Self> = None;
        for token in sri.split_whitespace() {
            let Some((algo, rest)) = token.split_once('-') else {
                continue;
            };
            let Some(algorithm) = Algorithm::parse(algo) else {
                continue;
            };
            // Options after `?` are allowed by the SRI spec and ignored.
            let b64 = rest.split_once('?').map_or(rest, |(d, _)| d);
            let Ok(digest) = B64.decode(b64) else {
                continue;
            };
            match &mut best {
                Some(b) if b.algorithm == algorithm => b.digests.push(digest),
                Some(b) if b.algorithm > algorithm => {}
                _ => {
                    best = Some(Self {
                        algorithm,
                        digests: vec![digest],
                    })
                }
            }
        }
        best
    }

    /// Whether `digest` (raw bytes, same algorithm) matches one of the expected ones.
    pub fn matches(&self, digest: &[u8]) -> bool {
        self.digests.iter().any(|d| d.as_slice() == digest)
    }

    /// The expected value as an SRI string, for messages.
    pub fn display(&self) -> String {
        self.digests
            .iter()
            .map(|d| format!("{}-{}", self.algorithm.name(), B64.encode(d)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// An incremental hasher for one algorithm.
#[derive(Clone)]
pub enum IntegrityHasher {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl IntegrityHasher {
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha1 => Self::Sha1(Sha1::new()),
            Algorithm::Sha256 => Self::Sha256(Sha256::new()),
            Algorithm::Sha384 => Self::Sha384(Sha384::new()),
            Algorithm::Sha512 => Self::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
            Self::Sha384(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    /// The raw digest and its algorithm.
    pub fn finish(self) -> (Algorithm, Vec<u8>) {
        match self {
            Self::Sha1(h) => (Algorithm::Sha1, h.finalize().to_vec()),
            Self::Sha256(h) => (Algorithm::Sha256, h.finalize().to_vec()),
            Self::Sha384(h) => (Algorithm::Sha384, h.finalize().to_vec()),
            Self::Sha512(h) => (Algorithm::Sha512, h.finalize().to_vec()),
        }
    }
}

/// Formats a digest as an SRI string (`sha512-<b64>`).
pub fn to_sri(algorithm: Algorithm, digest: &[u8]) -> String {
    format!("{}-{}", algorithm.name(), B64.encode(digest))
}

/// The sha512 SRI of `bytes`, as the lockfile records it.
pub fn sha512_sri(bytes: &[u8]) -> String {
    to_sri(Algorithm::Sha512, &Sha512::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::{sha512_sri, to_sri, Algorithm, ExpectedIntegrity, IntegrityHasher};

    #[test]
    fn picks_the_strongest_and_verifies() {
        let data = b"hello tarball";
        let mut h1 = IntegrityHasher::new(Algorithm::Sha1);
        h1.update(data);
        let (_, d1) = h1.finish();
        let sri = format!("{} {}", to_sri(Algorithm::Sha1, &d1), sha512_sri(data));
        let exp = ExpectedIntegrity::parse(&sri).unwrap();
        assert_eq!(exp.algorithm, Algorithm::Sha512);
        let mut h = IntegrityHasher::new(exp.algorithm);
        h.update(&data[..5]);
        h.update(&data[5..]);
        assert!(exp.matches(&h.finish().1));
        // A sha1-only string verifies with sha1.
        let exp1 = ExpectedIntegrity::parse(&to_sri(Algorithm::Sha1, &d1)).unwrap();
        assert_eq!(exp1.algorithm, Algorithm::Sha1);
        assert!(exp1.matches(&d1));
        assert!(!exp1.matches(&[0; 20]));
    }

    #[test]
    fn rejects_garbage() {
        assert!(ExpectedIntegrity::parse("").is_none());
        assert!(ExpectedIntegrity::parse("md5-AAAA").is_none());
        assert!(ExpectedIntegrity::parse("sha512-!!!").is_none());
    }
}
