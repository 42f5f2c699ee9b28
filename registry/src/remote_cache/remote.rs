//! `type=registry`: a cache pushed as an OCI artifact to `ref`.

use super::error::RemoteCacheError;
use super::format::{self, CacheConfig};
use super::inline;
use crate::{Reference, RegistryClient, RegistryError};
use mybuild_cache::oci::{ImageManifest, DOCKER_CONFIG, OCI_CONFIG};
use mybuild_cache::Store;
use std::sync::Arc;

const MAX_JSON: u64 = 16 << 20;

/// Every manifest type, so an image or an index at the reference is
/// recognised (and named in the warning) rather than hidden behind a 404.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// The manifest `r` names, as the registry sends it.
pub(super) async fn read_manifest(
    client: &RegistryClient,
    r: &Reference,
) -> Result<Vec<u8>, RemoteCacheError> {
    let loc = r.to_string();
    let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
    let path = format!(
        "{}/manifests/{}",
        r.repository,
        r.digest.as_ref().map_or(tag, |d| d.to_string())
    );
    match client.get_small(r, &path, Some(ACCEPT), MAX_JSON).await {
        Ok(b) => Ok(b),
        Err(RegistryError::Status { status: 404, .. }) => {
            Err(RemoteCacheError::NotFound { location: loc })
        }
        Err(source) => Err(RemoteCacheError::Registry {
            location: loc,
            source,
        }),
    }
}

/// The cache's records; [`RemoteCacheError::NotFound`] when the registry
/// has no such reference.
pub(super) async fn read_config(
    client: &RegistryClient,
    r: &Reference,
) -> Result<CacheConfig, RemoteCacheError> {
    let loc = r.to_string();
    let manifest = read_manifest(client, r).await?;
    if let Some(c) = inline_cache(client, r, &loc, &manifest).await? {
        return Ok(c);
    }
    if let Some(what) = format::foreign(&manifest) {
        return Err(RemoteCacheError::NotACache {
            location: loc,
            what,
        });
    }
    let m = parse_manifest(&loc, &manifest)?;
    let config = get_config(client, r, &loc, &m).await?;
    format::parse(&loc, &manifest, |_, _| Ok(config))
}

fn parse_manifest(loc: &str, manifest: &[u8]) -> Result<ImageManifest, RemoteCacheError> {
    serde_json::from_slice(manifest).map_err(|e| RemoteCacheError::Bad {
        location: loc.into(),
        what: "cache manifest".into(),
        reason: e.to_string(),
    })
}

async fn get_config(
    client: &RegistryClient,
    r: &Reference,
    loc: &str,
    m: &ImageManifest,
) -> Result<Vec<u8>, RemoteCacheError> {
    let path = format!("{}/blobs/{}", r.repository, m.config.digest);
    client
        .get_small(r, &path, None, MAX_JSON)
        .await
        .map_err(|source| RemoteCacheError::Registry {
            location: loc.into(),
            source,
        })
}

/// The records an ordinary image carries in its config (`--cache-to
/// type=inline`), or `None` for anything else.
async fn inline_cache(
    client: &RegistryClient,
    r: &Reference,
    loc: &str,
    manifest: &[u8],
) -> Result<Option<CacheConfig>, RemoteCacheError> {
    let is_image = serde_json::from_slice::<serde_json::Value>(manifest)
        .ok()
        .and_then(|v| v["config"]["mediaType"].as_str().map(str::to_owned))
        .is_some_and(|t| t == OCI_CONFIG || t == DOCKER_CONFIG);
    if !is_image {
        return Ok(None);
    }
    let m = parse_manifest(loc, manifest)?;
    let config = get_config(client, r, loc, &m).await?;
    let got = mybuild_graph::Digest::of(&config);
    if got != m.config.digest {
        return Err(RemoteCacheError::Digest {
            location: loc.into(),
            what: format!("image config {}", m.config.digest),
            got,
        });
    }
    inline::from_image(loc, &m, &config)
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
