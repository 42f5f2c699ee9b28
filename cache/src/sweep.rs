//! Who is using a store, and cleaning up after those that died.
//!
//! Every open [`Store`] holds a shared `flock` on `v1/store.lock` for its
//! whole life; the kernel drops it when the process dies, even by SIGKILL.
//! Whoever can take the lock exclusively is therefore alone: at open that
//! process sweeps what dead processes left half-done (work dirs, ingests,
//! temp files, snapshots without a record) before it downgrades to shared.
//! `prune` takes it exclusively too, so it never deletes a snapshot that a
//! running build has mounted.

use crate::error::{io_err, StoreError};
use crate::fsutil::{flock, remove_tree};
use crate::layers::snapshot_name_of_hex;
use crate::store::{list, Store};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub(crate) fn open_lock(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(io_err("open", path))
}

/// Joins the store's users: sweeps first if nobody else is there.
pub(crate) fn join(store: &Store, lock: &File, path: &Path) -> Result<(), StoreError> {
    let lock_err = io_err("lock", path);
    if flock(lock, libc::LOCK_EX | libc::LOCK_NB).map_err(io_err("lock", path))? {
        let swept = sweep(store);
        flock(lock, libc::LOCK_SH).map_err(lock_err)?;
        return swept;
    }
    flock(lock, libc::LOCK_SH).map_err(lock_err)?;
    Ok(())
}

/// Removes what only a process that died mid-way can have left. Runs only
/// while no other process has the store open.
pub(crate) fn sweep(store: &Store) -> Result<(), StoreError> {
    for dir in [
        store.tmp_dir(),
        store.ingest_dir(),
        store.failed_uppers_dir(),
    ] {
        for entry in list(&dir)? {
            remove_any(&entry).map_err(io_err("remove leftover", &entry))?;
        }
    }
    for dir in [store.layers_dir(), store.cache_dir(), store.v1_dir()] {
        for entry in list(&dir)? {
            let temp = entry
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"));
            if temp {
                fs::remove_file(&entry).map_err(io_err("remove leftover", &entry))?;
            }
        }
    }
    store.remove_flat_views(false)?;
    sweep_unrecorded_snapshots(store)
}

/// A snapshot renamed into place just before a crash has no record: it
/// may be incomplete, so it goes. Snapshot names derive from the record
/// file names, so no record is read at start-up.
fn sweep_unrecorded_snapshots(store: &Store) -> Result<(), StoreError> {
    let mut recorded = HashSet::new();
    for path in list(&store.layers_dir())? {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        if let Some(hex) = stem.filter(|_| path.extension().is_some_and(|e| e == "json")) {
            recorded.insert(snapshot_name_of_hex(&hex));
        }
    }
    for entry in list(&store.snapshots_root())? {
        let name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
        if !name.is_some_and(|n| recorded.contains(&n)) {
            remove_any(&entry).map_err(io_err("remove unrecorded snapshot", &entry))?;
        }
    }
    Ok(())
}

/// Removes a file or a whole tree.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => remove_tree(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

impl Store {
    /// Takes the store for this process alone (for `prune`), or says who
    /// else has it open. Released when the store is dropped.
    pub fn lock_exclusive(&self) -> Result<(), StoreError> {
        let path = self.lock_path();
        if flock(self.lock_file(), libc::LOCK_EX | libc::LOCK_NB).map_err(io_err("lock", &path))? {
            return Ok(());
        }
        Err(StoreError::InUse {
            root: self.root().to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_of_dead_processes_are_swept_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let wd = s.tmp_dir().join("wd-1.2-0");
        fs::create_dir_all(wd.join("upper/a")).unwrap();
        fs::write(s.ingest_dir().join("in-1.2-0"), b"half").unwrap();
        fs::write(s.cache_dir().join(".tmp-1.2-0"), b"{").unwrap();
        fs::create_dir(s.snapshots_root().join("0123456789abcdef")).unwrap();
        let keep = s.put_blob(b"whole").unwrap();

        // Another user is still there: nothing of theirs may go.
        let other = Store::open(tmp.path()).unwrap();
        assert!(wd.exists(), "swept while another process had the store");
        drop((s, other));

        let s = Store::open(tmp.path()).unwrap();
        assert!(!wd.exists());
        assert_eq!(list(&s.ingest_dir()).unwrap().len(), 0);
        assert_eq!(list(&s.cache_dir()).unwrap().len(), 0);
        assert_eq!(list(&s.snapshots_root()).unwrap().len(), 0);
        assert_eq!(s.read_blob(&keep).unwrap(), b"whole");
    }

    #[test]
    fn exclusive_lock_refuses_while_another_store_is_open() {
        let tmp = tempfile::tempdir().unwrap();
        let a = Store::open(tmp.path()).unwrap();
        let b = Store::open(tmp.path()).unwrap();
        assert!(matches!(a.lock_exclusive(), Err(StoreError::InUse { .. })));
        drop(b);
        a.lock_exclusive().unwrap();
    }
}
