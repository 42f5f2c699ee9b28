//! The cache export format: plain serde structs in fixed order (records
//! sorted by key), never a map serialised from a HashMap.

use super::error::RemoteCacheError;
use mybuild_cache::export::{layer_descriptor, Compression};
use mybuild_cache::oci::{Descriptor, ImageManifest};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::collections::BTreeMap;

pub const CACHE_CONFIG: &str = "application/vnd.mybuild.cache.config.v1+json";
pub const FORMAT_VERSION: u32 = 1;
/// The config type of BuildKit's own cache manifests (`type=registry`
/// caches written by `docker buildx`): a different key scheme, not read here.
pub const BUILDKIT_CACHE_CONFIG: &str = "application/vnd.buildkit.cacheconfig.v0";

/// One layer of the cache: what it unpacks to and the blob that holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheLayer {
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// A cache key and the chain of layers (indices into `layers`) it produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheRecord {
    pub key: Digest,
    pub chain: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheConfig {
    pub version: u32,
    pub layers: Vec<CacheLayer>,
    pub records: Vec<CacheRecord>,
}

/// Makes the config and manifest for `records`, compressing layers that
/// have no gzip blob yet; both JSON documents are stored as blobs too.
pub(crate) fn build(
    store: &Store,
    location: &str,
    mut records: Vec<(Digest, Vec<Digest>)>,
) -> Result<(Vec<u8>, Vec<u8>), RemoteCacheError> {
    records.sort();
    records.dedup_by(|a, b| a.0 == b.0);
    let mut index: BTreeMap<Digest, usize> = BTreeMap::new();
    let mut layers = Vec::new();
    let mut out = Vec::new();
    for (key, chain) in records {
        let mut idx = Vec::new();
        for diff_id in chain {
            if let Some(&i) = index.get(&diff_id) {
                idx.push(i);
                continue;
            }
            let desc = layer_descriptor(store, &diff_id, Compression::Gzip).map_err(|e| {
                RemoteCacheError::Export {
                    location: location.into(),
                    source: Box::new(e),
                }
            })?;
            index.insert(diff_id.clone(), layers.len());
            idx.push(layers.len());
            layers.push(CacheLayer {
                diff_id,
                digest: desc.digest,
                size: desc.size,
                media_type: desc.media_type,
            });
        }
        out.push(CacheRecord { key, chain: idx });
    }
    let config = CacheConfig {
        version: FORMAT_VERSION,
        layers,
        records: out,
    };
    let bad = |reason: String| RemoteCacheError::Bad {
        location: location.into(),
        what: "cache config".into(),
        reason,
    };
    let config_json = serde_json::to_vec(&config).map_err(|e| bad(e.to_string()))?;
    let manifest = ImageManifest::new(
        Descriptor::new(
            CACHE_CONFIG,
            Digest::of(&config_json),
            config_json.len() as u64,
        ),
        config
            .layers
            .iter()
            .map(|l| Descriptor::new(&l.media_type, l.digest.clone(), l.size))
            .collect(),
    );
    let manifest_json = serde_json::to_vec(&manifest).map_err(|e| bad(e.to_string()))?;
    let store_err = |e| RemoteCacheError::Store {
        location: location.into(),
        source: Box::new(e),
    };
    store.put_blob(&config_json).map_err(store_err)?;
    store.put_blob(&manifest_json).map_err(store_err)?;
    Ok((manifest_json, config_json))
}

/// Parses a cache manifest and checks its config against it.
pub(crate) fn parse(
    location: &str,
    manifest: &[u8],
    config: impl FnOnce(&Digest, u64) -> Result<Vec<u8>, RemoteCacheError>,
) -> Result<CacheConfig, RemoteCacheError> {
    let bad = |what: &str, reason: String| RemoteCacheError::Bad {
        location: location.into(),
        what: what.into(),
        reason,
    };
    if let Some(what) = foreign(manifest) {
        return Err(RemoteCacheError::NotACache {
            location: location.into(),
            what,
        });
    }
    let m: ImageManifest =
        serde_json::from_slice(manifest).map_err(|e| bad("cache manifest", e.to_string()))?;
    let bytes = config(&m.config.digest, m.config.size)?;
    let got = Digest::of(&bytes);
    if got != m.config.digest {
        return Err(RemoteCacheError::Digest {
            location: location.into(),
            what: format!("cache config {}", m.config.digest),
            got,
        });
    }
    let c: CacheConfig =
        serde_json::from_slice(&bytes).map_err(|e| bad("cache config", e.to_string()))?;
    if c.version != FORMAT_VERSION {
        return Err(bad(
            "cache config",
            format!(
                "format version {} (this mybuild reads {FORMAT_VERSION})",
                c.version
            ),
        ));
    }
    Ok(c)
}

/// What a manifest that is not a mybuild cache is instead (an ordinary
/// image, an index, a BuildKit cache), so `--cache-from` can say why it
/// is skipped; `None` for a mybuild cache manifest or unparseable JSON.
pub(crate) fn foreign(manifest: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let config_type = |m: &serde_json::Value| m["config"]["mediaType"].as_str().map(str::to_owned);
    if let Some(list) = v["manifests"].as_array() {
        let buildkit = list.iter().any(|m| {
            m["mediaType"].as_str() == Some(BUILDKIT_CACHE_CONFIG)
                || config_type(m).as_deref() == Some(BUILDKIT_CACHE_CONFIG)
        });
        return Some(if buildkit {
            "a BuildKit cache (its cache keys are not mybuild's)".into()
        } else {
            "an image index".into()
        });
    }
    match config_type(&v)?.as_str() {
        CACHE_CONFIG => None,
        BUILDKIT_CACHE_CONFIG => Some("a BuildKit cache (its cache keys are not mybuild's)".into()),
        other => Some(format!(
            "an image (config type {other}) without mybuild cache records"
        )),
    }
}
