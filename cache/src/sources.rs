//! Where blobs are known to live in registries (`registry/repository`),
//! learnt from pulls and pushes, so a push can ask the registry to mount a
//! blob from a sibling repository instead of uploading it again.

use crate::error::{io_err, StoreError};
use crate::store::Store;
use mybuild_graph::Digest;
use std::path::PathBuf;

/// Enough to pick a mount source; older names are dropped first.
const MAX_SOURCES: usize = 8;

impl Store {
    fn sources_path(&self, d: &Digest) -> PathBuf {
        self.sources_dir().join(d.hex())
    }

    /// Repositories (`registry/repository`) that hold blob `d`, newest first.
    pub fn blob_sources(&self, d: &Digest) -> Vec<String> {
        let Ok(text) = std::fs::read_to_string(self.sources_path(d)) else {
            return Vec::new();
        };
        text.lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// Records that `repo` holds blob `d`.
    pub fn note_blob_source(&self, d: &Digest, repo: &str) -> Result<(), StoreError> {
        let _lock = self.lock_metadata()?;
        let mut list = self.blob_sources(d);
        list.retain(|r| r != repo);
        list.insert(0, repo.to_string());
        list.truncate(MAX_SOURCES);
        let path = self.sources_path(d);
        let text = list.join("\n") + "\n";
        crate::fsutil::write_atomic(&path, text.as_bytes()).map_err(io_err("write", &path))
    }

    /// Forgets the sources of a removed blob.
    pub(crate) fn forget_blob_sources(&self, d: &Digest) -> Result<(), StoreError> {
        let path = self.sources_path(d);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", &path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_remembered_newest_first() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        let d = Digest::of(b"blob");
        assert!(s.blob_sources(&d).is_empty());
        s.note_blob_source(&d, "reg:5000/a").unwrap();
        s.note_blob_source(&d, "reg:5000/b").unwrap();
        s.note_blob_source(&d, "reg:5000/a").unwrap();
        assert_eq!(s.blob_sources(&d), ["reg:5000/a", "reg:5000/b"]);
        s.forget_blob_sources(&d).unwrap();
        assert!(s.blob_sources(&d).is_empty());
    }
}
