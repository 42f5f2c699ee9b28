//! Turns an overlayfs upper directory into an OCI layer tar: whiteout
//! devices become `.wh.<name>` files, opaque directories get a
//! `.wh..wh..opq` marker. Output is deterministic (entries sorted by name,
//! each directory before its contents) so equal uppers give equal diff_ids.

use super::marks::{Mark, MarkingSink};
use super::tarhdr::{append_entry, base_header};
use super::xattr::{self, overlay_xattr_prefix, Xattrs};
use std::collections::HashMap;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tar::EntryType;

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("write tar entry {entry}: {source}")]
    Write { entry: String, source: io::Error },
    #[error("{path}: overlay attribute {attr} cannot be stored in a layer (mount with redirect_dir=off,metacopy=off)")]
    OverlayFeature { path: PathBuf, attr: String },
    #[error("clear overlay attribute {attr} on {path}: {source}")]
    Scrub {
        path: PathBuf,
        attr: String,
        source: io::Error,
    },
}

/// Writes the layer tar for `upper` into `out` and returns `out`.
pub fn write_layer<W: Write>(upper: &Path, out: W) -> Result<W, PackError> {
    let mut walker = Walker::new(out);
    walker.dir_contents(upper, b"")?;
    walker.finish()
}

/// [`write_layer`] into a marking hash, from `from` on (entries before
/// its path are skipped unopened: `out` holds their state). Also says
/// whether a hard-link entry was written.
pub(super) fn write_layer_marked(
    upper: &Path,
    out: MarkingSink,
    from: Option<&Mark>,
) -> Result<(MarkingSink, bool), PackError> {
    let mut walker = Walker::new(out);
    walker.hook = Some(|sink: &mut MarkingSink, path: &[u8]| sink.entry(path));
    if let Some(mark) = from {
        walker.skip = mark
            .path
            .split(|&c| c == b'/')
            .map(<[u8]>::to_vec)
            .collect();
    }
    walker.dir_contents(upper, b"")?;
    let linked = walker.linked;
    Ok((walker.finish()?, linked))
}

struct Walker<W: Write> {
    b: tar::Builder<W>,
    /// First archived path of each multiply-linked inode, by (dev, ino).
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Told each entry's tree path before it is written.
    hook: Option<fn(&mut W, &[u8])>,
    /// Components of the path to resume at; empty once there.
    skip: Vec<Vec<u8>>,
    /// A hard-link entry was written.
    linked: bool,
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> PackError + '_ {
    move |source| PackError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn write_err(entry: &[u8]) -> impl FnOnce(io::Error) -> PackError + '_ {
    move |source| PackError::Write {
        entry: String::from_utf8_lossy(entry).into_owned(),
        source,
    }
}

/// Splits overlay's private attributes from the content ones. Stale ones
/// (origin, impure, ...) are removed from the file, because the directory
/// becomes a lower layer and must look exactly like an imported one.
fn content_xattrs(path: &Path) -> Result<(Xattrs, bool), PackError> {
    let mut opaque = false;
    let mut kept = Vec::new();
    for (name, value) in xattr::list(path).map_err(read_err(path))? {
        let Some(kind) = name.strip_prefix(overlay_xattr_prefix()) else {
            kept.push((name, value));
            continue;
        };
        match kind {
            "opaque" => opaque = value == b"y",
            "redirect" | "metacopy" => {
                return Err(PackError::OverlayFeature {
                    path: path.into(),
                    attr: name,
                })
            }
            _ => xattr::remove(path, &name).map_err(|source| PackError::Scrub {
                path: path.into(),
                attr: name,
                source,
            })?,
        }
    }
    Ok((kept, opaque))
}

fn header_for(meta: &Metadata, kind: EntryType) -> tar::Header {
    base_header(
        kind,
        meta.mode(),
        meta.uid() as u64,
        meta.gid() as u64,
        meta.mtime(),
    )
}

fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(prefix.len() + name.len() + 1);
    v.extend_from_slice(prefix);
    v.extend_from_slice(name);
    v
}

impl<W: Write> Walker<W> {
    fn new(out: W) -> Self {
        Walker {
            b: tar::Builder::new(out),
            links: HashMap::new(),
            hook: None,
            skip: Vec::new(),
            linked: false,
        }
    }

    fn finish(self) -> Result<W, PackError> {
        self.b.into_inner().map_err(|source| PackError::Write {
            entry: "end of archive".into(),
            source,
        })
    }

    /// Archives the children of `dir`, whose tar path is `prefix` ("" or "a/b/").
    fn dir_contents(&mut self, dir: &Path, prefix: &[u8]) -> Result<(), PackError> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).map_err(read_err(dir))? {
            names.push(entry.map_err(read_err(dir))?.file_name());
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let depth = prefix.iter().filter(|&&c| c == b'/').count();
        for name in names {
            let path = dir.join(&name);
            if let Some(target) = self.skip.get(depth) {
                match name.as_bytes().cmp(target) {
                    std::cmp::Ordering::Less => continue,
                    // An ancestor of the resume point: written before it.
                    std::cmp::Ordering::Equal if depth + 1 < self.skip.len() && path.is_dir() => {
                        let inner = join(&join(prefix, name.as_bytes()), b"/");
                        self.dir_contents(&path, &inner)?;
                        continue;
                    }
                    _ => self.skip.clear(),
                }
            }
            self.one(&path, prefix, name.as_bytes())?;
        }
        Ok(())
    }

    fn one(&mut self, path: &Path, prefix: &[u8], name: &[u8]) -> Result<(), PackError> {
        if let Some(hook) = self.hook {
            hook(self.b.get_mut(), &join(prefix, name));
        }
        let meta = fs::symlink_metadata(path).map_err(read_err(path))?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            let wh = join(prefix, &join(b".wh.", name));
            // 0600, as Docker's overlay2 differ writes them (BuildKit on
            // Docker 20.10; found by tests/differential).
            let h = base_header(EntryType::Regular, 0o600, 0, 0, meta.mtime());
            return append_entry(&mut self.b, h, &wh, None, &[], io::empty())
                .map_err(write_err(&wh));
        }
        if ft.is_socket() {
            return Ok(()); // sockets are runtime state, as in `docker commit`
        }
        let (xattrs, opaque) = content_xattrs(path)?;
        let tar_path = join(prefix, name);
        if ft.is_dir() {
            return self.directory(path, &meta, tar_path, &xattrs, opaque);
        }
        if meta.nlink() > 1 {
            if let Some(first) = self.links.get(&(meta.dev(), meta.ino())) {
                self.linked = true;
                let h = header_for(&meta, EntryType::Link);
                let first = first.clone();
                return append_entry(&mut self.b, h, &tar_path, Some(&first), &[], io::empty())
                    .map_err(write_err(&tar_path));
            }
            self.links
                .insert((meta.dev(), meta.ino()), tar_path.clone());
        }
        if ft.is_file() {
            self.regular(path, &meta, &tar_path, &xattrs)
        } else if ft.is_symlink() {
            let target = fs::read_link(path).map_err(read_err(path))?;
            let h = header_for(&meta, EntryType::Symlink);
            append_entry(
                &mut self.b,
                h,
                &tar_path,
                Some(target.as_os_str().as_bytes()),
                &xattrs,
                io::empty(),
            )
            .map_err(write_err(&tar_path))
        } else {
            self.special(&meta, &tar_path, &xattrs)
        }
    }

    fn directory(
        &mut self,
        path: &Path,
        meta: &Metadata,
        mut tar_path: Vec<u8>,
        xattrs: &[(String, Vec<u8>)],
        opaque: bool,
    ) -> Result<(), PackError> {
        tar_path.push(b'/');
        let h = header_for(meta, EntryType::Directory);
        append_entry(&mut self.b, h, &tar_path, None, xattrs, io::empty())
            .map_err(write_err(&tar_path))?;
        if opaque {
            let marker = join(&tar_path, b".wh..wh..opq");
            let h = base_header(EntryType::Regular, 0o644, 0, 0, meta.mtime());
            append_entry(&mut self.b, h, &marker, None, &[], io::empty())
                .map_err(write_err(&marker))?;
        }
        self.dir_contents(path, &tar_path)
    }

    fn regular(
        &mut self,
        path: &Path,
        meta: &Metadata,
        tar_path: &[u8],
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<(), PackError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(read_err(path))?;
        let mut h = header_for(meta, EntryType::Regular);
        h.set_size(meta.len());
        let data = Exact {
            file: file.take(meta.len()),
            left: meta.len(),
        };
        append_entry(&mut self.b, h, tar_path, None, xattrs, data).map_err(write_err(tar_path))
    }

    fn special(
        &mut self,
        meta: &Metadata,
        tar_path: &[u8],
        xattrs: &[(String, Vec<u8>)],
    ) -> Result<(), PackError> {
        let ft = meta.file_type();
        let kind = if ft.is_fifo() {
            EntryType::Fifo
        } else if ft.is_block_device() {
            EntryType::Block
        } else {
            EntryType::Char
        };
        let mut h = header_for(meta, kind);
        if kind != EntryType::Fifo {
            let map = write_err(tar_path);
            h.set_device_major(libc::major(meta.rdev())).map_err(map)?;
            h.set_device_minor(libc::minor(meta.rdev()))
                .map_err(write_err(tar_path))?;
        }
        append_entry(&mut self.b, h, tar_path, None, xattrs, io::empty())
            .map_err(write_err(tar_path))
    }
}

/// Yields exactly the size recorded in the header, failing if the file
/// shrank, so a short read can never produce a misaligned archive.
struct Exact {
    file: io::Take<File>,
    left: u64,
}

impl Read for Exact {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being archived",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
