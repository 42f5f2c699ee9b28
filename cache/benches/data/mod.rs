//! Deterministic bench inputs shared by the cache and solver benches: byte
//! buffers (text-like or incompressible) and trees of real files. Fixed
//! seeds, so every run measures the same bytes.

use std::fs;
use std::io;
use std::path::Path;

/// Files per directory in [`write_tree`], about what a source tree has.
const PER_DIR: usize = 100;

/// A xorshift64 generator: fast, and the same stream on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `len` bytes that do not compress (what media and archives look like).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// `len` bytes of source-like text: lines from a pool of 1,024 made of 256
/// made-up identifiers, with a numbered comment now and then. gzip -6 takes
/// it about 5:1 at about the speed it reads real Rust sources (a text of a
/// few repeated words is slower and compresses less: unlike real files).
pub fn text_bytes(len: usize, seed: u64) -> Vec<u8> {
    const KEYWORDS: [&str; 8] = [
        "let ", "fn ", "if ", "return ", "pub ", "match ", "for ", "use ",
    ];
    const PUNCT: [&str; 8] = [" = ", "(", ")", ", ", ".", " + ", "::", ": "];
    let mut rng = Rng::new(seed);
    let ids: Vec<String> = (0..256)
        .map(|_| {
            let n = 3 + rng.next() % 8;
            (0..n)
                .map(|_| char::from(b'a' + (rng.next() % 26) as u8))
                .collect()
        })
        .collect();
    let lines: Vec<String> = (0..1024)
        .map(|_| {
            let x = rng.next();
            let mut line = "    ".repeat((x % 4) as usize) + KEYWORDS[(x >> 2) as usize % 8];
            for _ in 0..2 + (x >> 5) % 6 {
                let y = rng.next() as usize;
                line += &ids[y % 256];
                line += PUNCT[(y >> 8) % 8];
            }
            line + ";\n"
        })
        .collect();
    let mut out = Vec::with_capacity(len + 128);
    while out.len() < len {
        let x = rng.next();
        out.extend_from_slice(lines[x as usize % 1024].as_bytes());
        if (x >> 10) & 3 == 0 {
            out.extend_from_slice(format!("// {}\n", x >> 40).as_bytes());
        }
    }
    out.truncate(len);
    out
}

/// Writes `files` text files of `size` bytes each (varied by up to half,
/// as real files are) under `root`, [`PER_DIR`] to a directory; returns
/// the bytes written. Each file is a slice of one text at its own offset.
pub fn write_tree(root: &Path, files: usize, size: usize, seed: u64) -> io::Result<u64> {
    let mut rng = Rng::new(seed);
    let text = text_bytes(size * 64, rng.next());
    let mut total = 0u64;
    for i in 0..files {
        let dir = root.join(format!("pkg{:04}", i / PER_DIR));
        if i.is_multiple_of(PER_DIR) {
            fs::create_dir_all(&dir)?;
        }
        let len = size / 2 + (rng.next() as usize) % (size + 1);
        let start = (rng.next() as usize) % (text.len() - len);
        fs::write(
            dir.join(format!("mod{:03}.rs", i % PER_DIR)),
            &text[start..start + len],
        )?;
        total += len as u64;
    }
    Ok(total)
}
