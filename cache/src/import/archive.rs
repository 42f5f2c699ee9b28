//! The archive as an index of entry names to byte ranges. Nothing is ever
//! extracted: blobs are read by name through positional reads of the one
//! archive file, so hostile entry names cannot touch the host.

use super::stream::Section;
use super::ImportError;
use crate::tarlimit::{Metered, HEADER_BUDGET};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};

/// What an entry name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    File {
        offset: u64,
        size: u64,
    },
    /// Anything that is not a regular file (links, devices, sparse files).
    Other {
        kind: &'static str,
    },
}

/// A tar archive opened for random access.
pub(super) struct Archive {
    file: File,
    label: String,
    entries: HashMap<String, Entry>,
}

impl Archive {
    /// Reads every header (skipping over the data) and records where each
    /// regular file's content lives.
    pub(super) fn index(file: File, label: &str) -> Result<Archive, ImportError> {
        let len = file
            .metadata()
            .map_err(|source| ImportError::Io {
                archive: label.into(),
                op: "stat",
                source,
            })?
            .len();
        let tar_err = |source| ImportError::Tar {
            archive: label.into(),
            source,
        };
        let mut entries = HashMap::new();
        // Data is skipped by seeking, so only headers are ever read.
        let (reader, meter) = Metered::new(Section::new(&file, 0, len), HEADER_BUDGET);
        let mut tar = tar::Archive::new(reader);
        for entry in tar.entries_with_seek().map_err(tar_err)? {
            let entry = entry.map_err(tar_err)?;
            meter.arm();
            let raw = entry.path_bytes();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let Some(name) = normalise(&raw) else {
                return Err(ImportError::UnsafePath {
                    archive: label.into(),
                    entry: shown,
                });
            };
            let (offset, size) = (entry.raw_file_position(), entry.size());
            if offset.checked_add(size).is_none_or(|end| end > len) {
                return Err(ImportError::Truncated {
                    archive: label.into(),
                    entry: shown,
                });
            }
            use tar::EntryType as T;
            let what = match entry.header().entry_type() {
                T::Regular | T::Continuous => Entry::File { offset, size },
                T::Directory | T::XGlobalHeader => continue,
                T::Symlink => Entry::Other { kind: "symlink" },
                T::Link => Entry::Other { kind: "hard link" },
                T::GNUSparse => Entry::Other {
                    kind: "sparse file",
                },
                _ => Entry::Other {
                    kind: "special file",
                },
            };
            let io_err = |source| ImportError::Io {
                archive: label.into(),
                op: "read",
                source,
            };
            let seen = entries.get(&name).copied();
            let same = match (seen, what) {
                (None, _) => {
                    entries.insert(name, what);
                    continue;
                }
                (
                    Some(Entry::File {
                        offset: o1,
                        size: s1,
                    }),
                    Entry::File { .. },
                ) => s1 == size && same_bytes(&file, o1, offset, size).map_err(io_err)?,
                _ => false,
            };
            if !same {
                return Err(ImportError::DuplicateEntry {
                    archive: label.into(),
                    entry: name,
                });
            }
        }
        Ok(Archive {
            file,
            label: label.into(),
            entries,
        })
    }

    pub(super) fn label(&self) -> &str {
        &self.label
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    pub(super) fn unsafe_path(&self, entry: &str) -> ImportError {
        ImportError::UnsafePath {
            archive: self.label.clone(),
            entry: entry.into(),
        }
    }

    /// Turns a path named inside the archive's metadata into an entry name.
    pub(super) fn reference(&self, path: &str) -> Result<String, ImportError> {
        normalise(path.as_bytes())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| self.unsafe_path(path))
    }

    /// The content of regular file `name`; `referrer` says who asked for it.
    pub(super) fn open(&self, name: &str, referrer: &str) -> Result<Section<'_>, ImportError> {
        match self.entries.get(name) {
            Some(&Entry::File { offset, size }) => Ok(Section::new(&self.file, offset, size)),
            Some(&Entry::Other { kind }) => Err(ImportError::NotAFile {
                archive: self.label.clone(),
                entry: name.into(),
                kind,
            }),
            None => Err(ImportError::MissingEntry {
                archive: self.label.clone(),
                entry: name.into(),
                referrer: referrer.into(),
            }),
        }
    }

    /// Reads a small metadata file whole, refusing one over `limit` bytes.
    pub(super) fn read_small(
        &self,
        name: &str,
        referrer: &str,
        limit: u64,
    ) -> Result<Vec<u8>, ImportError> {
        let mut section = self.open(name, referrer)?;
        if section.len() > limit {
            return Err(ImportError::TooLarge {
                archive: self.label.clone(),
                entry: name.into(),
                size: section.len(),
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(section.len() as usize);
        section
            .read_to_end(&mut bytes)
            .map_err(|source| ImportError::Io {
                archive: self.label.clone(),
                op: "read",
                source,
            })?;
        Ok(bytes)
    }
}

/// Whether two byte ranges of the archive hold the same content.
fn same_bytes(file: &File, a: u64, b: u64, size: u64) -> io::Result<bool> {
    let (mut x, mut y) = (Section::new(file, a, size), Section::new(file, b, size));
    let (mut bx, mut by) = (vec![0; 64 << 10], vec![0; 64 << 10]);
    loop {
        let n = x.read(&mut bx)?;
        if n == 0 {
            return Ok(true);
        }
        y.read_exact(&mut by[..n])?;
        if bx[..n] != by[..n] {
            return Ok(false);
        }
    }
}

/// `./a//b/` -> `a/b`; `None` for absolute paths, `..` and non-UTF-8 names.
pub(super) fn normalise(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    if s.starts_with('/') {
        return None;
    }
    let mut parts = Vec::new();
    for part in s.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}
