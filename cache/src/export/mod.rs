//! Exporting an image from the store: the OCI manifest for a chosen layer
//! compression ([`image_manifest`], also what a push sends) and whole-image
//! archives in OCI-layout or `docker save` form ([`export_image`]).

mod archive;
mod entries;
mod manifest;
mod pgzip;
mod same;

pub use archive::{export_image, export_images, export_index};
pub use manifest::{image_manifest, layer_descriptor};
// Public only so cache/benches/hot_paths.rs can measure layer gzip alone,
// without a store, a manifest and a blob write around it.
pub use pgzip::gzip;

use crate::error::StoreError;
use mybuild_graph::Digest;
use std::path::PathBuf;

/// Archive layout written by [`export_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// A tar of an OCI image layout.
    Oci,
    /// What `docker save` writes and `docker load` reads.
    Docker,
}

/// How layers are stored in a manifest or archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Uncompressed,
}

/// The compression an export asks for, and what becomes of a layer the
/// store already holds compressed another way: converted (`force`), or
/// taken as it is, as BuildKit does unless told `force-compression=true`.
/// Only layers without such a blob (the build's own) are then made in
/// `compression`, so a base pulled gzipped goes into an uncompressed
/// docker archive as its gzip blob, which `docker load` reads as well,
/// instead of being inflated again on every export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compressing {
    pub compression: Compression,
    pub force: bool,
}

impl Compression {
    /// Every layer in this compression.
    pub fn forced(self) -> Compressing {
        Compressing {
            compression: self,
            force: true,
        }
    }

    /// New layers in this compression, stored compressed blobs as they are.
    pub fn preferred(self) -> Compressing {
        Compressing {
            compression: self,
            force: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{step}: {source}")]
    Store { step: String, source: StoreError },
    #[error("layer {diff_id} is not in the store")]
    LayerMissing { diff_id: Digest },
    #[error("layer {diff_id}: neither its uncompressed tar nor a compressed blob is in the store")]
    NoLayerBlob { diff_id: Digest },
    #[error("{what}: content hashes to {actual}, expected {expected}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("serialise {what}: {source}")]
    Json {
        what: &'static str,
        source: serde_json::Error,
    },
}

pub(crate) fn store_err(step: impl Into<String>) -> impl FnOnce(StoreError) -> ExportError {
    let step = step.into();
    move |source| ExportError::Store { step, source }
}

pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> ExportError {
    let path = path.into();
    move |source| ExportError::Io { op, path, source }
}
