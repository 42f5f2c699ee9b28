//! ADD's archive handling: recognise local tarballs by content and unpack
//! them under the destination with every entry confined to it.
//!
//! Detection follows Docker: a source is an archive when (after gzip
//! decompression, if the magic bytes say gzip) its first block is a valid tar
//! header; anything else is copied like COPY would. bzip2, xz and zstd are
//! recognised but not decompressed (no codec in this build), which is an
//! explicit error rather than a silent copy of the compressed bytes.

use super::archive_error::ArchiveError;
use super::dest;
use super::owner::Ids;
use super::select::{Match, Source};
use super::unpack;
use flate2::read::GzDecoder;
use std::io::{self, Read};
use std::os::fd::BorrowedFd;

/// How a source file is compressed, when it is a tarball.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Tar,
    Gzip,
}

/// Go's tar reader accepts a first block whose checksum (unsigned or signed
/// byte sum, with the checksum field read as spaces) matches the field.
pub(crate) fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block.iter().all(|b| *b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field.iter().map(|b| *b as char).collect();
    let Ok(want) = i64::from_str_radix(text.trim_matches(|c: char| c == ' ' || c == '\0'), 8)
    else {
        return false;
    };
    let in_field = |i: usize| (148..156).contains(&i);
    let unsigned: i64 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| if in_field(i) { 32 } else { *b as i64 })
        .sum();
    let signed: i64 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| if in_field(i) { 32 } else { *b as i8 as i64 })
        .sum();
    want == unsigned || want == signed
}

fn read_up_to(mut r: impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(n);
    r.by_ref().take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Whether a match is a tarball ADD should unpack, and how to decompress it.
pub(crate) fn detect(src: &Source, m: &Match) -> Result<Option<Format>, ArchiveError> {
    if m.top().kind() != libc::S_IFREG {
        return Ok(None);
    }
    let archive = format!("ADD {}", m.real.display());
    let read_err = |source| ArchiveError::Read {
        archive: archive.clone(),
        source,
    };
    let head = read_up_to(m.open(src, m.top()).map_err(read_err)?, 512).map_err(read_err)?;
    let unsupported = |format| {
        Err(ArchiveError::Unsupported {
            archive: archive.clone(),
            format,
        })
    };
    if head.starts_with(&[0x1f, 0x8b]) {
        let file = m.open(src, m.top()).map_err(read_err)?;
        // A corrupt gzip stream is simply "not an archive", as in Docker.
        let block = read_up_to(GzDecoder::new(file), 512).unwrap_or_default();
        return Ok(is_tar_header(&block).then_some(Format::Gzip));
    }
    if head.starts_with(b"BZh") {
        return unsupported("bzip2");
    }
    if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        return unsupported("xz");
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return unsupported("zstd");
    }
    Ok(is_tar_header(&head).then_some(Format::Tar))
}

/// Unpacks the archive `m` into the directory `dest` (created if missing).
/// Entries keep the archive's owners unless `chown` is given.
pub(crate) fn extract(
    root: BorrowedFd,
    dest: &str,
    src: &Source,
    m: &Match,
    format: Format,
    chown: Option<Ids>,
) -> Result<(), ArchiveError> {
    let archive = format!("ADD {}", m.real.display());
    let read_err = |source| ArchiveError::Read {
        archive: archive.clone(),
        source,
    };
    let target =
        dest::mkdir_all(root, dest, 0o755, chown).map_err(|source| ArchiveError::Entry {
            archive: archive.clone(),
            entry: dest.to_string(),
            source,
        })?;
    let file = m.open(src, m.top()).map_err(read_err)?;
    let reader: Box<dyn Read> = match format {
        Format::Tar => Box::new(file),
        Format::Gzip => Box::new(GzDecoder::new(file)),
    };
    unpack::unpack_stream(root, target, &archive, reader)
}
