//! A registry that speaks the npm read protocol over HTTP (or HTTPS) on loopback, for tests and
//! benchmarks: fixture packages packed deterministically, a mirror of real tarballs, and
//! fault injection.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tack_test_registry::RegistryError> {
//! use tack_test_registry::{Fault, RegistryOptions, TestRegistry};
//! let registry = TestRegistry::start(RegistryOptions::default()).await?;
//! registry.inject(Fault::status("/is-odd/-/", 500).times(1));
//! let url = registry.tarball_url("is-odd", "3.0.1");
//! # let _ = url; Ok(()) }
//! ```

mod auth;
mod catalog;
mod digest;
mod error;
mod fault;
mod fixtures;
mod http;
mod log;
mod mirror;
mod pack;
mod package;
mod packument;
mod proxy;
mod registry;
mod server;
mod shaping;
mod tls;
pub mod tools;

pub use digest::{sha1_hex, sha1_integrity, sha512_integrity};
pub use error::RegistryError;
pub use fault::{Fault, FaultKind};
pub use fixtures::{default_fixtures_dir, load_fixtures};
pub use log::RequestRecord;
pub use pack::{gzip_deflate, gzip_stored, pack_tarball, tar_bytes, FIXED_MTIME};
pub use package::{scopeless, tarball_path, PackageDef, FIXED_TIME};
pub use packument::ABBREVIATED_MEDIA_TYPE;
pub use proxy::{ProxiedConnection, TestProxy};
pub use registry::{RegistryOptions, TestRegistry};
pub use shaping::{parse_bandwidth, parse_duration};
pub use tls::{test_ca_path, test_ca_pem, test_tls_file, ClientAuth};
