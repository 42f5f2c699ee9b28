//! One layer from the archive into the store: its compression is told by
//! its first bytes (gzip, zstd or a plain tar), the blob is checked against
//! its descriptor digest, and the uncompressed tar against the diff_id.

use super::archive::Archive;
use super::error::ImportError;
use super::plan::{check_digest, LayerSource};
use super::stream::Section;
use crate::oci::OCI_LAYER_GZIP;
use crate::{CompressedBlob, HashingReader, LayerCompression as Compression, Store, StoreError};
use mybuild_graph::Digest;
use std::io;

fn sniff(section: &Section<'_>) -> io::Result<Compression> {
    let mut magic = [0u8; 4];
    let n = section.peek(&mut magic)?;
    Ok(Compression::sniff(&magic[..n]))
}

/// Imports (or, when the store has it, only verifies) one layer. Returns
/// whether the store had it already.
pub(super) fn import(
    store: &Store,
    ar: &Archive,
    source: &LayerSource,
    diff_id: &Digest,
) -> Result<bool, ImportError> {
    let cx = Cx {
        ar,
        entry: source.entry.as_str(),
    };
    let section = cx.open(source.size)?;
    let kind = sniff(&section).map_err(|e| cx.layer(e))?;
    let existed = store.snapshot_dir(diff_id).is_some();
    let (raw, actual) = if existed {
        verify(section, kind).map_err(|e| cx.layer(e))?
    } else {
        match kind {
            Compression::Gzip => import_gzip(store, &cx, section, source)?,
            Compression::Zstd => import_zstd(store, &cx, section)?,
            Compression::Plain => {
                let d = store
                    .import_layer(section, None)
                    .map_err(cx.store("import layer"))?;
                (d.clone(), d)
            }
        }
    };
    if let Some(expected) = &source.digest {
        check_digest(ar, cx.entry, expected, raw)?;
    }
    if actual != *diff_id {
        return Err(ImportError::DiffIdMismatch {
            archive: ar.label().into(),
            entry: cx.entry.into(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(existed)
}

/// The layer entry being imported, for errors.
struct Cx<'a> {
    ar: &'a Archive,
    entry: &'a str,
}

impl<'a> Cx<'a> {
    /// Opens the entry, checking its size against the descriptor's.
    fn open(&self, size: Option<u64>) -> Result<Section<'a>, ImportError> {
        let section = self.ar.open(self.entry, "the image manifest")?;
        if let Some(expected) = size.filter(|s| *s != section.len()) {
            return Err(ImportError::SizeMismatch {
                archive: self.ar.label().into(),
                entry: self.entry.into(),
                expected,
                actual: section.len(),
            });
        }
        Ok(section)
    }

    fn layer(&self, source: io::Error) -> ImportError {
        ImportError::Layer {
            archive: self.ar.label().into(),
            entry: self.entry.into(),
            source,
        }
    }

    fn store(&self, step: &str) -> impl FnOnce(StoreError) -> ImportError {
        let archive = self.ar.label().to_string();
        let step = format!("{step} {}", self.entry);
        move |source| ImportError::Store {
            archive,
            step,
            source: Box::new(source),
        }
    }
}

/// A gzip layer is kept as it is (exports and pushes reuse the blob) and
/// unpacked from the stored copy. Returns the blob and the tar digests.
fn import_gzip(
    store: &Store,
    cx: &Cx<'_>,
    mut section: Section<'_>,
    source: &LayerSource,
) -> Result<(Digest, Digest), ImportError> {
    let mut ingest = store.ingest().map_err(cx.store("store layer blob"))?;
    io::copy(&mut section, &mut ingest).map_err(|e| cx.layer(e))?;
    let (raw, size) = match ingest.commit(source.digest.as_ref()) {
        Err(StoreError::DigestMismatch {
            expected, actual, ..
        }) => {
            return Err(ImportError::DigestMismatch {
                archive: cx.ar.label().into(),
                entry: cx.entry.into(),
                expected,
                actual,
            })
        }
        other => other.map_err(cx.store("store layer blob"))?,
    };
    let media_type = match &source.media_type {
        Some(m) if m.ends_with("gzip") => m.clone(),
        _ => OCI_LAYER_GZIP.to_string(),
    };
    let blob = CompressedBlob {
        digest: raw.clone(),
        media_type,
        size,
    };
    let file = store.open_blob(&raw).map_err(cx.store("open layer blob"))?;
    let tar = Compression::Gzip.decoder(file).map_err(|e| cx.layer(e))?;
    let d = store
        .import_layer(tar, Some(blob))
        .map_err(cx.store("import layer"))?;
    Ok((raw, d))
}

/// The store keeps a zstd layer's uncompressed tar (exports gzip from it).
fn import_zstd(
    store: &Store,
    cx: &Cx<'_>,
    section: Section<'_>,
) -> Result<(Digest, Digest), ImportError> {
    let mut hashed = HashingReader::new(section);
    let tar = Compression::Zstd
        .decoder(&mut hashed)
        .map_err(|e| cx.layer(e))?;
    let d = store
        .import_layer(tar, None)
        .map_err(cx.store("import layer"))?;
    Ok((hashed.finish().map_err(|e| cx.layer(e))?.0, d))
}

/// Hashes a layer blob and its uncompressed content without unpacking it.
fn verify(section: Section<'_>, kind: Compression) -> io::Result<(Digest, Digest)> {
    let mut raw = HashingReader::new(section);
    let tar = kind.decoder(&mut raw)?;
    let (uncompressed, _) = HashingReader::new(tar).finish()?;
    let (raw, _) = raw.finish()?;
    Ok((raw, uncompressed))
}
