//! Unpacks an OCI layer tar into a fresh snapshot directory in overlayfs
//! format. Every path is resolved one component at a time with `openat2`
//! (no symlinks, no `..`, no mount crossing), so a hostile archive can
//! neither write outside the directory nor through a symlink it planted.

use super::entrymeta::{components, meta_of, Meta};
use super::xattr::{self, opaque_xattr};
use crate::tarlimit::{self, Meter};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fchmod, fchmodat, fstatat, futimens, mkdirat, mknodat, utimensat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use tar::EntryType;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("read layer tar: {source}")]
    Read { source: io::Error },
    #[error("open snapshot dir {path}: {source}")]
    Root { path: PathBuf, source: io::Error },
    #[error("layer entry {entry:?}: {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("layer entry {entry:?}: {op}: {source}")]
    Apply {
        entry: String,
        op: &'static str,
        source: io::Error,
    },
    #[error("layer entry {entry:?}: unsupported tar entry type {kind}")]
    Unsupported { entry: String, kind: u8 },
}

/// Unpacks every entry of `archive` under `root`, which must be empty.
/// `meter` bounds the headers read between entries (see [`crate::tarlimit`]).
pub fn unpack<R: Read>(
    archive: &mut tar::Archive<R>,
    meter: &Meter,
    root: &Path,
) -> Result<(), UnpackError> {
    let dir = openat(nix::fcntl::AT_FDCWD, root, dir_flags(), Mode::empty()).map_err(|e| {
        UnpackError::Root {
            path: root.into(),
            source: e.into(),
        }
    })?;
    let mut u = Unpacker {
        root: dir,
        dirs: Vec::new(),
    };
    for entry in archive
        .entries()
        .map_err(|source| UnpackError::Read { source })?
    {
        let mut entry = entry.map_err(|source| UnpackError::Read { source })?;
        meter.off();
        u.entry(&mut entry)?;
        tarlimit::drain(&mut entry).map_err(|source| UnpackError::Read { source })?;
        meter.arm();
    }
    u.finish_dirs()
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC
}

struct Unpacker {
    root: OwnedFd,
    /// Directories whose mtime is set last, since creating children changes it.
    dirs: Vec<(Vec<Vec<u8>>, i64)>,
}

struct Ctx<'a> {
    entry: &'a str,
}

impl Ctx<'_> {
    fn unsafe_(&self, reason: impl Into<String>) -> UnpackError {
        UnpackError::Unsafe {
            entry: self.entry.to_string(),
            reason: reason.into(),
        }
    }

    fn apply(&self, op: &'static str) -> impl FnOnce(Errno) -> UnpackError + '_ {
        move |e| UnpackError::Apply {
            entry: self.entry.to_string(),
            op,
            source: e.into(),
        }
    }

    fn io(&self, op: &'static str) -> impl FnOnce(io::Error) -> UnpackError + '_ {
        move |source| UnpackError::Apply {
            entry: self.entry.to_string(),
            op,
            source,
        }
    }
}

/// `/proc/self/fd/N/name`: reaches `name` inside an open directory for the
/// path-only `l*xattr` calls, without following `name` itself.
fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(std::ffi::OsStr::from_bytes(name))
}

impl Unpacker {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let cx = Ctx { entry: &shown };
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        // Unsupported (see the end), and refused before a whiteout name can
        // take it: the tar reader yields a GNU sparse entry's holes as zeros,
        // so reading past its data could mean terabytes for a few bytes.
        if kind == EntryType::GNUSparse {
            return Err(UnpackError::Unsupported {
                entry: shown.clone(),
                kind: kind.as_byte(),
            });
        }
        let comps = components(&raw).map_err(|r| cx.unsafe_(r))?;
        let meta = meta_of(entry).map_err(|source| UnpackError::Read { source })?;
        let Some((name, parents)) = comps.split_last() else {
            if !kind.is_dir() {
                return Err(cx.unsafe_("only a directory may stand for the layer root"));
            }
            let root = self.root.try_clone().map_err(cx.io("open root"))?;
            self.dirs.push((Vec::new(), meta.mtime));
            return set_owner_mode_xattrs(&cx, root.as_fd(), &meta);
        };
        let parent = self.walk(&cx, parents, true)?;
        if let Some(victim) = name.strip_prefix(b".wh.") {
            return whiteout(&cx, parent.as_fd(), victim);
        }
        match kind {
            EntryType::Directory => {
                self.directory(&cx, parent.as_fd(), name, &meta)?;
                self.dirs
                    .push((comps.iter().map(|c| c.to_vec()).collect(), meta.mtime));
                Ok(())
            }
            EntryType::Regular | EntryType::Continuous => {
                regular(&cx, parent.as_fd(), name, &meta, entry)
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| cx.unsafe_("symlink without target"))?;
                clear(&cx, parent.as_fd(), name)?;
                symlinkat(&*target, parent.as_fd(), *name).map_err(cx.apply("symlink"))?;
                finish_node(&cx, parent.as_fd(), name, &meta)
            }
            EntryType::Link => self.hardlink(&cx, parent.as_fd(), name, entry),
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                device(&cx, parent.as_fd(), name, &meta, entry)
            }
            other => Err(UnpackError::Unsupported {
                entry: shown.clone(),
                kind: other.as_byte(),
            }),
        }
    }

    /// Opens the directory at `comps`, one component at a time, creating
    /// missing ones when `create` (archives may omit parent entries).
    fn walk(&self, cx: &Ctx<'_>, comps: &[&[u8]], create: bool) -> Result<OwnedFd, UnpackError> {
        let mut cur = self.root.try_clone().map_err(cx.io("open root"))?;
        for comp in comps {
            cur = step(cx, cur.as_fd(), comp, create)?;
        }
        Ok(cur)
    }

    fn directory(
        &self,
        cx: &Ctx<'_>,
        parent: BorrowedFd<'_>,
        name: &[u8],
        meta: &Meta,
    ) -> Result<(), UnpackError> {
        let is_dir = matches!(lstat_kind(parent, name), Some(k) if k == SFlag::S_IFDIR);
        // Whited out earlier in this layer: the lower directory is gone, so
        // this one must not merge with it.
        let opaque = is_whiteout(parent, name);
        if !is_dir {
            clear(cx, parent, name)?;
            mkdirat(parent, name, Mode::from_bits_truncate(0o700)).map_err(cx.apply("mkdir"))?;
        }
        let dir = step(cx, parent, name, false)?;
        if opaque {
            xattr::set_fd(dir.as_fd(), opaque_xattr(), b"y")
                .map_err(cx.io("mark directory opaque"))?;
        }
        set_owner_mode_xattrs(cx, dir.as_fd(), meta)
    }

    fn hardlink<R: Read>(
        &self,
        cx: &Ctx<'_>,
        parent: BorrowedFd<'_>,
        name: &[u8],
        entry: &tar::Entry<'_, R>,
    ) -> Result<(), UnpackError> {
        let target = entry
            .link_name_bytes()
            .ok_or_else(|| cx.unsafe_("hardlink without target"))?
            .into_owned();
        let tcomps =
            components(&target).map_err(|r| cx.unsafe_(format!("hardlink target: {r}")))?;
        let Some((tname, tparents)) = tcomps.split_last() else {
            return Err(cx.unsafe_("hardlink to the layer root"));
        };
        let tdir = self.walk(cx, tparents, false)?;
        match lstat_kind(tdir.as_fd(), tname) {
            None => return Err(cx.unsafe_("hardlink target is not in the layer")),
            Some(k) if k == SFlag::S_IFDIR => return Err(cx.unsafe_("hardlink to a directory")),
            Some(_) => {}
        }
        clear(cx, parent, name)?;
        linkat(tdir.as_fd(), *tname, parent, name, AtFlags::empty()).map_err(cx.apply("link"))
    }

    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        for (comps, mtime) in std::mem::take(&mut self.dirs).into_iter().rev() {
            let shown = String::from_utf8_lossy(&comps.join(&b'/')).into_owned();
            let cx = Ctx { entry: &shown };
            let refs: Vec<&[u8]> = comps.iter().map(|c| c.as_slice()).collect();
            let dir = self.walk(&cx, &refs, false)?;
            let t = TimeSpec::new(mtime, 0);
            futimens(dir.as_fd(), &t, &t).map_err(cx.apply("set mtime"))?;
        }
        Ok(())
    }
}

/// Opens one directory component, never following a symlink.
fn step(
    cx: &Ctx<'_>,
    dir: BorrowedFd<'_>,
    comp: &[u8],
    create: bool,
) -> Result<OwnedFd, UnpackError> {
    let how = || {
        OpenHow::new().flags(dir_flags()).resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        )
    };
    let shown = String::from_utf8_lossy(comp);
    match openat2(dir, comp, how()) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) if create => {
            match mkdirat(dir, comp, Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(cx.apply("create parent directory")(e)),
            }
            step(cx, dir, comp, false)
        }
        Err(Errno::ELOOP) => Err(cx.unsafe_(format!("path goes through symlink {shown:?}"))),
        Err(Errno::ENOTDIR) => Err(cx.unsafe_(format!("parent {shown:?} is not a directory"))),
        Err(Errno::EXDEV) => Err(cx.unsafe_(format!("path crosses a mount at {shown:?}"))),
        Err(e) => Err(cx.apply("open parent directory")(e)),
    }
}

fn lstat_kind(dir: BorrowedFd<'_>, name: &[u8]) -> Option<SFlag> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    Some(SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()))
}

/// Removes whatever is at `name`, so a later entry replaces an earlier one.
fn clear(cx: &Ctx<'_>, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), UnpackError> {
    match lstat_kind(dir, name) {
        None => Ok(()),
        Some(k) if k == SFlag::S_IFDIR => {
            crate::fsutil::remove_tree(&proc_path(dir, name)).map_err(cx.io("replace directory"))
        }
        Some(_) => {
            unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(cx.apply("replace file"))
        }
    }
}

fn whiteout(cx: &Ctx<'_>, parent: BorrowedFd<'_>, victim: &[u8]) -> Result<(), UnpackError> {
    if victim == b".wh..opq" {
        return xattr::set_fd(parent, opaque_xattr(), b"y").map_err(cx.io("mark directory opaque"));
    }
    if victim.starts_with(b".wh.") {
        return Ok(()); // aufs bookkeeping (.wh..wh.plnk etc.), not content
    }
    if victim.is_empty() {
        return Err(cx.unsafe_("whiteout without a name"));
    }
    // A whiteout only hides lower layers: an entry of this same layer at
    // that path stays, and a directory becomes opaque instead.
    match lstat_kind(parent, victim) {
        None => mknodat(parent, victim, SFlag::S_IFCHR, Mode::empty(), 0)
            .map_err(cx.apply("create whiteout")),
        Some(k) if k == SFlag::S_IFDIR => {
            let dir = step(cx, parent, victim, false)?;
            xattr::set_fd(dir.as_fd(), opaque_xattr(), b"y").map_err(cx.io("mark directory opaque"))
        }
        Some(_) => Ok(()),
    }
}

fn is_whiteout(dir: BorrowedFd<'_>, name: &[u8]) -> bool {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW);
    matches!(st, Ok(st) if st.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFCHR.bits() && st.st_rdev == 0)
}

fn set_owner_mode_xattrs(cx: &Ctx<'_>, fd: BorrowedFd<'_>, meta: &Meta) -> Result<(), UnpackError> {
    fchown(
        fd,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
    )
    .map_err(cx.apply("chown"))?;
    // After chown, which clears setuid/setgid bits.
    fchmod(fd, Mode::from_bits_truncate(meta.mode)).map_err(cx.apply("chmod"))?;
    for (name, value) in &meta.xattrs {
        xattr::set_fd(fd, name, value).map_err(cx.io("set xattr"))?;
    }
    Ok(())
}

fn regular<R: Read>(
    cx: &Ctx<'_>,
    parent: BorrowedFd<'_>,
    name: &[u8],
    meta: &Meta,
    entry: &mut tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    clear(cx, parent, name)?;
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(parent, name, flags, Mode::from_bits_truncate(0o600))
        .map_err(cx.apply("create file"))?;
    let mut file = File::from(fd);
    io::copy(entry, &mut file).map_err(|source| UnpackError::Read { source })?;
    set_owner_mode_xattrs(cx, file.as_fd(), meta)?;
    let t = TimeSpec::new(meta.mtime, 0);
    futimens(file.as_fd(), &t, &t).map_err(cx.apply("set mtime"))
}

fn device<R: Read>(
    cx: &Ctx<'_>,
    parent: BorrowedFd<'_>,
    name: &[u8],
    meta: &Meta,
    entry: &tar::Entry<'_, R>,
) -> Result<(), UnpackError> {
    let h = entry.header();
    let kind = match h.entry_type() {
        EntryType::Char => SFlag::S_IFCHR,
        EntryType::Block => SFlag::S_IFBLK,
        _ => SFlag::S_IFIFO,
    };
    let major = h.device_major().ok().flatten().unwrap_or(0);
    let minor = h.device_minor().ok().flatten().unwrap_or(0);
    clear(cx, parent, name)?;
    let made = mknodat(
        parent,
        name,
        kind,
        Mode::from_bits_truncate(0o600),
        libc::makedev(major, minor),
    );
    match made {
        // A user namespace (rootless) may make fifos and overlay
        // whiteouts but no real device node. Such a node opens nothing in
        // a step anyway (every mount is nodev), so it is left out, as
        // containerd does in a user namespace.
        Err(Errno::EPERM) if kind != SFlag::S_IFIFO && crate::in_user_namespace() => Ok(()),
        made => {
            made.map_err(cx.apply("mknod"))?;
            finish_node(cx, parent, name, meta)
        }
    }
}

/// Owner, xattrs and mtime of a node that cannot be opened (symlink, device).
fn finish_node(
    cx: &Ctx<'_>,
    parent: BorrowedFd<'_>,
    name: &[u8],
    meta: &Meta,
) -> Result<(), UnpackError> {
    fchownat(
        parent,
        name,
        Some(Uid::from_raw(meta.uid)),
        Some(Gid::from_raw(meta.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(cx.apply("chown"))?;
    if lstat_kind(parent, name) != Some(SFlag::S_IFLNK) {
        // chown cleared setuid/setgid; restore the full mode. A device node
        // has no fd to chmod through, and nothing else can swap the node in
        // this private directory between these calls.
        fchmodat(
            parent,
            name,
            Mode::from_bits_truncate(meta.mode),
            FchmodatFlags::FollowSymlink,
        )
        .map_err(cx.apply("chmod"))?;
    }
    for (xname, value) in &meta.xattrs {
        xattr::set(&proc_path(parent, name), xname, value).map_err(cx.io("set xattr"))?;
    }
    let t = TimeSpec::new(meta.mtime, 0);
    utimensat(parent, name, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(cx.apply("set mtime"))
}
