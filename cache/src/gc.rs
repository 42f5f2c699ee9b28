//! What the store holds ([`Store::disk_usage`]) and garbage collection
//! ([`Store::prune`]).
//!
//! Tagged images are roots: their configs and layers always stay. Build
//! cache entries are roots until pruned. A layer lives while any root needs
//! it; a blob lives while a live layer, a tagged config or a manifest of
//! one needs it. Everything else is garbage. Pruning needs the store to
//! itself ([`Store::lock_exclusive`]), so no running build can lose a layer
//! it has mounted.

use crate::error::{io_err, StoreError};
use crate::fsutil::remove_tree;
use crate::layers::LayerRecord;
use crate::store::{list, Store};
use mybuild_graph::Digest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::time::{Duration, SystemTime};

/// Count and bytes of one kind of thing in the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub size: u64,
    /// Bytes `prune --all` would free.
    pub reclaimable: u64,
}

/// [`Store::disk_usage`]'s answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// Tagged images; size is their layers' uncompressed size.
    pub images: Tally,
    /// Layers (snapshot, uncompressed tar and compressed blobs) only build
    /// cache entries use.
    pub build_cache: Tally,
    /// Blobs no layer or image needs (old manifests, configs of untagged images).
    pub unreferenced: Tally,
}

/// Which build cache entries [`Store::prune`] may remove.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Only entries not used for at least this long.
    pub unused_for: Option<Duration>,
    /// Stop once the store is at or below this many bytes, removing the
    /// least recently used entries first.
    pub keep_bytes: Option<u64>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub cache_entries: u64,
    pub layers: Vec<Digest>,
    pub blobs: u64,
    pub reclaimed: u64,
}

/// One cache index entry and when it was last used.
struct Entry {
    path: std::path::PathBuf,
    layers: Vec<Digest>,
    used: SystemTime,
}

/// The store's roots and contents, read once.
struct Census {
    records: BTreeMap<Digest, LayerRecord>,
    entries: Vec<Entry>,
    /// Layers of tagged images, and those images' config digests.
    image_layers: BTreeSet<Digest>,
    configs: BTreeSet<Digest>,
    images: u64,
    blob_sizes: BTreeMap<Digest, u64>,
}

impl Store {
    fn census(&self) -> Result<Census, StoreError> {
        let mut records = BTreeMap::new();
        for rec in self.layer_records()? {
            records.insert(rec.diff_id.clone(), rec);
        }
        let mut entries = Vec::new();
        for path in list(&self.cache_dir())? {
            let Some(layers) = self.read_entry(&path) else {
                continue;
            };
            let used = fs::metadata(&path)
                .and_then(|m| m.modified())
                .map_err(io_err("stat", &path))?;
            entries.push(Entry { path, layers, used });
        }
        let (mut image_layers, mut configs, mut images) = (BTreeSet::new(), BTreeSet::new(), 0);
        for img in self.images()? {
            images += 1;
            image_layers.extend(self.image_layers(&img.config)?);
            configs.insert(img.config);
        }
        // Other platforms' images are kept like tagged ones.
        for config in self
            .platform_tags()?
            .into_values()
            .flat_map(|m| m.into_values())
        {
            if self.has_blob(&config) {
                image_layers.extend(self.image_layers(&config)?);
                configs.insert(config);
            }
        }
        for c in self.containers()? {
            image_layers.extend(c.layer);
        }
        for id in self.intermediates()?.into_keys() {
            if self.has_blob(&id) {
                image_layers.extend(self.image_layers(&id)?);
                configs.insert(id);
            }
        }
        let mut blob_sizes = BTreeMap::new();
        for path in list(&self.blobs_dir())? {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let Some(d) = name.and_then(|n| Digest::parse(&format!("sha256:{n}")).ok()) else {
                continue;
            };
            let size = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
            blob_sizes.insert(d, size.len());
        }
        Ok(Census {
            records,
            entries,
            image_layers,
            configs,
            images,
            blob_sizes,
        })
    }

    /// An entry's layers; `None` for one that is torn or malformed.
    fn read_entry(&self, path: &std::path::Path) -> Option<Vec<Digest>> {
        let entry = self.read_cache_entry(path).ok()??;
        let layers = entry.layer_names().map(Digest::parse);
        layers.collect::<Result<_, _>>().ok()
    }

    /// Sizes by kind: what `du` shows.
    pub fn disk_usage(&self) -> Result<Usage, StoreError> {
        let c = self.census()?;
        let mut u = Usage::default();
        for d in &c.image_layers {
            u.images.size += c.records.get(d).map_or(0, |r| footprint(r, &c.blob_sizes));
        }
        u.images.count = c.images;
        u.build_cache.count = c.entries.len() as u64;
        for (d, rec) in &c.records {
            if !c.image_layers.contains(d) {
                let bytes = footprint(rec, &c.blob_sizes);
                u.build_cache.size += bytes;
                u.build_cache.reclaimable += bytes;
            }
        }
        let live = self.live_blobs(&c, &c.records.keys().cloned().collect())?;
        for (d, size) in &c.blob_sizes {
            if !live.contains(d) {
                u.unreferenced.count += 1;
                u.unreferenced.size += size;
                u.unreferenced.reclaimable += size;
            }
        }
        Ok(u)
    }

    /// Removes build cache entries chosen by `opts` (all of them by
    /// default), then every layer and blob nothing needs any more.
    pub fn prune(&self, opts: &PruneOptions) -> Result<PruneReport, StoreError> {
        self.lock_exclusive()?;
        self.forget_trusted();
        crate::sweep::sweep(self)?;
        // Views hold links to snapshots' files: a pruned snapshot's space
        // is only freed with them. Any later build makes them again.
        self.remove_flat_views(true)?;
        let mut c = self.census()?;
        let now = SystemTime::now();
        c.entries.sort_by_key(|e| e.used);
        let mut refs: HashMap<Digest, usize> = HashMap::new();
        for d in c
            .entries
            .iter()
            .flat_map(|e| &e.layers)
            .chain(&c.image_layers)
        {
            *refs.entry(d.clone()).or_default() += 1;
        }
        let mut total: u64 =
            c.blob_sizes.values().sum::<u64>() + c.records.values().map(|r| r.size).sum::<u64>();
        let mut report = PruneReport::default();
        for e in &c.entries {
            if opts.keep_bytes.is_some_and(|keep| total <= keep) {
                break;
            }
            let age = now.duration_since(e.used).unwrap_or_default();
            if opts.unused_for.is_some_and(|min| age < min) {
                continue;
            }
            fs::remove_file(&e.path).map_err(io_err("remove cache entry", &e.path))?;
            report.cache_entries += 1;
            for d in &e.layers {
                let n = refs.get_mut(d).expect("counted above");
                *n -= 1;
                if *n == 0 {
                    total -= c.records.get(d).map_or(0, |r| footprint(r, &c.blob_sizes));
                }
            }
        }
        let live_layers: BTreeSet<Digest> = refs
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(d, _)| d)
            .collect();
        self.collect(&mut c, &live_layers, &mut report)?;
        Ok(report)
    }

    /// Deletes every layer not in `live` and every blob nothing live needs.
    /// The record goes first: without it the snapshot no longer exists for
    /// anyone, so a crash half-way leaves only unreachable leftovers.
    fn collect(
        &self,
        c: &mut Census,
        live: &BTreeSet<Digest>,
        report: &mut PruneReport,
    ) -> Result<(), StoreError> {
        for (d, rec) in &c.records {
            if live.contains(d) {
                continue;
            }
            let record = self.layers_dir().join(format!("{}.json", d.hex()));
            fs::remove_file(&record).map_err(io_err("remove layer record", &record))?;
            let snap = self.snapshots_root().join(&rec.snapshot);
            remove_tree(&snap).map_err(io_err("remove snapshot", &snap))?;
            report.reclaimed += rec.size;
            report.layers.push(d.clone());
        }
        c.records.retain(|d, _| live.contains(d));
        let keep = self.live_blobs(c, live)?;
        for (d, size) in &c.blob_sizes {
            if keep.contains(d) {
                continue;
            }
            let path = self.blob_path(d);
            fs::remove_file(&path).map_err(io_err("remove blob", &path))?;
            self.forget_blob_sources(d)?;
            report.blobs += 1;
            report.reclaimed += size;
        }
        Ok(())
    }

    /// Blobs needed by the layers in `live` and by tagged images, including
    /// manifests whose config is a tagged image (so pins resolve offline).
    fn live_blobs(
        &self,
        c: &Census,
        live: &BTreeSet<Digest>,
    ) -> Result<BTreeSet<Digest>, StoreError> {
        let mut keep: BTreeSet<Digest> = c.configs.clone();
        for d in live {
            keep.insert(d.clone());
            if let Some(rec) = c.records.get(d) {
                keep.extend(rec.compressed.iter().map(|b| b.digest.clone()));
            }
        }
        for (d, size) in &c.blob_sizes {
            if keep.contains(d) || *size > MAX_MANIFEST {
                continue;
            }
            let Ok(bytes) = self.read_blob(d) else {
                continue;
            };
            if manifest_config(&bytes).is_some_and(|cfg| c.configs.contains(&cfg)) {
                keep.insert(d.clone());
            }
        }
        Ok(keep)
    }
}

const MAX_MANIFEST: u64 = 4 << 20;

/// The config digest a manifest names: only `config.digest` is read, so
/// any blob shaped like a manifest keeps its config's manifests alive.
fn manifest_config(bytes: &[u8]) -> Option<Digest> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let digest = v.get("config")?.get("digest")?.as_str()?;
    Digest::try_from(digest.to_string()).ok()
}

/// What a layer takes: its snapshot (counted as the size of its
/// uncompressed tar, which walking the tree would only approximate more
/// slowly) plus its blobs that are in the store.
fn footprint(rec: &LayerRecord, blobs: &BTreeMap<Digest, u64>) -> u64 {
    let own = blobs.get(&rec.diff_id).copied().unwrap_or(0);
    rec.compressed
        .iter()
        .filter_map(|b| blobs.get(&b.digest))
        .fold(rec.size + own, |a, b| a + b)
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
