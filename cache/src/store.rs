//! The [`Store`] handle: where each part of the on-disk layout lives, and the
//! error type every store operation returns.

use crate::fsutil::{self, FileLock};
use mybuild_graph::Digest;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong inside the store. Variants name the
/// operation and the file or object concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("blob {digest} is not in the store")]
    BlobMissing { digest: Digest },
    #[error("{what}: digest mismatch, expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("parse {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write layer tar from {upper}: {source}")]
    Pack {
        upper: PathBuf,
        source: crate::layers::pack::PackError,
    },
    #[error("unpack layer: {source}")]
    Unpack {
        source: crate::layers::unpack::UnpackError,
    },
    #[error("image config: {source}")]
    BadConfig { source: serde_json::Error },
    #[error("image config {config}: layer {diff_id} is not in the store")]
    LayerMissing { config: Digest, diff_id: Digest },
    #[error("tag {name:?}: image {config} is not in the store")]
    ImageMissing { name: String, config: Digest },
    #[error("tag {name:?}: not a normalised image name")]
    BadName { name: String },
    #[error("image id {prefix:?} is ambiguous: more than one image starts with it")]
    AmbiguousId { prefix: String },
    #[error("store {root} is in use by another mybuild process; try again when it has finished")]
    InUse { root: PathBuf },
}

/// Builds a closure that wraps an `io::Error` with what was being done where.
pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// Handle on a store root. Cheap to share behind `Arc`; every method takes
/// `&self` and is safe to call from many threads and processes at once.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    v1: PathBuf,
    /// Shared flock on `v1/store.lock`, held while the store is open.
    lock: fs::File,
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
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let v1 = root.join("v1");
        for sub in SUBDIRS {
            let dir = v1.join(sub);
            fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        }
        let root = fs::canonicalize(root).map_err(io_err("resolve", root))?;
        let v1 = root.join("v1");
        let lock_path = v1.join("store.lock");
        let lock = crate::sweep::open_lock(&lock_path)?;
        let store = Store { root, v1, lock };
        crate::sweep::join(&store, &store.lock, &lock_path)?;
        Ok(store)
    }

    pub(crate) fn v1_dir(&self) -> PathBuf {
        self.v1.clone()
    }

    pub(crate) fn lock_path(&self) -> PathBuf {
        self.v1.join("store.lock")
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
