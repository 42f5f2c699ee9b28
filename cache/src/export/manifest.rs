//! Builds an image's OCI manifest, producing each layer blob in the wanted
//! compression on demand: a known compressed blob is reused, otherwise the
//! layer is compressed (or decompressed) once and the result recorded.

use super::{io_err, store_err, Compressing, Compression, ExportError};
use crate::blobs::HashingReader;
use crate::layers::{CompressedBlob, LayerRecord};
use crate::oci::{
    Descriptor, ImageManifest, OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD,
    OCI_MANIFEST,
};
use crate::Store;
use mybuild_graph::Digest;
use std::collections::BTreeMap;
use std::io;

/// Everything an archive or a push needs about one image.
pub(crate) struct Prepared {
    pub manifest: Descriptor,
    pub manifest_json: Vec<u8>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// Returns the manifest JSON (with `annotations`) and its digest; the
/// manifest, config and layer blobs it references are all in the store
/// afterwards.
pub fn image_manifest(
    store: &Store,
    config: &Digest,
    compression: Compression,
    annotations: &BTreeMap<String, String>,
) -> Result<(Vec<u8>, Digest), ExportError> {
    let p = prepare(
        store,
        config,
        compression.forced(),
        PlainTars::Stored,
        annotations,
    )?;
    Ok((p.manifest_json, p.manifest.digest))
}

/// Whether an uncompressed layer must exist as a blob of the store (a push
/// sends blobs) or may be streamed when an archive is written (packed again
/// from its snapshot, which costs less than storing and fsyncing a copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlainTars {
    Stored,
    Streamed,
}

pub(crate) fn prepare(
    store: &Store,
    config: &Digest,
    compression: Compressing,
    plain: PlainTars,
    annotations: &BTreeMap<String, String>,
) -> Result<Prepared, ExportError> {
    let config_json = store
        .read_blob(config)
        .map_err(store_err("read image config"))?;
    let diff_ids = crate::images::parse_config(&config_json)
        .map_err(store_err(format!("image config {config}")))?
        .rootfs
        .diff_ids;
    let config = Descriptor::new(OCI_CONFIG, config.clone(), config_json.len() as u64);
    let layers = diff_ids
        .iter()
        .map(|d| descriptor(store, d, compression, plain))
        .collect::<Result<Vec<_>, _>>()?;
    let mut manifest = ImageManifest::new(config, layers);
    manifest.annotations = annotations.clone();
    let manifest_json = serde_json::to_vec(&manifest).map_err(|source| ExportError::Json {
        what: "manifest",
        source,
    })?;
    let ImageManifest { config, layers, .. } = manifest;
    let digest = store
        .put_blob(&manifest_json)
        .map_err(store_err("store manifest"))?;
    let manifest = Descriptor::new(OCI_MANIFEST, digest, manifest_json.len() as u64);
    Ok(Prepared {
        manifest,
        manifest_json,
        config,
        layers,
    })
}

fn media_type(c: Compression) -> &'static str {
    match c {
        Compression::Gzip => OCI_LAYER_GZIP,
        Compression::Zstd => OCI_LAYER_ZSTD,
        Compression::Uncompressed => OCI_LAYER_TAR,
    }
}

/// The descriptor of a layer in `compression`; its blob is in the store
/// afterwards.
pub fn layer_descriptor(
    store: &Store,
    diff_id: &Digest,
    compression: Compression,
) -> Result<Descriptor, ExportError> {
    descriptor(store, diff_id, compression.forced(), PlainTars::Stored)
}

fn descriptor(
    store: &Store,
    diff_id: &Digest,
    want: Compressing,
    plain: PlainTars,
) -> Result<Descriptor, ExportError> {
    let rec = store
        .layer_record(diff_id)
        .map_err(store_err(format!("layer record {diff_id}")))?
        .ok_or_else(|| ExportError::LayerMissing {
            diff_id: diff_id.clone(),
        })?;
    let compression = want.compression;
    let stored = |fits: &dyn Fn(&CompressedBlob, Compression) -> bool| {
        rec.compressed.iter().find_map(|c| {
            let kind = compression_of(&c.media_type)?;
            (fits(c, kind) && store.has_blob(&c.digest)).then(|| (c.clone(), kind))
        })
    };
    // The asked-for form when the store has it, else (unless forced) the
    // blob the layer arrived as, else the asked-for form made now.
    let plain_stored = compression == Compression::Uncompressed && store.has_blob(diff_id);
    let asked = match compression {
        Compression::Uncompressed => None,
        c => stored(&|_, kind| kind == c),
    };
    let keep_arrived = !want.force && !plain_stored;
    let found = asked.or_else(|| {
        keep_arrived
            .then(|| stored(&|c, _| rec.arrived_as.as_ref() == Some(&c.digest)))
            .flatten()
    });
    let (blob, kind) = match found {
        Some(found) => found,
        None if compression == Compression::Uncompressed => {
            if plain == PlainTars::Stored && !store.has_blob(diff_id) {
                store_tar(store, &rec)?;
            }
            return Ok(Descriptor::new(OCI_LAYER_TAR, diff_id.clone(), rec.size));
        }
        None => (compress_layer(store, &rec, compression)?, compression),
    };
    Ok(Descriptor::new(media_type(kind), blob.digest, blob.size))
}

/// The compression of a stored blob's media type (OCI's or Docker's).
fn compression_of(media_type: &str) -> Option<Compression> {
    match crate::LayerCompression::of_media_type(media_type)? {
        crate::LayerCompression::Gzip => Some(Compression::Gzip),
        crate::LayerCompression::Zstd => Some(Compression::Zstd),
        crate::LayerCompression::Plain => None,
    }
}

fn check(what: String, expected: &Digest, actual: Digest) -> Result<(), ExportError> {
    if *expected == actual {
        Ok(())
    } else {
        Err(ExportError::DigestMismatch {
            what,
            expected: expected.clone(),
            actual,
        })
    }
}

/// Compresses the layer's tar once and records the result.
fn compress_layer(
    store: &Store,
    rec: &LayerRecord,
    compression: Compression,
) -> Result<CompressedBlob, ExportError> {
    let src = store
        .layer_tar(&rec.diff_id)
        .map_err(|_| ExportError::NoLayerBlob {
            diff_id: rec.diff_id.clone(),
        })?;
    let ingest = store.ingest().map_err(store_err("start compressed blob"))?;
    let mut reader = HashingReader::new(src);
    let path = store.blob_path(&rec.diff_id);
    let ingest = match compression {
        Compression::Zstd => {
            let mut z = zstd::Encoder::new(ingest, 3).map_err(io_err("zstd", &path))?;
            io::copy(&mut reader, &mut z).map_err(io_err("zstd", &path))?;
            z.finish().map_err(io_err("zstd", &path))?
        }
        _ => {
            let mut ingest = ingest;
            super::pgzip::gzip(&mut reader, &mut ingest).map_err(io_err("gzip", &path))?;
            ingest
        }
    };
    let (actual, _) = reader.finish().map_err(io_err("read", &path))?;
    check(
        format!("layer blob {}", path.display()),
        &rec.diff_id,
        actual,
    )?;
    let (digest, size) = ingest
        .commit(None)
        .map_err(store_err("store compressed layer"))?;
    let blob = CompressedBlob {
        digest,
        media_type: media_type(compression).into(),
        size,
    };
    store
        .add_compressed(&rec.diff_id, blob.clone())
        .map_err(store_err("record compressed layer"))?;
    Ok(blob)
}

/// Stores the layer's uncompressed tar as a blob (an uncompressed export).
fn store_tar(store: &Store, rec: &LayerRecord) -> Result<(), ExportError> {
    let mut src = store
        .layer_tar(&rec.diff_id)
        .map_err(|_| ExportError::NoLayerBlob {
            diff_id: rec.diff_id.clone(),
        })?;
    let mut ingest = store.ingest().map_err(store_err("start layer tar"))?;
    let path = store.blob_path(&rec.diff_id);
    io::copy(&mut src, &mut ingest).map_err(io_err("write layer tar", &path))?;
    ingest
        .commit(Some(&rec.diff_id))
        .map_err(store_err(format!("uncompressed layer {}", rec.diff_id)))?;
    Ok(())
}
