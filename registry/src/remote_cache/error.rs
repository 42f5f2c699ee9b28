//! [`RemoteCacheError`]: every way importing or exporting a shared build
//! cache can fail, each naming the cache location.

use crate::RegistryError;
use mybuild_graph::Digest;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RemoteCacheError {
    #[error("cache {location}: {source}")]
    Registry {
        location: String,
        source: RegistryError,
    },
    #[error("cache {location}: {op} {path}: {source}")]
    Io {
        location: String,
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cache {location}: not found")]
    NotFound { location: String },
    #[error("cache {location}: is {what}, not a mybuild cache")]
    NotACache { location: String, what: String },
    #[error("cache {location}: {what}: {reason}")]
    Bad {
        location: String,
        what: String,
        reason: String,
    },
    #[error("cache {location}: {what}: digest mismatch, got {got}")]
    Digest {
        location: String,
        what: String,
        got: Digest,
    },
    #[error("cache {location}: store: {source}")]
    Store {
        location: String,
        source: Box<mybuild_cache::StoreError>,
    },
    #[error("cache {location}: export layer: {source}")]
    Export {
        location: String,
        source: Box<mybuild_cache::export::ExportError>,
    },
    #[error("cache {location}: background task failed: {message}")]
    Task { location: String, message: String },
}
