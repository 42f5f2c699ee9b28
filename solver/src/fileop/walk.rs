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
use std::sync::Mutex;

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
///
/// The calling thread walks the top's subdirectories from the first,
/// straight into the result; helpers take them from the last, and their
/// (fewer) entries are appended once the two meet. So at most the helpers'
/// share is held twice, not every entry.
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
    let helpers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_THREADS)
        .min(subdirs.len())
        .saturating_sub(1);
    // The next subdirectory from the front and the end of what is left.
    let range = Mutex::new((0, subdirs.len()));
    let walk_into = |i: usize, out: Vec<Entry>| -> io::Result<Vec<Entry>> {
        let name = Path::new(&subdirs[i].name);
        let fd = at::open_beneath(dir, name, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let mut w = Walker::new(src, real_root);
        w.entries = out;
        w.walk(fd.as_fd(), name)?;
        Ok(w.entries)
    };
    let mut out = Joined {
        entries: top_entries,
        top: top.entries,
        taken: 0,
    };
    let from_back = walk_both_ends(helpers, &range, &subdirs, &mut out, &walk_into)?;
    let first = range.lock().unwrap_or_else(|p| p.into_inner()).0;
    for (i, inner) in
        (first..subdirs.len()).zip(in_order(first, from_back, |i| walk_into(i, Vec::new())))
    {
        let sub = &subdirs[i];
        out.before(sub);
        let (mut entries, len) = out.open();
        entries.extend(inner?);
        out.entries = entries;
        out.after(sub, len);
    }
    let mut entries = out.entries;
    entries.extend(out.top);
    mark_hardlinks(&mut entries);
    Ok(entries)
}

/// Walks `subdirs` from the front into `out` on this thread while
/// `helpers` threads take them from the back; the helpers' results, by
/// index. `range` is what is left and ends where the two met.
fn walk_both_ends<W>(
    helpers: usize,
    range: &Mutex<(usize, usize)>,
    subdirs: &[Subdir],
    out: &mut Joined,
    walk_into: &W,
) -> io::Result<Vec<(usize, io::Result<Vec<Entry>>)>>
where
    W: Fn(usize, Vec<Entry>) -> io::Result<Vec<Entry>> + Sync,
{
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..helpers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while let Some(i) = take(range, End::Back) {
                        done.push((i, walk_into(i, Vec::new())));
                    }
                    done
                })
            })
            .collect();
        let mut front = || -> io::Result<()> {
            while let Some(i) = take(range, End::Front) {
                out.before(&subdirs[i]);
                let (entries, len) = out.open();
                out.entries = walk_into(i, entries)?;
                out.after(&subdirs[i], len);
            }
            Ok(())
        };
        let walked = front();
        // A helper that panicked left its directories unwalked; they are
        // walked again below rather than lost.
        let mut done: Vec<_> = threads
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect();
        done.sort_by_key(|d| d.0);
        walked.map(|()| done)
    })
}

/// The helpers' results for the subdirectories from `first` on, in order;
/// one a helper never delivered (it panicked) is walked by `walk`.
fn in_order<W>(
    first: usize,
    done: Vec<(usize, io::Result<Vec<Entry>>)>,
    walk: W,
) -> impl Iterator<Item = io::Result<Vec<Entry>>>
where
    W: Fn(usize) -> io::Result<Vec<Entry>>,
{
    let mut done = done.into_iter().peekable();
    (first..).map(move |i| match done.next_if(|d| d.0 == i) {
        Some((_, walked)) => walked,
        None => walk(i),
    })
}

/// Which end of the subdirectories left a thread takes from.
enum End {
    Front,
    Back,
}

/// Takes the next index from `end` of the shared `(front, end)` range;
/// `None` once it is empty.
fn take(range: &Mutex<(usize, usize)>, end: End) -> Option<usize> {
    let mut r = range.lock().unwrap_or_else(|p| p.into_inner());
    if r.0 >= r.1 {
        return None;
    }
    Some(match end {
        End::Front => {
            r.0 += 1;
            r.0 - 1
        }
        End::Back => {
            r.1 -= 1;
            r.1
        }
    })
}

/// The result as it is put together: the top's own entries go in before
/// each subdirectory's.
struct Joined {
    entries: Vec<Entry>,
    top: Vec<Entry>,
    /// How many of the top's entries are in `entries` already.
    taken: usize,
}

impl Joined {
    /// Appends the top's entries up to `sub`'s own.
    fn before(&mut self, sub: &Subdir) {
        self.entries.extend(self.top.drain(..sub.at - self.taken));
        self.taken = sub.at;
    }

    /// The entries to walk into, and how many there were.
    fn open(&mut self) -> (Vec<Entry>, usize) {
        let entries = std::mem::take(&mut self.entries);
        let len = entries.len();
        (entries, len)
    }

    /// An excluded directory only stays when an exception kept something in it.
    fn after(&mut self, sub: &Subdir, len: usize) {
        if sub.excluded && self.entries.len() == len {
            self.entries.pop();
        }
    }
}

/// A directory right below the top, to be walked on its own.
struct Subdir {
    /// Where its entries go: after this many of the top's entries.
    at: usize,
    name: OsString,
    excluded: bool,
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
