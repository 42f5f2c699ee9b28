//! A new upper dir made from an installed snapshot without copying data:
//! directories are made anew (owner, mode, xattrs such as overlay's opaque
//! marker, and times copied), every other entry is a hard link to the
//! snapshot's inode. Used when a COPY runs again after a few context files
//! changed: only those are written, the rest is shared with the snapshot.
//!
//! A shared inode belongs to an immutable snapshot, so nothing may ever
//! write to it or change its metadata. That holds because the only writers
//! of a finished upper are [`crate::clamp_mtimes`], which leaves times at
//! or before its epoch alone (and the snapshot shared from was clamped to
//! the same epoch: it is the same step), and packing, which scrubs overlay
//! attributes the snapshot no longer has. Overlay itself copies a lower
//! file up before any change, so later steps write only their own inodes.

use crate::error::{io_err, StoreError};
use crate::layers::xattr;
use nix::fcntl::AtFlags;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::linkat;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Fills the empty directory `to` with the tree of `from` (a snapshot):
/// directories copied, the rest hard-linked. `skip(rel)` leaves out the
/// entry at `rel` (relative to `from`), for the caller to write itself.
pub fn link_tree(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) -> Result<(), StoreError> {
    link_dir(from, to, Path::new(""), skip)
}

fn link_dir(
    from: &Path,
    to: &Path,
    rel: &Path,
    skip: &dyn Fn(&Path) -> bool,
) -> Result<(), StoreError> {
    // Links are made relative to open directories: no path walk per file.
    let from_fd = fs::File::open(from).map_err(io_err("open", from))?;
    let to_fd = fs::File::open(to).map_err(io_err("open", to))?;
    for entry in fs::read_dir(from).map_err(io_err("list", from))? {
        let entry = entry.map_err(io_err("list", from))?;
        let name = entry.file_name();
        let child_rel = rel.join(&name);
        if skip(&child_rel) {
            continue;
        }
        let (src, dst) = (from.join(&name), to.join(&name));
        // The directory entry's type, never a followed symlink.
        let kind = entry.file_type().map_err(io_err("stat", &src))?;
        if kind.is_dir() {
            fs::create_dir(&dst).map_err(io_err("create", &dst))?;
            link_dir(&src, &dst, &child_rel, skip)?;
            copy_dir_meta(&src, &dst, &|_| true)?;
        } else {
            link_entry(&from_fd, &to_fd, &name, &dst)?;
        }
    }
    Ok(())
}

/// Hard-links the entry `name` of the open directory `from` into `to`
/// (`dst` is its path there, for errors). Without AT_SYMLINK_FOLLOW a
/// symlink is linked itself, never what it points to.
pub(super) fn link_entry(
    from: &fs::File,
    to: &fs::File,
    name: &std::ffi::OsStr,
    dst: &Path,
) -> Result<(), StoreError> {
    linkat(from, name, to, name, AtFlags::empty()).map_err(|e| io_err("hard-link", dst)(e.into()))
}

/// Owner, mode, the xattrs `keep` takes by name, and times of directory
/// `src` onto `dst`, times last (after its children were made).
pub(super) fn copy_dir_meta(
    src: &Path,
    dst: &Path,
    keep: &dyn Fn(&str) -> bool,
) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(src).map_err(io_err("stat", src))?;
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))
        .map_err(io_err("chown", dst))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io_err("chmod", dst))?;
    let xattrs = xattr::list(src).map_err(io_err("list xattrs of", src))?;
    for (name, value) in xattrs.into_iter().filter(|(n, _)| keep(n)) {
        xattr::set(dst, &name, &value).map_err(io_err("set xattr on", dst))?;
    }
    utimensat(
        nix::fcntl::AT_FDCWD,
        dst,
        &TimeSpec::new(meta.atime(), meta.atime_nsec()),
        &TimeSpec::new(meta.mtime(), meta.mtime_nsec()),
        UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| io_err("set the times of", dst)(e.into()))
}
