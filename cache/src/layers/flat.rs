//! Flat views of long layer chains. Overlayfs pays for every lower dir at
//! each mount (a lookup and checks per layer) and at each lookup of a
//! merged directory (one per layer), so a RUN over i layers costs O(i) in
//! the kernel and a build of n steps O(n²): at 500 steps, mounting and
//! lookups were about half of a cold build's busy time (issue 15,
//! "Scaling"). A long chain is therefore mounted as its top layers over one
//! flat view of the layers below: their merged tree, with whiteouts and
//! opaque directories applied, made of fresh directories and hard links to
//! the snapshots' other entries, which nothing ever writes (see linktree).
//!
//! Views cover whole multiples of a step of layers (64 in builds), each made
//! from the view one step shorter plus a step of layers, so a deep chain
//! costs one link per visible entry every step. A view is a
//! cache: made on first use under a temp name and renamed into place whole,
//! named by the layers it holds and by this boot (it is never synced, so
//! another boot makes its own), and removed by every prune.

use super::linktree::{copy_dir_meta, link_entry};
use super::xattr;
use crate::error::{io_err, StoreError};
use crate::fsutil::{remove_tree, unique_name};
use crate::Store;
use mybuild_graph::Digest;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

impl Store {
    pub(crate) fn flat_root(&self) -> PathBuf {
        self.v1_dir().join("flat")
    }

    /// The merged tree of `layers` (bottom first; a non-zero multiple of
    /// `step` long) as one directory, made on first use from the view of
    /// all but the top `step` layers. `None` without a boot id, which views
    /// are named by.
    pub fn flat_view(&self, layers: &[Digest], step: usize) -> Result<Option<PathBuf>, StoreError> {
        let Some(boot) = self.boot_id() else {
            return Ok(None);
        };
        assert!(step > 0 && !layers.is_empty() && layers.len().is_multiple_of(step));
        let dir = self.flat_root().join(view_name(boot, layers));
        if dir.is_dir() {
            return Ok(Some(dir));
        }
        let (below, top) = layers.split_at(layers.len() - step);
        let base = match below {
            [] => None,
            below => match self.flat_view(below, step)? {
                Some(base) => Some(base),
                None => return Ok(None),
            },
        };
        let root = self.flat_root();
        fs::create_dir_all(&root).map_err(io_err("create", &root))?;
        // Removed on any error; gone already once renamed into place.
        let tmp = super::TempTree(self.tmp_dir().join(unique_name("flat-")));
        fs::create_dir(&tmp.0).map_err(io_err("create", &tmp.0))?;
        for from in base.into_iter().map(Ok).chain(top.iter().map(|d| {
            self.snapshot_dir(d)
                .ok_or_else(|| StoreError::BlobMissing { digest: d.clone() })
        })) {
            apply(&from?, &tmp.0)?;
        }
        match fs::rename(&tmp.0, &dir) {
            Ok(()) => {}
            // Another build made the same view meanwhile.
            Err(_) if dir.is_dir() => return Ok(Some(dir)),
            Err(e) => return Err(io_err("rename flat view into", &dir)(e)),
        }
        Ok(Some(dir))
    }

    /// Removes every flat view: all of them with `all`, else those of other
    /// boots. Only while no build has the store open.
    pub(crate) fn remove_flat_views(&self, all: bool) -> Result<(), StoreError> {
        let boot = self.boot_id().map(boot_prefix);
        for entry in crate::store::list(&self.flat_root())? {
            let name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
            let ours = matches!((&name, &boot), (Some(n), Some(b)) if n.starts_with(b.as_str()));
            if all || !ours {
                remove_tree(&entry).map_err(io_err("remove flat view", &entry))?;
            }
        }
        Ok(())
    }
}

fn boot_prefix(boot: &str) -> String {
    let hex: String = boot
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect();
    format!("{hex}-")
}

/// `<boot>-<hash of the layers>`: one name per boot and chain.
fn view_name(boot: &str, layers: &[Digest]) -> String {
    let text = format!("mybuild flat view v1\n{}", crate::index::body_of(layers));
    let hex = Digest::of(text.as_bytes()).hex().to_string();
    format!("{}{}", boot_prefix(boot), &hex[..32])
}

/// Lays the layer (or view) `from` over the merged tree `to`, as overlay
/// stacks it: a whiteout removes, an opaque directory replaces, any other
/// directory merges and takes `from`'s metadata, every other entry
/// replaces and is a hard link to `from`'s inode.
pub(crate) fn apply(from: &Path, to: &Path) -> Result<(), StoreError> {
    let from_fd = fs::File::open(from).map_err(io_err("open", from))?;
    let to_fd = fs::File::open(to).map_err(io_err("open", to))?;
    for entry in fs::read_dir(from).map_err(io_err("list", from))? {
        let entry = entry.map_err(io_err("list", from))?;
        let name = entry.file_name();
        let (src, dst) = (from.join(&name), to.join(&name));
        // The entry itself, never a followed symlink.
        let meta = fs::symlink_metadata(&src).map_err(io_err("stat", &src))?;
        let existing = fs::symlink_metadata(&dst).ok();
        let whiteout = meta.file_type().is_char_device() && meta.rdev() == 0;
        if meta.is_dir() {
            let merge = existing.as_ref().is_some_and(fs::Metadata::is_dir) && !opaque(&src)?;
            if !merge {
                remove(&dst, existing.as_ref())?;
                fs::create_dir(&dst).map_err(io_err("create", &dst))?;
            }
            apply(&src, &dst)?;
            continue;
        }
        remove(&dst, existing.as_ref())?;
        if !whiteout {
            link_entry(&from_fd, &to_fd, &name, &dst)?;
        }
    }
    set_dir_meta(from, to)
}

/// The directory's owner, mode, times and xattrs become `from`'s, as the
/// top-most copy of a directory decides them in overlay; overlay's own
/// marks are left out (a view is the bottom layer: nothing to hide).
fn set_dir_meta(from: &Path, to: &Path) -> Result<(), StoreError> {
    // A fresh directory has none; a merged one drops its lower copy's.
    for (name, _) in xattr::list(to).map_err(io_err("list xattrs of", to))? {
        xattr::remove(to, &name).map_err(io_err("remove xattr of", to))?;
    }
    let overlay = xattr::overlay_xattr_prefix();
    copy_dir_meta(from, to, &|name| !name.starts_with(overlay))
}

fn opaque(dir: &Path) -> Result<bool, StoreError> {
    let value = xattr::get(dir, xattr::opaque_xattr()).map_err(io_err("read xattrs of", dir))?;
    Ok(value.as_deref() == Some(b"y"))
}

/// Removes whatever `path` is (`meta`, when there is something).
fn remove(path: &Path, meta: Option<&fs::Metadata>) -> Result<(), StoreError> {
    let gone = match meta {
        None => return Ok(()),
        Some(m) if m.is_dir() => remove_tree(path),
        Some(_) => fs::remove_file(path),
    };
    match gone {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}
