//! `type=registry`: a cache pushed as an OCI artifact to `ref`.

use super::error::RemoteCacheError;
use super::format::{self, CacheConfig};
use crate::{Reference, RegistryClient, RegistryError};
use mybuild_cache::oci::{ImageManifest, OCI_MANIFEST};
use mybuild_cache::Store;
use std::sync::Arc;

const MAX_JSON: u64 = 16 << 20;

/// The cache's records, or `None` when the registry has no such cache yet.
pub(super) async fn read_config(
    client: &RegistryClient,
    r: &Reference,
) -> Result<Option<CacheConfig>, RemoteCacheError> {
    let loc = r.to_string();
    let err = |source| RemoteCacheError::Registry {
        location: loc.clone(),
        source,
    };
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    let path = format!(
        "{}/manifests/{}",
        r.repository,
        r.digest.as_ref().map_or(tag, |d| d.to_string())
    );
    let manifest = match client
        .get_small(r, &path, Some(OCI_MANIFEST), MAX_JSON)
        .await
    {
        Ok(b) => b,
        Err(RegistryError::Status { status: 404, .. }) => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let config_digest = {
        let m: ImageManifest =
            serde_json::from_slice(&manifest).map_err(|e| RemoteCacheError::Bad {
                location: loc.clone(),
                what: "cache manifest".into(),
                reason: e.to_string(),
            })?;
        m.config.digest
    };
    let config = client
        .get_small(
            r,
            &format!("{}/blobs/{config_digest}", r.repository),
            None,
            MAX_JSON,
        )
        .await
        .map_err(err)?;
    format::parse(&loc, &manifest, |_, _| Ok(config)).map(Some)
}

pub(super) async fn write(
    store: &Arc<Store>,
    client: &RegistryClient,
    r: &Reference,
    manifest: Vec<u8>,
) -> Result<(), RemoteCacheError> {
    client
        .push(store.clone(), r, manifest, Arc::new(|_| {}))
        .await
        .map(|_| ())
        .map_err(|source| RemoteCacheError::Registry {
            location: r.to_string(),
            source,
        })
}
