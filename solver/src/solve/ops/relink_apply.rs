//! The two halves of a relinked COPY (see `relink`): comparing the context
//! as selected now with the last copy's journal, and writing the new upper
//! dir (hard links to the old snapshot, fresh copies of changed files).

use crate::context::Dockerignore;
use crate::fileop::at;
use crate::fileop::dest::{effective_mode, set_meta};
use crate::fileop::journal::{expected, Journal, Placed, SourceMeta, RACY_SECS};
use crate::fileop::select::{select, Match, Request, Source};
use crate::fileop::Ids;
use mybuild_cache::StoreError;
use mybuild_graph::{FileAction, FileOp};
use nix::fcntl::OFlag;
use std::collections::HashSet;
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub(super) enum RelinkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("relink {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A regular file whose source changed: `slot` in the old journal, the
/// match (`matches[at.0][at.1]`) and entry (`at.2`) to copy it from now.
pub(super) struct Change {
    slot: usize,
    at: (usize, usize, usize),
    meta: SourceMeta,
}

/// The context as selected now, and what differs from the last copy.
pub(super) struct Changes {
    root: OwnedFd,
    ignore: Dockerignore,
    matches: Vec<Vec<Match>>,
    changed: Vec<Change>,
    /// The old journal's entries (for destinations and actions), updated
    /// into the new layer's by [`Changes::into_journal`].
    placed: Vec<Placed>,
    /// Each action's `--chmod`, `None` for actions that are no copy.
    chmods: Vec<Option<Option<u32>>>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RelinkError + '_ {
    move |source| RelinkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Selects the context again; `None` when it differs from the journal in
/// anything but regular files (or cannot be selected: the full copy then
/// reports why).
pub(super) fn compare(
    context: &Path,
    dockerignore: &[String],
    op: &FileOp,
    journal: Journal,
) -> Result<Option<Changes>, RelinkError> {
    let root = at::open_root(context).map_err(io_err(context))?;
    let Ok(ignore) = Dockerignore::new(dockerignore) else {
        return Ok(None);
    };
    let mut found_all = Vec::new();
    for (i, action) in op.actions.iter().enumerate() {
        let FileAction::Copy(c) = action else {
            continue;
        };
        let Ok(exclude) = Dockerignore::new(&c.exclude) else {
            return Ok(None);
        };
        let src = Source {
            root: root.as_fd(),
            ignore: &ignore,
        };
        let req = Request {
            patterns: &c.src,
            parents: c.parents,
            exclude: &exclude,
        };
        let Ok(found) = select(&src, &req) else {
            return Ok(None);
        };
        let linked = found.iter().flat_map(|m| &m.entries);
        if linked.clone().any(|e| e.hardlink_of.is_some()) {
            return Ok(None);
        }
        found_all.push((u32::try_from(i).unwrap_or(u32::MAX), found));
    }
    if !unique(&journal.placed) {
        return Ok(None);
    }
    let changed = match diff_in_order(&journal.placed, &found_all) {
        Some(changed) => changed,
        None => diff_sorted(&journal.placed, &found_all),
    };
    let Some(changed) = changed else {
        return Ok(None);
    };
    let matches = found_all.into_iter().map(|(_, found)| found).collect();
    Ok(Some(Changes {
        root,
        ignore,
        matches,
        changed,
        placed: journal.placed,
        chmods: op
            .actions
            .iter()
            .map(|a| match a {
                FileAction::Copy(c) => Some(c.mode),
                _ => None,
            })
            .collect(),
    }))
}

/// Each destination and each (action, source path) appears once.
fn unique(old: &[Placed]) -> bool {
    let dests: HashSet<&str> = old.iter().map(|p| p.dest.as_str()).collect();
    let keys: HashSet<(u32, &str)> = old.iter().map(|p| (p.action, p.src.as_str())).collect();
    dests.len() == old.len() && keys.len() == old.len()
}

/// The usual case, without a copy of every entry: the fresh selection
/// walked in the order the journal was written in. `None` when that order
/// differs anywhere ([`diff_sorted`] then pairs them by path), `Some(None)`
/// when the copy cannot be relinked.
fn diff_in_order(old: &[Placed], found: &[(u32, Vec<Match>)]) -> Option<Option<Vec<Change>>> {
    let mut i = 0;
    let mut changed = Vec::new();
    for (slot, (action, matches)) in found.iter().enumerate() {
        for (mi, m) in matches.iter().enumerate() {
            // A directory match copies its contents, as in `expected`.
            let skip = usize::from(m.top().is_dir());
            for (ei, entry) in m.entries.iter().enumerate().skip(skip) {
                let was = old.get(i)?;
                let path = m.path_of(entry);
                let (Some(src), link) = (path.to_str(), entry.link_target.as_ref()) else {
                    return Some(None);
                };
                if was.action != *action || was.src != src {
                    return None;
                }
                let link = match link.map(|l| l.to_str()) {
                    Some(None) => return Some(None),
                    l => l.flatten(),
                };
                let new = SourceMeta::of(&entry.stat);
                if !judge(i, was, new, link, (slot, mi, ei), &mut changed) {
                    return Some(None);
                }
                i += 1;
            }
        }
    }
    (i == old.len()).then_some(Some(changed))
}

/// Pairs old and new entries by (action, source path); `None` unless both
/// have the same ones and only regular files differ.
fn diff_sorted(old: &[Placed], found: &[(u32, Vec<Match>)]) -> Option<Vec<Change>> {
    let mut fresh = Vec::new();
    for (slot, (action, matches)) in found.iter().enumerate() {
        for (p, (mi, ei)) in expected(*action, matches)? {
            fresh.push((p, (slot, mi, ei)));
        }
    }
    if old.len() != fresh.len() {
        return None;
    }
    let mut order: Vec<usize> = (0..old.len()).collect();
    order.sort_by(|&a, &b| (old[a].action, &old[a].src).cmp(&(old[b].action, &old[b].src)));
    fresh.sort_by(|a, b| (a.0.action, &a.0.src).cmp(&(b.0.action, &b.0.src)));
    let mut changed = Vec::new();
    for (slot, (new, at)) in order.into_iter().zip(fresh) {
        let was = &old[slot];
        let same = was.action == new.action && was.src == new.src;
        let link = new.link_target.as_deref();
        if !same || !judge(slot, was, new.meta, link, at, &mut changed) {
            return None;
        }
    }
    Some(changed)
}

/// One entry, already paired by path: false unless it is the same entry
/// (kind, link, a safe destination, and for all but regular files the same
/// metadata); a regular file that changed is added to `changed`.
fn judge(
    slot: usize,
    was: &Placed,
    new: SourceMeta,
    link: Option<&str>,
    at: (usize, usize, usize),
    changed: &mut Vec<Change>,
) -> bool {
    let same_entry =
        was.meta.kind() == new.kind() && was.link_target.as_deref() == link && safe_rel(&was.dest);
    if !same_entry {
        return false;
    }
    if was.meta.kind() == libc::S_IFREG {
        if was.meta != new || was.racy {
            changed.push(Change {
                slot,
                at,
                meta: new,
            });
        }
        true
    } else {
        same_shape(&was.meta, &new)
    }
}

/// What a copied directory, symlink or special file takes from its source.
fn same_shape(a: &SourceMeta, b: &SourceMeta) -> bool {
    (a.mode, a.uid, a.gid, a.rdev, a.mtime) == (b.mode, b.uid, b.gid, b.rdev, b.mtime)
}

/// A destination from a journal names a path below the root.
fn safe_rel(dest: &str) -> bool {
    let p = Path::new(dest);
    p.file_name().is_some() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

impl Changes {
    /// Fills the empty `upper`: `old`'s tree hard-linked, changed files copied.
    pub(super) fn write(&self, old: &Path, upper: &Path) -> Result<(), RelinkError> {
        let skip: HashSet<&Path> = self
            .changed
            .iter()
            .map(|c| Path::new(&self.placed[c.slot].dest))
            .collect();
        mybuild_cache::link_tree(old, upper, &|rel| skip.contains(rel))?;
        let upper_fd = at::open_root(upper).map_err(io_err(upper))?;
        let src = Source {
            root: self.root.as_fd(),
            ignore: &self.ignore,
        };
        for change in &self.changed {
            self.copy_one(&src, upper_fd.as_fd(), old, change)?;
        }
        Ok(())
    }

    /// Copies one changed file as the copy itself would: the source's data,
    /// times and mode (with `--chmod`), the owner the old copy got (the
    /// context's owner never reaches the layer), its file capabilities.
    fn copy_one(
        &self,
        src: &Source,
        upper: BorrowedFd,
        old: &Path,
        change: &Change,
    ) -> Result<(), RelinkError> {
        let placed = &self.placed[change.slot];
        let dest = Path::new(&placed.dest);
        let (Some(parent), Some(name)) = (dest.parent(), dest.file_name()) else {
            return Err(io_err(dest)(std::io::ErrorKind::InvalidInput.into()));
        };
        let was = fs::symlink_metadata(old.join(dest)).map_err(io_err(dest))?;
        let ids = Ids {
            uid: was.uid(),
            gid: was.gid(),
        };
        let chmod = match self.action_chmod(placed.action) {
            Some(chmod) => chmod,
            None => return Err(io_err(dest)(std::io::ErrorKind::InvalidData.into())),
        };
        let dir_path = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        let dir = at::open_beneath(upper, dir_path, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(io_err(dest))?;
        let (slot, mi, ei) = change.at;
        let m = &self.matches[slot][mi];
        let entry = &m.entries[ei];
        let mut input = m.open(src, entry).map_err(io_err(&m.path_of(entry)))?;
        let mut out = at::create_file(dir.as_fd(), name, 0o600).map_err(io_err(dest))?;
        std::io::copy(&mut input, &mut out).map_err(io_err(dest))?;
        let mode = effective_mode(entry.stat.st_mode, chmod);
        set_meta(dir.as_fd(), name, ids, mode, &entry.stat).map_err(io_err(dest))?;
        at::copy_capability(input.as_fd(), out.as_fd()).map_err(io_err(dest))?;
        // Making the file touched its directory; the copy had set the
        // directory's times after its children, as the old snapshot has them.
        if !parent.as_os_str().is_empty() {
            let was = fs::symlink_metadata(old.join(parent)).map_err(io_err(parent))?;
            let (atime, mtime) = (
                (was.atime(), was.atime_nsec()),
                (was.mtime(), was.mtime_nsec()),
            );
            at::set_times_at(upper, parent.as_os_str(), atime, mtime).map_err(io_err(parent))?;
        }
        Ok(())
    }

    /// `Some(--chmod)` of copy action `action`; `None` if it is no copy.
    fn action_chmod(&self, action: u32) -> Option<Option<u32>> {
        *self.chmods.get(action as usize)?
    }

    /// The first changed destination in the order layers are packed;
    /// `None` when no file changed.
    pub(super) fn first_changed(&self) -> Option<Vec<u8>> {
        self.changed
            .iter()
            .map(|c| self.placed[c.slot].dest.as_bytes())
            .min_by(|a, b| mybuild_cache::walk_order(a, b))
            .map(<[u8]>::to_vec)
    }

    /// The journal of the new layer: the old one with the changed files'
    /// new sources, racy when they changed just before this copy.
    pub(super) fn into_journal(mut self, since: i64) -> Journal {
        for c in &self.changed {
            if let Some(p) = self.placed.get_mut(c.slot) {
                p.meta = c.meta;
                p.racy = c.meta.racy(since, RACY_SECS);
            }
        }
        Journal {
            placed: self.placed,
            incomplete: false,
        }
    }
}

#[cfg(test)]
#[path = "relink_apply_tests.rs"]
mod tests;
