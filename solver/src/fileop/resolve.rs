//! Resolving a path inside a root directory the way a chrooted process would.
//!
//! Docker resolves COPY sources and destinations with symlinks followed but
//! confined to the root (`..` at the root stays at the root, absolute link
//! targets restart at the root). Unlike a bare `openat2(RESOLVE_IN_ROOT)`,
//! this walk also reports the *real* path it arrived at and the symlinks it
//! crossed: dockerignore rules apply to real paths, and missing destination
//! directories must be created where the links point.

use super::at;
use nix::fcntl::OFlag;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Linux's own limit on symlinks followed in one lookup.
const MAX_LINKS: usize = 40;

/// Lexically cleans a Dockerfile-style path into components: empty and `.`
/// segments vanish and `..` never climbs above the root.
pub(crate) fn clean(path: &str) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s.into()),
        }
    }
    out
}

pub(crate) fn join(comps: &[OsString]) -> PathBuf {
    comps.iter().collect()
}

/// Where a path resolved to inside the root.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The real path, relative to the root, with no symlink in it (except the
    /// last component when it was not asked to be followed).
    pub comps: Vec<OsString>,
    /// How many leading components exist; the rest are still to be created.
    pub existing: usize,
    /// Real paths of the symlinks crossed on the way.
    pub links: Vec<PathBuf>,
}

impl Resolved {
    pub(crate) fn exists(&self) -> bool {
        self.existing == self.comps.len()
    }

    pub(crate) fn path(&self) -> PathBuf {
        join(&self.comps)
    }
}

fn split_target(target: &OsStr) -> impl Iterator<Item = OsString> + '_ {
    target
        .as_bytes()
        .split(|b| *b == b'/')
        .filter(|s| !s.is_empty())
        .map(|s| OsStr::from_bytes(s).to_os_string())
}

/// Resolves `path` inside `root`, following symlinks (the last one only if
/// `follow_last`) without ever leaving `root`.
pub(crate) fn resolve(root: BorrowedFd, path: &str, follow_last: bool) -> io::Result<Resolved> {
    resolve_comps(root, clean(path), follow_last)
}

/// [`resolve`] for a path already split into components.
pub(crate) fn resolve_comps(
    root: BorrowedFd,
    comps: Vec<OsString>,
    follow_last: bool,
) -> io::Result<Resolved> {
    let mut pending = comps;
    pending.reverse();
    let mut res = Resolved {
        comps: Vec::new(),
        existing: 0,
        links: Vec::new(),
    };
    let mut missing = false;
    while let Some(comp) = pending.pop() {
        if comp == "." {
            continue;
        }
        if comp == ".." {
            res.comps.pop();
            continue;
        }
        if missing {
            res.comps.push(comp);
            continue;
        }
        let dir = open_dir(root, &res.comps)?;
        let Some(st) = at::lstat_at(dir.as_fd(), &comp)? else {
            missing = true;
            res.comps.push(comp);
            continue;
        };
        let is_link = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
        if is_link && (follow_last || !pending.is_empty()) {
            if res.links.len() >= MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = at::readlink_at(dir.as_fd(), &comp)?;
            res.links.push(join(&res.comps).join(&comp));
            if target.as_bytes().starts_with(b"/") {
                res.comps.clear();
            }
            let mut parts: Vec<OsString> = split_target(&target).collect();
            parts.reverse();
            pending.extend(parts);
            continue;
        }
        res.comps.push(comp);
    }
    res.existing = if missing {
        first_missing(root, &res.comps)?
    } else {
        res.comps.len()
    };
    Ok(res)
}

/// Re-counts existing components once a lookup hit a missing one (`..` in
/// a link target may have moved back into existing territory).
fn first_missing(root: BorrowedFd, comps: &[OsString]) -> io::Result<usize> {
    for i in 0..comps.len() {
        let dir = open_dir(root, &comps[..i])?;
        if at::lstat_at(dir.as_fd(), &comps[i])?.is_none() {
            return Ok(i);
        }
    }
    Ok(comps.len())
}

/// Opens a real (symlink-free) directory path below `root` as an O_PATH fd.
pub(crate) fn open_dir(root: BorrowedFd, comps: &[OsString]) -> io::Result<OwnedFd> {
    at::open_beneath(root, &join(comps), OFlag::O_PATH | OFlag::O_DIRECTORY)
}

/// Splits a real path into (parent components, final name).
pub(crate) fn split_last(comps: &[OsString]) -> Option<(&[OsString], &OsStr)> {
    comps
        .split_last()
        .map(|(last, parent)| (parent, last.as_os_str()))
}

/// Convenience for callers holding a `Path`.
pub(crate) fn comps_of(path: &Path) -> Vec<OsString> {
    path.iter().map(|c| c.to_os_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean_never_climbs_out() {
        assert_eq!(
            clean("../../etc/passwd"),
            vec![OsString::from("etc"), "passwd".into()]
        );
        assert_eq!(clean("/a/./b/../c/"), vec![OsString::from("a"), "c".into()]);
        assert!(clean("/").is_empty() && clean(".").is_empty());
    }

    #[test]
    fn symlinks_resolve_inside_root() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("real/sub")).unwrap();
        symlink("/real", r.join("abs")).unwrap();
        symlink("../../../real", r.join("rel")).unwrap();
        symlink("/etc", r.join("etc-link")).unwrap();
        let root = at::open_root(r).unwrap();
        let got = resolve(root.as_fd(), "/abs/sub/new/x", true).unwrap();
        assert_eq!(got.path(), PathBuf::from("real/sub/new/x"));
        assert_eq!(got.existing, 2);
        assert_eq!(got.links, vec![PathBuf::from("abs")]);
        assert_eq!(
            resolve(root.as_fd(), "rel/sub", true).unwrap().path(),
            PathBuf::from("real/sub")
        );
        // /etc inside the root does not exist: the host's /etc is never reached.
        let etc = resolve(root.as_fd(), "etc-link/passwd", true).unwrap();
        assert_eq!(etc.path(), PathBuf::from("etc/passwd"));
        assert_eq!(etc.existing, 0);
        let nofollow = resolve(root.as_fd(), "abs", false).unwrap();
        assert_eq!(nofollow.path(), PathBuf::from("abs"));
        assert!(nofollow.exists());
    }

    #[test]
    fn symlink_loops_fail() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let root = at::open_root(dir.path()).unwrap();
        let err = resolve(root.as_fd(), "a/x", true).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
    }
}
