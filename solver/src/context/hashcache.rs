//! A persistent cache of context file digests, so an unchanged context of
//! many files is re-checked with `lstat` alone instead of being read again.
//!
//! An entry is trusted only while the file's inode, size, mode, owner,
//! mtime and ctime are what they were when it was hashed (ctime cannot be set back by
//! tools, so a rewrite that restores the mtime still misses). Entries for
//! files changed in the last two seconds are not kept: a second write within
//! the timestamp granularity would look unchanged (git's "racy" problem).
//! The file (`hashtable`) is rewritten whole through a temporary file and
//! a rename; anything unreadable means starting empty.

use super::hashtable::{self, Meta, Table};
use crate::fileop::stat::Stat;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufWriter};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Files changed this recently are hashed but not remembered.
const RACY_SECS: i64 = 2;

/// The loaded file, and what this build learnt on top of it.
#[derive(Default)]
struct Entries {
    table: Table,
    /// Where the last lookup hit, so the next one tries the record after.
    hint: usize,
    added: BTreeMap<Vec<u8>, (Meta, [u8; 32])>,
    /// Records of `table` no longer to be trusted or kept.
    dropped: BTreeSet<usize>,
    dirty: bool,
}

pub struct HashCache {
    file: PathBuf,
    /// Read on first use, so a build that copies nothing reads nothing.
    entries: OnceLock<Mutex<Entries>>,
    racy_secs: i64,
}

impl HashCache {
    /// A cache kept in `file`; an absent or unreadable file means empty.
    pub fn open(file: PathBuf) -> HashCache {
        HashCache {
            file,
            entries: OnceLock::new(),
            racy_secs: RACY_SECS,
        }
    }

    /// For tests that need a file they just wrote remembered.
    #[cfg(test)]
    pub(crate) fn open_without_racy_window(file: PathBuf) -> HashCache {
        HashCache {
            racy_secs: i64::MIN / 2,
            ..HashCache::open(file)
        }
    }

    /// Reads the file now (on the calling thread) if nothing has yet.
    pub fn preload(&self) {
        drop(self.entries());
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        let cell = self.entries.get_or_init(|| {
            let table = std::fs::read(&self.file)
                .ok()
                .and_then(Table::parse)
                .unwrap_or_default();
            Mutex::new(Entries {
                table,
                ..Entries::default()
            })
        });
        // A panic while holding the lock leaves nothing half-updated that
        // a lookup could trust wrongly, so a poisoned lock is still usable.
        cell.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The digest of `rel` if it was hashed while it looked exactly so.
    pub(crate) fn get(&self, rel: &[u8], st: &Stat) -> Option<(u64, [u8; 32])> {
        let mut e = self.entries();
        let now = meta_of(st);
        if let Some((meta, digest)) = e.added.get(rel) {
            return (*meta == now).then_some((meta.size, *digest));
        }
        let i = e.table.find(rel, e.hint)?;
        e.hint = i + 1;
        if e.dropped.contains(&i) || e.table.meta(i) != now {
            return None;
        }
        Some((now.size, e.table.digest(i)))
    }

    pub(crate) fn put(&self, rel: &[u8], st: &Stat, digest: [u8; 32]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let mut e = self.entries();
        if let Some(i) = e.table.find(rel, e.hint) {
            e.dirty |= e.dropped.insert(i);
        }
        let fresh = now - self.racy_secs;
        if st.st_ctime > fresh || st.st_mtime > fresh {
            e.dirty |= e.added.remove(rel).is_some();
            return;
        }
        e.added.insert(rel.to_vec(), (meta_of(st), digest));
        e.dirty = true;
    }

    /// Writes the cache back if anything changed. The lock is held while
    /// writing, so concurrent savers never share the temporary file.
    pub fn save(&self) -> io::Result<()> {
        let Some(entries) = self.entries.get() else {
            return Ok(()); // never used, so nothing changed
        };
        let mut e = entries.lock().unwrap_or_else(|p| p.into_inner());
        if !e.dirty {
            return Ok(());
        }
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self
            .file
            .with_extension(format!("tmp-{}", std::process::id()));
        let mut out = BufWriter::new(std::fs::File::create(&tmp)?);
        hashtable::write(&mut out, || e.rows())?;
        out.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&tmp, &self.file)?;
        e.dirty = false;
        Ok(())
    }
}

/// What the cache keeps of a stat (the file kept no device number).
fn meta_of(st: &Stat) -> Meta {
    Meta {
        rdev: 0,
        ..Meta::of(st)
    }
}

impl Entries {
    /// Every entry to keep, sorted by path: the loaded ones not dropped or
    /// replaced, merged with the added ones (both are sorted).
    fn rows(&self) -> impl Iterator<Item = hashtable::Row<'_>> {
        let t = &self.table;
        let mut kept = (0..t.len())
            .filter(|i| !self.dropped.contains(i) && !self.added.contains_key(t.name(*i)))
            .map(|i| (t.name(i), t.meta(i), t.digest(i)))
            .peekable();
        let mut added = self
            .added
            .iter()
            .map(|(k, (m, d))| (k.as_slice(), *m, *d))
            .peekable();
        std::iter::from_fn(move || match (kept.peek(), added.peek()) {
            (Some(k), Some(a)) if k.0 < a.0 => kept.next(),
            (Some(_), Some(_)) | (None, _) => added.next(),
            (Some(_), None) => kept.next(),
        })
    }
}

#[cfg(test)]
#[path = "hashcache_tests.rs"]
mod tests;
