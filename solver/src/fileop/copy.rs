//! COPY (and ADD of non-archives): places selected source trees under the
//! destination with BuildKit's rules for target naming, merging and metadata.

use super::at;
use super::dest::{self, effective_mode, set_meta, DestDir};
use super::error::FileOpError;
use super::journal::Recorder;
use super::owner::Ids;
use super::resolve;
use super::select::{Match, Source};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// Settings shared by every entry of one copy action.
pub(crate) struct CopyOpts<'a> {
    pub root: BorrowedFd<'a>,
    pub dest: &'a str,
    /// `--chown`; `None` copies as root, as Docker does for the context.
    pub ids: Ids,
    /// Copied entries keep their own uid/gid instead of `ids`.
    pub keep_source_owner: bool,
    pub chmod: Option<u32>,
    /// Owner of the directories made on the way to the destination: the
    /// `--chown` one, else none (see [`dest::mkdir_resolved`]).
    pub mkdir_owner: Option<Ids>,
    /// Where placed entries are recorded, if anywhere.
    pub journal: Option<&'a Recorder>,
}

impl CopyOpts<'_> {
    /// The owner a copied entry gets.
    fn owner_of(&self, st: &super::stat::Stat) -> Ids {
        if self.keep_source_owner {
            Ids {
                uid: st.st_uid,
                gid: st.st_gid,
            }
        } else {
            self.ids
        }
    }
}

fn create_err(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> FileOpError {
    let path = path.as_ref().display().to_string();
    move |source| FileOpError::Write { path, source }
}

/// Copies one match to `opts.dest` (prepareTargetDir + copy in BuildKit).
pub(crate) fn copy_match(src: &Source, m: &Match, opts: &CopyOpts) -> Result<(), FileOpError> {
    let root = opts.root;
    let target = resolve::resolve(root, opts.dest, true).map_err(create_err(opts.dest))?;
    let target_is_dir = target.exists() && dir_exists(root, &target.comps);
    if m.top().is_dir() {
        let dir = if target.exists() {
            if !target_is_dir {
                return Err(FileOpError::NotADirectory {
                    path: opts.dest.to_string(),
                });
            }
            DestDir {
                fd: resolve::open_dir(root, &target.comps).map_err(create_err(opts.dest))?,
                real: target.comps,
            }
        } else {
            dest::mkdir_resolved(root, &target, 0o755, opts.mkdir_owner)
                .map_err(create_err(opts.dest))?
        };
        return copy_tree(src, m, opts, dir);
    }
    let (parent, name) = if target_is_dir || target.comps.is_empty() {
        let dir = resolve::open_dir(root, &target.comps).map_err(create_err(opts.dest))?;
        (
            DestDir {
                fd: dir,
                real: target.comps,
            },
            m.base_name.clone(),
        )
    } else {
        let parent = dest::mkdir_resolved(root, &dest::parent_of(&target), 0o755, opts.mkdir_owner);
        let name = target.comps.last().cloned().unwrap_or_default();
        (parent.map_err(create_err(opts.dest))?, name)
    };
    let mut placed = vec![None; m.entries.len()];
    place_leaf(src, m, 0, &parent, &name, opts, &mut placed)
}

fn dir_exists(root: BorrowedFd, comps: &[OsString]) -> bool {
    resolve::open_dir(root, comps).is_ok()
}

/// Copies the contents of a directory match into `top` (whose own metadata
/// Docker leaves alone), children in pre-order, directory metadata last.
fn copy_tree(src: &Source, m: &Match, opts: &CopyOpts, top: DestDir) -> Result<(), FileOpError> {
    let mut placed: Vec<Option<PathBuf>> = vec![None; m.entries.len()];
    // Open directories: (rel path in the match, dest dir, entry index).
    let mut stack: Vec<(PathBuf, DestDir, usize)> = vec![(PathBuf::new(), top, 0)];
    for (i, entry) in m.entries.iter().enumerate().skip(1) {
        let parent_rel = entry.rel.parent().unwrap_or(Path::new(""));
        while stack.last().is_some_and(|(rel, _, _)| rel != parent_rel) {
            let (_, dir, idx) = stack.pop().expect("checked non-empty");
            finish_dir(m, idx, &dir, opts)?;
        }
        let Some((_, parent, _)) = stack.last() else {
            unreachable!("walk order puts every entry under an open directory")
        };
        let name = entry
            .rel
            .file_name()
            .expect("child entries have names")
            .to_os_string();
        if entry.is_dir() {
            let dir = open_or_make_dir(parent, &name, opts)?;
            // Recorded in the walk's order (pre-order), which a relink
            // pairs with the fresh selection without sorting either.
            if let Some(journal) = opts.journal {
                journal.placed(m, entry, &resolve::join(&dir.real));
            }
            stack.push((entry.rel.clone(), dir, i));
        } else {
            place_leaf(src, m, i, parent, &name, opts, &mut placed)?;
        }
    }
    while let Some((_, dir, idx)) = stack.pop() {
        if idx != 0 {
            finish_dir(m, idx, &dir, opts)?;
        }
    }
    Ok(())
}

fn open_or_make_dir(
    parent: &DestDir,
    name: &OsStr,
    opts: &CopyOpts,
) -> Result<DestDir, FileOpError> {
    let path = parent.path_of(name);
    match at::lstat_at(parent.fd.as_fd(), name).map_err(create_err(&path))? {
        None => {
            at::mkdir_at(parent.fd.as_fd(), name, 0o700).map_err(create_err(&path))?;
            at::chown_at(parent.fd.as_fd(), name, opts.ids.uid, opts.ids.gid)
                .map_err(create_err(&path))?;
        }
        Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
        Some(_) => {
            return Err(FileOpError::NotADirectory {
                path: path.display().to_string(),
            })
        }
    }
    parent.child(name).map_err(create_err(&path))
}

/// Sets a copied directory's metadata once its children are in place (so
/// their creation doesn't bump its mtime).
fn finish_dir(m: &Match, idx: usize, dir: &DestDir, opts: &CopyOpts) -> Result<(), FileOpError> {
    let st = &m.entries[idx].stat;
    let (parent, name) =
        resolve::split_last(&dir.real).expect("copied directories are below the root");
    let path = dir.path_of(OsStr::new(""));
    let parent_fd = resolve::open_dir(opts.root, parent).map_err(create_err(&path))?;
    set_meta(
        parent_fd.as_fd(),
        name,
        opts.owner_of(st),
        effective_mode(st.st_mode, opts.chmod),
        st,
    )
    .map_err(create_err(&path))
}

/// Creates a file, symlink, hardlink or special file named `name` in `parent`.
fn place_leaf(
    src: &Source,
    m: &Match,
    idx: usize,
    parent: &DestDir,
    name: &OsStr,
    opts: &CopyOpts,
    placed: &mut [Option<PathBuf>],
) -> Result<(), FileOpError> {
    let entry = &m.entries[idx];
    let path = parent.path_of(name);
    let pfd = parent.fd.as_fd();
    if let Some(st) = at::lstat_at(pfd, name).map_err(create_err(&path))? {
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            return Err(FileOpError::ReplaceDirectory {
                path: path.display().to_string(),
            });
        }
        at::unlink_at(pfd, name, false).map_err(create_err(&path))?;
    }
    if let Some(first) = entry.hardlink_of.and_then(|i| placed[i].clone()) {
        let comps = resolve::comps_of(&first);
        let (dir, old) = resolve::split_last(&comps).expect("placed paths have a name");
        let old_dir = resolve::open_dir(opts.root, dir).map_err(create_err(&path))?;
        at::link_at(old_dir.as_fd(), old, pfd, name).map_err(create_err(&path))?;
        if let Some(journal) = opts.journal {
            journal.incomplete();
        }
        placed[idx] = Some(path);
        return Ok(());
    }
    // A layer can't hold a socket (Docker's archiver skips them too), so a
    // later step must not see one either.
    if entry.kind() == libc::S_IFSOCK {
        return Ok(());
    }
    // Regular files keep both ends open to carry file capabilities over.
    let files = match entry.kind() {
        libc::S_IFREG => {
            let mut input = m.open(src, entry).map_err(|source| FileOpError::Read {
                path: m.path_of(entry).display().to_string(),
                source,
            })?;
            let mut out = at::create_file(pfd, name, 0o600).map_err(create_err(&path))?;
            std::io::copy(&mut input, &mut out).map_err(create_err(&path))?;
            Some((input, out))
        }
        libc::S_IFLNK => {
            let target = entry.link_target.as_deref().unwrap_or_default();
            at::symlink_at(target, pfd, name).map_err(create_err(&path))?;
            None
        }
        _ => {
            at::mknod_at(pfd, name, entry.stat.st_mode, entry.stat.st_rdev)
                .map_err(create_err(&path))?;
            None
        }
    };
    let mode = effective_mode(entry.stat.st_mode, opts.chmod);
    set_meta(pfd, name, opts.owner_of(&entry.stat), mode, &entry.stat)
        .map_err(create_err(&path))?;
    // After chown, which would clear it.
    if let Some((input, out)) = files {
        at::copy_capability(input.as_fd(), out.as_fd()).map_err(create_err(&path))?;
    }
    if let Some(journal) = opts.journal {
        journal.placed(m, entry, &path);
    }
    placed[idx] = Some(path);
    Ok(())
}
