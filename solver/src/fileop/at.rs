//! Thin fd-relative filesystem primitives (`*at` syscalls and `openat2`).
//!
//! Everything fileop and context do to a root goes through here, so that no
//! path is ever handed to a syscall as an absolute host path: lookups are
//! either confined with `RESOLVE_IN_ROOT` or forbidden from following any
//! symlink at all, and every fd is opened `O_CLOEXEC` (the sandbox helper
//! later execs user commands, which must not inherit them).

use nix::errno::Errno;
use nix::fcntl::{self, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use std::ffi::{CStr, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn io_err(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Opens a directory to be used as a resolution root.
pub(crate) fn open_root(path: &Path) -> io::Result<OwnedFd> {
    open_root_errno(path).map_err(io_err)
}

/// [`open_root`] for the sandbox, which reports bare errnos.
pub(crate) fn open_root_errno(path: &Path) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    fcntl::open(path, flags, Mode::empty())
}

fn openat2(
    dir: BorrowedFd,
    path: &Path,
    flags: OFlag,
    mode: u32,
    resolve: ResolveFlag,
) -> io::Result<OwnedFd> {
    openat2_errno(dir, path, flags, mode, resolve).map_err(io_err)
}

fn openat2_errno(
    dir: BorrowedFd,
    path: &Path,
    flags: OFlag,
    mode: u32,
    resolve: ResolveFlag,
) -> Result<OwnedFd, Errno> {
    // An empty path means the directory itself; openat2 wants ".".
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .mode(Mode::from_bits_truncate(mode))
        .resolve(resolve);
    loop {
        match fcntl::openat2(dir, path, how) {
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Opens `path` with `root` acting as `/`: symlinks (absolute ones too) and
/// `..` are resolved but can never leave `root`.
pub(crate) fn open_in_root(root: BorrowedFd, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    open_in_root_errno(root, path, flags).map_err(io_err)
}

/// [`open_in_root`] for the sandbox, which reports bare errnos.
pub(crate) fn open_in_root_errno(
    root: BorrowedFd,
    path: &Path,
    flags: OFlag,
) -> Result<OwnedFd, Errno> {
    let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    openat2_errno(root, path, flags, 0, resolve)
}

/// The most an /etc database read by the builder may hold.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads a small configuration file such as `/etc/passwd` inside `root`;
/// `None` when it does not exist. A hostile image may make it a FIFO (an
/// open would block forever) or a link to `/dev/zero` (endless): only a
/// regular file is read, opened non-blocking, and at most 16 MiB of it.
pub(crate) fn read_config_in_root(root: BorrowedFd, path: &Path) -> io::Result<Option<String>> {
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let fd = match open_in_root(root, path, flags) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = stat::fstat(&fd).map_err(io_err)?;
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what);
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(invalid("not a regular file"));
    }
    let mut bytes = Vec::new();
    io::Read::read_to_end(
        &mut io::Read::take(std::fs::File::from(fd), MAX_CONFIG_BYTES + 1),
        &mut bytes,
    )?;
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(invalid("over 16 MiB"));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Opens `path` below `dir` without following any symlink on the way.
pub(crate) fn open_beneath(dir: BorrowedFd, path: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    openat2(
        dir,
        path,
        flags,
        0,
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS,
    )
}

/// Creates a new regular file `name` in `dir` for writing; fails if anything
/// already has that name (so a planted symlink can't redirect the write).
pub(crate) fn create_file(dir: BorrowedFd, name: &OsStr, mode: u32) -> io::Result<std::fs::File> {
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let fd = openat2(
        dir,
        Path::new(name),
        flags,
        mode,
        ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS,
    )?;
    Ok(std::fs::File::from(fd))
}

pub(crate) fn fstat(fd: BorrowedFd) -> io::Result<FileStat> {
    stat::fstat(fd).map_err(io_err)
}

/// `lstat` of `name` inside `dir`; `None` when it does not exist.
pub(crate) fn lstat_at(dir: BorrowedFd, name: &OsStr) -> io::Result<Option<FileStat>> {
    match stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(io_err(e)),
    }
}

pub(crate) fn readlink_at(dir: BorrowedFd, name: &OsStr) -> io::Result<OsString> {
    fcntl::readlinkat(dir, name).map_err(io_err)
}

pub(crate) fn mkdir_at(dir: BorrowedFd, name: &OsStr, mode: u32) -> io::Result<()> {
    stat::mkdirat(dir, name, Mode::from_bits_truncate(mode)).map_err(io_err)
}

pub(crate) fn symlink_at(target: &OsStr, dir: BorrowedFd, name: &OsStr) -> io::Result<()> {
    nix::unistd::symlinkat(target, dir, name).map_err(io_err)
}

/// Hard-links `old_name` in `old_dir` as `name` in `dir`, never following a
/// symlink at the old name.
pub(crate) fn link_at(
    old_dir: BorrowedFd,
    old_name: &OsStr,
    dir: BorrowedFd,
    name: &OsStr,
) -> io::Result<()> {
    nix::unistd::linkat(old_dir, old_name, dir, name, AtFlags::empty()).map_err(io_err)
}

/// Creates a fifo, socket or device node with the type and permission bits of `mode`.
pub(crate) fn mknod_at(dir: BorrowedFd, name: &OsStr, mode: u32, rdev: u64) -> io::Result<()> {
    let kind = SFlag::from_bits_truncate(mode & libc::S_IFMT);
    stat::mknodat(dir, name, kind, Mode::from_bits_truncate(mode), rdev).map_err(io_err)
}

pub(crate) fn unlink_at(dir: BorrowedFd, name: &OsStr, is_dir: bool) -> io::Result<()> {
    let flag = if is_dir {
        nix::unistd::UnlinkatFlags::RemoveDir
    } else {
        nix::unistd::UnlinkatFlags::NoRemoveDir
    };
    nix::unistd::unlinkat(dir, name, flag).map_err(io_err)
}

pub(crate) fn chown_at(dir: BorrowedFd, name: &OsStr, uid: u32, gid: u32) -> io::Result<()> {
    let flag = AtFlags::AT_SYMLINK_NOFOLLOW;
    nix::unistd::fchownat(dir, name, Some(uid.into()), Some(gid.into()), flag).map_err(io_err)
}

/// chmod that refuses symlinks: Linux cannot chmod a link itself, and
/// following it would touch whatever it points at.
pub(crate) fn chmod_at(dir: BorrowedFd, name: &OsStr, mode: u32) -> io::Result<()> {
    match lstat_at(dir, name)? {
        Some(st) if st.st_mode & libc::S_IFMT != libc::S_IFLNK => {}
        _ => return Ok(()),
    }
    let mode = Mode::from_bits_truncate(mode & 0o7777);
    stat::fchmodat(dir, name, mode, stat::FchmodatFlags::FollowSymlink).map_err(io_err)
}

/// Sets atime and mtime (seconds, nanoseconds) of `name` itself, never a
/// symlink's target.
pub(crate) fn set_times_at(
    dir: BorrowedFd,
    name: &OsStr,
    atime: (i64, i64),
    mtime: (i64, i64),
) -> io::Result<()> {
    let atime = TimeSpec::new(atime.0, atime.1);
    let mtime = TimeSpec::new(mtime.0, mtime.1);
    stat::utimensat(
        dir,
        name,
        &atime,
        &mtime,
        stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io_err)
}

const CAPABILITY: &CStr = c"security.capability";

/// Copies the `security.capability` xattr (file capabilities, e.g. of
/// `ping`) from one open file to another, as Docker's copier does. Other
/// xattrs are not carried: the context never has meaningful ones and
/// overlay-private ones must not be copied.
pub(crate) fn copy_capability(from: BorrowedFd, to: BorrowedFd) -> io::Result<()> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes; the name is NUL-terminated.
    let n = unsafe {
        libc::fgetxattr(
            from.as_raw_fd(),
            CAPABILITY.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::ENOTSUP) => Ok(()),
            _ => Err(err),
        };
    }
    // SAFETY: the first n bytes of buf were just filled in by the kernel.
    let rc = unsafe {
        libc::fsetxattr(
            to.as_raw_fd(),
            CAPABILITY.as_ptr(),
            buf.as_ptr().cast(),
            n as usize,
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The entry names of a directory (without `.` and `..`), sorted bytewise so
/// that walks are deterministic.
pub(crate) fn read_dir_names(dir: BorrowedFd) -> io::Result<Vec<OsString>> {
    // fdopendir takes ownership of its fd and needs a readable one, so open a
    // fresh O_RDONLY fd on the same directory (dir may be O_PATH).
    let fd = openat2(
        dir,
        Path::new("."),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY,
        0,
        ResolveFlag::RESOLVE_BENEATH,
    )?;
    let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
    // SAFETY: raw is a valid directory fd we own; fdopendir takes it over.
    let dirp = unsafe { libc::fdopendir(raw) };
    if dirp.is_null() {
        let err = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so the fd is still ours to close.
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
        return Err(err);
    }
    let mut names = Vec::new();
    let result = loop {
        Errno::clear();
        // SAFETY: dirp is a valid DIR* until closedir below.
        let ent = unsafe { libc::readdir(dirp) };
        if ent.is_null() {
            let errno = Errno::last_raw();
            break if errno == 0 {
                Ok(())
            } else {
                Err(io::Error::from_raw_os_error(errno))
            };
        }
        // SAFETY: d_name is a NUL-terminated string inside the entry.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    };
    // SAFETY: dirp came from fdopendir and is closed exactly once.
    unsafe { libc::closedir(dirp) };
    result?;
    names.sort();
    Ok(names)
}
