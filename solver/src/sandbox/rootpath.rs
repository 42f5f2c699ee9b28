//! Path resolution confined to a root filesystem. A layer may contain
//! symlinks such as `/proc -> /host`; resolving with `RESOLVE_IN_ROOT`
//! keeps every mount target and stub inside the step's rootfs.

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Opens `path` inside `root`, treating `root` as `/` for every symlink.
pub(super) fn open_in_root(root: impl AsFd, path: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, rel, how)
}

/// A path naming exactly the file behind `fd`, usable as a `mount(2)`
/// target without the kernel resolving the original path again.
pub(super) fn fd_path(fd: &impl AsRawFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens a directory (or the root itself) as an `O_PATH` handle.
pub(super) fn open_dir_path(path: &std::path::Path) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
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
        assert_eq!(
            open_in_root(&fd, "escape/etc/passwd", OFlag::O_PATH).err(),
            Some(Errno::ENOENT)
        );
    }
}
