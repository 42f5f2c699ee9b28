//! Build-context helpers for cache keys: `.dockerignore` rules and the
//! content digest of exactly what a COPY/ADD would read from the context.
//!
//! The selection logic (wildcards, in-root resolution, ignore rules, walk
//! order) is the very one `fileop` copies with, so a cache key can't cover
//! different files than the copy reads. Everything here is blocking and
//! meant to run on `spawn_blocking`.

mod dockerignore;
mod hashcache;
mod hashtable;

pub use dockerignore::{Dockerignore, IgnoreError};
pub use hashcache::HashCache;

use crate::explain::FileInput;
use crate::fileop::at;
use crate::fileop::select::{self, Entry, Match, SelectError, Source};
use mybuild_graph::{CopyAction, Digest, KeyEncoder};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    IgnorePattern(#[from] IgnoreError),
    #[error("open build context {path}: {source}")]
    OpenRoot { path: String, source: io::Error },
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error("hash context file {path}: {source}")]
    Hash { path: String, source: io::Error },
}

/// Digest of what a COPY/ADD of `srcs` reads from the context at `root`:
/// per matched entry its relative path, type, permission bits, size, content
/// hash or link target (never times, inode numbers or owners, which do not
/// reach the image from the context). Missing sources are errors naming them.
/// With `hashes`, files whose metadata did not change since they were last
/// hashed are not read again.
pub fn selection_digest(
    root: &Path,
    dockerignore: &[String],
    copy: &CopyAction,
    hashes: Option<&HashCache>,
) -> Result<Digest, ContextError> {
    selection_digest_listed(root, dockerignore, copy, hashes, None)
}

/// [`selection_digest`], also listing into `files` what it read of each
/// entry (for the records `--explain-cache` diffs).
pub fn selection_digest_listed(
    root: &Path,
    dockerignore: &[String],
    copy: &CopyAction,
    hashes: Option<&HashCache>,
    mut files: Option<&mut Vec<FileInput>>,
) -> Result<Digest, ContextError> {
    let fd = at::open_root(root).map_err(|source| ContextError::OpenRoot {
        path: root.display().to_string(),
        source,
    })?;
    let ignore = Dockerignore::new(dockerignore)?;
    let exclude = Dockerignore::new(&copy.exclude)?;
    let src = Source {
        root: fd.as_fd(),
        ignore: &ignore,
    };
    let request = select::Request {
        patterns: &copy.src,
        parents: copy.parents,
        exclude: &exclude,
    };
    // The cache file loads on a second thread while the walk runs.
    let matches = std::thread::scope(|s| {
        if let Some(h) = hashes {
            s.spawn(|| h.preload());
        }
        select::select(&src, &request)
    })?;
    let mut e = KeyEncoder::new();
    e.str("context-selection")
        .bool(copy.extract_archives)
        .bool(copy.parents)
        .strs(&copy.exclude)
        .strs(&copy.src)
        .u64(matches.len() as u64);
    for m in &matches {
        encode_match(&mut e, &src, m, hashes, files.as_deref_mut())?;
    }
    Ok(e.finish())
}

fn encode_match(
    e: &mut KeyEncoder,
    src: &Source,
    m: &Match,
    hashes: Option<&HashCache>,
    mut files: Option<&mut Vec<FileInput>>,
) -> Result<(), ContextError> {
    e.str(&m.pattern)
        .bytes(m.base_name.as_bytes())
        .u64(m.entries.len() as u64);
    for entry in &m.entries {
        e.bytes(entry.rel.as_os_str().as_bytes());
        e.u64(u64::from(entry.kind()))
            .u64(u64::from(entry.stat.st_mode & 0o7777));
        let path = m.path_of(entry);
        // A hardlink is copied as a link to the earlier path, so the key
        // records which path (never the inode number).
        let body = match entry.hardlink_of {
            Some(first) => {
                let target = m.entries[first].rel.as_os_str().as_bytes();
                e.str("hardlink").bytes(target);
                [b"hardlink:", target].concat()
            }
            None => encode_body(e, src, (m, entry, &path), hashes)?,
        };
        if let Some(files) = files.as_deref_mut() {
            files.push(FileInput {
                path: path.to_string_lossy().into_owned(),
                kind: entry.kind(),
                mode: entry.stat.st_mode & 0o7777,
                body,
            });
        }
    }
    Ok(())
}

/// Encodes what the key reads of an entry's body (at `path` in the
/// context) and returns those bytes.
fn encode_body(
    e: &mut KeyEncoder,
    src: &Source,
    (m, entry, path): (&Match, &Entry, &Path),
    hashes: Option<&HashCache>,
) -> Result<Vec<u8>, ContextError> {
    let body = match entry.kind() {
        libc::S_IFREG => {
            let rel = path.as_os_str().as_bytes();
            if let Some(known) = hashes.and_then(|h| h.get(rel, &entry.stat)) {
                e.u64(known.0).bytes(&known.1);
                return Ok(sized(known.0, &known.1));
            }
            let err = |source| ContextError::Hash {
                path: path.display().to_string(),
                source,
            };
            let file = m.open(src, entry).map_err(err)?;
            let (size, hash) = hash_file(file).map_err(err)?;
            if let Some(h) = hashes {
                h.put(rel, &entry.stat, hash);
            }
            e.u64(size).bytes(&hash);
            sized(size, &hash)
        }
        libc::S_IFLNK => {
            let target = entry.link_target.as_deref().unwrap_or_default().as_bytes();
            e.bytes(target);
            target.to_vec()
        }
        libc::S_IFCHR | libc::S_IFBLK => {
            e.u64(entry.stat.st_rdev);
            entry.stat.st_rdev.to_be_bytes().to_vec()
        }
        _ => Vec::new(),
    };
    Ok(body)
}

fn sized(size: u64, hash: &[u8]) -> Vec<u8> {
    [&size.to_be_bytes()[..], hash].concat()
}

fn hash_file(mut file: std::fs::File) -> io::Result<(u64, [u8; 32])> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hasher.finalize().into()))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "cache_key_tests.rs"]
mod cache_key_tests;
