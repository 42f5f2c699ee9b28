//! Dropping directories that only reached `upper` because a mount-point
//! stub was created in them (overlay copies a lower dir up before adding an
//! entry). Without this every RUN layer of an image lacking
//! /etc/resolv.conf would carry a spurious `etc/` entry.
//!
//! Runs on `upper` directly once the command is gone. It is
//! best-effort by design: when in doubt (symlinks on the way, changed mode
//! or owner, entries, user xattrs, an opaque marker) the dir stays, which is
//! what the layer would contain without pruning anyway.

use super::stubs::DirMeta;
use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Removes each of `dirs` (root-relative) from `upper` if it is an
/// unchanged, empty copy-up. Deepest first, so emptied parents go too.
pub(super) fn prune_copy_ups(upper: &Path, dirs: &[(String, DirMeta)]) {
    let mut dirs: Vec<&(String, DirMeta)> = dirs.iter().collect();
    dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.matches('/').count()));
    for (path, before) in dirs {
        let _ = prune_one(upper, path, before);
    }
}

fn prune_one(upper: &Path, path: &str, before: &DirMeta) -> Result<(), Errno> {
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let upper_fd = nix::fcntl::open(
        upper,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let parent_fd = open_beneath(
        &upper_fd,
        if parent.is_empty() { "." } else { parent },
        OFlag::O_PATH,
    )?;
    let dir = open_beneath(&parent_fd, name, OFlag::O_RDONLY)?;
    let st = nix::sys::stat::fstat(&dir)?;
    let unchanged = st.st_mode == before.mode && st.st_uid == before.uid && st.st_gid == before.gid;
    if !unchanged || !is_empty(&dir) || !only_overlay_xattrs(&dir) {
        return Ok(());
    }
    unlinkat(&parent_fd, name, UnlinkatFlags::RemoveDir)
}

fn open_beneath(dir: &OwnedFd, path: &str, flags: OFlag) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        .resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
    openat2(dir, path, how)
}

fn is_empty(dir: &OwnedFd) -> bool {
    std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))
        .is_ok_and(|mut rd| rd.next().is_none())
}

/// True when the dir carries no xattrs but overlay's own bookkeeping
/// (`trusted.overlay.origin`, `impure`..., `user.overlay.` rootless); an
/// opaque dir hides the lower.
fn only_overlay_xattrs(dir: &OwnedFd) -> bool {
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its full length during the call.
    let n = unsafe { libc::flistxattr(dir.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return false;
    }
    buf[..n as usize]
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .all(|name| {
            name.starts_with(mybuild_cache::overlay_xattr_prefix().as_bytes())
                && name != mybuild_cache::opaque_xattr().as_bytes()
        })
}
