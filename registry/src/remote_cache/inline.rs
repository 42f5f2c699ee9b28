//! `--cache-to type=inline`: cache records carried in the image config
//! itself, under [`INLINE_KEY`], so the pushed image is its own cache and
//! `--cache-from IMAGE` reuses its layers.
//!
//! BuildKit writes `moby.buildkit.cache.v0` (base64 JSON in BuildKit's own
//! key scheme, which mybuild's keys do not follow); mybuild writes its own
//! records under a different, clearly named key instead, and reads only
//! those. A record is a cache key and how many of the image's layers (a
//! prefix of `rootfs.diff_ids`) it produced: inline caches are `mode=min`
//! by nature, every record being part of the final image.

use super::error::RemoteCacheError;
use super::format::{CacheConfig, CacheLayer, CacheRecord, FORMAT_VERSION};
use mybuild_cache::oci::ImageManifest;
use mybuild_graph::Digest;
use serde_json::{json, Value};

/// The image config key holding mybuild's inline cache records.
pub const INLINE_KEY: &str = "mybuild.cache.v1";

/// The value for [`INLINE_KEY`]: the records whose chain is a non-empty
/// prefix of the image's `final_chain`, sorted by key.
pub fn records_value(records: &[(Digest, Vec<Digest>)], final_chain: &[Digest]) -> Value {
    let mut chosen: Vec<(String, usize)> = records
        .iter()
        .filter(|(_, chain)| !chain.is_empty() && final_chain.starts_with(chain))
        .map(|(key, chain)| (key.to_string(), chain.len()))
        .collect();
    chosen.sort();
    chosen.dedup_by(|a, b| a.0 == b.0);
    let records: Vec<Value> = chosen
        .into_iter()
        .map(|(key, layers)| json!({"key": key, "layers": layers}))
        .collect();
    json!({"version": FORMAT_VERSION, "records": records})
}

/// The cache an image carries: its layers (blob from the manifest, diff_id
/// from the config) and the records under [`INLINE_KEY`]; `None` when the
/// config has no such key.
pub(crate) fn from_image(
    location: &str,
    manifest: &ImageManifest,
    config: &[u8],
) -> Result<Option<CacheConfig>, RemoteCacheError> {
    let bad = |reason: String| RemoteCacheError::Bad {
        location: location.into(),
        what: format!("inline cache ({INLINE_KEY})"),
        reason,
    };
    let config: Value = serde_json::from_slice(config).map_err(|e| bad(e.to_string()))?;
    let Some(inline) = config.get(INLINE_KEY) else {
        return Ok(None);
    };
    if inline["version"].as_u64() != Some(u64::from(FORMAT_VERSION)) {
        return Err(bad(format!("format version {}", inline["version"])));
    }
    let diff_ids: Vec<Digest> = serde_json::from_value(config["rootfs"]["diff_ids"].clone())
        .map_err(|e| bad(format!("rootfs.diff_ids: {e}")))?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(bad("config and manifest disagree on the layer count".into()));
    }
    let layers: Vec<CacheLayer> = (diff_ids.into_iter())
        .zip(&manifest.layers)
        .map(|(diff_id, d)| CacheLayer {
            diff_id,
            digest: d.digest.clone(),
            size: d.size,
            media_type: d.media_type.clone(),
        })
        .collect();
    let mut records = Vec::new();
    for r in inline["records"].as_array().into_iter().flatten() {
        let key: Digest = serde_json::from_value(r["key"].clone())
            .map_err(|e| bad(format!("record key: {e}")))?;
        let n = r["layers"].as_u64().unwrap_or(0) as usize;
        if n == 0 || n > layers.len() {
            return Err(bad(format!("record {key}: {n} layers of {}", layers.len())));
        }
        records.push(CacheRecord {
            key,
            chain: (0..n).collect(),
        });
    }
    Ok(Some(CacheConfig {
        version: FORMAT_VERSION,
        layers,
        records,
    }))
}
