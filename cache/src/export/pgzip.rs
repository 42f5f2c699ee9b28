//! gzip on every core: the layer is cut into fixed-size chunks, each
//! compressed as its own gzip member, and the members concatenated (RFC
//! 1952 allows several; Go's, zlib's and flate2's multi-member readers all
//! read them as one stream). The output depends only on the input, so the
//! same layer always gets the same blob digest.
//!
//! Chunks that do not compress (already compressed or random data) are
//! found from a sample and stored uncompressed inside the gzip stream,
//! where level 6 would spend seconds per hundred megabytes to save nothing.

use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::sync::{mpsc, Mutex};

const CHUNK: usize = 4 << 20;
const SAMPLE: usize = 64 << 10;

fn compress(chunk: &[u8]) -> io::Result<Vec<u8>> {
    let sample = &chunk[..chunk.len().min(SAMPLE)];
    let mut probe = GzEncoder::new(Vec::new(), Compression::fast());
    probe.write_all(sample)?;
    let probed = probe.finish()?.len();
    // Under 3% saved on the sample: treat the chunk as incompressible.
    if probed * 100 >= sample.len() * 97 {
        return Ok(stored_member(chunk));
    }
    let mut e = GzEncoder::new(Vec::with_capacity(chunk.len() / 2), Compression::default());
    e.write_all(chunk)?;
    e.finish()
}

/// Longest stored deflate block (its length is 16 bits).
const STORED_BLOCK: usize = 0xffff;

/// A gzip member of stored (uncompressed) deflate blocks, written here
/// rather than by flate2's level 0, whose stored path went through the
/// deflate machinery at a fraction of memory speed (a quarter of a big
/// push's CPU time, issue 15). The blocks are cut at 64 KiB where flate2
/// cut them at 31 KiB, so a layer compressed before this change has a
/// different (still recorded and reused) blob digest than it gets now.
fn stored_member(chunk: &[u8]) -> Vec<u8> {
    let blocks = chunk.len().div_ceil(STORED_BLOCK).max(1);
    let mut out = Vec::with_capacity(10 + chunk.len() + 5 * blocks + 8);
    // Magic, deflate, no flags, no mtime, "fastest" extra flags, unknown
    // OS: the header flate2's GzEncoder writes at level 0.
    out.extend([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
    let mut rest = chunk;
    loop {
        let n = rest.len().min(STORED_BLOCK);
        let last = n == rest.len();
        out.push(u8::from(last));
        out.extend((n as u16).to_le_bytes());
        out.extend((!(n as u16)).to_le_bytes());
        out.extend(&rest[..n]);
        rest = &rest[n..];
        if last {
            break;
        }
    }
    out.extend(crc32fast::hash(chunk).to_le_bytes());
    out.extend((chunk.len() as u32).to_le_bytes());
    out
}

/// Fills `buf` from `src` as far as it goes; returns the bytes read.
fn fill(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Compresses all of `src` into `dst` as a pipeline: `src` is read on
/// its own thread, chunks are compressed on every core, and the caller
/// writes them in order, so reading (a layer's tar and its digest) and
/// writing (the blob and its digest) overlap. At most one chunk a core is
/// in flight, as many as the batches that came before held.
pub fn gzip(src: &mut (impl Read + Send), dst: &mut impl Write) -> io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    // A chunk is read only with a token, which its writing gives back;
    // the channels hold every token, so no send ever waits.
    let tokens = workers.max(2);
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(tokens);
    for _ in 0..tokens {
        let _ = token_tx.send(());
    }
    let (job_tx, job_rx) = mpsc::sync_channel::<(usize, Vec<u8>)>(tokens);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let reader = s.spawn(move || read_chunks(src, &token_rx, &job_tx));
        for _ in 0..workers {
            let (jobs, done) = (&job_rx, done_tx.clone());
            s.spawn(move || loop {
                let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((seq, chunk)) = job else {
                    return;
                };
                let out = std::panic::catch_unwind(|| compress(&chunk))
                    .unwrap_or_else(|_| Err(io::Error::other("gzip worker panicked")));
                if done.send((seq, out)).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        let written = write_in_order(&done_rx, token_tx, dst);
        // Writing stopped (done or failed): the reader and workers see
        // their channels close and stop too.
        drop(done_rx);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("gzip reader panicked")))?;
        if written? != read {
            return Err(io::Error::other("a gzip worker stopped before its chunk"));
        }
        Ok(())
    })
}

/// Reads `src` into chunks for the workers, each once a token allows;
/// returns how many (an empty `src` is one empty chunk: one member).
fn read_chunks(
    src: &mut impl Read,
    tokens: &mpsc::Receiver<()>,
    jobs: &mpsc::SyncSender<(usize, Vec<u8>)>,
) -> io::Result<usize> {
    let mut seq = 0;
    loop {
        if tokens.recv().is_err() {
            return Ok(seq); // the writer stopped
        }
        let mut buf = vec![0u8; CHUNK];
        let n = fill(src, &mut buf)?;
        if n == 0 && seq > 0 {
            return Ok(seq);
        }
        buf.truncate(n);
        if jobs.send((seq, buf)).is_err() {
            return Ok(seq);
        }
        seq += 1;
        if n < CHUNK {
            return Ok(seq);
        }
    }
}

/// Writes compressed chunks in their order as they come; returns how many.
fn write_in_order(
    done: &mpsc::Receiver<(usize, io::Result<Vec<u8>>)>,
    tokens: mpsc::SyncSender<()>,
    dst: &mut impl Write,
) -> io::Result<usize> {
    let mut pending = BTreeMap::new();
    let mut next = 0;
    for (seq, out) in done.iter() {
        pending.insert(seq, out);
        while let Some(out) = pending.remove(&next) {
            dst.write_all(&out?)?;
            next += 1;
            let _ = tokens.send(());
        }
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        gzip(&mut &data[..], &mut out).unwrap();
        let mut back = Vec::new();
        flate2::read::MultiGzDecoder::new(&out[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        out
    }

    /// `len` bytes that do not compress (xorshift from `seed`).
    fn noise(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn stored_members_decode_with_flate2_and_add_five_bytes_a_block() {
        let noise = noise(CHUNK + 70_001, 0x1234_5678);
        for len in [0, 1, 65_535, 65_536, 131_070, 200_000, noise.len()] {
            let member = stored_member(&noise[..len]);
            let blocks = len.div_ceil(STORED_BLOCK).max(1);
            assert_eq!(member.len(), 18 + len + 5 * blocks, "{len} bytes");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&member[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == noise[..len], "{len} bytes come back");
        }
    }

    #[test]
    fn members_decode_as_one_stream_and_are_deterministic() {
        let text: Vec<u8> = (0..CHUNK * 2 + 123).map(|i| b"layer "[i % 6]).collect();
        let a = roundtrip(&text);
        assert!(a.len() < text.len() / 50, "text is compressed");
        assert_eq!(a, roundtrip(&text), "same input, same blob");
        let noise = noise(CHUNK + 7, 0x9e37_79b9);
        let b = roundtrip(&noise);
        assert!(b.len() < noise.len() + noise.len() / 50);
        assert!(
            !roundtrip(&[]).is_empty(),
            "an empty layer is a valid gzip stream"
        );
    }

    /// Gives `ok` bytes, then fails.
    struct FailingRead {
        ok: usize,
    }

    impl Read for FailingRead {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::other("source broke"));
            }
            let n = buf.len().min(self.ok);
            buf[..n].fill(b'a');
            self.ok -= n;
            Ok(n)
        }
    }

    /// Takes `room` bytes, then fails.
    struct FailingWrite {
        room: usize,
    }

    impl Write for FailingWrite {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room < buf.len() {
                return Err(io::Error::other("disk full"));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn failures_on_either_side_stop_the_pipeline_with_the_error() {
        let mut out = Vec::new();
        let err = gzip(&mut FailingRead { ok: CHUNK * 3 + 5 }, &mut out).unwrap_err();
        assert_eq!(err.to_string(), "source broke");
        let data = vec![7u8; CHUNK * 5];
        let err = gzip(&mut &data[..], &mut FailingWrite { room: 100 }).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }
}
