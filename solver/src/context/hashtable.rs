//! The on-disk form of the context hash cache, made to be loaded with one
//! read and no per-entry allocation: a warm build of a big context looks
//! up every file, and decoding a map of owned strings first was a tenth of
//! its time (issue 15).
//!
//! Layout (little-endian): the magic, the record count, the length of the
//! name area and a CRC-32 of everything after the header; then one
//! fixed-size record per file, sorted by path bytes; then the paths. A
//! file that fails any check (magic, sizes, checksum, a name out of bounds)
//! is not used at all, which only costs hashing the files again.

use std::io::{self, Seek, SeekFrom, Write};

const MAGIC: &[u8] = b"mybuild-context-hashes-v2\n";
const HEADER: usize = MAGIC.len() + 12;
/// ino, size, mode, uid, gid, name length, four times, name offset, pad, digest.
const RECORD: usize = 8 + 8 + 4 + 4 + 4 + 4 + 4 * 8 + 4 + 4 + 32;

/// What must be unchanged for a remembered digest to be trusted: what a
/// COPY's journal keeps of its sources too (`rdev` is 0, as for every
/// regular file).
pub(super) use crate::fileop::journal::SourceMeta as Meta;

/// A loaded cache file: the bytes as read, parsed on access.
#[derive(Default)]
pub(super) struct Table {
    bytes: Vec<u8>,
    count: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

impl Table {
    /// Checks `bytes` whole; `None` for anything but a sound v2 file.
    pub fn parse(bytes: Vec<u8>) -> Option<Table> {
        if bytes.len() < HEADER || !bytes.starts_with(MAGIC) {
            return None;
        }
        let count = u32_at(&bytes, MAGIC.len()) as usize;
        let names = u32_at(&bytes, MAGIC.len() + 4) as usize;
        let crc = u32_at(&bytes, MAGIC.len() + 8);
        let names_at = HEADER.checked_add(count.checked_mul(RECORD)?)?;
        if names_at.checked_add(names)? != bytes.len() || crc32fast::hash(&bytes[HEADER..]) != crc {
            return None;
        }
        let table = Table { bytes, count };
        for i in 0..count {
            let (off, len) = table.name_range(i);
            if (off as u64 + len as u64) > names as u64 {
                return None;
            }
        }
        Some(table)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    fn record(&self, i: usize) -> &[u8] {
        let at = HEADER + i * RECORD;
        &self.bytes[at..at + RECORD]
    }

    fn name_range(&self, i: usize) -> (usize, usize) {
        let r = self.record(i);
        (u32_at(r, 64) as usize, u32_at(r, 28) as usize)
    }

    pub fn name(&self, i: usize) -> &[u8] {
        let (off, len) = self.name_range(i);
        let at = HEADER + self.count * RECORD + off;
        &self.bytes[at..at + len]
    }

    pub fn meta(&self, i: usize) -> Meta {
        let r = self.record(i);
        let t = |k: usize| u64_at(r, 32 + 8 * k) as i64;
        Meta {
            ino: u64_at(r, 0),
            size: u64_at(r, 8),
            mode: u32_at(r, 16),
            uid: u32_at(r, 20),
            gid: u32_at(r, 24),
            rdev: 0,
            mtime: (t(0), t(1)),
            ctime: (t(2), t(3)),
        }
    }

    pub fn digest(&self, i: usize) -> [u8; 32] {
        self.record(i)[72..104].try_into().unwrap_or_default()
    }

    /// The index of `name`, trying `hint` first: lookups come in walk
    /// order, which is nearly the sorted order, so the hint mostly hits.
    pub fn find(&self, name: &[u8], hint: usize) -> Option<usize> {
        if hint < self.count && self.name(hint) == name {
            return Some(hint);
        }
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.name(mid).cmp(name) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

/// One entry to write: path bytes, what the file looked like, its digest.
pub(super) type Row<'a> = (&'a [u8], Meta, [u8; 32]);

/// Writes the file for the rows `rows()` yields (sorted by path, unique)
/// straight to `out`, going over them three times instead of holding a
/// copy: a cold build of a big context has a row per file.
pub(super) fn write<'a, I, W>(out: &mut W, rows: impl Fn() -> I) -> io::Result<()>
where
    I: Iterator<Item = Row<'a>>,
    W: Write + Seek,
{
    let (mut count, mut names) = (0u64, 0u64);
    for (name, _, _) in rows() {
        count += 1;
        names += name.len() as u64;
    }
    let too_big = |_| io::Error::other("context hash cache over 4 GiB");
    let count = u32::try_from(count).map_err(too_big)?;
    let names = u32::try_from(names).map_err(too_big)?;
    out.write_all(&[0; HEADER])?;
    let mut crc = crc32fast::Hasher::new();
    let mut put = |bytes: &[u8]| {
        crc.update(bytes);
        out.write_all(bytes)
    };
    let mut off = 0u32;
    for (name, m, digest) in rows() {
        put(&record(name.len() as u32, off, &m, &digest))?;
        off += name.len() as u32;
    }
    for (name, _, _) in rows() {
        put(name)?;
    }
    let mut header = MAGIC.to_vec();
    for v in [count, names, crc.finalize()] {
        header.extend(v.to_le_bytes());
    }
    out.seek(SeekFrom::Start(0))?;
    out.write_all(&header)
}

fn record(name_len: u32, name_off: u32, m: &Meta, digest: &[u8; 32]) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        r[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(&m.ino.to_le_bytes());
    put(&m.size.to_le_bytes());
    for v in [m.mode, m.uid, m.gid, name_len] {
        put(&v.to_le_bytes());
    }
    for v in [m.mtime.0, m.mtime.1, m.ctime.0, m.ctime.1] {
        put(&v.to_le_bytes());
    }
    put(&name_off.to_le_bytes());
    put(&0u32.to_le_bytes());
    put(digest);
    r
}
