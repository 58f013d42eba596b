//! The tarball fetcher: one locked package in, a verified index row whose files are all in
//! the CAS out. Download, integrity check, gunzip, untar and CAS write, with retries.

mod auth;
mod entry_path;
mod error;
mod extract;
mod integrity;
mod manifest;
mod url;

pub use auth::AuthTable;
pub use error::FetchError;
pub use extract::{unpack_tarball, CasSink, ExtractCaps, UnpackedFile, UnpackedPackage};
pub use integrity::{sha512_sri, to_sri, Algorithm, ExpectedIntegrity, IntegrityHasher};
pub use manifest::{normalize_bundled_manifest, requires_build, PLACEHOLDER_PACKAGE_JSON};
pub use url::{normalize_registry, redact_url, resolve_tarball_url, tarball_url};
