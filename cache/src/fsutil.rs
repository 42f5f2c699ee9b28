//! Small filesystem helpers shared by the store: crash-safe writes, directory
//! fsync, a cross-process lock and a removal that copes with hostile trees.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static UNIQUE: AtomicU64 = AtomicU64::new(0);

/// A name no other thread or process of this store will pick at the same time.
pub(crate) fn unique_name(prefix: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{}-{n}-{nanos:08x}", std::process::id())
}

/// Makes a rename or create inside `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` so that readers see either the old or the new
/// content, never a torn file, even across a crash.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_renamed(path, bytes, true)
}

/// Writes `bytes` to a temp file renamed to `path`: other processes see
/// the old or the new content, never a part. Only with `sync` does that
/// hold across a power cut (two fsyncs); without, the file may then be
/// missing, empty or torn, so its readers must check it (`sealed`).
pub(crate) fn write_renamed(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(".tmp-"));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if sync {
            fsync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a file, mapping "does not exist" to `None`.
pub(crate) fn read_optional(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// An exclusive `flock` held until drop. Each holder opens the file itself,
/// so threads of one process exclude each other as well as other processes.
/// Public (`mybuild_cache::FileLock`) so the solver locks the same way.
pub struct FileLock {
    _file: File,
}

impl FileLock {
    /// Waits for the lock on `path` (created if missing, never truncated).
    pub fn acquire(path: &Path) -> io::Result<FileLock> {
        let file = open_lock_file(path)?;
        flock(&file, libc::LOCK_EX)?;
        Ok(FileLock { _file: file })
    }

    /// Takes the lock on `path` if no one holds it; `None` if someone does.
    pub fn try_acquire(path: &Path) -> io::Result<Option<FileLock>> {
        let file = open_lock_file(path)?;
        let taken = flock(&file, libc::LOCK_EX | libc::LOCK_NB)?;
        Ok(taken.then_some(FileLock { _file: file }))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Released explicitly, not only on close: a sandbox helper being
        // spawned may briefly share the descriptor (until its exec closes
        // it), and flock belongs to the open file, not to this descriptor.
        let _ = flock(&self._file, libc::LOCK_UN);
    }
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// `flock(op)`, retried on EINTR. `Ok(false)` when a non-blocking request
/// would have to wait.
pub fn flock(file: &File, op: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(true);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(err),
        }
    }
}

/// Detaches whatever is mounted at `path`, so a later recursive delete can
/// never reach into a mounted filesystem.
pub(crate) fn detach_mount(path: &Path) {
    if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: valid NUL-terminated path; failure (nothing mounted) is fine.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH | libc::UMOUNT_NOFOLLOW) };
    }
}

/// Removes a tree that may hold 000-mode directories (overlay's `work/work`),
/// device nodes and files owned by anyone.
pub(crate) fn remove_tree(path: &Path) -> io::Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    make_dirs_writable(path);
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Without CAP_DAC_OVERRIDE a 000 directory cannot be listed or emptied.
fn make_dirs_writable(path: &Path) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(path) {
        let children: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        for child in children {
            make_dirs_writable(&child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_tree_handles_locked_dirs_and_devices() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("t");
        fs::create_dir_all(root.join("work/work/inner")).unwrap();
        fs::write(root.join("work/work/inner/f"), b"x").unwrap();
        let dev = CString::new(root.join("wh").as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path.
        let rc = unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o600, 0) };
        assert_eq!(rc, 0);
        fs::set_permissions(
            root.join("work/work/inner"),
            fs::Permissions::from_mode(0o000),
        )
        .unwrap();
        fs::set_permissions(root.join("work/work"), fs::Permissions::from_mode(0o000)).unwrap();
        remove_tree(&root).unwrap();
        assert!(!root.exists());
    }

    #[test]
    fn write_atomic_replaces_content() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn file_lock_excludes_other_holders() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("x.lock");
        let held = FileLock::acquire(&p).unwrap();
        assert!(FileLock::try_acquire(&p).unwrap().is_none());
        drop(held);
        let again = FileLock::try_acquire(&p).unwrap();
        assert!(again.is_some());
    }
}
