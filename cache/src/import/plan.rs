//! What importing one image needs ([`ImagePlan`]), read from an archive's
//! metadata by the docker and OCI readers, and the checks both share.

use super::archive::Archive;
use super::error::ImportError;
use crate::oci::ConfigRootFs;
use mybuild_graph::Digest;

/// Largest manifest, index or config accepted.
pub const JSON_LIMIT: u64 = 16 << 20;

/// What one image needs, read and checked from the archive's metadata.
pub(super) struct ImagePlan {
    /// Entry name (docker) or `blobs/sha256/...` of the config.
    pub config_entry: String,
    pub config: Vec<u8>,
    pub diff_ids: Vec<Digest>,
    pub layers: Vec<LayerSource>,
    pub names: Vec<String>,
}

/// Where a layer's blob is and what it must hash to.
pub(super) struct LayerSource {
    pub entry: String,
    /// Digest of the blob as stored in the archive, when known.
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
}

/// Parses JSON read from entry `entry` of the archive.
pub(super) fn parse_json<T: serde::de::DeserializeOwned>(
    ar: &Archive,
    entry: &str,
    bytes: &[u8],
) -> Result<T, ImportError> {
    serde_json::from_slice(bytes).map_err(|source| ImportError::Json {
        archive: ar.label().into(),
        entry: entry.into(),
        source,
    })
}

/// The config's `rootfs.diff_ids`, checked against the number of layers.
pub(super) fn config_diff_ids(
    ar: &Archive,
    entry: &str,
    config: &[u8],
    layers: usize,
) -> Result<Vec<Digest>, ImportError> {
    let view: ConfigRootFs = parse_json(ar, entry, config)?;
    if view.rootfs.diff_ids.len() != layers {
        return Err(ImportError::LayerCount {
            archive: ar.label().into(),
            entry: entry.into(),
            diff_ids: view.rootfs.diff_ids.len(),
            layers,
        });
    }
    Ok(view.rootfs.diff_ids)
}

/// Fails unless `bytes` hash to `expected`.
pub(super) fn check_digest(
    ar: &Archive,
    entry: &str,
    expected: &Digest,
    actual: Digest,
) -> Result<(), ImportError> {
    if *expected == actual {
        return Ok(());
    }
    Err(ImportError::DigestMismatch {
        archive: ar.label().into(),
        entry: entry.into(),
        expected: expected.clone(),
        actual,
    })
}

/// Adds `name` unless it is already there.
pub(super) fn push_name(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}
