//! The [`Store`] handle: where each part of the on-disk layout lives, and
//! reading and writing its JSON metadata. Opening one is [`crate::open`]'s.

use crate::error::{io_err, StoreError};
use crate::fsutil::{self, FileLock};
use mybuild_graph::Digest;
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Handle on a store root. Cheap to share behind `Arc`; every method takes
/// `&self` and is safe to call from many threads and processes at once.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    v1: PathBuf,
    /// Shared flock on `v1/store.lock`, held while the store is open.
    lock: fs::File,
    /// This boot's id, stamped on snapshots installed unsynced
    /// ([`crate::layers`]' durability); `None` makes every install sync.
    boot_id: Option<String>,
    /// Snapshots [`Store::snapshot_dir`] found trusted, by diff_id. Trust
    /// is never withdrawn while the store is open (only `prune`, under the
    /// exclusive lock, deletes trusted layers, and it clears this), so
    /// each step need not read every record of its chain again.
    trusted: Mutex<HashMap<Digest, PathBuf>>,
    /// Removals running off the build's path ([`Store::remove_later`]).
    removals: Mutex<Option<Remover>>,
}

type Removal = Box<dyn FnOnce() + Send>;

/// One thread that runs removals in turn (a thread for each would cost a
/// thread start per build step).
#[derive(Debug)]
struct Remover {
    queue: std::sync::mpsc::Sender<Removal>,
    thread: std::thread::JoinHandle<()>,
}

impl Remover {
    fn start() -> Option<Remover> {
        let (queue, rx) = std::sync::mpsc::channel::<Removal>();
        let thread = std::thread::Builder::new()
            .name("remove".into())
            .spawn(move || rx.into_iter().for_each(|remove| remove()))
            .ok()?;
        Some(Remover { queue, thread })
    }

    /// Runs what is queued, then ends.
    fn finish(self) {
        drop(self.queue);
        let _ = self.thread.join();
    }
}

/// The entries of `dir`, sorted; none when it does not exist.
pub(crate) fn list(dir: &Path) -> Result<Vec<std::path::PathBuf>, StoreError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        out.push(entry.map_err(io_err("list", dir))?.path());
    }
    out.sort();
    Ok(out)
}

/// Where the lock every open store shares lives under `v1`.
pub(crate) fn lock_path(v1: &Path) -> PathBuf {
    v1.join("store.lock")
}

const SUBDIRS: [&str; 7] = [
    "blobs/sha256",
    "sources",
    "ingest",
    "snapshots",
    "layers",
    "cache",
    "tmp",
];

impl Store {
    /// Creates the layout's directories under `root`; returns `root`
    /// resolved (the store's root from then on).
    pub(crate) fn create_layout(root: &Path) -> Result<PathBuf, StoreError> {
        let v1 = root.join("v1");
        for sub in SUBDIRS {
            let dir = v1.join(sub);
            fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        }
        fs::canonicalize(root).map_err(io_err("resolve", root))
    }

    /// A handle on the layout at `root` (resolved), holding `lock` (the
    /// open `v1/store.lock`), in boot `boot_id`.
    pub(crate) fn with_lock(root: PathBuf, lock: fs::File, boot_id: Option<String>) -> Store {
        let v1 = root.join("v1");
        Store {
            root,
            v1,
            lock,
            boot_id,
            trusted: Mutex::default(),
            removals: Mutex::default(),
        }
    }

    pub(crate) fn boot_id(&self) -> Option<&str> {
        self.boot_id.as_deref()
    }

    /// The snapshot of `diff_id` if it was found trusted before.
    pub(crate) fn trusted_snapshot(&self, diff_id: &Digest) -> Option<PathBuf> {
        let trusted = self.trusted.lock().unwrap_or_else(|e| e.into_inner());
        trusted.get(diff_id).cloned()
    }

    pub(crate) fn remember_trusted(&self, diff_id: &Digest, dir: &Path) {
        let mut trusted = self.trusted.lock().unwrap_or_else(|e| e.into_inner());
        trusted.insert(diff_id.clone(), dir.to_path_buf());
    }

    /// Runs `remove` on the store's removal thread; the store waits for
    /// it when dropped. Where no thread can start, it runs here and now.
    pub(crate) fn remove_later(&self, remove: impl FnOnce() + Send + 'static) {
        let mut removals = self.removals.lock().unwrap_or_else(|e| e.into_inner());
        if removals.is_none() {
            *removals = Remover::start();
        }
        match removals.as_ref() {
            Some(r) => {
                if let Err(std::sync::mpsc::SendError(remove)) = r.queue.send(Box::new(remove)) {
                    remove();
                }
            }
            None => remove(),
        }
    }

    /// Before layers are deleted (prune).
    pub(crate) fn forget_trusted(&self) {
        self.trusted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub(crate) fn v1_dir(&self) -> PathBuf {
        self.v1.clone()
    }

    pub(crate) fn lock_path(&self) -> PathBuf {
        lock_path(&self.v1)
    }

    pub(crate) fn lock_file(&self) -> &fs::File {
        &self.lock
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A directory of the solver's own state inside the versioned layout
    /// (`cache-mounts`, `context-hashes`), so a new layout moves it too.
    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.v1.join(name)
    }

    pub fn snapshots_root(&self) -> PathBuf {
        self.v1.join("snapshots")
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.v1.join("blobs/sha256")
    }

    pub(crate) fn ingest_dir(&self) -> PathBuf {
        self.v1.join("ingest")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.v1.join("tmp")
    }

    pub(crate) fn sources_dir(&self) -> PathBuf {
        self.v1.join("sources")
    }

    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.v1.join("layers")
    }

    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.v1.join("cache")
    }

    pub(crate) fn images_file(&self) -> PathBuf {
        self.v1.join("images.json")
    }

    pub(crate) fn intermediates_file(&self) -> PathBuf {
        self.v1.join("intermediates.json")
    }

    /// Serialises read-modify-write of shared metadata (images.json, layer
    /// records) across threads and processes.
    pub(crate) fn lock_metadata(&self) -> Result<FileLock, StoreError> {
        let path = self.v1.join("metadata.lock");
        FileLock::acquire(&path).map_err(io_err("lock", &path))
    }

    /// Writes JSON-serialisable `value` to `path` crash-safely.
    pub(crate) fn write_json<T: serde::Serialize>(
        &self,
        path: &Path,
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Json {
            path: path.into(),
            source,
        })?;
        fsutil::write_atomic(path, &bytes).map_err(io_err("write", path))
    }

    /// Reads JSON from `path`; `None` when the file does not exist.
    pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &Path,
    ) -> Result<Option<T>, StoreError> {
        match fsutil::read_optional(path).map_err(io_err("read", path))? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|source| StoreError::Json {
                        path: path.into(),
                        source,
                    })
            }
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let removals = self.removals.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = removals.take() {
            r.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }

    #[test]
    fn open_creates_layout() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("s")).unwrap();
        for sub in SUBDIRS {
            assert!(store.root().join("v1").join(sub).is_dir(), "{sub}");
        }
        assert_eq!(store.snapshots_root(), store.root().join("v1/snapshots"));
        Store::open(store.root()).expect("reopen is idempotent");
    }
}
