//! Changing the flags of a bind mount just placed inside the step's root
//! (read-only, nodev...), shared by the fixed mounts and RUN's own mounts.

use super::rootpath::{fd_path, open_in_root};
use super::status::{SetupError, StepExt};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use std::os::fd::OwnedFd;

/// Makes the mount just placed at `path` (in `root`) read-only, with
/// `extra` flags. Remounting needs the new mount itself, not what it
/// covers, so the path is opened again.
pub(super) fn remount_readonly(
    root: &OwnedFd,
    path: &str,
    extra: MsFlags,
) -> Result<(), SetupError> {
    remount(root, path, MsFlags::MS_RDONLY | extra)
}

/// Sets `flags` on the bind mount just placed at `path` (in `root`).
pub(super) fn remount(root: &OwnedFd, path: &str, flags: MsFlags) -> Result<(), SetupError> {
    let step = || format!("remount /{} {flags:?}", path.trim_start_matches('/'));
    let bound = open_in_root(root, path, OFlag::O_PATH).step(step)?;
    mount(
        None::<&str>,
        fd_path(&bound).as_str(),
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None::<&str>,
    )
    .step(step)
}
