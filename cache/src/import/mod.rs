//! Importing an image archive into the store (`mybuild load`, like
//! `docker load`): an OCI image layout in a tar, or what `docker save`
//! writes (old per-layer directories or Docker 25+ `blobs/sha256/`).
//!
//! The archive is hostile input. It is never extracted: its headers are
//! indexed (refusing absolute and `..` names, and names given twice with
//! different content), and blobs are read by name with positional reads.
//! Every digest is checked: the manifest and config against their
//! descriptors (a `docker save` image id is the digest of its config), each
//! layer blob against its descriptor, and each uncompressed layer against
//! the config's `rootfs.diff_ids`. Metadata JSON is capped at
//! [`JSON_LIMIT`] bytes. Configs are stored only once every layer of every
//! image in the archive has been imported and verified, so a bad archive
//! leaves no image behind (only verified, unreferenced layers and blobs).
//!
//! Names are returned as the archive spells them; normalising and tagging
//! them is the caller's job.

mod archive;
mod docker;
mod error;
mod layer;
mod oci;
mod stream;

#[cfg(test)]
mod tests;

pub use error::ImportError;

use crate::Store;
use archive::Archive;
use mybuild_graph::Digest;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Largest manifest, index or config accepted.
pub const JSON_LIMIT: u64 = 16 << 20;

/// One image the archive held, now in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedImage {
    /// The config digest (image id).
    pub id: Digest,
    /// Names from the archive, raw (e.g. `busybox:latest` from a
    /// `docker save` RepoTags, `docker.io/library/busybox:latest` from an
    /// OCI `io.containerd.image.name`), without duplicates.
    pub names: Vec<String>,
}

/// Reported once per layer of each image, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerEvent {
    pub diff_id: Digest,
    /// The store had the layer already; the archive's copy was only verified.
    pub existed: bool,
}

/// Imports the archive file at `path` (a pipe or other stream is first
/// copied to a temp file under the store).
pub fn import_path(
    store: &Store,
    path: &Path,
    progress: &mut dyn FnMut(&LayerEvent),
) -> Result<Vec<ImportedImage>, ImportError> {
    let label = path.display().to_string();
    let io_err = |op| {
        let archive = label.clone();
        move |source| ImportError::Io {
            archive,
            op,
            source,
        }
    };
    let file = File::open(path).map_err(io_err("open"))?;
    let meta = file.metadata().map_err(io_err("stat"))?;
    let file = if meta.is_file() {
        file
    } else {
        stream::spool(store, file, &label)?
    };
    import_file(store, file, &label, progress)
}

/// Imports an archive read sequentially from `input` (e.g. standard
/// input); `label` names it in errors.
pub fn import_reader(
    store: &Store,
    input: impl Read,
    label: &str,
    progress: &mut dyn FnMut(&LayerEvent),
) -> Result<Vec<ImportedImage>, ImportError> {
    let file = stream::spool(store, input, label)?;
    import_file(store, file, label, progress)
}

/// What one image needs, read and checked from the archive's metadata.
struct ImagePlan {
    /// Entry name (docker) or `blobs/sha256/...` of the config.
    pub config_entry: String,
    pub config: Vec<u8>,
    pub diff_ids: Vec<Digest>,
    pub layers: Vec<LayerSource>,
    pub names: Vec<String>,
}

/// Where a layer's blob is and what it must hash to.
struct LayerSource {
    pub entry: String,
    /// Digest of the blob as stored in the archive, when known.
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    pub media_type: Option<String>,
}

fn import_file(
    store: &Store,
    file: File,
    label: &str,
    progress: &mut dyn FnMut(&LayerEvent),
) -> Result<Vec<ImportedImage>, ImportError> {
    let ar = Archive::index(file, label)?;
    let plans = if ar.contains("manifest.json") {
        docker::plan(&ar)?
    } else if ar.contains("index.json") {
        oci::plan(&ar)?
    } else {
        return Err(ImportError::NotAnImage {
            archive: label.into(),
        });
    };
    if plans.is_empty() {
        return Err(ImportError::NoImages {
            archive: label.into(),
        });
    }
    for plan in &plans {
        for (source, diff_id) in plan.layers.iter().zip(&plan.diff_ids) {
            let existed = layer::import(store, &ar, source, diff_id)?;
            progress(&LayerEvent {
                diff_id: diff_id.clone(),
                existed,
            });
        }
    }
    let mut out = Vec::new();
    for plan in plans {
        let id = store
            .put_image(&plan.config)
            .map_err(|source| ImportError::Store {
                archive: label.into(),
                step: format!("store image config {}", plan.config_entry),
                source: Box::new(source),
            })?;
        out.push(ImportedImage {
            id,
            names: plan.names,
        });
    }
    Ok(out)
}

/// Parses JSON read from entry `entry` of the archive.
fn parse_json<T: serde::de::DeserializeOwned>(
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

#[derive(serde::Deserialize)]
struct ConfigView {
    rootfs: RootFs,
}

#[derive(serde::Deserialize)]
struct RootFs {
    diff_ids: Vec<Digest>,
}

/// The config's `rootfs.diff_ids`, checked against the number of layers.
fn config_diff_ids(
    ar: &Archive,
    entry: &str,
    config: &[u8],
    layers: usize,
) -> Result<Vec<Digest>, ImportError> {
    let view: ConfigView = parse_json(ar, entry, config)?;
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
fn check_digest(
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
fn push_name(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}
