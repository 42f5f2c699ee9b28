//! Path resolution confined to a root filesystem. A layer may contain
//! symlinks such as `/proc -> /host`; resolving with `RESOLVE_IN_ROOT`
//! keeps every mount target and stub inside the step's rootfs.

use crate::fileop::at;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// Opens `path` inside `root`, treating `root` as `/` for every symlink
/// (the one resolver file ops use too, taking the sandbox's `&str` paths).
pub(super) fn open_in_root(root: impl AsFd, path: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    at::open_in_root_errno(root.as_fd(), Path::new(path), flags)
}

/// A path naming exactly the file behind `fd`, usable as a `mount(2)`
/// target without the kernel resolving the original path again.
pub(super) fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens a directory (or the root itself) as an `O_PATH` handle.
pub(super) fn open_dir_path(path: &Path) -> Result<OwnedFd, Errno> {
    at::open_root_errno(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("inside")).unwrap();
        std::os::unix::fs::symlink("/", root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../../..", root.join("inside/up")).unwrap();
        let fd = open_dir_path(&root).unwrap();
        // "/escape/inside" only exists if "/" means the rootfs.
        assert!(open_in_root(&fd, "escape/inside", OFlag::O_PATH).is_ok());
        assert!(open_in_root(&fd, "inside/up/inside", OFlag::O_PATH).is_ok());
        // Absolute paths start at the root too, and "" or "/" is the root.
        assert!(open_in_root(&fd, "/escape/inside", OFlag::O_PATH).is_ok());
        assert!(open_in_root(&fd, "/", OFlag::O_PATH | OFlag::O_DIRECTORY).is_ok());
        assert!(open_in_root(&fd, "", OFlag::O_PATH | OFlag::O_DIRECTORY).is_ok());
        assert_eq!(
            open_in_root(&fd, "escape/etc/passwd", OFlag::O_PATH).err(),
            Some(Errno::ENOENT)
        );
    }
}
