//! What a COPY/ADD reads from a source: wildcard expansion, in-root
//! resolution of each source and the walk of directories, with
//! `.dockerignore` applied.
//!
//! Both the copy itself and the build-context cache key use this, so the key
//! always covers exactly the files that would be copied.

use super::at;
use super::glob::{has_wildcards, Glob, Syntax};
use super::resolve::{self, Resolved};
use super::stat::Stat;
use super::walk;
pub(crate) use super::walk::{Entry, Source};
use crate::context::Dockerignore;
use nix::fcntl::OFlag;
use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error("copy {pattern}: no source files were specified (nothing matches)")]
    NoMatch { pattern: String },
    #[error("copy {path}: not found in the build source")]
    NotFound { path: String },
    #[error("copy {pattern}: malformed wildcard pattern")]
    BadPattern { pattern: String },
    #[error("read source {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// One resolved source path and everything under it, in walk order.
#[derive(Debug)]
pub(crate) struct Match {
    /// The source string from the Dockerfile this came from.
    pub pattern: String,
    /// Real path inside the source root (symlinks followed).
    pub real: PathBuf,
    /// The name Docker uses for `dest/<basename>`: the last component as
    /// written or matched, before following symlinks.
    pub base_name: OsString,
    /// `entries[0]` is the match itself.
    pub entries: Vec<Entry>,
}

impl Match {
    /// Source-root-relative path of an entry (no trailing `/` for the top).
    pub(crate) fn path_of(&self, entry: &Entry) -> PathBuf {
        if entry.rel.as_os_str().is_empty() {
            self.real.clone()
        } else {
            self.real.join(&entry.rel)
        }
    }

    /// Keeps the entries below the top whose relative path passes `keep`,
    /// and every directory that still holds a kept entry. Hardlink
    /// references are renumbered; a link whose first path went becomes the
    /// first itself.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let n = self.entries.len();
        let dirs: HashMap<&Path, usize> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_dir())
            .map(|(i, e)| (e.rel.as_path(), i))
            .collect();
        let mut kept = vec![false; n];
        kept[0] = true;
        for i in 1..n {
            if kept[i] || !keep(&self.entries[i].rel.to_string_lossy()) {
                continue;
            }
            kept[i] = true;
            let mut up = self.entries[i].rel.parent();
            while let Some(&d) = up.and_then(|p| dirs.get(p)) {
                if std::mem::replace(&mut kept[d], true) {
                    break;
                }
                up = self.entries[d].rel.parent();
            }
        }
        let mut first_of: HashMap<(u64, u64), usize> = HashMap::new();
        let mut out = Vec::new();
        for (e, _) in std::mem::take(&mut self.entries)
            .into_iter()
            .zip(kept)
            .filter(|(_, k)| *k)
        {
            let mut e = e;
            if e.hardlink_of.is_some() {
                let first = *first_of
                    .entry((e.stat.st_dev, e.stat.st_ino))
                    .or_insert(out.len());
                e.hardlink_of = (first != out.len()).then_some(first);
            } else if e.link_target.is_none() && !e.is_dir() && e.stat.st_nlink > 1 {
                first_of
                    .entry((e.stat.st_dev, e.stat.st_ino))
                    .or_insert(out.len());
            }
            out.push(e);
        }
        self.entries = out;
    }

    pub(crate) fn top(&self) -> &Entry {
        &self.entries[0]
    }

    /// Opens a regular-file entry for reading, refusing any symlink on the way.
    pub(crate) fn open(&self, src: &Source, entry: &Entry) -> io::Result<std::fs::File> {
        let path = self.path_of(entry);
        let fd = at::open_beneath(src.root, &path, OFlag::O_RDONLY | OFlag::O_NOFOLLOW)?;
        Ok(std::fs::File::from(fd))
    }
}

fn io_err(path: impl AsRef<Path>) -> impl FnOnce(io::Error) -> SelectError {
    let path = path.as_ref().display().to_string();
    move |source| SelectError::Io { path, source }
}

/// What one COPY/ADD reads: its source strings and the flags that shape
/// the selection.
pub(crate) struct Request<'a> {
    pub patterns: &'a [String],
    /// `--parents`: see [`select_parents`].
    pub parents: bool,
    /// `--exclude` rules, matched against paths below each match (never
    /// against the match itself, as in BuildKit).
    pub exclude: &'a Dockerignore,
}

/// Expands and resolves every source string; each must match something,
/// except a wildcard, which may match nothing.
pub(crate) fn select(src: &Source, req: &Request) -> Result<Vec<Match>, SelectError> {
    let mut out = Vec::new();
    for pattern in req.patterns {
        let found = if req.parents {
            select_parents(src, pattern, req.exclude)?
        } else {
            let mut found = Vec::new();
            for (path, base_name) in expand(src, pattern)? {
                match resolve_match(src, pattern, &path, base_name)? {
                    Some(mut m) => {
                        // Without rules the walk of a big context is not
                        // copied again just to keep every entry.
                        if !req.exclude.is_empty() {
                            m.retain(|rel| !req.exclude.is_excluded(rel));
                        }
                        found.push(m);
                    }
                    // A match that is there but leads nowhere (a symlink to
                    // a missing or ignored path) fails, as in BuildKit, which
                    // follows it; an ignored match is simply not there.
                    None if has_wildcards(pattern) && !src.ignore.is_excluded(&path) => {
                        return Err(SelectError::NotFound { path });
                    }
                    None => {}
                }
            }
            found
        };
        // A wildcard that matches nothing copies nothing, as BuildKit's
        // AllowEmptyWildcard; a plain path must be there.
        if found.is_empty() && !has_wildcards(pattern) {
            return Err(not_found(pattern));
        }
        out.extend(found);
    }
    Ok(out)
}

fn not_found(pattern: &str) -> SelectError {
    let comps = resolve::clean(pattern);
    if comps.iter().any(|c| has_wildcards(&c.to_string_lossy())) {
        SelectError::NoMatch {
            pattern: pattern.to_string(),
        }
    } else {
        SelectError::NotFound {
            path: pattern.to_string(),
        }
    }
}

/// `--parents`: the source splits at its first `/./` into a copy root
/// (the source root when there is none) and a pattern below it. The copy
/// root's contents are copied, keeping only what the pattern matches
/// (`**` spans directories; a matched directory brings its subtree) and
/// the directories leading to it. A wildcard in the root part gives one
/// copy root per match.
fn select_parents(
    src: &Source,
    pattern: &str,
    exclude: &Dockerignore,
) -> Result<Vec<Match>, SelectError> {
    let (root, below) = match pattern.split_once("/./") {
        Some((root, below)) => (root, below),
        None => ("", pattern),
    };
    let include = Dockerignore::new(&[below.to_string()]).map_err(|_| SelectError::BadPattern {
        pattern: pattern.to_string(),
    })?;
    let mut out = Vec::new();
    for (path, base_name) in expand(src, if root.is_empty() { "." } else { root })? {
        let Some(mut m) = resolve_match(src, pattern, &path, base_name)? else {
            continue;
        };
        if !m.top().is_dir() {
            continue;
        }
        m.retain(|rel| include.is_excluded(rel) && !exclude.is_excluded(rel));
        if m.entries.len() > 1 {
            out.push(m);
        }
    }
    Ok(out)
}

/// Wildcard expansion: the literal prefix is resolved (following links),
/// the wildcard part is matched segment by segment against real directories.
/// Returns source-root-relative paths with the name each was matched as.
fn expand(src: &Source, pattern: &str) -> Result<Vec<(String, OsString)>, SelectError> {
    let comps = resolve::clean(pattern);
    let strs: Vec<String> = comps
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let Some(first_wild) = strs.iter().position(|s| has_wildcards(s)) else {
        let base = comps.last().cloned().unwrap_or_else(|| ".".into());
        return Ok(vec![(strs.join("/"), base)]);
    };
    let globs = strs[first_wild..]
        .iter()
        .map(|s| Glob::new(s, Syntax::FilepathMatch))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| SelectError::BadPattern {
            pattern: pattern.to_string(),
        })?;
    let prefix = strs[..first_wild].join("/");
    let base = resolve::resolve(src.root, &prefix, true).map_err(io_err(&prefix))?;
    // BuildKit reads the directory before the wildcard part: it must exist.
    if !base.exists() {
        return Err(SelectError::NotFound {
            path: if prefix.is_empty() {
                ".".into()
            } else {
                prefix
            },
        });
    }
    let mut out = Vec::new();
    match_level(src, &base.path(), &globs, &mut out).map_err(io_err(&prefix))?;
    Ok(out)
}

fn match_level(
    src: &Source,
    dir: &Path,
    globs: &[Glob],
    out: &mut Vec<(String, OsString)>,
) -> io::Result<()> {
    let Some((glob, rest)) = globs.split_first() else {
        return Ok(());
    };
    let fd = match at::open_beneath(src.root, dir, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in at::read_dir_names(fd.as_fd())? {
        if !glob.matches(&name.to_string_lossy()) {
            continue;
        }
        let path = dir.join(&name);
        if rest.is_empty() {
            out.push((path.to_string_lossy().into_owned(), name));
        } else if at::lstat_at(fd.as_fd(), &name)?
            .is_some_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        {
            match_level(src, &path, rest, out)?;
        }
    }
    Ok(())
}

/// Resolves one concrete source path and walks it. `None` when it is not
/// there or dockerignore hides it.
fn resolve_match(
    src: &Source,
    pattern: &str,
    path: &str,
    base_name: OsString,
) -> Result<Option<Match>, SelectError> {
    let res: Resolved = resolve::resolve(src.root, path, true).map_err(io_err(path))?;
    if !res.exists() {
        return Ok(None);
    }
    let hidden_link = res
        .links
        .iter()
        .any(|l| src.ignore.is_excluded(&l.to_string_lossy()));
    if hidden_link {
        return Ok(None);
    }
    let real = res.path();
    let top_stat = {
        let fd = at::open_beneath(src.root, &real, OFlag::O_PATH | OFlag::O_NOFOLLOW)
            .map_err(io_err(&real))?;
        at::fstat(fd.as_fd()).map_err(io_err(&real))?
    };
    let top = Entry {
        rel: PathBuf::new(),
        stat: Stat::from(top_stat),
        link_target: None,
        hardlink_of: None,
    };
    let mut m = Match {
        pattern: pattern.to_string(),
        real,
        base_name,
        entries: vec![top],
    };
    // The context root itself is always there, whatever the patterns say.
    let is_root = m.real.as_os_str().is_empty();
    let excluded = !is_root && src.ignore.is_excluded(&m.real.to_string_lossy());
    if m.top().is_dir() {
        if excluded && !src.ignore.has_exceptions() {
            return Ok(None);
        }
        let fd = at::open_beneath(src.root, &m.real, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(io_err(&m.real))?;
        let top = std::mem::take(&mut m.entries);
        m.entries = walk::walk_tree(src, &m.real, fd.as_fd(), top).map_err(io_err(&m.real))?;
        if excluded && m.entries.len() == 1 {
            return Ok(None);
        }
    } else if excluded {
        return Ok(None);
    }
    Ok(Some(m))
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
