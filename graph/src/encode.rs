//! The canonical binary encoding that cache keys are hashed from.
//!
//! Every field is written with an explicit tag byte and a length prefix, so
//! no two different ops can encode to the same bytes, and the encoding does
//! not move when Rust's `Hash` or a map's order would. Changing how any op
//! encodes requires bumping [`GRAPH_KEY_VERSION`], which invalidates every
//! cache key computed before.

use crate::Digest;
use sha2::{Digest as _, Sha256};

/// Version of the op encoding; part of every cache key.
pub const GRAPH_KEY_VERSION: u32 = 3;

/// Streams a canonical encoding into sha256.
pub struct KeyEncoder {
    hasher: Sha256,
}

impl Default for KeyEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyEncoder {
    pub fn new() -> Self {
        let mut e = KeyEncoder {
            hasher: Sha256::new(),
        };
        e.str("mybuild-cache-key");
        e.u64(GRAPH_KEY_VERSION as u64);
        e
    }

    fn tag(&mut self, t: u8) {
        self.hasher.update([t]);
    }

    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.tag(b'u');
        self.hasher.update(v.to_be_bytes());
        self
    }

    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.tag(b'b');
        self.hasher.update([v as u8]);
        self
    }

    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.tag(b's');
        self.hasher.update((v.len() as u64).to_be_bytes());
        self.hasher.update(v);
        self
    }

    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }

    pub fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        match v {
            None => {
                self.tag(b'n');
                self
            }
            Some(s) => self.str(s),
        }
    }

    pub fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            None => {
                self.tag(b'n');
                self
            }
            Some(n) => self.u64(n),
        }
    }

    pub fn strs(&mut self, v: &[String]) -> &mut Self {
        self.tag(b'l');
        self.hasher.update((v.len() as u64).to_be_bytes());
        for s in v {
            self.str(s);
        }
        self
    }

    pub fn digest(&mut self, d: &Digest) -> &mut Self {
        self.str(d.as_str())
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.hasher.finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefix_separates_fields() {
        let mut a = KeyEncoder::new();
        a.str("ab").str("c");
        let mut b = KeyEncoder::new();
        b.str("a").str("bc");
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn none_differs_from_empty() {
        let mut a = KeyEncoder::new();
        a.opt_str(None);
        let mut b = KeyEncoder::new();
        b.opt_str(Some(""));
        assert_ne!(a.finish(), b.finish());
    }

    /// Pins the encoding: if this changes, GRAPH_KEY_VERSION must change too.
    #[test]
    fn encoding_is_stable() {
        let mut e = KeyEncoder::new();
        e.str("exec")
            .strs(&["sh".into(), "-c".into()])
            .u64(7)
            .bool(true)
            .opt_str(None);
        assert_eq!(
            e.finish().as_str(),
            "sha256:8487ffbe68eca94942e69fce1a2bf29bb87559bf1f44f49b03d823def16b5c83"
        );
    }
}
