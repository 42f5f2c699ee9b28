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
mod plan;
mod stream;

#[cfg(test)]
mod tests;

pub use error::ImportError;
pub use plan::JSON_LIMIT;

use crate::Store;
use archive::Archive;
use mybuild_graph::Digest;
use std::fs::File;
use std::io::Read;
use std::path::Path;

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
