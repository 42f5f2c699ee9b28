//! `type=local`: a cache as an OCI image layout directory. Blobs are
//! written first and `index.json` last (renamed into place), so a reader
//! never sees an index naming blobs that are not there.

use super::error::RemoteCacheError;
use super::format::{self, CacheConfig};
use crate::LayerDesc;
use mybuild_cache::oci::{
    ImageIndex, ImageManifest, ANNOTATION_REF_NAME, OCI_INDEX, OCI_LAYOUT_FILE,
};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Manifests and configs are small; anything bigger is not ours.
const MAX_JSON: u64 = 16 << 20;

fn io_err(loc: &str, op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RemoteCacheError {
    let (location, path) = (loc.to_string(), path.to_path_buf());
    move |source| RemoteCacheError::Io {
        location,
        op,
        path,
        source,
    }
}

fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    // A Digest is validated hex: no path can escape the layout.
    dir.join("blobs/sha256").join(d.hex())
}

/// Reads a small blob of the layout, verifying its digest.
fn read_blob(dir: &Path, loc: &str, d: &Digest) -> Result<Vec<u8>, RemoteCacheError> {
    let path = blob_path(dir, d);
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .and_then(|f| f.take(MAX_JSON + 1).read_to_end(&mut bytes))
        .map_err(io_err(loc, "read", &path))?;
    let got = Digest::of(&bytes);
    if &got != d {
        return Err(RemoteCacheError::Digest {
            location: loc.into(),
            what: path.display().to_string(),
            got,
        });
    }
    Ok(bytes)
}

/// The bytes of the manifest `index.json` names first, verified.
pub(super) fn read_manifest(dir: &Path, loc: &str) -> Result<Vec<u8>, RemoteCacheError> {
    let index_path = dir.join("index.json");
    let not_found = || RemoteCacheError::NotFound {
        location: loc.into(),
    };
    let index = match fs::read(&index_path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(io_err(loc, "read", &index_path)(e)),
    };
    let index: ImageIndex = serde_json::from_slice(&index).map_err(|e| RemoteCacheError::Bad {
        location: loc.into(),
        what: index_path.display().to_string(),
        reason: e.to_string(),
    })?;
    let first = index.manifests.first().ok_or_else(not_found)?;
    read_blob(dir, loc, &first.digest)
}

pub(super) fn read_config(dir: &Path, loc: &str) -> Result<CacheConfig, RemoteCacheError> {
    let manifest = read_manifest(dir, loc)?;
    format::parse(loc, &manifest, |d, _| read_blob(dir, loc, d))
}

/// Copies blob `desc` of the layout into the store, verified.
fn copy_blob(
    store: &Store,
    dir: &Path,
    loc: &str,
    desc: &LayerDesc,
) -> Result<(), RemoteCacheError> {
    if store.has_blob(&desc.digest) {
        return Ok(());
    }
    let store_err = |e| RemoteCacheError::Store {
        location: loc.into(),
        source: Box::new(e),
    };
    let path = blob_path(dir, &desc.digest);
    let mut src = fs::File::open(&path).map_err(io_err(loc, "open", &path))?;
    let mut ingest = store.ingest().map_err(store_err)?;
    io::copy(&mut src, &mut ingest).map_err(io_err(loc, "copy", &path))?;
    ingest.commit(Some(&desc.digest)).map_err(store_err)?;
    Ok(())
}

/// [`copy_blob`] off the async runtime.
pub(super) async fn fetch_blob(
    store: &Arc<Store>,
    dir: &Path,
    loc: &str,
    desc: &LayerDesc,
) -> Result<(), RemoteCacheError> {
    let (store, dir, loc2, desc) = (
        store.clone(),
        dir.to_path_buf(),
        loc.to_string(),
        desc.clone(),
    );
    tokio::task::spawn_blocking(move || copy_blob(&store, &dir, &loc2, &desc))
        .await
        .map_err(|e| RemoteCacheError::Task {
            location: loc.into(),
            message: e.to_string(),
        })?
}

/// Copies one layer blob into the store (verified) and unpacks it.
pub(super) async fn fetch_layer(
    store: &Arc<Store>,
    dir: &Path,
    loc: &str,
    desc: &LayerDesc,
    diff_id: &Digest,
) -> Result<(), RemoteCacheError> {
    let (store, dir, loc2, desc2) = (
        store.clone(),
        dir.to_path_buf(),
        loc.to_string(),
        desc.clone(),
    );
    let got = tokio::task::spawn_blocking(move || -> Result<Digest, RemoteCacheError> {
        copy_blob(&store, &dir, &loc2, &desc2)?;
        crate::unpack_stored(&store, &desc2).map_err(|source| RemoteCacheError::Registry {
            location: loc2.clone(),
            source,
        })
    })
    .await
    .map_err(|e| RemoteCacheError::Task {
        location: loc.into(),
        message: e.to_string(),
    })??;
    if &got != diff_id {
        return Err(RemoteCacheError::Digest {
            location: loc.into(),
            what: format!("layer {} (diff_id {diff_id})", desc.digest),
            got,
        });
    }
    Ok(())
}

pub(super) async fn write(
    store: &Arc<Store>,
    dir: &Path,
    loc: &str,
    manifest: &[u8],
    config: &[u8],
) -> Result<(), RemoteCacheError> {
    let (store, dir, loc) = (store.clone(), dir.to_path_buf(), loc.to_string());
    let (manifest, config) = (manifest.to_vec(), config.to_vec());
    let loc2 = loc.clone();
    tokio::task::spawn_blocking(move || write_layout(&store, &dir, &loc, &manifest, &config))
        .await
        .map_err(|e| RemoteCacheError::Task {
            location: loc2,
            message: e.to_string(),
        })?
}

fn write_layout(
    store: &Store,
    dir: &Path,
    loc: &str,
    manifest: &[u8],
    config: &[u8],
) -> Result<(), RemoteCacheError> {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).map_err(io_err(loc, "create", &blobs))?;
    let m: ImageManifest = serde_json::from_slice(manifest).map_err(|e| RemoteCacheError::Bad {
        location: loc.into(),
        what: "cache manifest".into(),
        reason: e.to_string(),
    })?;
    let mut digests: Vec<Digest> = m.layers.iter().map(|l| l.digest.clone()).collect();
    digests.push(Digest::of(config));
    digests.push(Digest::of(manifest));
    for d in &digests {
        let dest = blob_path(dir, d);
        if dest.is_file() {
            continue;
        }
        let tmp = dest.with_extension("tmp");
        let src = store.blob_path(d);
        let mut reader = mybuild_cache::HashingReader::new(
            fs::File::open(&src).map_err(io_err(loc, "open", &src))?,
        );
        let mut out = fs::File::create(&tmp).map_err(io_err(loc, "create", &tmp))?;
        io::copy(&mut reader, &mut out).map_err(io_err(loc, "write", &tmp))?;
        let (got, _) = reader.finish().map_err(io_err(loc, "read", &src))?;
        if &got != d {
            let _ = fs::remove_file(&tmp);
            return Err(RemoteCacheError::Digest {
                location: loc.into(),
                what: src.display().to_string(),
                got,
            });
        }
        out.sync_all().map_err(io_err(loc, "fsync", &tmp))?;
        fs::rename(&tmp, &dest).map_err(io_err(loc, "rename", &dest))?;
    }
    let layout = dir.join("oci-layout");
    fs::write(&layout, OCI_LAYOUT_FILE).map_err(io_err(loc, "write", &layout))?;
    // A `Value`, so keys come out sorted (not in `ImageIndex`'s field
    // order), as in every local cache written so far: same bytes.
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": m.media_type,
            "digest": Digest::of(manifest),
            "size": manifest.len(),
            "annotations": {ANNOTATION_REF_NAME: "latest"},
        }],
    });
    let path = dir.join("index.json");
    let tmp = dir.join("index.json.tmp");
    fs::write(&tmp, index.to_string()).map_err(io_err(loc, "write", &tmp))?;
    fs::rename(&tmp, &path).map_err(io_err(loc, "rename", &path))
}
