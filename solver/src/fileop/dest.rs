//! Destination-side helpers: open directories by real path, create missing
//! parents (`MkdirAll` with an owner) and set metadata on new entries.

use super::at;
use super::owner::Ids;
use super::resolve::{self, Resolved};
use super::stat::Stat;
use nix::fcntl::OFlag;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

/// An open destination directory and its real path inside the root.
pub(crate) struct DestDir {
    pub fd: OwnedFd,
    pub real: Vec<OsString>,
}

impl DestDir {
    pub(crate) fn path_of(&self, name: &OsStr) -> PathBuf {
        resolve::join(&self.real).join(name)
    }

    pub(crate) fn child(&self, name: &OsStr) -> io::Result<DestDir> {
        let fd = at::open_beneath(
            self.fd.as_fd(),
            name.as_ref(),
            OFlag::O_PATH | OFlag::O_DIRECTORY,
        )?;
        let mut real = self.real.clone();
        real.push(name.to_os_string());
        Ok(DestDir { fd, real })
    }
}

/// The parent of a resolved path (which must not be the root itself).
pub(crate) fn parent_of(res: &Resolved) -> Resolved {
    let n = res.comps.len().saturating_sub(1);
    Resolved {
        comps: res.comps[..n].to_vec(),
        existing: res.existing.min(n),
        links: Vec::new(),
    }
}

/// Creates every missing directory of `res` with `mode` (existing ones are
/// left alone) and opens the last one, as BuildKit's `MkdirAll` does: a new
/// directory is chowned to `owner` when one is given, else it stays as root
/// made it, so in a setgid parent it takes the parent's group; either way
/// it keeps the setgid bit such a parent hands down.
pub(crate) fn mkdir_resolved(
    root: BorrowedFd,
    res: &Resolved,
    mode: u32,
    owner: Option<Ids>,
) -> io::Result<DestDir> {
    let fd = resolve::open_dir(root, &res.comps[..res.existing])?;
    let mut dir = DestDir {
        fd,
        real: res.comps[..res.existing].to_vec(),
    };
    for name in &res.comps[res.existing..] {
        match at::mkdir_at(dir.fd.as_fd(), name, 0o700) {
            Ok(()) => {
                if let Some(ids) = owner {
                    at::chown_at(dir.fd.as_fd(), name, ids.uid, ids.gid)?;
                }
                let inherited =
                    at::lstat_at(dir.fd.as_fd(), name)?.map_or(0, |st| st.st_mode & libc::S_ISGID);
                at::chmod_at(dir.fd.as_fd(), name, mode | inherited)?;
            }
            // Lost a race with a concurrent creator: fine if it is a directory.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        dir = dir.child(name)?;
    }
    Ok(dir)
}

/// `MkdirAll(path)` inside `root`, following existing symlinks inside it.
pub(crate) fn mkdir_all(
    root: BorrowedFd,
    path: &str,
    mode: u32,
    owner: Option<Ids>,
) -> io::Result<DestDir> {
    let res = resolve::resolve(root, path, true)?;
    mkdir_resolved(root, &res, mode, owner)
}

/// Ownership, permission bits and times for one new entry (Docker's
/// `copyFileInfo`): chown first, because chown clears setuid bits.
pub(crate) fn set_meta(
    dir: BorrowedFd,
    name: &OsStr,
    ids: Ids,
    mode: u32,
    times: &Stat,
) -> io::Result<()> {
    at::chown_at(dir, name, ids.uid, ids.gid)?;
    if times.st_mode & libc::S_IFMT != libc::S_IFLNK {
        at::chmod_at(dir, name, mode)?;
    }
    at::set_times_at(
        dir,
        name,
        (times.st_atime, times.st_atime_nsec),
        (times.st_mtime, times.st_mtime_nsec),
    )
}

/// Permission bits for a copied entry: the source's, with `--chmod`
/// replacing the rwx bits (special bits stay, as in BuildKit's copier).
pub(crate) fn effective_mode(src_mode: u32, chmod: Option<u32>) -> u32 {
    let perm = src_mode & 0o7777;
    match chmod {
        Some(m) => (perm & !0o777) | (m & 0o777),
        None => perm,
    }
}
