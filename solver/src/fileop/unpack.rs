//! Writes the entries of a tar stream under an extraction directory, each
//! one resolved inside the root and refused if it would land (or, for
//! links, point) outside the extraction directory.

use super::archive_error::ArchiveError;
use super::dest::{self, DestDir};
use super::owner::Ids;
use super::sparse::{self, PaxSparse};
use super::{at, resolve};
use mybuild_cache::tarlimit::{self, Metered, HEADER_BUDGET};
use nix::fcntl::OFlag;
use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tar::EntryType;

pub(crate) struct Unpacker<'a> {
    pub root: BorrowedFd<'a>,
    pub dest: DestDir,
    pub archive: String,
    /// Directories get their mtime last, after their contents are written.
    pub dirs: Vec<(Vec<OsString>, i64)>,
}

/// Unpacks every entry of the tar stream `reader` into `dest` (under
/// `root`), with extended headers capped and directory times set last:
/// the one loop ADD and tarball contexts share.
pub(crate) fn unpack_stream(
    root: BorrowedFd,
    dest: DestDir,
    archive: &str,
    reader: Box<dyn Read + '_>,
) -> Result<(), ArchiveError> {
    let read_err = |source| ArchiveError::Read {
        archive: archive.to_string(),
        source,
    };
    let mut unpacker = Unpacker {
        root,
        dest,
        archive: archive.to_string(),
        dirs: Vec::new(),
    };
    let (reader, meter) = Metered::new(reader, HEADER_BUDGET);
    let mut tar = tar::Archive::new(reader);
    for entry in tar.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        meter.off();
        unpacker.entry(&mut entry)?;
        tarlimit::drain(&mut entry).map_err(read_err)?;
        meter.arm();
    }
    unpacker.finish()
}

/// Removes `name` from `dir`, recursively when it is a directory, without
/// following symlinks (Docker's RemoveAll before replacing an entry).
fn remove_all(dir: BorrowedFd, name: &OsStr) -> io::Result<()> {
    let Some(st) = at::lstat_at(dir, name)? else {
        return Ok(());
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return at::unlink_at(dir, name, false);
    }
    let sub = at::open_beneath(dir, Path::new(name), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
    for child in at::read_dir_names(sub.as_fd())? {
        remove_all(sub.as_fd(), &child)?;
    }
    at::unlink_at(dir, name, true)
}

impl Unpacker<'_> {
    fn escape(&self, entry: &str) -> ArchiveError {
        ArchiveError::Escape {
            archive: self.archive.clone(),
            entry: entry.to_string(),
        }
    }

    fn io(&self, entry: &str) -> impl FnOnce(io::Error) -> ArchiveError {
        let (archive, entry) = (self.archive.clone(), entry.to_string());
        move |source| ArchiveError::Entry {
            archive,
            entry,
            source,
        }
    }

    pub(crate) fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), ArchiveError> {
        let kind = entry.header().entry_type();
        let sparse = match kind {
            EntryType::Regular | EntryType::Continuous => self.pax_sparse(entry)?,
            _ => None,
        };
        let raw = match sparse.as_ref().and_then(|s| s.name.clone()) {
            Some(real) => real,
            None => entry.path_bytes().into_owned(),
        };
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = clean_entry(&raw).ok_or_else(|| self.escape(&name))?;
        // The archive's own root ("./") is the extraction directory itself.
        let Some((last, parent_rel)) = rel.split_last() else {
            // Its data would be read only to be dropped, and a GNU sparse
            // entry's holes read as zeros (terabytes for a few header bytes):
            // refuse it, as Docker fails to open the directory as a file.
            if kind == EntryType::GNUSparse {
                return Err(self.io(&name)(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a sparse file cannot stand for the extraction directory",
                )));
            }
            return Ok(());
        };
        let parent_res = entry_parent(self.root, &self.dest, parent_rel)
            .map_err(self.io(&name))?
            .ok_or_else(|| self.escape(&name))?;
        // Directories the archive implies but does not list are root's.
        let parent = dest::mkdir_resolved(self.root, &parent_res, 0o755, Some(Ids::ROOT))
            .map_err(self.io(&name))?;
        if !self.create(entry, kind, sparse, &parent, last, &name)? {
            return Ok(());
        }
        self.set_meta(entry, kind, &parent, last, &name)
    }

    /// Creates the entry; `false` when there is nothing to set metadata on
    /// (hard links share their target's, unknown types are skipped).
    fn create<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        kind: EntryType,
        sparse: Option<PaxSparse>,
        parent: &DestDir,
        last: &OsStr,
        name: &str,
    ) -> Result<bool, ArchiveError> {
        let pfd = parent.fd.as_fd();
        let existing = at::lstat_at(pfd, last).map_err(self.io(name))?;
        let existing_dir = existing.is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR);
        if existing.is_some() && !(kind.is_dir() && existing_dir) {
            remove_all(pfd, last).map_err(self.io(name))?;
        }
        match kind {
            EntryType::Directory => {
                if !existing_dir {
                    at::mkdir_at(pfd, last, 0o700).map_err(self.io(name))?;
                }
            }
            EntryType::Regular | EntryType::Continuous => {
                let mut out = at::create_file(pfd, last, 0o600).map_err(self.io(name))?;
                match sparse {
                    Some(sparse) => sparse.write(entry, &mut out),
                    None => io::copy(entry, &mut out).map(drop),
                }
                .map_err(self.io(name))?;
            }
            EntryType::GNUSparse => self.gnu_sparse(entry, pfd, last, name)?,
            // A link may point anywhere, as in BuildKit's chrooted untar: it
            // is only text here, and every later entry is resolved inside the
            // extraction directory, so nothing is ever written through it.
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                at::symlink_at(OsStr::from_bytes(&target), pfd, last).map_err(self.io(name))?;
            }
            EntryType::Link => {
                self.hard_link(entry, pfd, last, name)?;
                return Ok(false);
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let h = entry.header();
                let type_bits = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                let mode = type_bits | (h.mode().unwrap_or(0o644) & 0o7777);
                at::mknod_at(pfd, last, mode, libc::makedev(major, minor))
                    .map_err(self.io(name))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The GNU sparse records of a PAX entry, if it is one.
    fn pax_sparse<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
    ) -> Result<Option<PaxSparse>, ArchiveError> {
        let shown = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(pax) = entry.pax_extensions().map_err(self.io(&shown))? else {
            return Ok(None);
        };
        let records = pax.map(|r| r.map(|e| (e.key_bytes(), e.value_bytes())));
        sparse::from_pax(records).map_err(self.io(&shown))
    }

    /// A GNU sparse entry, expanded as Docker's untar does: holes read as
    /// zeros but are never written. The tar reader yields them as zeros, so
    /// copying the entry would write (and spend time on) every byte of the
    /// holes, which a few header bytes can make terabytes; its own unpack
    /// seeks over them. It takes a path: the name inside the parent's open
    /// descriptor, which it creates exclusively, so nothing planted at that
    /// name is followed.
    fn gnu_sparse<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        pfd: BorrowedFd,
        last: &OsStr,
        name: &str,
    ) -> Result<(), ArchiveError> {
        let path = Path::new(&format!("/proc/self/fd/{}", pfd.as_raw_fd())).join(last);
        // The reader's error names that path; the cause is what matters.
        let cause = |e: io::Error| {
            let inner = (e.get_ref().and_then(|t| t.source()))
                .and_then(|c| c.downcast_ref::<io::Error>())
                .map(|c| io::Error::new(c.kind(), c.to_string()));
            inner.unwrap_or(e)
        };
        match entry.unpack(&path).map_err(cause).map_err(self.io(name))? {
            tar::Unpacked::File(_) => Ok(()),
            // The reader takes an old-style entry whose name ends in `/`
            // for a directory, whatever its type.
            _ => Err(self.io(name)(io::Error::new(
                io::ErrorKind::InvalidData,
                "sparse file named like a directory",
            ))),
        }
    }

    fn hard_link<R: Read>(
        &self,
        entry: &tar::Entry<R>,
        pfd: BorrowedFd,
        last: &OsStr,
        name: &str,
    ) -> Result<(), ArchiveError> {
        let target = entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        let target_str = String::from_utf8_lossy(&target).into_owned();
        let rel = clean_entry(&target).ok_or_else(|| self.escape(name))?;
        let mut full = self.dest.real.clone();
        full.extend(rel);
        let res = resolve::resolve_comps(self.root, full, false).map_err(self.io(name))?;
        let missing = || ArchiveError::MissingLinkTarget {
            archive: self.archive.clone(),
            entry: name.to_string(),
            target: target_str.clone(),
        };
        if !res.comps.starts_with(&self.dest.real) || res.comps.len() == self.dest.real.len() {
            return Err(self.escape(name));
        }
        if !res.exists() {
            return Err(missing());
        }
        let (dir, old) = resolve::split_last(&res.comps).ok_or_else(missing)?;
        let old_dir = resolve::open_dir(self.root, dir).map_err(self.io(name))?;
        at::link_at(old_dir.as_fd(), old, pfd, last).map_err(self.io(name))
    }

    fn set_meta<R: Read>(
        &mut self,
        entry: &tar::Entry<R>,
        kind: EntryType,
        parent: &DestDir,
        last: &OsStr,
        name: &str,
    ) -> Result<(), ArchiveError> {
        let h = entry.header();
        let ids = Ids {
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
        };
        let pfd = parent.fd.as_fd();
        at::chown_at(pfd, last, ids.uid, ids.gid).map_err(self.io(name))?;
        if kind != EntryType::Symlink {
            at::chmod_at(pfd, last, h.mode().unwrap_or(0o644) & 0o7777).map_err(self.io(name))?;
        }
        let mtime = h.mtime().unwrap_or(0) as i64;
        if kind.is_dir() {
            let mut real = parent.real.clone();
            real.push(last.to_os_string());
            self.dirs.push((real, mtime));
            return Ok(());
        }
        at::set_times_at(pfd, last, (mtime, 0), (mtime, 0)).map_err(self.io(name))
    }

    /// Sets directory times deepest-last-created first, once nothing more
    /// will be written into them.
    pub(crate) fn finish(self) -> Result<(), ArchiveError> {
        for (real, mtime) in self.dirs.iter().rev() {
            let shown = resolve::join(real).display().to_string();
            let (dir, name) =
                resolve::split_last(real).expect("entries are below the extraction directory");
            let fd = resolve::open_dir(self.root, dir).map_err(self.io(&shown))?;
            at::set_times_at(fd.as_fd(), name, (*mtime, 0), (*mtime, 0))
                .map_err(self.io(&shown))?;
        }
        Ok(())
    }
}

/// Entry names are joined to the destination lexically; climbing above it
/// (`../evil`) is an escape, as in Docker's `breakoutError`.
fn clean_entry(name: &[u8]) -> Option<Vec<OsString>> {
    let mut out: Vec<OsString> = Vec::new();
    for seg in name.split(|b| *b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            s => out.push(OsStr::from_bytes(s).to_os_string()),
        }
    }
    Some(out)
}

/// The destination directory an entry goes into, resolved inside the root
/// and required to still be under the extraction directory.
fn entry_parent(
    root: BorrowedFd,
    top: &DestDir,
    rel: &[OsString],
) -> io::Result<Option<resolve::Resolved>> {
    let mut full = top.real.clone();
    full.extend_from_slice(rel);
    let res = resolve::resolve_comps(root, full, true)?;
    Ok(res.comps.starts_with(&top.real).then_some(res))
}
