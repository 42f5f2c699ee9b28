//! `type=tar`: the merged filesystem as one tar stream, deterministic:
//! entries in byte order of their names, each directory before its
//! contents, names relative (`etc/`, `etc/passwd`), owners, modes and
//! modification times as the layers have them, multiply-linked files as
//! hard links to their first path.

use super::error::RootfsError;
use super::merge::{Entry, Tree};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use tar::{EntryType, Header};

/// Writes `tree` to `out` as a tar stream.
pub fn write_tar<W: Write>(tree: &Tree, out: W) -> Result<(), RootfsError> {
    let mut w = Writer {
        b: tar::Builder::new(out),
        links: HashMap::new(),
    };
    w.b.follow_symlinks(false);
    w.children(&tree.entries, b"")?;
    w.b.finish().map_err(|source| RootfsError::TarEntry {
        entry: "end of archive".into(),
        source,
    })
}

struct Writer<W: Write> {
    b: tar::Builder<W>,
    /// First path of each multiply-linked inode, by (dev, ino).
    links: HashMap<(u64, u64), Vec<u8>>,
}

fn header(e: &Entry, kind: EntryType) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(e.meta.mode() & 0o7777);
    h.set_uid(e.meta.uid().into());
    h.set_gid(e.meta.gid().into());
    h.set_mtime(e.meta.mtime().max(0) as u64);
    h.set_size(0);
    h
}

impl<W: Write> Writer<W> {
    fn children(
        &mut self,
        entries: &BTreeMap<OsString, Entry>,
        prefix: &[u8],
    ) -> Result<(), RootfsError> {
        for (name, e) in entries {
            let mut path = prefix.to_vec();
            path.extend_from_slice(name.as_bytes());
            self.one(e, path)?;
        }
        Ok(())
    }

    fn one(&mut self, e: &Entry, mut path: Vec<u8>) -> Result<(), RootfsError> {
        let ft = e.meta.file_type();
        if ft.is_dir() {
            path.push(b'/');
            let mut h = header(e, EntryType::Directory);
            self.b
                .append_data(&mut h, os(&path), io::empty())
                .map_err(entry_err(&path))?;
            return self.children(&e.children, &path);
        }
        let err = entry_err(&path);
        if ft.is_socket() {
            return Ok(()); // runtime state, as in a layer
        }
        if e.meta.nlink() > 1 {
            let key = (e.meta.dev(), e.meta.ino());
            if let Some(first) = self.links.get(&key) {
                let mut h = header(e, EntryType::Link);
                let first = first.clone();
                return self
                    .b
                    .append_link(&mut h, os(&path), os(&first))
                    .map_err(err);
            }
            self.links.insert(key, path.clone());
        }
        if ft.is_file() {
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&e.source)
                .map_err(|source| RootfsError::Read {
                    path: e.source.clone(),
                    source,
                })?;
            let mut h = header(e, EntryType::Regular);
            h.set_size(e.meta.len());
            let data = Exact(file.take(e.meta.len()), e.meta.len());
            self.b.append_data(&mut h, os(&path), data).map_err(err)
        } else if ft.is_symlink() {
            let target = fs::read_link(&e.source).map_err(|source| RootfsError::Read {
                path: e.source.clone(),
                source,
            })?;
            let mut h = header(e, EntryType::Symlink);
            self.b.append_link(&mut h, os(&path), &target).map_err(err)
        } else {
            let kind = if ft.is_fifo() {
                EntryType::Fifo
            } else if ft.is_block_device() {
                EntryType::Block
            } else {
                EntryType::Char
            };
            let mut h = header(e, kind);
            let rdev = e.meta.rdev();
            h.set_device_major(libc::major(rdev)).map_err(&err)?;
            h.set_device_minor(libc::minor(rdev)).map_err(&err)?;
            self.b
                .append_data(&mut h, os(&path), io::empty())
                .map_err(err)
        }
    }
}

fn entry_err(path: &[u8]) -> impl Fn(io::Error) -> RootfsError + '_ {
    move |source| RootfsError::TarEntry {
        entry: String::from_utf8_lossy(path).into_owned(),
        source,
    }
}

fn os(bytes: &[u8]) -> &std::path::Path {
    std::path::Path::new(std::ffi::OsStr::from_bytes(bytes))
}

/// A file's data cut or padded to the size its header announced, so a file
/// that changes while it is read cannot corrupt the stream.
struct Exact(io::Take<File>, u64);

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.1 == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.1 as usize);
        let n = match self.0.read(&mut buf[..want])? {
            0 => {
                buf[..want].fill(0);
                want
            }
            n => n,
        };
        self.1 -= n as u64;
        Ok(n)
    }
}
