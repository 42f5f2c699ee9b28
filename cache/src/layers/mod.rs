//! Layers: an immutable snapshot directory (overlayfs lower dir) plus a
//! record tying it to its diff_id and to the compressed blobs known for it.
//! Layers are made from a sandbox's upper dir ([`Store::commit_upper`]) or
//! from a registry layer tar ([`Store::import_layer`]). Snapshots are not
//! flushed when installed; [`durable`] says why that is safe.

mod clamp;
mod durable;
mod entrymeta;
mod flat;
mod linktree;
mod marks;
mod midstate;
pub(crate) mod pack;
mod tarhdr;
pub(crate) mod unpack;
pub(crate) mod xattr;

#[cfg(test)]
mod durable_tests;
#[cfg(test)]
mod flat_tests;
#[cfg(test)]
mod tests;

pub use clamp::clamp_mtimes;
pub(crate) use durable::current_boot_id;
pub use linktree::link_tree;
pub use marks::{Mark, Marks};
pub use midstate::walk_order;

use crate::blobs::HashingReader;
use crate::error::{io_err, StoreError};
use crate::fsutil::{fsync_dir, remove_tree, unique_name};
use crate::store::Store;
use crate::tarlimit::{Metered, HEADER_BUDGET};
use durable::{sync_tree, verify_tree, DirLock};
use mybuild_graph::Digest;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A compressed form of a layer stored as a blob (e.g. the registry's gzip).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompressedBlob {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// What the store knows about one layer, kept in `layers/<hex>.json`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerRecord {
    pub diff_id: Digest,
    /// Size of the uncompressed layer tar.
    pub size: u64,
    /// Directory name under `snapshots/`.
    pub snapshot: String,
    pub compressed: Vec<CompressedBlob>,
    /// When this store first made the layer (Unix seconds). Images take
    /// their `created` times from it, so a rebuild that hits the cache
    /// yields the very same image id, as with BuildKit.
    #[serde(default)]
    pub created: Option<u64>,
    /// The boot (kernel boot_id) that wrote the snapshot. Absent in
    /// records of older versions, which synced every snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// Whether the snapshot is known to be on disk: synced when installed,
    /// or verified and fsynced after a reboot. Records without the field
    /// (older versions, which synced every snapshot) are synced.
    #[serde(default = "synced_by_default")]
    pub synced: bool,
    /// What the snapshot packs to when that is not the layer tar itself
    /// (imported layers): what verification after a reboot compares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed: Option<Packed>,
    /// The compressed blob the layer came into the store as (a pull,
    /// `load`, `--cache-from`), which exports keep unless forced to another
    /// compression; layers built here have none. Absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrived_as: Option<Digest>,
    /// The record's own checksum (`cache/src/sealed.rs`): a record is written
    /// without fsync when its snapshot is, and one torn by a power cut
    /// then reads as absent. Absent in records of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl crate::sealed::Sealed for LayerRecord {
    fn checksum_mut(&mut self) -> &mut Option<String> {
        &mut self.checksum
    }
}

/// The digest and size of a snapshot's layer tar as packing it again writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Packed {
    pub digest: Digest,
    pub size: u64,
}

fn synced_by_default() -> bool {
    true
}

impl LayerRecord {
    /// Whether the snapshot may be used without verification in boot
    /// `boot`: it is on disk, or this very boot wrote it (then the page
    /// cache holds whatever has not reached the disk yet).
    fn trusted_in(&self, boot: Option<&str>) -> bool {
        self.synced || (self.boot_id.is_some() && self.boot_id.as_deref() == boot)
    }

    /// Whether the record must reach the disk when written: when its
    /// snapshot is known to be there. An unsynced snapshot's record is
    /// worth no more than the snapshot, which another boot verifies.
    fn needs_sync(&self) -> bool {
        self.synced || self.boot_id.is_none()
    }

    /// The fields that tell one install of a layer from another.
    fn install_state(&self) -> (&str, Option<&str>, bool) {
        (&self.snapshot, self.boot_id.as_deref(), self.synced)
    }
}

/// Short, fixed-length snapshot names keep overlay's mount options short.
fn snapshot_name(diff_id: &Digest) -> String {
    snapshot_name_of_hex(diff_id.hex())
}

/// [`snapshot_name`] from a diff_id's hex (a record's file name).
pub(crate) fn snapshot_name_of_hex(hex: &str) -> String {
    hex.chars().take(16).collect()
}

impl Store {
    fn record_path(&self, diff_id: &Digest) -> PathBuf {
        self.layers_dir().join(format!("{}.json", diff_id.hex()))
    }

    /// The record of a layer; `None` when there is none or it is torn.
    pub fn layer_record(&self, diff_id: &Digest) -> Result<Option<LayerRecord>, StoreError> {
        let rec: Option<LayerRecord> = self.read_sealed(&self.record_path(diff_id))?;
        Ok(rec.filter(|r| &r.diff_id == diff_id))
    }

    fn write_record(&self, rec: &LayerRecord) -> Result<(), StoreError> {
        self.write_sealed(&self.record_path(&rec.diff_id), rec, rec.needs_sync())
    }

    /// Every layer record in the store, sorted by diff_id. Unreadable or
    /// misnamed records are skipped: they never make a layer exist.
    pub fn layer_records(&self) -> Result<Vec<LayerRecord>, StoreError> {
        let mut out = Vec::new();
        for path in crate::store::list(&self.layers_dir())? {
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let Ok(Some(rec)) = self.read_sealed::<LayerRecord>(&path) else {
                continue;
            };
            if path.file_stem().is_some_and(|s| *s == *rec.diff_id.hex()) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// The snapshot of a layer, only once both it and its record are
    /// complete and the snapshot is known intact: one another boot wrote
    /// unsynced is verified first, and dropped if that fails. Every use of
    /// a snapshot (cache hits, lower dirs, exports, pushes) asks here.
    pub fn snapshot_dir(&self, diff_id: &Digest) -> Option<PathBuf> {
        if let Some(dir) = self.trusted_snapshot(diff_id) {
            return Some(dir);
        }
        let rec = self.layer_record(diff_id).ok()??;
        let dir = self.snapshots_root().join(&rec.snapshot);
        if !dir.is_dir() {
            return None;
        }
        let found = if rec.trusted_in(self.boot_id()) {
            Some(dir)
        } else {
            self.verify_snapshot(diff_id, &dir).ok().flatten()
        };
        if let Some(dir) = &found {
            self.remember_trusted(diff_id, dir);
        }
        found
    }

    /// Verifies an untrusted snapshot under its directory's lock, then
    /// marks it synced or drops it. Every decision is taken under the
    /// metadata lock, and only if the record still describes the install
    /// that was verified (another process may have replaced it meanwhile).
    fn verify_snapshot(&self, diff_id: &Digest, dir: &Path) -> Result<Option<PathBuf>, StoreError> {
        let _dir_lock = DirLock::acquire(dir)?;
        // Whoever held the lock before may have settled it already.
        let Some(rec) = self.layer_record(diff_id)? else {
            return Ok(None);
        };
        if rec.trusted_in(self.boot_id()) {
            return Ok(dir.is_dir().then(|| dir.to_path_buf()));
        }
        let (digest, size) = rec
            .packed
            .as_ref()
            .map_or((diff_id, rec.size), |p| (&p.digest, p.size));
        let intact = verify_tree(dir, digest, size).and_then(|()| sync_tree(dir));
        let lock = self.lock_metadata()?;
        let Some(mut now) = self.layer_record(diff_id)? else {
            return Ok(None);
        };
        if now.install_state() != rec.install_state() {
            return Ok((now.trusted_in(self.boot_id()) && dir.is_dir()).then(|| dir.to_path_buf()));
        }
        if intact.is_ok() {
            now.synced = true;
            self.write_record(&now)?;
            return Ok(Some(dir.to_path_buf()));
        }
        // Lost pages or metadata: the record goes first, so the layer stops
        // existing before its directory does.
        let record = self.record_path(diff_id);
        fs::remove_file(&record).map_err(io_err("remove", &record))?;
        fsync_dir(&self.layers_dir()).map_err(io_err("fsync", &self.layers_dir()))?;
        let stale = self.tmp_dir().join(unique_name("bad-"));
        fs::rename(dir, &stale).map_err(io_err("move aside", dir))?;
        drop(lock);
        let _ = remove_tree(&stale);
        Ok(None)
    }

    /// Remembers another compressed form of a layer, so it is never
    /// recompressed. No-op if the layer is unknown or already has it.
    pub fn add_compressed(&self, diff_id: &Digest, blob: CompressedBlob) -> Result<(), StoreError> {
        let _lock = self.lock_metadata()?;
        let Some(mut rec) = self.layer_record(diff_id)? else {
            return Ok(());
        };
        if rec.compressed.iter().any(|c| c.digest == blob.digest) {
            return Ok(());
        }
        rec.compressed.push(blob);
        self.write_record(&rec)
    }

    /// Makes an unmounted overlay upper dir a layer: the dir itself becomes
    /// the snapshot, and only the digest of its tar is kept. Packing is
    /// deterministic, so [`Store::layer_tar`] makes the same bytes again
    /// when an export or push needs them, and a build writes its data once.
    pub fn commit_upper(&self, upper: &Path) -> Result<Digest, StoreError> {
        let mut sink = crate::blobs::PipelinedHashingSink::new();
        pack::write_layer(upper, &mut sink).map_err(|source| StoreError::Pack {
            upper: upper.into(),
            source,
        })?;
        let (diff_id, size) = sink.finish().map_err(io_err("hash the layer of", upper))?;
        self.install_snapshot(upper, &diff_id, size, Vec::new(), true)?;
        Ok(diff_id)
    }

    /// The layer's uncompressed tar as a stream, for the caller to verify
    /// against the diff_id: its stored tar, else a stored compressed form
    /// decompressed, else packed again from the snapshot.
    pub fn layer_tar(&self, diff_id: &Digest) -> Result<Box<dyn Read + Send>, StoreError> {
        if self.has_blob(diff_id) {
            let f = self.open_blob(diff_id)?;
            return Ok(Box::new(io::BufReader::new(f)));
        }
        let rec = self
            .layer_record(diff_id)?
            .ok_or_else(|| StoreError::BlobMissing {
                digest: diff_id.clone(),
            })?;
        let stored = rec.compressed.iter().find_map(|c| {
            let kind = crate::LayerCompression::of_media_type(&c.media_type)?;
            self.has_blob(&c.digest).then_some((c, kind))
        });
        if let Some((c, kind)) = stored {
            let f = self.open_blob(&c.digest)?;
            let path = self.blob_path(&c.digest);
            return kind.decoder(f).map_err(io_err("decompress", &path));
        }
        let dir = self
            .snapshot_dir(diff_id)
            .ok_or_else(|| StoreError::BlobMissing {
                digest: diff_id.clone(),
            })?;
        let (reader, writer) = io::pipe().map_err(io_err("pipe for", &dir))?;
        // A failed pack closes the pipe early: the reader's digest check
        // then refuses the stream.
        std::thread::spawn(move || {
            let out = BufWriter::with_capacity(1 << 20, writer);
            if let Ok(mut out) = pack::write_layer(&dir, out) {
                let _ = out.flush();
            }
        });
        Ok(Box::new(reader))
    }

    /// Unpacks an uncompressed layer tar stream into a new snapshot. The
    /// diff_id is computed from the stream. `compressed` is the registry blob
    /// the stream came from (already stored by the caller); without it the
    /// uncompressed tar itself is kept as a blob, so the layer can be exported.
    pub fn import_layer(
        &self,
        tar: impl Read,
        compressed: Option<CompressedBlob>,
    ) -> Result<Digest, StoreError> {
        let tmp = TempTree(self.tmp_dir().join(unique_name("imp-")));
        fs::create_dir(&tmp.0).map_err(io_err("create", &tmp.0))?;
        let mut ingest = if compressed.is_none() {
            Some(self.ingest()?)
        } else {
            None
        };
        let tee = Tee {
            inner: tar,
            copy: ingest.as_mut(),
        };
        let (metered, meter) = Metered::new(HashingReader::new(tee), HEADER_BUDGET);
        let mut archive = tar::Archive::new(metered);
        unpack::unpack(&mut archive, &meter, &tmp.0)
            .map_err(|source| StoreError::Unpack { source })?;
        let (diff_id, size) = archive
            .into_inner()
            .into_inner()
            .finish()
            .map_err(io_err("read layer tar into", &tmp.0))?;
        if let Some(ingest) = ingest {
            ingest.commit(Some(&diff_id))?;
        }
        let compressed = compressed.into_iter().collect();
        self.install_snapshot(&tmp.0, &diff_id, size, compressed, false)?;
        Ok(diff_id)
    }

    /// Moves a finished directory into `snapshots/` and writes its record.
    /// Neither is flushed: the record names this boot, in which the page
    /// cache is the truth, another boot verifies the snapshot before using
    /// it ([`Store::snapshot_dir`]), and a record torn by a power cut reads
    /// as absent. Without a boot id both are made durable, so the record
    /// always means a whole snapshot. `packs_to_diff_id` says `dir` packs to the diff_id (it
    /// was just packed to compute it); otherwise its digest is recorded.
    fn install_snapshot(
        &self,
        dir: &Path,
        diff_id: &Digest,
        size: u64,
        compressed: Vec<CompressedBlob>,
        packs_to_diff_id: bool,
    ) -> Result<(), StoreError> {
        let (synced, packed) = self.make_verifiable(dir, diff_id, packs_to_diff_id)?;
        // An earlier boot's unsynced install is settled first (verified or
        // dropped), so a trusted record below means an intact snapshot.
        let _ = self.snapshot_dir(diff_id);
        let name = snapshot_name(diff_id);
        let target = self.snapshots_root().join(&name);
        let _lock = self.lock_metadata()?;
        let existing = self.layer_record(diff_id)?;
        let trusted = existing
            .as_ref()
            .is_some_and(|r| r.trusted_in(self.boot_id()));
        if trusted && target.is_dir() {
            drop(_lock);
            // Off the step's path: a big duplicate (a `--no-cache` rebuild)
            // takes a while to delete. Moved aside first, so `dir` is free.
            let stale = self.tmp_dir().join(unique_name("dup-"));
            fs::rename(dir, &stale).map_err(io_err("discard duplicate snapshot", dir))?;
            self.remove_later(move || drop(remove_tree(&stale)));
            return Ok(());
        }
        if target.exists() {
            // Left by a crash before its record was written, or an earlier
            // boot's snapshot that could not be verified: not trusted.
            let stale = self.tmp_dir().join(unique_name("stale-"));
            fs::rename(&target, &stale).map_err(io_err("move aside", &target))?;
            let _ = remove_tree(&stale);
        }
        // No fsync of snapshots/: a rename lost to a power cut leaves a
        // record without its directory, which is a missing layer.
        fs::rename(dir, &target).map_err(io_err("rename snapshot into", &target))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // Only an import passes a compressed blob: the one it came as.
        let arrived_as = existing
            .as_ref()
            .and_then(|r| r.arrived_as.clone())
            .or_else(|| compressed.first().map(|c| c.digest.clone()));
        let mut rec = LayerRecord {
            diff_id: diff_id.clone(),
            size,
            snapshot: name,
            compressed,
            arrived_as,
            created: existing.as_ref().and_then(|r| r.created).or(Some(now)),
            boot_id: self.boot_id().map(str::to_string),
            synced,
            packed,
            checksum: None,
        };
        for old in existing.into_iter().flat_map(|r| r.compressed) {
            if !rec.compressed.iter().any(|c| c.digest == old.digest) {
                rec.compressed.push(old);
            }
        }
        self.write_record(&rec)
    }
}

impl Store {
    /// Makes sure another boot can trust or verify the snapshot in `dir`:
    /// says whether it was synced, and what it packs to if not the diff_id.
    /// It is synced (the old way) only when verification is impossible:
    /// no boot id, or an imported tree that cannot be packed.
    fn make_verifiable(
        &self,
        dir: &Path,
        diff_id: &Digest,
        packs_to_diff_id: bool,
    ) -> Result<(bool, Option<Packed>), StoreError> {
        if self.boot_id().is_some() && packs_to_diff_id {
            return Ok((false, None));
        }
        if self.boot_id().is_some() {
            if let Ok((digest, size)) = durable::pack_digest(dir) {
                let packed = (digest != *diff_id).then_some(Packed { digest, size });
                return Ok((false, packed));
            }
        }
        sync_filesystem(dir)?;
        Ok((true, None))
    }
}

fn sync_filesystem(dir: &Path) -> Result<(), StoreError> {
    let f = fs::File::open(dir).map_err(io_err("open", dir))?;
    nix::unistd::syncfs(&f).map_err(|e| io_err("syncfs", dir)(e.into()))
}

/// A directory removed on drop unless it was renamed away.
struct TempTree(PathBuf);

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = remove_tree(&self.0);
    }
}

/// Copies everything read into an optional writer.
struct Tee<'a, R, W> {
    inner: R,
    copy: Option<&'a mut W>,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(w) = self.copy.as_mut() {
            w.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}
