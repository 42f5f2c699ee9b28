//! Scratch directories for sandboxes, on the same filesystem as the
//! snapshots so a finished upper dir can be renamed into place.

use crate::error::{io_err, StoreError};
use crate::fsutil::{detach_mount, remove_tree, unique_name};
use crate::store::Store;
use std::fs;
use std::path::{Path, PathBuf};

/// A unique directory holding `upper/`, `work/` and `merged/`, removed with
/// everything in it on drop.
#[derive(Debug)]
pub struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn upper(&self) -> PathBuf {
        self.path.join("upper")
    }

    pub fn work(&self) -> PathBuf {
        self.path.join("work")
    }

    pub fn merged(&self) -> PathBuf {
        self.path.join("merged")
    }

    /// Removes the directory on a thread of its own, off the caller's path
    /// (a handful of rmdirs, about a millisecond on ext4, once per step);
    /// `store` waits for it before it is dropped, so none is left behind.
    pub fn discard(self, store: &Store) {
        store.remove_later(move || drop(self));
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // A mount left on merged/ would let the recursive delete reach into
        // the mounted tree (or a bind-mounted host directory).
        detach_mount(&self.merged());
        let _ = remove_tree(&self.path);
    }
}

impl Store {
    pub fn work_dir(&self) -> Result<WorkDir, StoreError> {
        let path = self.tmp_dir().join(unique_name("wd-"));
        fs::create_dir(&path).map_err(io_err("create", &path))?;
        let wd = WorkDir { path };
        for sub in [wd.upper(), wd.work(), wd.merged()] {
            fs::create_dir(&sub).map_err(io_err("create", &sub))?;
        }
        Ok(wd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn discarded_work_dirs_are_gone_once_the_store_is() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let paths: Vec<PathBuf> = (0..8)
            .map(|_| {
                let wd = s.work_dir().unwrap();
                fs::write(wd.upper().join("f"), b"x").unwrap();
                let path = wd.path().to_path_buf();
                wd.discard(&s);
                path
            })
            .collect();
        drop(s);
        assert!(paths.iter().all(|p| !p.exists()), "work dir left behind");
    }

    #[test]
    fn work_dirs_are_unique_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let a = s.work_dir().unwrap();
        let b = s.work_dir().unwrap();
        assert_ne!(a.path(), b.path());
        assert!(a.upper().is_dir() && a.work().is_dir() && a.merged().is_dir());
        fs::create_dir(a.work().join("work")).unwrap();
        fs::set_permissions(a.work().join("work"), fs::Permissions::from_mode(0o000)).unwrap();
        let pa = a.path().to_path_buf();
        drop(a);
        assert!(!pa.exists());
        assert!(b.path().exists());
    }
}
