//! COPY/ADD/WORKDIR-mkdir semantics applied to a root directory.
//!
//! Runs inside the sandbox helper once the destination overlay is mounted at
//! `root`, but needs nothing beyond plain directories. Every path, whether it
//! comes from the Dockerfile, the build context or an archive, is resolved
//! inside its own root (see [`resolve`]): a hostile context, image or tarball
//! can't make this read or write outside the trees it was given.

mod archive;
mod archive_error;
pub(crate) mod at;
mod copy;
pub(crate) mod dest;
mod error;
pub(crate) mod glob;
pub mod journal;
mod owner;
pub(crate) mod resolve;
pub(crate) mod select;
mod sparse;
pub(crate) mod stat;
mod tarball;
mod unpack;
mod walk;

#[cfg(test)]
mod tests;

pub use archive_error::ArchiveError;
pub use error::FileOpError;
pub use owner::{resolve_owner, Ids, OwnerError};
pub use select::SelectError;
pub use tarball::{unpack_tarball, TarballKind};

use crate::context::Dockerignore;
use journal::Recorder;
use mybuild_graph::{CopyAction, FileAction, MkdirAction, MkfileAction};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// A directory that copy actions read from.
#[derive(Debug, Clone)]
pub struct SourceRoot {
    pub path: PathBuf,
    /// `.dockerignore` patterns (only for the build context).
    pub exclude: Vec<String>,
    /// Keep the source's uid/gid when no `--chown` is given. Docker does this
    /// for `COPY --from` a stage or image; context files become 0:0.
    pub preserve_owner: bool,
}

/// Applies `actions` in order to the filesystem at `root`. `sources[i]` is
/// the tree a [`CopyAction`] with `source == i` reads; `sources[0]` (the
/// destination itself) is `None`.
pub fn apply(
    root: &Path,
    sources: &[Option<SourceRoot>],
    actions: &[FileAction],
) -> Result<(), FileOpError> {
    apply_recorded(root, sources, actions, None)
}

/// [`apply`], recording what the copies place in `journal` when given.
pub(crate) fn apply_recorded(
    root: &Path,
    sources: &[Option<SourceRoot>],
    actions: &[FileAction],
    journal: Option<&Recorder>,
) -> Result<(), FileOpError> {
    let root_fd = open_root(root)?;
    for (i, action) in actions.iter().enumerate() {
        if let Some(j) = journal {
            j.start_action(i);
        }
        match action {
            FileAction::Copy(c) => copy_action(root_fd.as_fd(), sources, c, journal)?,
            FileAction::Mkdir(m) => mkdir_action(root_fd.as_fd(), m)?,
            FileAction::Mkfile(m) => mkfile_action(root_fd.as_fd(), m)?,
        }
    }
    Ok(())
}

fn open_root(path: &Path) -> Result<std::os::fd::OwnedFd, FileOpError> {
    at::open_root(path).map_err(|source| FileOpError::OpenRoot {
        path: path.display().to_string(),
        source,
    })
}

/// Docker treats the destination as a directory when it says so with a
/// trailing `/` (or `/.`) or names the root. Several sources do not make it
/// one: BuildKit copies them one after the other to the same path.
fn dest_is_dir(dest: &str) -> bool {
    dest.ends_with('/') || dest.ends_with("/.") || dest == "." || resolve::clean(dest).is_empty()
}

fn copy_action(
    root: BorrowedFd,
    sources: &[Option<SourceRoot>],
    c: &CopyAction,
    journal: Option<&Recorder>,
) -> Result<(), FileOpError> {
    let Some(Some(source)) = sources.get(c.source as usize) else {
        return Err(FileOpError::MissingSource { index: c.source });
    };
    let src_fd = open_root(&source.path)?;
    let ignore = Dockerignore::new(&source.exclude).map_err(|e| FileOpError::Ignore {
        path: source.path.display().to_string(),
        source: e,
    })?;
    let src = select::Source {
        root: src_fd.as_fd(),
        ignore: &ignore,
    };
    let ids = resolve_owner(root, c.owner.as_ref())?;
    let exclude = Dockerignore::new(&c.exclude).map_err(|e| FileOpError::Ignore {
        path: c.exclude.join(" "),
        source: e,
    })?;
    let matches = select::select(
        &src,
        &select::Request {
            patterns: &c.src,
            parents: c.parents,
            exclude: &exclude,
        },
    )?;
    // BuildKit copies each source and each match on its own (one
    // `copy.Copy` each), so neither the number of sources nor of matches
    // makes the destination a directory: `COPY *.txt /f` with two matches
    // writes /f twice. A wildcard that matched nothing creates nothing.
    if matches.is_empty() {
        return Ok(());
    }
    // BuildKit's ensureDstPath: the destination directory, or its parent.
    // `--parents` always copies a root's contents into a directory.
    let into_dir = c.parents || dest_is_dir(&c.dest);
    let ensure = if into_dir {
        c.dest.clone()
    } else {
        parent_str(&c.dest)
    };
    let mkdir_owner = c.owner.is_some().then_some(ids);
    dest::mkdir_all(root, &ensure, 0o755, mkdir_owner).map_err(|source| FileOpError::Mkdir {
        path: ensure.clone(),
        source,
    })?;
    let opts = copy::CopyOpts {
        root,
        dest: &c.dest,
        ids,
        keep_source_owner: source.preserve_owner && c.owner.is_none(),
        mkdir_owner,
        chmod: c.mode,
        journal,
    };
    for m in &matches {
        if c.extract_archives {
            if let Some(format) = archive::detect(&src, m)? {
                let chown = c.owner.is_some().then_some(ids);
                if let Some(j) = journal {
                    j.incomplete();
                }
                archive::extract(root, &c.dest, &src, m, format, chown)?;
                continue;
            }
        }
        copy::copy_match(&src, m, &opts)?;
    }
    Ok(())
}

fn parent_str(path: &str) -> String {
    let comps = resolve::clean(path);
    let parent = &comps[..comps.len().saturating_sub(1)];
    format!("/{}", resolve::join(parent).display())
}

fn mkdir_action(root: BorrowedFd, m: &MkdirAction) -> Result<(), FileOpError> {
    let ids = resolve_owner(root, m.owner.as_ref())?;
    let err = |source| FileOpError::Mkdir {
        path: m.path.clone(),
        source,
    };
    let res = resolve::resolve(root, &m.path, true).map_err(err)?;
    if !m.parents {
        if res.exists() {
            return Ok(());
        }
        if res.existing + 1 != res.comps.len() {
            return Err(err(io::Error::from_raw_os_error(libc::ENOENT)));
        }
    }
    let owner = m.owner.is_some().then_some(ids);
    dest::mkdir_resolved(root, &res, m.mode & 0o7777, owner).map_err(err)?;
    Ok(())
}

/// Writes an inline document. Parents are created as root-owned 0755
/// directories; an existing non-directory at the path is replaced.
fn mkfile_action(root: BorrowedFd, m: &MkfileAction) -> Result<(), FileOpError> {
    let parent = parent_str(&m.path);
    let dir = dest::mkdir_all(root, &parent, 0o755, Some(Ids::ROOT)).map_err(|source| {
        FileOpError::Mkdir {
            path: parent.clone(),
            source,
        }
    })?;
    let comps = resolve::clean(&m.path);
    let Some(name) = comps.last() else {
        return Err(FileOpError::ReplaceDirectory {
            path: m.path.clone(),
        });
    };
    let write = |source| FileOpError::Write {
        path: m.path.clone(),
        source,
    };
    match at::lstat_at(dir.fd.as_fd(), name).map_err(write)? {
        Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
            return Err(FileOpError::ReplaceDirectory {
                path: m.path.clone(),
            })
        }
        Some(_) => at::unlink_at(dir.fd.as_fd(), name, false).map_err(write)?,
        None => {}
    }
    let mut file = at::create_file(dir.fd.as_fd(), name, 0o600).map_err(write)?;
    io::Write::write_all(&mut file, m.data.as_bytes()).map_err(write)?;
    drop(file);
    at::chmod_at(dir.fd.as_fd(), name, m.mode & 0o7777).map_err(write)
}
