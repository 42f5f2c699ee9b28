//! One layer from the archive into the store: its compression is told by
//! its first bytes (gzip, zstd or a plain tar), the blob is checked against
//! its descriptor digest, and the uncompressed tar against the diff_id.

use super::archive::Archive;
use super::stream::Section;
use super::{check_digest, ImportError, LayerSource};
use crate::export::OCI_LAYER_GZIP;
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
    let entry = source.entry.as_str();
    let section = ar.open(entry, "the image manifest")?;
    if let Some(expected) = source.size.filter(|s| *s != section.len()) {
        return Err(ImportError::SizeMismatch {
            archive: ar.label().into(),
            entry: entry.into(),
            expected,
            actual: section.len(),
        });
    }
    let layer_err = |source| ImportError::Layer {
        archive: ar.label().into(),
        entry: entry.into(),
        source,
    };
    let store_err = |step: &str| {
        let step = format!("{step} {entry}");
        move |source| ImportError::Store {
            archive: ar.label().into(),
            step,
            source: Box::new(source),
        }
    };
    let kind = sniff(&section).map_err(layer_err)?;
    let existed = store.snapshot_dir(diff_id).is_some();
    let (raw, actual) = if existed {
        verify(section, kind).map_err(layer_err)?
    } else {
        match kind {
            Compression::Gzip => {
                let mut ingest = store.ingest().map_err(store_err("store layer blob"))?;
                let mut section = section;
                io::copy(&mut section, &mut ingest).map_err(layer_err)?;
                let (raw, size) = match ingest.commit(source.digest.as_ref()) {
                    Err(StoreError::DigestMismatch {
                        expected, actual, ..
                    }) => {
                        return Err(ImportError::DigestMismatch {
                            archive: ar.label().into(),
                            entry: entry.into(),
                            expected,
                            actual,
                        })
                    }
                    other => other.map_err(store_err("store layer blob"))?,
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
                let file = store
                    .open_blob(&raw)
                    .map_err(store_err("open layer blob"))?;
                let tar = Compression::Gzip.decoder(file).map_err(layer_err)?;
                let d = store
                    .import_layer(tar, Some(blob))
                    .map_err(store_err("import layer"))?;
                (raw, d)
            }
            Compression::Zstd => {
                // The store keeps the uncompressed tar: exports gzip from it.
                let mut hashed = HashingReader::new(section);
                let tar = Compression::Zstd.decoder(&mut hashed).map_err(layer_err)?;
                let d = store
                    .import_layer(tar, None)
                    .map_err(store_err("import layer"))?;
                (hashed.finish().map_err(layer_err)?.0, d)
            }
            Compression::Plain => {
                let d = store
                    .import_layer(section, None)
                    .map_err(store_err("import layer"))?;
                (d.clone(), d)
            }
        }
    };
    if let Some(expected) = &source.digest {
        check_digest(ar, entry, expected, raw)?;
    }
    if actual != *diff_id {
        return Err(ImportError::DiffIdMismatch {
            archive: ar.label().into(),
            entry: entry.into(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(existed)
}

/// Hashes a layer blob and its uncompressed content without unpacking it.
fn verify(section: Section<'_>, kind: Compression) -> io::Result<(Digest, Digest)> {
    let mut raw = HashingReader::new(section);
    let tar = kind.decoder(&mut raw)?;
    let (uncompressed, _) = HashingReader::new(tar).finish()?;
    let (raw, _) = raw.finish()?;
    Ok((raw, uncompressed))
}
