//! Whether a destination file already holds exactly the archive about to be
//! written, so a warm build with `-o` need not rewrite (and fsync) hundreds
//! of megabytes that are already there.
//!
//! Nothing about the file is trusted: every header, JSON file and padding
//! byte is compared with what would be written, and every blob's bytes are
//! hashed and compared with its digest, so the file is byte for byte the
//! archive (short of a sha256 collision). Reading and hashing is cheaper
//! than packing, writing and fsyncing, and a different image is told apart
//! at the config blob, within the first kilobytes.

use super::entries::{Data, Entry};
use crate::blobs::HashingReader;
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

/// True when `dest` is a regular file of `len` bytes that holds exactly
/// `entries`; it is then made durable and its mtime set to now, as a
/// rewrite would. Any doubt or error means "no": the caller rewrites.
pub(crate) fn holds(dest: &Path, entries: &[Entry], len: u64) -> bool {
    // O_NOFOLLOW: a symlink is replaced by a rewrite, never followed;
    // O_NONBLOCK: a FIFO must not hang the open (it fails the is_file check).
    let Ok(file) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dest)
    else {
        return false;
    };
    match file.metadata() {
        Ok(m) if m.is_file() && m.len() == len => {}
        _ => return false,
    }
    let mut r = BufReader::with_capacity(1 << 20, &file);
    if !matches!(matches(&mut r, entries), Ok(true)) {
        return false;
    }
    settle(&file).is_ok()
}

/// What a rewrite would have done to the file's state: durable, and dated now.
fn settle(file: &File) -> io::Result<()> {
    file.sync_all()?;
    file.set_modified(SystemTime::now())
}

fn matches(r: &mut impl Read, entries: &[Entry]) -> io::Result<bool> {
    for e in entries {
        if !same_bytes(r, e.header()?.as_bytes())? {
            return Ok(false);
        }
        let data_ok = match &e.data {
            Data::Dir => true,
            Data::Bytes(b) => same_bytes(r, b)?,
            Data::Blob(desc) => {
                let h = HashingReader::new(r.by_ref().take(desc.size));
                let (digest, size) = h.finish()?;
                digest == desc.digest && size == desc.size
            }
        };
        if !data_ok || !zeros(r, e.padding())? {
            return Ok(false);
        }
    }
    // The end-of-archive blocks, then nothing more.
    Ok(zeros(r, 1024)? && r.read(&mut [0u8; 1])? == 0)
}

fn same_bytes(r: &mut impl Read, want: &[u8]) -> io::Result<bool> {
    let mut buf = [0u8; 4096];
    for chunk in want.chunks(buf.len()) {
        let got = &mut buf[..chunk.len()];
        if !read_all(r, got)? || got != chunk {
            return Ok(false);
        }
    }
    Ok(true)
}

fn zeros(r: &mut impl Read, n: u64) -> io::Result<bool> {
    let mut buf = [0u8; 1024];
    let mut left = n;
    while left > 0 {
        let got = &mut buf[..left.min(1024) as usize];
        if !read_all(r, got)? || got.iter().any(|&b| b != 0) {
            return Ok(false);
        }
        left -= got.len() as u64;
    }
    Ok(true)
}

/// Fills `buf`; false when the file ends first.
fn read_all(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}
