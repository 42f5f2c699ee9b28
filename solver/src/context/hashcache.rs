//! A persistent cache of context file digests, so an unchanged context of
//! many files is re-checked with `lstat` alone instead of being read again.
//!
//! An entry is trusted only while the file's inode, size, mode, mtime and
//! ctime are what they were when it was hashed (ctime cannot be set back by
//! tools, so a rewrite that restores the mtime still misses). Entries for
//! files changed in the last two seconds are not kept: a second write within
//! the timestamp granularity would look unchanged (git's "racy" problem).
//! The file is one binary record per path, rewritten whole through a
//! temporary file and a rename; anything unreadable means starting empty.

use nix::sys::stat::FileStat;
use std::collections::BTreeMap;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: &[u8] = b"mybuild-context-hashes-v1\n";

/// Files changed this recently are hashed but not remembered.
const RACY_SECS: i64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    ino: u64,
    size: u64,
    mode: u32,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Meta {
    fn of(st: &FileStat) -> Meta {
        Meta {
            ino: st.st_ino,
            size: st.st_size as u64,
            mode: st.st_mode,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
        }
    }
}

#[derive(Default)]
struct Entries {
    map: BTreeMap<String, (Meta, [u8; 32])>,
    dirty: bool,
}

pub struct HashCache {
    file: PathBuf,
    /// Read on first use, so a build that copies nothing reads nothing.
    entries: OnceLock<Mutex<Entries>>,
}

impl HashCache {
    /// A cache kept in `file`; an absent or unreadable file means empty.
    pub fn open(file: PathBuf) -> HashCache {
        HashCache {
            file,
            entries: OnceLock::new(),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries
            .get_or_init(|| {
                let map = std::fs::read(&self.file)
                    .ok()
                    .and_then(|bytes| decode(&bytes))
                    .unwrap_or_default();
                Mutex::new(Entries { map, dirty: false })
            })
            .lock()
            .expect("hash cache poisoned")
    }

    /// The digest of `rel` if it was hashed while it looked exactly so.
    pub fn get(&self, rel: &str, st: &FileStat) -> Option<(u64, [u8; 32])> {
        let entries = self.entries();
        let (meta, digest) = entries.map.get(rel)?;
        (*meta == Meta::of(st)).then_some((meta.size, *digest))
    }

    pub fn put(&self, rel: &str, st: &FileStat, digest: [u8; 32]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut entries = self.entries();
        if st.st_ctime > now - RACY_SECS || st.st_mtime > now - RACY_SECS {
            entries.dirty |= entries.map.remove(rel).is_some();
            return;
        }
        entries.map.insert(rel.to_string(), (Meta::of(st), digest));
        entries.dirty = true;
    }

    /// Writes the cache back if anything changed. The lock is held while
    /// writing, so concurrent savers never share the temporary file.
    pub fn save(&self) -> io::Result<()> {
        let Some(entries) = self.entries.get() else {
            return Ok(()); // never used, so nothing changed
        };
        let mut entries = entries.lock().expect("hash cache poisoned");
        if !entries.dirty {
            return Ok(());
        }
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .file
            .with_extension(format!("tmp-{}", std::process::id()));
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        out.write_all(&encode(&entries.map))?;
        out.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&tmp, &self.file)?;
        entries.dirty = false;
        Ok(())
    }
}

fn encode(map: &BTreeMap<String, (Meta, [u8; 32])>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for (path, (m, digest)) in map {
        out.extend((path.len() as u32).to_le_bytes());
        out.extend(path.as_bytes());
        for v in [m.ino, m.size] {
            out.extend(v.to_le_bytes());
        }
        out.extend(m.mode.to_le_bytes());
        for v in [m.mtime.0, m.mtime.1, m.ctime.0, m.ctime.1] {
            out.extend(v.to_le_bytes());
        }
        out.extend(digest);
    }
    out
}

fn decode(bytes: &[u8]) -> Option<BTreeMap<String, (Meta, [u8; 32])>> {
    let mut r = bytes.strip_prefix(MAGIC)?;
    let mut map = BTreeMap::new();
    while !r.is_empty() {
        let len = u32::from_le_bytes(take(&mut r)?) as usize;
        let mut path = vec![0u8; len];
        r.read_exact(&mut path).ok()?;
        let ino = u64::from_le_bytes(take(&mut r)?);
        let size = u64::from_le_bytes(take(&mut r)?);
        let mode = u32::from_le_bytes(take(&mut r)?);
        let mut t = [0i64; 4];
        for v in &mut t {
            *v = i64::from_le_bytes(take(&mut r)?);
        }
        let digest: [u8; 32] = take(&mut r)?;
        let meta = Meta {
            ino,
            size,
            mode,
            mtime: (t[0], t[1]),
            ctime: (t[2], t[3]),
        };
        map.insert(String::from_utf8(path).ok()?, (meta, digest));
    }
    Some(map)
}

fn take<const N: usize>(r: &mut &[u8]) -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    r.read_exact(&mut buf).ok()?;
    Some(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &std::path::Path) -> FileStat {
        nix::sys::stat::lstat(path).unwrap()
    }

    #[test]
    fn entries_survive_a_reload_and_miss_on_any_change() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "one").unwrap();
        let cache_file = dir.path().join("cache");
        let cache = HashCache::open(cache_file.clone());
        // The file was just written, so the entry is too fresh to keep.
        cache.put("f", &stat(&f), [7; 32]);
        assert_eq!(cache.get("f", &stat(&f)), None, "racy entries are not kept");

        let mut old = stat(&f);
        old.st_mtime = 1000;
        old.st_ctime = 1000;
        cache.put("f", &old, [7; 32]);
        assert_eq!(cache.get("f", &old), Some((3, [7; 32])));
        cache.save().unwrap();
        let again = HashCache::open(cache_file.clone());
        assert_eq!(again.get("f", &old), Some((3, [7; 32])));
        let mut touched = old;
        touched.st_mtime_nsec += 1;
        assert_eq!(again.get("f", &touched), None);
        let mut rewritten = old;
        rewritten.st_ctime = 2000;
        assert_eq!(
            again.get("f", &rewritten),
            None,
            "ctime catches a restored mtime"
        );

        std::fs::write(&cache_file, b"garbage").unwrap();
        assert_eq!(HashCache::open(cache_file).get("f", &old), None);
    }
}
