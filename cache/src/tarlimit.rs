//! Bounds the memory a tar stream can make its reader spend on headers.
//!
//! The tar reader reads PAX records, GNU long names and links, and old-GNU
//! sparse maps wholly into memory before it yields the entry they describe,
//! trusting their declared size. A hostile archive (or a small gzip bomb)
//! can declare gigabytes of them. [`Metered`] counts the bytes read while
//! the reader looks for the next entry and fails past [`HEADER_BUDGET`];
//! an entry's own data is read with the meter off. Go's archive/tar caps
//! each special header at 1 MiB for the same reason.

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the headers in front of one entry may take: room for a 1 MiB PAX
/// record set, long name and long link, with blocks to spare.
pub const HEADER_BUDGET: u64 = 4 << 20;

/// Meter state: bytes read since armed, or `OFF` while reading entry data.
const OFF: u64 = u64::MAX;

/// A reader that fails once more than the budget is read while armed.
pub struct Metered<R> {
    inner: R,
    used: Arc<AtomicU64>,
    budget: u64,
}

/// The handle the loop over entries uses to switch the meter.
#[derive(Clone)]
pub struct Meter(Arc<AtomicU64>);

impl Meter {
    /// Before handing an entry's data to the caller.
    pub fn off(&self) {
        self.0.store(OFF, Ordering::Relaxed);
    }

    /// Before asking the tar reader for the next entry; the previous entry's
    /// data must have been read to its end (see [`drain`]).
    pub fn arm(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

impl<R> Metered<R> {
    /// Wraps `inner`, armed with `budget` bytes.
    pub fn new(inner: R, budget: u64) -> (Metered<R>, Meter) {
        let used = Arc::new(AtomicU64::new(0));
        let meter = Meter(used.clone());
        (
            Metered {
                inner,
                used,
                budget,
            },
            meter,
        )
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let used = self.used.load(Ordering::Relaxed);
        if used == OFF {
            return self.inner.read(buf);
        }
        if used >= self.budget {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "tar headers before one entry exceed {} MiB (corrupt or hostile archive)",
                    self.budget >> 20
                ),
            ));
        }
        let room = (self.budget - used).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..room])?;
        self.used.store(used + n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Skipping by seek reads nothing, so it costs no budget.
impl<R: Seek> Seek for Metered<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Reads the rest of an entry's data, so the reader's own skip (which would
/// count against the armed meter) has nothing left to do.
pub fn drain(entry: &mut impl Read) -> io::Result<()> {
    io::copy(entry, &mut io::sink()).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PAX header claiming `size` bytes of records, then nothing.
    fn pax_bomb(size: u64) -> impl Read {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        h.set_path("PaxHeaders/x").unwrap();
        h.set_size(size);
        h.set_cksum();
        io::Cursor::new(h.as_bytes().to_vec()).chain(io::repeat(b'1'))
    }

    #[test]
    fn an_oversized_pax_header_fails_instead_of_filling_memory() {
        let (r, _meter) = Metered::new(pax_bomb(8 << 30), HEADER_BUDGET);
        let mut ar = tar::Archive::new(r);
        let err = ar.entries().unwrap().next().unwrap().err().unwrap();
        assert!(err.to_string().contains("exceed 4 MiB"), "{err}");
    }

    #[test]
    fn entry_data_is_not_metered() {
        let mut b = tar::Builder::new(Vec::new());
        for name in ["a", "b"] {
            let mut h = tar::Header::new_gnu();
            h.set_size(64 << 10);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, io::repeat(7).take(64 << 10))
                .unwrap();
        }
        let bytes = b.into_inner().unwrap();
        // A budget smaller than one entry's data, larger than its header.
        let (r, meter) = Metered::new(io::Cursor::new(bytes), 4096);
        let mut ar = tar::Archive::new(r);
        let mut seen = 0;
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            meter.off();
            drain(&mut e).unwrap();
            meter.arm();
            seen += 1;
        }
        assert_eq!(seen, 2);
    }
}
