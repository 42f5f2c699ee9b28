//! Shared by the archive targets: a scratch directory per input, a guard
//! on how much a run may write, and a record of a directory tree to check
//! that nothing outside the extraction directory changed.
// Each target uses only part of this.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// Where scratch trees go: `$MYBUILD_FUZZ_TMP`, else `/dev/shm` (tmpfs, so
/// millions of inputs cost no disk writes), else the system temp dir.
pub fn scratch_parent() -> PathBuf {
    if let Some(dir) = std::env::var_os("MYBUILD_FUZZ_TMP") {
        return dir.into();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        return shm.into();
    }
    std::env::temp_dir()
}

/// A fresh directory for one input, removed when dropped.
pub fn scratch(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(scratch_parent())
        .expect("create scratch dir")
}

/// The largest file a run may write. An archive can make the extractor
/// write far more than it holds (holes of a sparse entry); on tmpfs that is
/// memory, shared with everything else on the machine. Past this size a
/// write fails with EFBIG (an error, not a finding); the targets check
/// themselves what was written.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Sets `RLIMIT_FSIZE` to [`MAX_FILE_BYTES`], with `SIGXFSZ` ignored so an
/// oversized write returns EFBIG instead of killing the process.
pub fn limit_file_size() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let lim = libc::rlimit {
            rlim_cur: MAX_FILE_BYTES,
            rlim_max: MAX_FILE_BYTES,
        };
        // SAFETY: plain syscalls on values we own.
        unsafe {
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0, "setrlimit");
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
    });
}

/// What a tree holds: per relative path, its type and permission bits,
/// owner, link count, size, mtime, and its bytes or link target.
pub type Tree = BTreeMap<PathBuf, (u32, u32, u32, u64, u64, i64, Vec<u8>)>;

/// Records `dir` and everything under it, not following symlinks.
pub fn record(dir: &Path) -> Tree {
    let mut out = Tree::new();
    walk(dir, Path::new(""), &mut out);
    out
}

fn walk(base: &Path, rel: &Path, out: &mut Tree) {
    let path = base.join(rel);
    let m = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("stat {path:?}: {e}"));
    let body = if m.file_type().is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        fs::read_link(&path)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec()
    } else if m.is_file() {
        fs::read(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"))
    } else {
        Vec::new()
    };
    out.insert(
        rel.to_path_buf(),
        (
            m.mode(),
            m.uid(),
            m.gid(),
            m.nlink(),
            m.size(),
            m.mtime(),
            body,
        ),
    );
    if m.is_dir() {
        let mut names: Vec<_> = fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            walk(base, &rel.join(name), out);
        }
    }
}

/// Bytes allocated to the regular files under `dir` (holes are free), each
/// inode once. Directories and symlinks are left out: what they take
/// depends on the filesystem, and an archive cannot inflate them.
pub fn allocated(dir: &Path) -> u64 {
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        if m.is_file() && seen.insert(m.ino()) {
            total += m.blocks() * 512;
        }
        if m.is_dir() {
            if let Ok(rd) = fs::read_dir(&path) {
                stack.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
    }
    total
}
