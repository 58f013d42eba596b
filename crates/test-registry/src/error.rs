//! The registry's error type: every failure names the path or package it concerns and
//! carries a stable `ERR_TACK_REGISTRY_*` code so callers and logs can match on it.

use std::path::PathBuf;

/// Everything that can go wrong while loading packages or running the server.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot bind the registry to 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the registry runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("invalid package.json for fixture {path}: {message}")]
    BadManifest { path: PathBuf, message: String },
    #[error("invalid tarball {path}: {message}")]
    BadTarball { path: PathBuf, message: String },
    #[error("the registry thread stopped before it reported its address")]
    ThreadGone,
    #[error("cannot set up the registry's TLS: {message}")]
    Tls { message: String },
    #[error("cannot provide {tool}: {message}")]
    Tool { tool: String, message: String },
}

impl RegistryError {
    /// A stable code for matching in tests and logs.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Io { .. } => "ERR_TACK_REGISTRY_IO",
            RegistryError::Bind { .. } => "ERR_TACK_REGISTRY_BIND",
            RegistryError::Runtime(_) => "ERR_TACK_REGISTRY_RUNTIME",
            RegistryError::BadManifest { .. } => "ERR_TACK_REGISTRY_BAD_MANIFEST",
            RegistryError::BadTarball { .. } => "ERR_TACK_REGISTRY_BAD_TARBALL",
            RegistryError::ThreadGone => "ERR_TACK_REGISTRY_THREAD_GONE",
            RegistryError::Tls { .. } => "ERR_TACK_REGISTRY_TLS",
            RegistryError::Tool { .. } => "ERR_TACK_REGISTRY_TOOL",
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RegistryError::Io {
            path: path.into(),
            source,
        }
    }
}
