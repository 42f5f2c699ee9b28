//! `type=local`: the merged filesystem written into a directory, as
//! BuildKit's local exporter does (owners kept when running as root,
//! modes and modification times always, hard links kept). Confined to the
//! directory: every entry is made with an `*at` call on one name in a
//! directory fd this writer opened itself (`O_NOFOLLOW`), so no symlink,
//! from the image or already in the directory, is ever followed, and
//! nothing outside the directory is touched. What the directory already
//! holds at a name the image uses is replaced; the rest is left alone.

use super::error::RootfsError;
use super::merge::{Entry, Tree};
use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag};
use nix::sys::stat::{self, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{self, Gid, Uid, UnlinkatFlags};
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Writes `tree` into `dir`, creating it if missing.
pub fn write_dir(tree: &Tree, dir: &Path) -> Result<(), RootfsError> {
    let werr = |source| RootfsError::Write {
        path: dir.to_path_buf(),
        source,
    };
    fs::create_dir_all(dir).map_err(werr)?;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let root = fcntl::open(dir, flags, Mode::empty()).map_err(|e| werr(e.into()))?;
    let mut w = Writer {
        // Rootless, uid 0 is the user: the files stay theirs.
        as_root: unistd::geteuid().is_root() && !mybuild_cache::in_user_namespace(),
        links: HashMap::new(),
    };
    w.children(root.as_fd(), &tree.entries, dir)
}

struct Writer {
    /// Owners are kept only when the writer may set them.
    as_root: bool,
    /// The first file written for each multiply-linked inode of the image.
    links: HashMap<(u64, u64), File>,
}

fn io_at(path: &Path) -> impl FnOnce(Errno) -> RootfsError + '_ {
    move |e| RootfsError::Write {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

fn child_dir(parent: BorrowedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    fcntl::openat(parent, name, flags, Mode::empty())
}

impl Writer {
    fn children(
        &mut self,
        dir: BorrowedFd,
        entries: &BTreeMap<OsString, Entry>,
        path: &Path,
    ) -> Result<(), RootfsError> {
        for (name, e) in entries {
            self.one(dir, name, e, &path.join(name))?;
        }
        Ok(())
    }

    fn one(
        &mut self,
        parent: BorrowedFd,
        name: &OsStr,
        e: &Entry,
        path: &Path,
    ) -> Result<(), RootfsError> {
        let ft = e.meta.file_type();
        if ft.is_socket() {
            return Ok(()); // runtime state, as in a layer
        }
        make_room(parent, name, ft.is_dir()).map_err(io_at(path))?;
        if ft.is_dir() {
            match stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(io_at(path)(e)),
            }
            let fd = child_dir(parent, name).map_err(io_at(path))?;
            self.children(fd.as_fd(), &e.children, path)?;
        } else if e.meta.nlink() > 1 && self.link(parent, name, e).map_err(io_at(path))? {
            return Ok(()); // a hard link has its first path's metadata
        } else if ft.is_file() {
            return self.file(parent, name, e, path);
        } else if ft.is_symlink() {
            let target = fs::read_link(&e.source).map_err(|source| RootfsError::Read {
                path: e.source.clone(),
                source,
            })?;
            unistd::symlinkat(target.as_os_str(), parent, name).map_err(io_at(path))?;
        } else {
            let kind = SFlag::from_bits_truncate(e.meta.mode() & libc::S_IFMT);
            let mode = Mode::from_bits_truncate(e.meta.mode());
            stat::mknodat(parent, name, kind, mode, e.meta.rdev()).map_err(io_at(path))?;
        }
        self.finish(parent, name, e).map_err(io_at(path))
    }

    /// A regular file: created anew (`O_EXCL`, so nothing planted at the
    /// name can redirect it), filled, then given its owner, mode and time.
    fn file(
        &mut self,
        parent: BorrowedFd,
        name: &OsStr,
        e: &Entry,
        path: &Path,
    ) -> Result<(), RootfsError> {
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = fcntl::openat(parent, name, flags, Mode::from_bits_truncate(0o600))
            .map_err(io_at(path))?;
        let mut out = File::from(fd);
        let mut src = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&e.source)
            .map_err(|source| RootfsError::Read {
                path: e.source.clone(),
                source,
            })?;
        io::copy(&mut src, &mut out).map_err(|source| RootfsError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        self.finish(parent, name, e).map_err(io_at(path))?;
        if e.meta.nlink() > 1 {
            self.links.insert((e.meta.dev(), e.meta.ino()), out);
        }
        Ok(())
    }

    /// Links `name` to the file already written for the same inode; false
    /// when this is the inode's first path.
    fn link(&self, parent: BorrowedFd, name: &OsStr, e: &Entry) -> Result<bool, Errno> {
        let Some(first) = self.links.get(&(e.meta.dev(), e.meta.ino())) else {
            return Ok(false);
        };
        // The written file by its fd: no path inside the directory is
        // resolved again.
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", first.as_raw_fd()));
        unistd::linkat(parent, &by_fd, parent, name, AtFlags::AT_SYMLINK_FOLLOW)?;
        Ok(true)
    }

    /// Owner (as root), then mode (chown clears set-id bits), then times;
    /// never through a symlink.
    fn finish(&self, parent: BorrowedFd, name: &OsStr, e: &Entry) -> Result<(), Errno> {
        let nofollow = AtFlags::AT_SYMLINK_NOFOLLOW;
        if self.as_root {
            let (uid, gid) = (Uid::from_raw(e.meta.uid()), Gid::from_raw(e.meta.gid()));
            unistd::fchownat(parent, name, Some(uid), Some(gid), nofollow)?;
        }
        if !e.meta.file_type().is_symlink() {
            let mode = Mode::from_bits_truncate(e.meta.mode() & 0o7777);
            stat::fchmodat(parent, name, mode, stat::FchmodatFlags::NoFollowSymlink).or_else(
                |err| match err {
                    // Older kernels lack fchmodat2; the entry is ours and not
                    // a symlink, so following is the same.
                    Errno::EOPNOTSUPP | Errno::ENOSYS => {
                        stat::fchmodat(parent, name, mode, stat::FchmodatFlags::FollowSymlink)
                    }
                    other => Err(other),
                },
            )?;
        }
        let mtime = TimeSpec::new(e.meta.mtime(), e.meta.mtime_nsec());
        stat::utimensat(
            parent,
            name,
            &mtime,
            &mtime,
            UtimensatFlags::NoFollowSymlink,
        )
    }
}

/// Clears `name` for a new entry: an existing directory stays when a
/// directory is wanted; anything else there is removed (a directory with
/// all it holds). Never follows a symlink.
fn make_room(parent: BorrowedFd, name: &OsStr, want_dir: bool) -> Result<(), Errno> {
    let st = match stat::fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(e),
    };
    let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
    match (is_dir, want_dir) {
        (true, true) => Ok(()),
        (true, false) => remove_tree(parent, name),
        (false, _) => unistd::unlinkat(parent, name, UnlinkatFlags::NoRemoveDir),
    }
}

fn remove_tree(parent: BorrowedFd, name: &OsStr) -> Result<(), Errno> {
    let fd = child_dir(parent, name)?;
    let listing = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let names = fs::read_dir(listing)
        .and_then(|d| {
            d.map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<Vec<_>>>()
        })
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    for child in names {
        make_room(fd.as_fd(), &child, false)?;
    }
    unistd::unlinkat(parent, name, UnlinkatFlags::RemoveDir)
}
