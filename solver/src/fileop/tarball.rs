//! A build context sent as a tarball (`docker build - < ctx.tar`, a
//! tarball URL): recognised by content as Docker does, then unpacked into
//! an empty directory with the same confinement and header budget as ADD's
//! archives, so a hostile tarball can't write outside that directory.

use super::archive::is_tar_header;
use super::archive_error::ArchiveError;
use super::{at, dest, unpack};
use flate2::read::GzDecoder;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;

/// What a context stream turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TarballKind {
    /// A tar (plain or gzip): unpacked.
    Unpacked,
    /// Not an archive (for `-` on stdin: a Dockerfile).
    NotArchive,
}

/// Unpacks the tar (plain or gzip-compressed) in `file` into the existing
/// directory `dest`, or reports that `file` is no archive. `name` is how
/// errors name the archive (`build context -`, `build context URL`). bzip2, xz and zstd are recognised
/// and refused: this build has no codec for them.
pub fn unpack_tarball(
    file: &mut File,
    dest: &Path,
    name: &str,
) -> Result<TarballKind, ArchiveError> {
    let read_err = |source| ArchiveError::Read {
        archive: name.to_string(),
        source,
    };
    let head = head_of(file, false).map_err(read_err)?;
    let unsupported = |format| ArchiveError::Unsupported {
        archive: name.to_string(),
        format,
    };
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let is_tar = if gzip {
        // A corrupt gzip stream is simply "not an archive", as in Docker.
        is_tar_header(&head_of(file, true).unwrap_or_default())
    } else if head.starts_with(b"BZh") {
        return Err(unsupported("bzip2"));
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return Err(unsupported("xz"));
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(unsupported("zstd"));
    } else {
        is_tar_header(&head)
    };
    if !is_tar {
        return Ok(TarballKind::NotArchive);
    }
    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let reader: Box<dyn Read + '_> = if gzip {
        Box::new(GzDecoder::new(&mut *file))
    } else {
        Box::new(&mut *file)
    };
    extract(reader, dest, name)?;
    Ok(TarballKind::Unpacked)
}

/// The first tar block of `file` (decompressed with `gunzip`).
fn head_of(file: &mut File, gunzip: bool) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::with_capacity(512);
    if gunzip {
        GzDecoder::new(&mut *file).take(512).read_to_end(&mut buf)?;
    } else {
        (&mut *file).take(512).read_to_end(&mut buf)?;
    }
    Ok(buf)
}

fn extract(reader: Box<dyn Read + '_>, dest: &Path, name: &str) -> Result<(), ArchiveError> {
    let read_err = |source| ArchiveError::Read {
        archive: name.to_string(),
        source,
    };
    let root = at::open_root(dest).map_err(read_err)?;
    let target = dest::mkdir_all(root.as_fd(), "/", 0o755, None).map_err(read_err)?;
    unpack::unpack_stream(root.as_fd(), target, name, reader)
}
