//! The cache index: which chain of layers a cache key produced. One small
//! file per key, renamed into place with a checksum but not fsynced (it is
//! on every step's path): one a power cut tore is a miss. So is an entry
//! whose layers are not all present, so a half-deleted store never serves
//! a broken chain.
//!
//! An entry is text: a header line with the format and the SHA-256 of the
//! rest, then one layer digest a line, base first. Step i of a build has i
//! layers, so a warm build reads about n²/2 digests: the reader keeps them
//! as text, the caller matches the leading ones against a chain it already
//! holds (its input's, present by construction), and only the layers above
//! it are parsed and checked. Entries of the older JSON form still read.

use crate::error::{io_err, StoreError};
use crate::fsutil;
use crate::store::Store;
use mybuild_graph::Digest;
use std::path::{Path, PathBuf};

/// The first word of an entry's header line, and its format version.
const MAGIC: &str = "mybuild-cache-entry 2 ";

/// An entry of the JSON form written before the text one.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct JsonEntry {
    layers: Vec<Digest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

impl crate::sealed::Sealed for JsonEntry {
    fn checksum_mut(&mut self) -> &mut Option<String> {
        &mut self.checksum
    }
}

/// A cache entry as read and checked against its checksum: its layers,
/// base first, still as text.
pub struct CacheEntry {
    /// One digest a line, each line ended by `\n`.
    body: String,
    len: usize,
    /// Read from the JSON form: a hit rewrites it in the text form.
    json: bool,
}

impl CacheEntry {
    /// How many layers the chain has.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The layers' digests as written, base first.
    pub fn layer_names(&self) -> impl Iterator<Item = &str> + '_ {
        self.body.lines()
    }

    /// The entry for `layers` in its text form: the header, then the body.
    fn encode(layers: &[Digest]) -> Vec<u8> {
        let body = body_of(layers);
        let mut out = format!("{MAGIC}{}\n", Digest::of(body.as_bytes())).into_bytes();
        out.extend_from_slice(body.as_bytes());
        out
    }

    /// `None` when the bytes are not a whole entry of the text form.
    fn decode(bytes: Vec<u8>) -> Option<CacheEntry> {
        let text = String::from_utf8(bytes).ok()?;
        let (header, body) = text.split_once('\n')?;
        let sum = header.strip_prefix(MAGIC)?;
        if Digest::of(body.as_bytes()).as_str() != sum || !(body.is_empty() || body.ends_with('\n'))
        {
            return None;
        }
        let len = body.bytes().filter(|&b| b == b'\n').count();
        let body = body.to_string();
        Some(CacheEntry {
            body,
            len,
            json: false,
        })
    }

    fn from_json(entry: JsonEntry) -> CacheEntry {
        CacheEntry {
            body: body_of(&entry.layers),
            len: entry.layers.len(),
            json: true,
        }
    }
}

/// Digests as text, each on a line of its own: an entry's body, and what
/// names a flat view of the same layers.
pub(crate) fn body_of(layers: &[Digest]) -> String {
    let mut body = String::with_capacity(layers.len() * 72);
    for d in layers {
        body.push_str(d.as_str());
        body.push('\n');
    }
    body
}

impl Store {
    fn cache_path(&self, key: &Digest) -> PathBuf {
        self.cache_dir().join(key.hex())
    }

    /// The entry at `path`, either form, if it is whole.
    pub(crate) fn read_cache_entry(&self, path: &Path) -> Result<Option<CacheEntry>, StoreError> {
        let Some(bytes) = fsutil::read_optional(path).map_err(io_err("read", path))? else {
            return Ok(None);
        };
        if bytes.first() == Some(&b'{') {
            return Ok(self
                .read_sealed::<JsonEntry>(path)?
                .map(CacheEntry::from_json));
        }
        Ok(CacheEntry::decode(bytes))
    }

    /// The entry for `key`, checked whole but not for its layers: see
    /// [`Store::cache_layers_above`].
    pub fn cache_read(&self, key: &Digest) -> Result<Option<CacheEntry>, StoreError> {
        self.read_cache_entry(&self.cache_path(key))
    }

    /// The layers of `entry` (read for `key`) above its first `known`,
    /// which the caller holds as a chain it knows is present; `None` when
    /// one of the others is malformed or missing from the store. A hit
    /// marks the entry used.
    pub fn cache_layers_above(
        &self,
        key: &Digest,
        entry: &CacheEntry,
        known: usize,
    ) -> Result<Option<Vec<Digest>>, StoreError> {
        let mut above = Vec::with_capacity(entry.len().saturating_sub(known));
        for name in entry.layer_names().skip(known) {
            match Digest::parse(name) {
                Ok(d) if self.snapshot_dir(&d).is_some() => above.push(d),
                _ => return Ok(None),
            }
        }
        // The entry's mtime is its last use, for `prune --keep-storage`
        // and `--filter until=`. Best effort: a read-only store still hits.
        if entry.json {
            let _ = self.rewrite_json_entry(key, entry);
        } else if let Ok(f) = std::fs::File::open(self.cache_path(key)) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
        Ok(Some(above))
    }

    /// Writes an entry read from the JSON form again in the text form,
    /// which later hits read faster.
    fn rewrite_json_entry(&self, key: &Digest, entry: &CacheEntry) -> Result<(), StoreError> {
        let layers = entry.layer_names().map(Digest::parse);
        match layers.collect::<Result<Vec<_>, _>>() {
            Ok(layers) => self.cache_put(key, &layers),
            Err(_) => Ok(()),
        }
    }

    /// The whole chain recorded for `key`, if the store has all of it.
    pub fn cache_get(&self, key: &Digest) -> Result<Option<Vec<Digest>>, StoreError> {
        match self.cache_read(key)? {
            Some(entry) => self.cache_layers_above(key, &entry, 0),
            None => Ok(None),
        }
    }

    /// Whether an entry for `key` exists at all (complete or not): what
    /// decides if data kept beside the entry is kept.
    pub fn cache_has(&self, key: &Digest) -> bool {
        self.cache_path(key).exists()
    }

    pub fn cache_put(&self, key: &Digest, chain: &[Digest]) -> Result<(), StoreError> {
        let path = self.cache_path(key);
        fsutil::write_renamed(&path, &CacheEntry::encode(chain), false)
            .map_err(io_err("write", &path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(s: &Store, name: &str) -> Digest {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, &[][..]).unwrap();
        s.import_layer(&b.into_inner().unwrap()[..], None).unwrap()
    }

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

        let layer = layer(&s, "a");
        s.cache_put(&key, std::slice::from_ref(&layer)).unwrap();
        assert_eq!(s.cache_get(&key).unwrap(), Some(vec![layer.clone()]));

        s.cache_put(&key, &[layer, Digest::of(b"absent")]).unwrap();
        assert_eq!(s.cache_get(&key).unwrap(), None);
    }

    #[test]
    fn layers_above_a_known_chain_are_the_only_ones_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let key = Digest::of(b"key");
        let (a, b) = (layer(&s, "a"), layer(&s, "b"));
        // The caller vouches for the first layer: it is not looked up.
        let absent = Digest::of(b"held by the caller");
        s.cache_put(&key, &[absent.clone(), a.clone(), b.clone()])
            .unwrap();
        let entry = s.cache_read(&key).unwrap().expect("entry");
        assert_eq!(entry.len(), 3);
        let names: Vec<&str> = entry.layer_names().collect();
        assert_eq!(names, [absent.as_str(), a.as_str(), b.as_str()]);
        assert_eq!(
            s.cache_layers_above(&key, &entry, 1).unwrap(),
            Some(vec![a, b])
        );
        assert_eq!(s.cache_layers_above(&key, &entry, 0).unwrap(), None);
        assert_eq!(s.cache_layers_above(&key, &entry, 3).unwrap(), Some(vec![]));
    }

    #[test]
    fn torn_and_altered_entries_read_as_absent() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let key = Digest::of(b"key");
        let a = layer(&s, "a");
        s.cache_put(&key, &[a.clone(), a.clone()]).unwrap();
        let path = s.cache_path(&key);
        let whole = std::fs::read(&path).unwrap();
        for cut in [0, 10, MAGIC.len() + 71, whole.len() - 1] {
            std::fs::write(&path, &whole[..cut]).unwrap();
            assert!(s.cache_read(&key).unwrap().is_none(), "cut at {cut} read");
        }
        let altered =
            String::from_utf8(whole.clone())
                .unwrap()
                .replacen(a.hex(), &"0".repeat(64), 1);
        std::fs::write(&path, altered).unwrap();
        assert!(s.cache_read(&key).unwrap().is_none(), "altered entry read");
        std::fs::write(&path, &whole).unwrap();
        assert_eq!(s.cache_get(&key).unwrap(), Some(vec![a.clone(), a]));
    }

    #[test]
    fn json_entries_of_older_stores_still_read() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let key = Digest::of(b"key");
        let a = layer(&s, "a");
        let old = JsonEntry {
            layers: vec![a.clone()],
            checksum: None,
        };
        s.write_sealed(&s.cache_path(&key), &old, false).unwrap();
        assert_eq!(s.cache_get(&key).unwrap(), Some(vec![a.clone()]));
        let path = s.cache_path(&key);
        assert!(
            std::fs::read(&path).unwrap().starts_with(MAGIC.as_bytes()),
            "a hit rewrites the entry as text"
        );
        assert_eq!(s.cache_get(&key).unwrap(), Some(vec![a.clone()]));
        s.write_sealed(&s.cache_path(&key), &old, false).unwrap();
        // A JSON entry torn by a power cut fails its checksum.
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(a.hex(), &"1".repeat(64))).unwrap();
        assert_eq!(s.cache_get(&key).unwrap(), None);
    }
}
