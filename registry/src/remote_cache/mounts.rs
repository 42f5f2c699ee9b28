//! The contents of `RUN --mount=type=cache` directories carried between
//! machines (`--cache-mounts-to` / `--cache-mounts-from`): an OCI image
//! manifest whose layers are one gzip tar per cache id, each layer naming
//! its id in an annotation, in a registry or an OCI layout directory.
//!
//! The archives are blobs of the store like any layer, so writing reuses
//! the layout writer and the push of build cache, and reading verifies
//! every byte against its digest before the caller unpacks it.

use super::error::RemoteCacheError;
use super::{local, remote, CacheLocation};
use crate::{LayerDesc, RegistryClient};
use mybuild_cache::oci::{Descriptor, ImageManifest, OCI_LAYER_GZIP};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::sync::Arc;

/// The config's media type: what marks a manifest as cache mounts.
pub const MOUNTS_CONFIG: &str = "application/vnd.mybuild.cache-mounts.config.v1+json";
/// The layer annotation holding the cache mount's id.
pub const MOUNT_ID: &str = "dev.mybuild.cache-mount.id";

/// One cache mount's archive: its id and the store blob holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountArchive {
    pub id: String,
    pub digest: Digest,
    pub size: u64,
}

/// Writes `archives` (blobs already in `store`) to `location`.
pub async fn export_mounts(
    store: &Arc<Store>,
    client: &RegistryClient,
    location: &CacheLocation,
    archives: &[MountArchive],
) -> Result<(), RemoteCacheError> {
    let loc = location.to_string();
    let ids: Vec<&str> = archives.iter().map(|a| a.id.as_str()).collect();
    let config = serde_json::to_vec(&serde_json::json!({ "ids": ids })).unwrap_or_default();
    let store_err = |source| RemoteCacheError::Store {
        location: loc.clone(),
        source: Box::new(source),
    };
    let config_digest = store.put_blob(&config).map_err(store_err)?;
    let layers = archives
        .iter()
        .map(|a| {
            let mut d = Descriptor::new(OCI_LAYER_GZIP, a.digest.clone(), a.size);
            d.annotations.insert(MOUNT_ID.into(), a.id.clone());
            d
        })
        .collect();
    let manifest = ImageManifest::new(
        Descriptor::new(MOUNTS_CONFIG, config_digest, config.len() as u64),
        layers,
    );
    let manifest = serde_json::to_vec(&manifest).unwrap_or_default();
    store.put_blob(&manifest).map_err(store_err)?;
    match location {
        CacheLocation::Local(dir) => local::write(store, dir, &loc, &manifest, &config).await,
        CacheLocation::Registry(r) => remote::write(store, client, r, manifest).await,
    }
}

/// Reads the cache mounts at `location` and brings each archive into
/// `store`, verified; returns them (empty when there is no such cache).
pub async fn import_mounts(
    store: &Arc<Store>,
    client: &RegistryClient,
    location: &CacheLocation,
) -> Result<Vec<MountArchive>, RemoteCacheError> {
    let loc = location.to_string();
    let manifest = match location {
        CacheLocation::Local(dir) => local::read_manifest(dir, &loc)?,
        CacheLocation::Registry(r) => remote::read_manifest(client, r).await?,
    };
    let manifest: ImageManifest =
        serde_json::from_slice(&manifest).map_err(|e| RemoteCacheError::Bad {
            location: loc.clone(),
            what: "cache mounts manifest".into(),
            reason: e.to_string(),
        })?;
    if manifest.config.media_type != MOUNTS_CONFIG {
        return Err(RemoteCacheError::NotACache {
            location: loc,
            what: format!("a manifest with config {}", manifest.config.media_type),
        });
    }
    let mut archives = Vec::new();
    for layer in manifest.layers {
        let Some(id) = layer.annotations.get(MOUNT_ID).cloned() else {
            continue;
        };
        let desc = LayerDesc {
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            size: layer.size,
        };
        match location {
            CacheLocation::Local(dir) => local::fetch_blob(store, dir, &loc, &desc).await?,
            CacheLocation::Registry(r) => {
                client.store_blob(store, r, &desc).await.map_err(|source| {
                    RemoteCacheError::Registry {
                        location: loc.clone(),
                        source,
                    }
                })?
            }
        }
        archives.push(MountArchive {
            id,
            digest: layer.digest,
            size: layer.size,
        });
    }
    Ok(archives)
}
