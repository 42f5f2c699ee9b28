//! The cache index: which chain of layers a cache key produced. One small
//! file per key, renamed into place with a checksum but not fsynced (it is
//! on every step's path): one a power cut tore is a miss. So is an entry
//! whose layers are not all present, so a half-deleted store never serves
//! a broken chain.

use crate::error::StoreError;
use crate::store::Store;
use mybuild_graph::Digest;
use std::path::PathBuf;

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct CacheEntry {
    layers: Vec<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

impl crate::sealed::Sealed for CacheEntry {
    fn checksum_mut(&mut self) -> &mut Option<String> {
        &mut self.checksum
    }
}

impl Store {
    fn cache_path(&self, key: &Digest) -> PathBuf {
        self.cache_dir().join(key.hex())
    }

    pub fn cache_get(&self, key: &Digest) -> Result<Option<Vec<Digest>>, StoreError> {
        let Some(entry) = self.read_sealed::<CacheEntry>(&self.cache_path(key))? else {
            return Ok(None);
        };
        let complete = entry.layers.iter().all(|d| self.snapshot_dir(d).is_some());
        if complete {
            // The entry's mtime is its last use, for `prune --keep-storage`
            // and `--filter until=`. Best effort: a read-only store still hits.
            let path = self.cache_path(key);
            if let Ok(f) = std::fs::File::open(&path) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
        }
        Ok(complete.then_some(entry.layers))
    }

    /// Whether an entry for `key` exists at all (complete or not): what
    /// decides if data kept beside the entry is kept.
    pub fn cache_has(&self, key: &Digest) -> bool {
        self.cache_path(key).exists()
    }

    pub fn cache_put(&self, key: &Digest, chain: &[Digest]) -> Result<(), StoreError> {
        let entry = CacheEntry {
            layers: chain.to_vec(),
            checksum: None,
        };
        self.write_sealed(&self.cache_path(key), &entry, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_with_missing_layers_are_misses() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let key = Digest::of(b"key");
        assert_eq!(s.cache_get(&key).unwrap(), None);
        s.cache_put(&key, &[]).unwrap();
        assert_eq!(
            s.cache_get(&key).unwrap(),
            Some(vec![]),
            "scratch chain is a hit"
        );

        let layer = s
            .import_layer(
                &tar::Builder::new(Vec::new()).into_inner().unwrap()[..],
                None,
            )
            .unwrap();
        s.cache_put(&key, std::slice::from_ref(&layer)).unwrap();
        assert_eq!(s.cache_get(&key).unwrap(), Some(vec![layer.clone()]));

        s.cache_put(&key, &[layer, Digest::of(b"absent")]).unwrap();
        assert_eq!(s.cache_get(&key).unwrap(), None);
    }
}
