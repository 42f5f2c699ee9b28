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
use std::io::{self, Read, Write};

const CHUNK: usize = 4 << 20;
const SAMPLE: usize = 64 << 10;

fn compress(chunk: &[u8]) -> io::Result<Vec<u8>> {
    let sample = &chunk[..chunk.len().min(SAMPLE)];
    let mut probe = GzEncoder::new(Vec::new(), Compression::fast());
    probe.write_all(sample)?;
    let probed = probe.finish()?.len();
    // Under 3% saved on the sample: treat the chunk as incompressible.
    let level = if probed * 100 >= sample.len() * 97 {
        // Stored blocks: the same size level 1 reaches on such data, at
        // memory speed.
        Compression::none()
    } else {
        Compression::default()
    };
    let mut e = GzEncoder::new(Vec::with_capacity(chunk.len() / 2), level);
    e.write_all(chunk)?;
    e.finish()
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

/// Compresses all of `src` into `dst`.
pub fn gzip(src: &mut impl Read, dst: &mut impl Write) -> io::Result<()> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut first = true;
    loop {
        let mut batch = Vec::with_capacity(workers);
        for _ in 0..workers {
            let mut buf = vec![0u8; CHUNK];
            let n = fill(src, &mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            batch.push(buf);
        }
        // An empty layer still needs one (empty) member.
        if batch.is_empty() && first {
            batch.push(Vec::new());
        }
        if batch.is_empty() {
            return Ok(());
        }
        first = false;
        let done = batch.len() < workers || batch.last().is_some_and(|b| b.len() < CHUNK);
        let outputs: Vec<io::Result<Vec<u8>>> = std::thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|chunk| s.spawn(move || compress(chunk)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("gzip worker panicked")))
                })
                .collect()
        });
        for out in outputs {
            dst.write_all(&out?)?;
        }
        if done {
            return Ok(());
        }
    }
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

    #[test]
    fn members_decode_as_one_stream_and_are_deterministic() {
        let text: Vec<u8> = (0..CHUNK * 2 + 123).map(|i| b"layer "[i % 6]).collect();
        let a = roundtrip(&text);
        assert!(a.len() < text.len() / 50, "text is compressed");
        assert_eq!(a, roundtrip(&text), "same input, same blob");
        let mut x = 0x9e37_79b9u32;
        let noise: Vec<u8> = (0..CHUNK + 7)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let b = roundtrip(&noise);
        assert!(b.len() < noise.len() + noise.len() / 50);
        assert!(
            !roundtrip(&[]).is_empty(),
            "an empty layer is a valid gzip stream"
        );
    }
}
