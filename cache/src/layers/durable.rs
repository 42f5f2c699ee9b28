//! Snapshot durability without `syncfs`: the checks behind
//! [`crate::Store::snapshot_dir`]. A snapshot is installed without being
//! flushed to disk, and its record names the boot (the kernel's boot_id)
//! that wrote it. In that boot the page cache is the truth (a crashed
//! process loses nothing), so the snapshot is trusted. After a reboot its
//! unwritten pages may be gone, so before first use it is packed again and
//! its digest compared with the diff_id (or, for an imported layer, with
//! the digest it packed to when installed): that proves every byte and all
//! the metadata a layer carries. A match is fsynced file by file and marked
//! synced; anything else is dropped, and the step that made it runs again.

use super::pack;
use crate::blobs::HashingSink;
use crate::error::{io_err, StoreError};
use crate::fsutil::flock;
use mybuild_graph::Digest;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// This boot's id; `None` where the kernel does not say (then every
/// snapshot is synced when installed, as nothing tells boots apart).
pub(crate) fn current_boot_id() -> Option<String> {
    let id = fs::read_to_string(BOOT_ID).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The digest and size of `dir`'s layer tar, packed again.
pub(super) fn pack_digest(dir: &Path) -> Result<(Digest, u64), StoreError> {
    let sink = BufWriter::with_capacity(1 << 20, HashingSink::new());
    let sink = pack::write_layer(dir, sink).map_err(|source| StoreError::Pack {
        upper: dir.into(),
        source,
    })?;
    let sink = sink
        .into_inner()
        .map_err(|e| io_err("hash", dir)(e.into_error()))?;
    Ok(sink.finish())
}

/// Packs `dir` again and checks the tar against what it packed to when
/// installed: the diff_id itself for built layers, a digest of its own
/// for imported ones (a registry's tar rarely packs back byte for byte).
pub(super) fn verify_tree(dir: &Path, expected: &Digest, size: u64) -> Result<(), StoreError> {
    let (actual, actual_size) = pack_digest(dir)?;
    if actual != *expected || actual_size != size {
        return Err(StoreError::DigestMismatch {
            what: format!(
                "snapshot {} ({actual_size} bytes, expected {size})",
                dir.display()
            ),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(())
}

/// fsyncs every directory and regular file under `dir` (symlinks and
/// device nodes live in their directory's metadata). Per file, unlike
/// `syncfs`, so other programs' dirty pages are not waited for.
pub(super) fn sync_tree(dir: &Path) -> Result<(), StoreError> {
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let path = entry.map_err(io_err("list", dir))?.path();
        let meta = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
        if meta.is_dir() {
            sync_tree(&path)?;
        } else if meta.is_file() {
            open_nofollow(&path)
                .and_then(|f| f.sync_all())
                .map_err(io_err("fsync", &path))?;
        }
    }
    open_nofollow(dir)
        .and_then(|f| f.sync_all())
        .map_err(io_err("fsync", dir))
}

fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// An exclusive `flock` on a snapshot directory, so two builds (or two
/// steps of one) verify a snapshot once, not side by side.
pub(super) struct DirLock(File);

impl DirLock {
    pub(super) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let f = open_nofollow(dir).map_err(io_err("open", dir))?;
        flock(&f, libc::LOCK_EX).map_err(io_err("lock", dir))?;
        Ok(DirLock(f))
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Explicitly, as FileLock does: a helper being spawned may share the
        // descriptor until its exec closes it.
        let _ = flock(&self.0, libc::LOCK_UN);
    }
}
