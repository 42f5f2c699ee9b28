//! The blob store: immutable files named by their sha256, written through an
//! [`Ingest`] that hashes while writing, so a file under a digest name is
//! always complete and correct.

use crate::error::{io_err, StoreError};
use crate::fsutil::{fsync_dir, unique_name};
use crate::store::Store;
use mybuild_graph::Digest;
use sha2::{Digest as _, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

impl Store {
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    /// Reads a whole blob, refusing it if its content no longer matches its name.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(d);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::BlobMissing { digest: d.clone() })
            }
            Err(e) => return Err(io_err("read blob", &path)(e)),
        };
        let actual = Digest::of(&bytes);
        if &actual != d {
            return Err(StoreError::DigestMismatch {
                what: format!("read blob {}", path.display()),
                expected: d.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Opens a blob for streaming; the caller verifies via [`HashingReader`].
    pub fn open_blob(&self, d: &Digest) -> Result<File, StoreError> {
        let path = self.blob_path(d);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::BlobMissing { digest: d.clone() },
            _ => io_err("open blob", &path)(e),
        })
    }

    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = Digest::of(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let mut ingest = self.ingest()?;
        ingest
            .write_all(bytes)
            .map_err(io_err("write", &ingest.path))?;
        Ok(ingest.commit(Some(&digest))?.0)
    }

    /// Starts writing a new blob whose digest is computed on the fly.
    pub fn ingest(&self) -> Result<Ingest, StoreError> {
        let path = self.ingest_dir().join(unique_name("in-"));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)
            .map_err(io_err("create", &path))?;
        Ok(Ingest {
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            blobs_dir: self.blobs_dir(),
        })
    }
}

/// A blob being written. Commit it to give it its digest name; dropping it
/// uncommitted deletes the temp file.
pub struct Ingest {
    file: Option<File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    blobs_dir: PathBuf,
}

impl Write for Ingest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest already committed"))?;
        let n = file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Ingest {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Checks the digest, makes the content durable and publishes it under
    /// its digest name. Returns the digest and size.
    pub fn commit(mut self, expected: Option<&Digest>) -> Result<(Digest, u64), StoreError> {
        let digest = Digest::from_sha256(std::mem::take(&mut self.hasher).finalize().into());
        if let Some(expected) = expected {
            if *expected != digest {
                return Err(StoreError::DigestMismatch {
                    what: format!("ingest {}", self.path.display()),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        let file = self.file.take().expect("ingest file present until commit");
        file.sync_all().map_err(io_err("fsync", &self.path))?;
        drop(file);
        let target = self.blobs_dir.join(digest.hex());
        fs::rename(&self.path, &target).map_err(io_err("rename into", &target))?;
        fsync_dir(&self.blobs_dir).map_err(io_err("fsync", &self.blobs_dir))?;
        Ok((digest, self.size))
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Hashes everything written through it: a layer's diff_id without
/// keeping its tar.
pub struct HashingSink {
    hasher: Sha256,
    size: u64,
}

impl HashingSink {
    pub fn new() -> Self {
        HashingSink {
            hasher: Sha256::new(),
            size: 0,
        }
    }

    pub fn finish(self) -> (Digest, u64) {
        (
            Digest::from_sha256(self.hasher.finalize().into()),
            self.size,
        )
    }
}

impl Default for HashingSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for HashingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`HashingSink`] that hashes on a thread of its own once the stream
/// passes one chunk: packing a big layer then reads its files while the
/// tar written so far is hashed (SHA-256 was about half of a large RUN
/// layer's commit). A small layer is hashed inline, without a thread.
pub struct PipelinedHashingSink {
    buf: Vec<u8>,
    inline: HashingSink,
    thread: Option<HashThread>,
}

/// The hashing thread: full chunks go to it, emptied ones come back.
struct HashThread {
    full: std::sync::mpsc::SyncSender<Vec<u8>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: std::thread::JoinHandle<HashingSink>,
}

const HASH_CHUNK: usize = 1 << 20;

impl PipelinedHashingSink {
    pub fn new() -> Self {
        PipelinedHashingSink {
            buf: Vec::with_capacity(HASH_CHUNK),
            inline: HashingSink::new(),
            thread: None,
        }
    }

    /// Hands the full buffer to the thread, starting it on the first one.
    fn send(&mut self) -> io::Result<()> {
        if self.thread.is_none() {
            self.thread = Some(HashThread::start(std::mem::take(&mut self.inline))?);
        }
        let t = self.thread.as_ref().expect("started above");
        let next = t
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        t.full
            .send(full)
            .map_err(|_| io::Error::other("the layer hashing thread ended"))
    }

    /// The digest and length of everything written.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        let Some(t) = self.thread.take() else {
            self.inline.write_all(&self.buf)?;
            return Ok(std::mem::take(&mut self.inline).finish());
        };
        if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            t.full
                .send(rest)
                .map_err(|_| io::Error::other("the layer hashing thread ended"))?;
        }
        drop(t.full);
        let sink = t
            .worker
            .join()
            .map_err(|_| io::Error::other("the layer hashing thread panicked"))?;
        Ok(sink.finish())
    }
}

impl Default for PipelinedHashingSink {
    fn default() -> Self {
        Self::new()
    }
}

impl HashThread {
    fn start(mut sink: HashingSink) -> io::Result<HashThread> {
        let (full, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (empty_tx, empty) = std::sync::mpsc::sync_channel::<Vec<u8>>(3);
        let worker = std::thread::Builder::new()
            .name("layer-sha256".into())
            .spawn(move || {
                for mut chunk in full_rx {
                    // Infallible: HashingSink only hashes.
                    let _ = sink.write_all(&chunk);
                    chunk.clear();
                    let _ = empty_tx.try_send(chunk);
                }
                sink
            })?;
        Ok(HashThread {
            full,
            empty,
            worker,
        })
    }
}

impl Write for PipelinedHashingSink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(HASH_CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == HASH_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Hashes everything read through it, to verify a stream against a digest.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Reads what is left, then returns the digest and total size.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((
            Digest::from_sha256(self.hasher.finalize().into()),
            self.size,
        ))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(tmp.path()).unwrap();
        (tmp, s)
    }

    #[test]
    fn put_and_read_round_trip() {
        let (_t, s) = store();
        let d = s.put_blob(b"hello").unwrap();
        assert_eq!(d, Digest::of(b"hello"));
        assert!(s.has_blob(&d));
        assert_eq!(s.read_blob(&d).unwrap(), b"hello");
    }

    #[test]
    fn ingest_mismatch_leaves_nothing() {
        let (_t, s) = store();
        let mut ing = s.ingest().unwrap();
        ing.write_all(b"actual").unwrap();
        let wrong = Digest::of(b"expected");
        assert!(matches!(
            ing.commit(Some(&wrong)),
            Err(StoreError::DigestMismatch { .. })
        ));
        assert!(!s.has_blob(&wrong));
        assert!(!s.has_blob(&Digest::of(b"actual")));
        assert_eq!(fs::read_dir(s.ingest_dir()).unwrap().count(), 0);
        assert_eq!(fs::read_dir(s.blobs_dir()).unwrap().count(), 0);
    }

    #[test]
    fn dropped_ingest_is_removed() {
        let (_t, s) = store();
        let mut ing = s.ingest().unwrap();
        ing.write_all(b"partial").unwrap();
        drop(ing);
        assert_eq!(fs::read_dir(s.ingest_dir()).unwrap().count(), 0);
    }

    #[test]
    fn corrupted_blob_is_refused() {
        let (_t, s) = store();
        let d = s.put_blob(b"good").unwrap();
        fs::write(s.blob_path(&d), b"evil").unwrap();
        assert!(matches!(
            s.read_blob(&d),
            Err(StoreError::DigestMismatch { .. })
        ));
    }

    #[test]
    fn pipelined_hashing_equals_inline_hashing_at_every_size() {
        let data: Vec<u8> = (0..(HASH_CHUNK * 7 / 2) as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let sizes = [
            0,
            1,
            511,
            HASH_CHUNK - 1,
            HASH_CHUNK,
            HASH_CHUNK + 1,
            data.len(),
        ];
        for len in sizes {
            for step in [1usize, 4096, 300_001, HASH_CHUNK * 2] {
                if step == 1 && len > 4096 {
                    continue;
                }
                let mut p = PipelinedHashingSink::new();
                for part in data[..len].chunks(step) {
                    p.write_all(part).unwrap();
                }
                let expected = (Digest::of(&data[..len]), len as u64);
                assert_eq!(
                    p.finish().unwrap(),
                    expected,
                    "{len} bytes in writes of {step}"
                );
            }
        }
    }
}
