//! A layer chain merged as overlayfs would show it, from the layers'
//! snapshot directories (overlay lower dirs): for each name the top-most
//! layer that has it decides; a whiteout (a 0/0 character device) hides
//! it, a non-directory hides everything below, and a directory's contents
//! are merged with the directories below it down to the first opaque one.
//! Snapshots are walked by name with `lstat` only, so no symlink in an
//! image is ever followed here.

use super::error::RootfsError;
use mybuild_cache::Store;
use mybuild_graph::Digest;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// One visible entry: where its content is, its metadata, and (for a
/// directory) its merged children by name, in byte order.
pub struct Entry {
    pub source: PathBuf,
    pub meta: Metadata,
    pub children: BTreeMap<OsString, Entry>,
}

/// The merged root's children.
pub struct Tree {
    pub entries: BTreeMap<OsString, Entry>,
}

/// Merges `chain` (bottom layer first).
pub fn merge(store: &Store, chain: &[Digest]) -> Result<Tree, RootfsError> {
    let mut seen = HashSet::new();
    // A layer repeated in the chain can change nothing its top-most copy
    // has not decided already (as the solver's overlay lower dirs).
    let layers = chain
        .iter()
        .rev()
        .filter(|d| seen.insert(*d))
        .map(|d| {
            store
                .snapshot_dir(d)
                .ok_or_else(|| RootfsError::MissingSnapshot { diff_id: d.clone() })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut below = Vec::new();
    for dir in layers {
        let opaque = is_opaque(&dir)?;
        below.push(dir);
        if opaque {
            break;
        }
    }
    Ok(Tree {
        entries: merge_dir(&below)?,
    })
}

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> RootfsError + '_ {
    move |source| RootfsError::Read {
        path: path.to_path_buf(),
        source,
    }
}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(dir: &Path) -> Result<bool, RootfsError> {
    match xattr::get(dir, mybuild_cache::opaque_xattr()) {
        Ok(v) => Ok(v.as_deref() == Some(b"y")),
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => Ok(false),
        Err(e) => Err(read_err(dir)(e)),
    }
}

/// The merged contents of one directory, given the same directory in each
/// layer that contributes to it, top-most first.
fn merge_dir(layers: &[PathBuf]) -> Result<BTreeMap<OsString, Entry>, RootfsError> {
    let mut names = BTreeSet::new();
    for dir in layers {
        for e in fs::read_dir(dir).map_err(read_err(dir))? {
            names.insert(e.map_err(read_err(dir))?.file_name());
        }
    }
    let mut out = BTreeMap::new();
    for name in names {
        if let Some(entry) = merge_name(layers, &name)? {
            out.insert(name, entry);
        }
    }
    Ok(out)
}

/// What `name` is in the merged directory, if anything.
fn merge_name(layers: &[PathBuf], name: &OsString) -> Result<Option<Entry>, RootfsError> {
    let mut top: Option<(PathBuf, Metadata)> = None;
    let mut dirs = Vec::new();
    for layer in layers {
        let path = layer.join(name);
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(read_err(&path)(e)),
        };
        // A whiteout or non-directory ends the lookup; below the top-most
        // entry only directories merge into it.
        if is_whiteout(&meta) || (top.is_some() && !meta.is_dir()) {
            break;
        }
        let is_dir = meta.is_dir();
        if top.is_none() {
            top = Some((path.clone(), meta));
        }
        if !is_dir {
            break;
        }
        let opaque = is_opaque(&path)?;
        dirs.push(path);
        if opaque {
            break;
        }
    }
    let Some((source, meta)) = top else {
        return Ok(None);
    };
    let children = if meta.is_dir() {
        merge_dir(&dirs)?
    } else {
        BTreeMap::new()
    };
    Ok(Some(Entry {
        source,
        meta,
        children,
    }))
}
