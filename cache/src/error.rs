//! [`StoreError`]: every way a store operation can fail.

use mybuild_graph::Digest;
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong inside the store. Variants name the
/// operation and the file or object concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("blob {digest} is not in the store")]
    BlobMissing { digest: Digest },
    #[error("{what}: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("parse {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write layer tar from {upper}: {source}")]
    Pack {
        upper: PathBuf,
        source: crate::layers::pack::PackError,
    },
    #[error("unpack layer: {source}")]
    Unpack {
        source: crate::layers::unpack::UnpackError,
    },
    #[error("image config: {source}")]
    BadConfig { source: serde_json::Error },
    #[error("image config {config}: layer {diff_id} is not in the store")]
    LayerMissing { config: Digest, diff_id: Digest },
    #[error("tag {name:?}: image {config} is not in the store")]
    ImageMissing { name: String, config: Digest },
    #[error("tag {name:?}: not a normalised image name")]
    BadName { name: String },
    #[error("image id {prefix:?} is ambiguous: more than one image starts with it")]
    AmbiguousId { prefix: String },
    #[error("store {root} is in use by another mybuild process; try again when it has finished")]
    InUse { root: PathBuf },
}

/// Builds a closure that wraps an `io::Error` with what was being done where.
pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}
