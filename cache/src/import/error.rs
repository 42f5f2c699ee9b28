//! [`ImportError`]: every way loading an archive can fail. Each variant
//! names the archive (its path, or `standard input`) and the entry or
//! digest concerned.

use crate::StoreError;
use mybuild_graph::Digest;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("archive {archive}: {op}: {source}")]
    Io {
        archive: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("archive {archive}: not a valid tar archive: {source}")]
    Tar { archive: String, source: io::Error },
    #[error("archive {archive}: entry {entry:?} is cut short: the archive is truncated")]
    Truncated { archive: String, entry: String },
    #[error("archive {archive}: entry {entry:?}: unsafe path (absolute, with `..`, or not UTF-8)")]
    UnsafePath { archive: String, entry: String },
    #[error("archive {archive}: entry {entry:?} appears more than once with different content")]
    DuplicateEntry { archive: String, entry: String },
    #[error("archive {archive}: {entry:?} is a {kind}, not a regular file")]
    NotAFile {
        archive: String,
        entry: String,
        kind: &'static str,
    },
    #[error("archive {archive}: neither manifest.json (docker save) nor index.json (OCI image layout) found; not an image archive")]
    NotAnImage { archive: String },
    #[error("archive {archive}: {entry:?}, named by {referrer}, is missing from the archive")]
    MissingEntry {
        archive: String,
        entry: String,
        referrer: String,
    },
    #[error("archive {archive}: {entry:?} is {size} bytes, over the {limit}-byte limit for JSON metadata")]
    TooLarge {
        archive: String,
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error("archive {archive}: {entry:?}: {source}")]
    Json {
        archive: String,
        entry: String,
        source: serde_json::Error,
    },
    #[error("archive {archive}: {entry:?}: content hashes to {actual}, expected {expected}")]
    DigestMismatch {
        archive: String,
        entry: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("archive {archive}: layer {entry:?}: uncompressed tar hashes to {actual}, but the image config's diff_id is {expected}")]
    DiffIdMismatch {
        archive: String,
        entry: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("archive {archive}: {entry:?} is {actual} bytes, its descriptor says {expected}")]
    SizeMismatch {
        archive: String,
        entry: String,
        expected: u64,
        actual: u64,
    },
    #[error("archive {archive}: {referrer}: digest {digest:?} is not sha256:<64 lowercase hex> (only sha256 is supported)")]
    BadDigest {
        archive: String,
        referrer: String,
        digest: String,
    },
    #[error("archive {archive}: oci-layout: unsupported imageLayoutVersion {version:?}")]
    LayoutVersion { archive: String, version: String },
    #[error("archive {archive}: image config {entry:?} lists {diff_ids} layer(s), its manifest {layers}")]
    LayerCount {
        archive: String,
        entry: String,
        diff_ids: usize,
        layers: usize,
    },
    #[error("archive {archive}: {referrer}: {digest} has unsupported media type {media_type:?}")]
    MediaType {
        archive: String,
        referrer: String,
        digest: Digest,
        media_type: String,
    },
    #[error("archive {archive}: {index}: no image for platform linux/{arch}")]
    NoPlatform {
        archive: String,
        index: String,
        arch: &'static str,
    },
    #[error("archive {archive}: image index {digest} nests indexes more than {limit} deep")]
    TooDeep {
        archive: String,
        digest: Digest,
        limit: usize,
    },
    #[error("archive {archive}: the archive holds no image")]
    NoImages { archive: String },
    #[error("archive {archive}: layer {entry:?}: {source}")]
    Layer {
        archive: String,
        entry: String,
        source: io::Error,
    },
    #[error("archive {archive}: {step}: {source}")]
    Store {
        archive: String,
        step: String,
        source: Box<StoreError>,
    },
}
