//! Metadata written without fsync (layer records and cache entries on a
//! build's path): each file carries a checksum of its own fields, so one a
//! power cut left empty, torn or half-written fails the check and reads as
//! absent, never as a record. A file that reads intact is whole, and what it
//! points at is checked on its own terms (a snapshot by its boot id, see
//! `layers::durable`; a cache entry's layers by their records). Files
//! written before checksums existed were fsynced and carry none.

use crate::error::{io_err, StoreError};
use crate::fsutil;
use crate::store::Store;
use mybuild_graph::Digest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// A metadata type with a `checksum` field of its own.
pub(crate) trait Sealed: Serialize + DeserializeOwned + Clone {
    fn checksum_mut(&mut self) -> &mut Option<String>;
}

/// The digest of `value`'s compact JSON with the checksum left out, made
/// through a `serde_json::Value` so that a tool holding the file parsed
/// as one (the e2e tests) computes the same bytes.
fn checksum_of<T: Sealed>(value: &T) -> Result<String, serde_json::Error> {
    let mut bare = value.clone();
    *bare.checksum_mut() = None;
    let canonical = serde_json::to_vec(&serde_json::to_value(&bare)?)?;
    Ok(Digest::of(&canonical).to_string())
}

/// Whether `value` is what was written: its checksum matches, or it has
/// none (written, and fsynced, by an older version).
fn intact<T: Sealed>(value: &T) -> bool {
    let mut copy = value.clone();
    match copy.checksum_mut().take() {
        None => true,
        Some(sum) => checksum_of(&copy).is_ok_and(|actual| actual == sum),
    }
}

impl Store {
    /// Writes `value` with its checksum to `path`, atomically (temp file
    /// and rename). `sync` makes it durable too; without it a power cut
    /// may lose or tear the file, which [`Store::read_sealed`] then skips.
    pub(crate) fn write_sealed<T: Sealed>(
        &self,
        path: &Path,
        value: &T,
        sync: bool,
    ) -> Result<(), StoreError> {
        let json = |source| StoreError::Json {
            path: path.into(),
            source,
        };
        let mut sealed = value.clone();
        *sealed.checksum_mut() = Some(checksum_of(value).map_err(json)?);
        let bytes = serde_json::to_vec_pretty(&sealed).map_err(json)?;
        fsutil::write_renamed(path, &bytes, sync).map_err(io_err("write", path))
    }

    /// Reads a file [`Store::write_sealed`] wrote; `None` when it does not
    /// exist, does not parse or fails its checksum (torn by a power cut).
    pub(crate) fn read_sealed<T: Sealed>(&self, path: &Path) -> Result<Option<T>, StoreError> {
        let Some(bytes) = fsutil::read_optional(path).map_err(io_err("read", path))? else {
            return Ok(None);
        };
        let value = serde_json::from_slice::<T>(&bytes).ok();
        Ok(value.filter(intact))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Note {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        checksum: Option<String>,
    }

    impl Sealed for Note {
        fn checksum_mut(&mut self) -> &mut Option<String> {
            &mut self.checksum
        }
    }

    #[test]
    fn torn_or_altered_files_read_as_absent() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(&tmp.path().join("s")).unwrap();
        let path = tmp.path().join("note.json");
        let note = Note {
            text: "layers: a, b".into(),
            checksum: None,
        };
        s.write_sealed(&path, &note, false).unwrap();
        let back: Note = s.read_sealed(&path).unwrap().expect("intact");
        assert_eq!(back.text, note.text);
        let whole = std::fs::read(&path).unwrap();
        for torn in [&whole[..0], &whole[..whole.len() / 2]] {
            std::fs::write(&path, torn).unwrap();
            assert_eq!(s.read_sealed::<Note>(&path).unwrap(), None);
        }
        let altered = String::from_utf8(whole).unwrap().replace("a, b", "a, c");
        std::fs::write(&path, altered).unwrap();
        assert_eq!(s.read_sealed::<Note>(&path).unwrap(), None, "checksum");
        std::fs::write(&path, br#"{"text": "from an older version"}"#).unwrap();
        assert!(s.read_sealed::<Note>(&path).unwrap().is_some(), "unsealed");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(s.read_sealed::<Note>(&path).unwrap(), None);
    }
}
