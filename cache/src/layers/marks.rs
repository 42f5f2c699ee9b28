//! The hash side of resumable packing (see `midstate`): SHA-256 over the
//! layer tar whose state is kept, as a [`Mark`], before entries about every
//! [`MARK_EVERY`] bytes. Entries start on 512-byte boundaries, so a mark is
//! eight words and a length, with no partial block.

use mybuild_graph::Digest;
use serde::{Deserialize, Serialize};
use sha2::digest::generic_array::GenericArray;
use std::io::{self, Write};

/// Bytes of tar between two marks, at least.
const MARK_EVERY: u64 = 1 << 20;

const INIT: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The hash state before one entry: its path in the tree, as packing walks it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub path: Vec<u8>,
    pub len: u64,
    pub state: [u32; 8],
}

/// Every mark of one layer tar, and whether resuming is allowed.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    pub marks: Vec<Mark>,
    /// The tar had a hard-link entry.
    pub links: bool,
}

/// SHA-256 over a stream, its state readable at block boundaries.
pub(super) struct MarkingSink {
    state: [u32; 8],
    len: u64,
    buf: [u8; 64],
    used: usize,
    pub(super) marks: Vec<Mark>,
}

impl MarkingSink {
    pub(super) fn new(from: Option<&Mark>) -> MarkingSink {
        MarkingSink {
            state: from.map_or(INIT, |m| m.state),
            len: from.map_or(0, |m| m.len),
            buf: [0; 64],
            used: 0,
            marks: from.into_iter().cloned().collect(),
        }
    }

    /// Called before each entry with its tree path: keeps a mark when the
    /// last one is far enough behind.
    pub(super) fn entry(&mut self, path: &[u8]) {
        let due = self
            .marks
            .last()
            .is_none_or(|m| self.len - m.len >= MARK_EVERY);
        if due && self.used == 0 {
            self.marks.push(Mark {
                path: path.to_vec(),
                len: self.len,
                state: self.state,
            });
        }
    }

    pub(super) fn finish(mut self) -> (Digest, u64) {
        let bits = (self.len * 8).to_be_bytes();
        let len = self.len;
        self.update(&[0x80]);
        while self.used != 56 {
            self.update(&[0]);
        }
        self.update(&bits);
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(4).zip(self.state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        (Digest::from_sha256(out), len)
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.used > 0 {
            let n = (64 - self.used).min(data.len());
            self.buf[self.used..self.used + n].copy_from_slice(&data[..n]);
            self.used += n;
            data = &data[n..];
            if self.used < 64 {
                return;
            }
            sha2::compress256(
                &mut self.state,
                &[GenericArray::clone_from_slice(&self.buf)],
            );
            self.used = 0;
        }
        let whole = data.len() / 64 * 64;
        for block in data[..whole].chunks_exact(64) {
            let block = GenericArray::from_slice(block);
            sha2::compress256(&mut self.state, std::slice::from_ref(block));
        }
        let rest = &data[whole..];
        self.buf[..rest.len()].copy_from_slice(rest);
        self.used = rest.len();
    }
}

impl Write for MarkingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
