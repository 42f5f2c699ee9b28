//! The walk of a matched source directory, in sorted preorder, with
//! `.dockerignore` applied. The subdirectories of the top are walked on
//! every core at once: a warm build of a big context is one `lstat` per
//! file and little else (issue 15), and the kernel answers those in
//! parallel. The result is the same as one thread's walk, entry for entry.

use super::at;
use super::stat::Stat;
use crate::context::Dockerignore;
use nix::fcntl::OFlag;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A source directory tree being read, with its dockerignore rules.
pub(crate) struct Source<'a> {
    pub root: BorrowedFd<'a>,
    pub ignore: &'a Dockerignore,
}

/// One file, directory, symlink or special file under a match.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Path relative to the match; empty for the match itself.
    pub rel: PathBuf,
    pub stat: Stat,
    pub link_target: Option<OsString>,
    /// Index of an earlier entry of the same match that is the same inode.
    pub hardlink_of: Option<usize>,
}

impl Entry {
    pub(crate) fn kind(&self) -> u32 {
        self.stat.st_mode & libc::S_IFMT
    }

    pub(crate) fn is_dir(&self) -> bool {
        self.kind() == libc::S_IFDIR
    }
}

/// The most threads one walk uses.
const MAX_THREADS: usize = 4;

/// `top` (the entries of the directory `dir` itself, at `real_root` in the
/// source) followed by everything below it in walk order, with hardlinks
/// marked as indices into the whole.
pub(crate) fn walk_tree(
    src: &Source,
    real_root: &Path,
    dir: BorrowedFd,
    top_entries: Vec<Entry>,
) -> io::Result<Vec<Entry>> {
    let mut top = Walker::new(src, real_root);
    let mut subdirs = Vec::new();
    top.walk_level(dir, Path::new(""), &mut |w, name, child, stat, excluded| {
        w.entries.push(dir_entry(child, stat));
        subdirs.push(Subdir {
            at: w.entries.len(),
            name: name.to_os_string(),
            excluded,
        });
        Ok(())
    })?;
    let below = walk_subdirs(src, real_root, dir, &subdirs)?;
    let mut entries = top_entries;
    entries.reserve(top.entries.len() + below.iter().map(Vec::len).sum::<usize>());
    let mut next = 0;
    for (sub, inner) in subdirs.iter().zip(below) {
        entries.extend(top.entries.drain(..sub.at - next));
        next = sub.at;
        // An excluded directory only stays when an exception kept something in it.
        if sub.excluded && inner.is_empty() {
            entries.pop();
        }
        entries.extend(inner);
    }
    entries.extend(top.entries);
    mark_hardlinks(&mut entries);
    Ok(entries)
}

/// A directory right below the top, to be walked on its own.
struct Subdir {
    /// Where its entries go: after this many of the top's entries.
    at: usize,
    name: OsString,
    excluded: bool,
}

/// Walks each of `subdirs` on up to [`MAX_THREADS`] threads; their entries
/// in the order of `subdirs`.
fn walk_subdirs(
    src: &Source,
    real_root: &Path,
    dir: BorrowedFd,
    subdirs: &[Subdir],
) -> io::Result<Vec<Vec<Entry>>> {
    let walk_one = |sub: &Subdir| -> io::Result<Vec<Entry>> {
        let name = Path::new(&sub.name);
        let fd = at::open_beneath(dir, name, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let mut w = Walker::new(src, real_root);
        w.walk(fd.as_fd(), name)?;
        Ok(w.entries)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(subdirs.len());
    if threads <= 1 {
        return subdirs.iter().map(walk_one).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(sub) = subdirs.get(i) else {
                return done;
            };
            done.push((i, walk_one(sub)));
        }
    };
    let mut results: Vec<Option<io::Result<Vec<Entry>>>> = Vec::new();
    results.resize_with(subdirs.len(), || None);
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            // A helper that panicked left its directories unwalked; they
            // are walked again below rather than lost.
            all.extend(h.join().unwrap_or_default());
        }
        for (i, r) in all {
            results[i] = Some(r);
        }
    });
    subdirs
        .iter()
        .zip(results)
        .map(|(sub, r)| r.unwrap_or_else(|| walk_one(sub)))
        .collect()
}

fn dir_entry(rel: PathBuf, stat: Stat) -> Entry {
    Entry {
        rel,
        stat,
        link_target: None,
        hardlink_of: None,
    }
}

/// Marks each later path of a multiply-linked file below the top as a link
/// to its first.
fn mark_hardlinks(entries: &mut [Entry]) {
    let mut first: HashMap<(u64, u64), usize> = HashMap::new();
    for (index, e) in entries.iter_mut().enumerate().skip(1) {
        if e.stat.st_nlink > 1 && e.link_target.is_none() && !e.is_dir() {
            let f = *first.entry((e.stat.st_dev, e.stat.st_ino)).or_insert(index);
            e.hardlink_of = (f != index).then_some(f);
        }
    }
}

/// What to do with a directory met in [`Walker::walk_level`].
type OnDir<'f, 'a, 'b> =
    dyn FnMut(&mut Walker<'a, 'b>, &OsStr, PathBuf, Stat, bool) -> io::Result<()> + 'f;

struct Walker<'a, 'b> {
    src: &'a Source<'b>,
    real_root: &'a Path,
    entries: Vec<Entry>,
}

impl<'a, 'b> Walker<'a, 'b> {
    fn new(src: &'a Source<'b>, real_root: &'a Path) -> Self {
        Walker {
            src,
            real_root,
            entries: Vec::new(),
        }
    }

    fn walk(&mut self, dir: BorrowedFd, rel: &Path) -> io::Result<()> {
        self.walk_level(dir, rel, &mut |w, name, child, stat, excluded| {
            w.walk_dir(dir, name, child, stat, excluded)
        })
    }

    /// The entries of one directory: leaves are pushed, directories
    /// handed to `on_dir` (with whether dockerignore excludes them).
    fn walk_level(
        &mut self,
        dir: BorrowedFd,
        rel: &Path,
        on_dir: &mut OnDir<'_, 'a, 'b>,
    ) -> io::Result<()> {
        let filtering = !self.src.ignore.is_empty();
        for name in at::read_dir_names(dir)? {
            let child = rel.join(&name);
            let Some(stat) = at::lstat_at(dir, &name)?.map(Stat::from) else {
                continue;
            };
            let excluded = filtering
                && self
                    .src
                    .ignore
                    .is_excluded(&self.real_root.join(&child).to_string_lossy());
            let is_dir = stat.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if excluded && !(is_dir && self.src.ignore.has_exceptions()) {
                continue;
            }
            if is_dir {
                on_dir(self, &name, child, stat, excluded)?;
            } else {
                self.push_leaf(dir, &name, child, stat)?;
            }
        }
        Ok(())
    }

    fn walk_dir(
        &mut self,
        dir: BorrowedFd,
        name: &OsStr,
        child: PathBuf,
        stat: Stat,
        excluded: bool,
    ) -> io::Result<()> {
        let fd = at::open_beneath(dir, Path::new(name), OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let at_index = self.entries.len();
        self.entries.push(dir_entry(child.clone(), stat));
        self.walk(fd.as_fd(), &child)?;
        // An excluded directory only stays when an exception kept something in it.
        if excluded && self.entries.len() == at_index + 1 {
            self.entries.pop();
        }
        Ok(())
    }

    fn push_leaf(
        &mut self,
        dir: BorrowedFd,
        name: &OsStr,
        child: PathBuf,
        stat: Stat,
    ) -> io::Result<()> {
        let link_target = if stat.st_mode & libc::S_IFMT == libc::S_IFLNK {
            Some(at::readlink_at(dir, name)?)
        } else {
            None
        };
        self.entries.push(Entry {
            rel: child,
            stat,
            link_target,
            hardlink_of: None,
        });
        Ok(())
    }
}
