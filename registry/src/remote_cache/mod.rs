//! Build cache shared between machines: `--cache-to` / `--cache-from`
//! (`type=registry,ref=...` or `type=local,dest|src=DIR`).
//!
//! A cache export is an OCI image manifest whose config ([`format::CacheConfig`])
//! lists cache records (key -> chain of layers) and whose layers are the
//! compressed layer blobs. [`RemoteCache`] holds the records imported
//! before a build; the worker consults it on a local miss and fetches a
//! record's layers only when its key is hit ([`RemoteCache::fetch`]).
//! [`export`] writes the records a build used.

mod error;
pub mod format;
pub mod inline;
mod local;
pub mod mounts;
mod remote;
#[cfg(test)]
mod tests;

pub use error::RemoteCacheError;
pub use format::{CacheConfig, CacheLayer, CacheRecord};

use crate::{LayerDesc, Reference, RegistryClient};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a cache lives.
#[derive(Debug, Clone)]
pub enum CacheLocation {
    Registry(Reference),
    Local(PathBuf),
}

impl std::fmt::Display for CacheLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CacheLocation::Registry(r) => write!(f, "{r}"),
            CacheLocation::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One imported record: the chain, each layer with where to fetch it.
#[derive(Debug, Clone)]
struct Imported {
    chain: Vec<CacheLayer>,
    from: usize,
}

/// Records imported from every `--cache-from`, first source first.
#[derive(Default)]
pub struct RemoteCache {
    sources: Vec<CacheLocation>,
    records: BTreeMap<Digest, Imported>,
    client: Option<RegistryClient>,
}

impl RemoteCache {
    pub fn new(client: RegistryClient) -> RemoteCache {
        RemoteCache {
            client: Some(client),
            ..RemoteCache::default()
        }
    }

    /// Reads the records of one cache, returning how many it added; a
    /// missing cache is [`RemoteCacheError::NotFound`] (callers warn and go
    /// on, as BuildKit does: the first build creates it).
    pub async fn import(&mut self, location: CacheLocation) -> Result<usize, RemoteCacheError> {
        let config = match &location {
            CacheLocation::Local(dir) => local::read_config(dir, &location.to_string())?,
            CacheLocation::Registry(r) => remote::read_config(self.client(), r).await?,
        };
        let index = self.sources.len();
        self.sources.push(location.clone());
        let mut added = 0;
        for rec in config.records {
            let chain = rec
                .chain
                .iter()
                .map(|&i| config.layers.get(i).cloned())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| RemoteCacheError::Bad {
                    location: location.to_string(),
                    what: format!("record {}", rec.key),
                    reason: "names a layer the cache does not list".into(),
                })?;
            if let std::collections::btree_map::Entry::Vacant(slot) = self.records.entry(rec.key) {
                added += 1;
                slot.insert(Imported { chain, from: index });
            }
        }
        Ok(added)
    }

    fn client(&self) -> &RegistryClient {
        self.client.as_ref().expect("made with a client")
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The chain `key` produced elsewhere, with every layer made present
    /// in `store` (downloaded and verified to unpack to its diff_id), or
    /// `None` when no imported cache has the key.
    pub async fn fetch(
        &self,
        store: &Arc<Store>,
        key: &Digest,
    ) -> Result<Option<Vec<Digest>>, RemoteCacheError> {
        let Some(rec) = self.records.get(key) else {
            return Ok(None);
        };
        let location = &self.sources[rec.from];
        for layer in &rec.chain {
            if store.snapshot_dir(&layer.diff_id).is_some() {
                continue;
            }
            let desc = LayerDesc {
                digest: layer.digest.clone(),
                media_type: layer.media_type.clone(),
                size: layer.size,
            };
            match location {
                CacheLocation::Local(dir) => {
                    local::fetch_layer(store, dir, &location.to_string(), &desc, &layer.diff_id)
                        .await?
                }
                CacheLocation::Registry(r) => self
                    .client()
                    .pull_layer_blob(store, r, &desc, &layer.diff_id)
                    .await
                    .map_err(|source| RemoteCacheError::Registry {
                        location: location.to_string(),
                        source,
                    })?,
            }
        }
        Ok(Some(rec.chain.iter().map(|l| l.diff_id.clone()).collect()))
    }
}

/// Writes `records` (key -> chain) as a cache at `location`.
pub async fn export(
    store: &Arc<Store>,
    client: &RegistryClient,
    location: &CacheLocation,
    records: Vec<(Digest, Vec<Digest>)>,
) -> Result<(), RemoteCacheError> {
    let loc = location.to_string();
    let (s, l) = (store.clone(), loc.clone());
    let (manifest, config) = tokio::task::spawn_blocking(move || format::build(&s, &l, records))
        .await
        .map_err(|e| RemoteCacheError::Task {
            location: loc.clone(),
            message: e.to_string(),
        })??;
    match location {
        CacheLocation::Local(dir) => local::write(store, dir, &loc, &manifest, &config).await,
        CacheLocation::Registry(r) => remote::write(store, client, r, manifest).await,
    }
}
