//! `type=registry`: a cache pushed as an OCI artifact to `ref`.

use super::error::RemoteCacheError;
use super::format::{self, CacheConfig};
use crate::{Reference, RegistryClient, RegistryError};
use mybuild_cache::oci::ImageManifest;
use mybuild_cache::Store;
use std::sync::Arc;

const MAX_JSON: u64 = 16 << 20;

/// Every manifest type, so an image or an index at the reference is
/// recognised (and named in the warning) rather than hidden behind a 404.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// The cache's records; [`RemoteCacheError::NotFound`] when the registry
/// has no such reference.
pub(super) async fn read_config(
    client: &RegistryClient,
    r: &Reference,
) -> Result<CacheConfig, RemoteCacheError> {
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
    let manifest = match client.get_small(r, &path, Some(ACCEPT), MAX_JSON).await {
        Ok(b) => b,
        Err(RegistryError::Status { status: 404, .. }) => {
            return Err(RemoteCacheError::NotFound { location: loc })
        }
        Err(e) => return Err(err(e)),
    };
    if let Some(what) = format::foreign(&manifest) {
        return Err(RemoteCacheError::NotACache {
            location: loc,
            what,
        });
    }
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
    format::parse(&loc, &manifest, |_, _| Ok(config))
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
