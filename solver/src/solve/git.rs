//! `ADD <git url>`: fetches one commit of a repository with the host's
//! `git` into a work dir and commits its tree (or one subdirectory of it)
//! as a one-layer filesystem.
//!
//! The fetch is shallow where the server allows it. Only network
//! protocols are allowed (never `file://` or `ext::`, which would read the
//! host's files or run a command), and every file, link and directory of
//! the tree is dated by the commit, so one commit always makes the same
//! layer and the steps after it stay cached.

use super::git_cache;
use mybuild_cache::{Store, StoreError};
use mybuild_graph::{Digest, GitSource};
use nix::fcntl::AT_FDCWD;
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("ADD {remote}: only https://, http://, git://, ssh:// and user@host: remotes can be fetched")]
    Protocol { remote: String },
    #[error("ADD {remote}: cannot run git (is it installed?): {source}")]
    Spawn {
        remote: String,
        source: std::io::Error,
    },
    #[error("ADD {remote}: git {command} failed: {message}")]
    Git {
        remote: String,
        command: String,
        message: String,
    },
    #[error("ADD {remote}: checksum mismatch: expected commit {expected}, got {actual}")]
    Checksum {
        remote: String,
        expected: String,
        actual: String,
    },
    #[error("ADD {remote}: {subdir:?} is not a directory in commit {commit}")]
    Subdir {
        remote: String,
        subdir: String,
        commit: String,
    },
    #[error("ADD {remote}: {}: {source}", path.display())]
    Io {
        remote: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("ADD {remote}: {source}")]
    Store { remote: String, source: StoreError },
    #[error("ADD {remote}: git thread failed: {message}")]
    Join { remote: String, message: String },
}

/// Fetches `src` and commits its tree as a layer; returns its diff_id.
pub async fn fetch_git(store: &Arc<Store>, src: &GitSource) -> Result<Digest, GitError> {
    check_protocol(&src.remote)?;
    let (store, src) = (store.clone(), src.clone());
    let remote = src.remote.clone();
    tokio::task::spawn_blocking(move || checkout_layer(&store, &src))
        .await
        .map_err(|e| GitError::Join {
            remote,
            message: e.to_string(),
        })?
}

/// Refuses every remote but the network protocols BuildKit fetches.
fn check_protocol(remote: &str) -> Result<(), GitError> {
    let scheme = ["https://", "http://", "git://", "ssh://"]
        .iter()
        .any(|p| remote.starts_with(p));
    // scp-like `user@host:path`: a user, then a host without a slash.
    let scp = remote.split_once('@').is_some_and(|(user, rest)| {
        !user.is_empty()
            && !user.contains('/')
            && rest.split_once(':').is_some_and(|(host, _)| {
                !host.is_empty() && !host.contains('/') && !host.starts_with('-')
            })
    });
    if (scheme || scp) && !remote.starts_with('-') {
        Ok(())
    } else {
        Err(GitError::Protocol {
            remote: remote.into(),
        })
    }
}

/// A checked-out commit: its full hash, its committer time (Unix
/// seconds) and the directory holding the tree asked for.
pub struct Checkout {
    pub commit: String,
    pub time: i64,
    pub tree: PathBuf,
}

/// Fetches `src` into the empty directory `dir` and checks it out: the
/// commit must match `--checksum`, `.git` is removed unless kept, and
/// `tree` is `dir` or the subdirectory asked for.
pub fn checkout(src: &GitSource, dir: &Path) -> Result<Checkout, GitError> {
    check_protocol(&src.remote)?;
    let git = Git { src, repo: dir };
    git.run(&["init", "-q"])?;
    let commit = git.fetch_and_checkout()?;
    check_commit(src, &commit)?;
    let seconds = git.run(&["log", "-1", "--format=%ct", "HEAD"])?;
    let time = seconds.trim().parse::<i64>().unwrap_or(0);
    // `.git` goes with a subdirectory too: only the tree asked for is kept.
    if !src.keep_git_dir {
        let dotgit = dir.join(".git");
        std::fs::remove_dir_all(&dotgit).map_err(io_err(src, &dotgit))?;
    }
    let tree = match &src.subdir {
        Some(sub) => subdir(src, dir, sub, &commit)?,
        None => dir.to_path_buf(),
    };
    Ok(Checkout { commit, time, tree })
}

fn checkout_layer(store: &Arc<Store>, src: &GitSource) -> Result<Digest, GitError> {
    let store_err = |source| GitError::Store {
        remote: src.remote.clone(),
        source,
    };
    if let Some(commit) = remote_commit(src) {
        if let Some(diff) = git_cache::lookup(store, src, &commit) {
            check_commit(src, &commit)?;
            return Ok(diff);
        }
    }
    let wd = store.work_dir().map_err(store_err)?;
    let repo = wd.work().join("repo");
    std::fs::create_dir(&repo).map_err(io_err(src, &repo))?;
    let done = checkout(src, &repo)?;
    let upper = wd.upper();
    std::fs::remove_dir(&upper).map_err(io_err(src, &upper))?;
    std::fs::rename(&done.tree, &upper).map_err(io_err(src, &done.tree))?;
    date_tree(src, &upper, done.time)?;
    let diff = store.commit_upper(&upper).map_err(store_err)?;
    drop(wd);
    git_cache::remember(store, src, &done.commit, &diff);
    Ok(diff)
}

/// The commit the reference names now: the reference itself when it is a
/// full hash, else what `git ls-remote` lists (`None` when it cannot say,
/// as for an abbreviated hash: then the fetch finds out).
fn remote_commit(src: &GitSource) -> Option<String> {
    let reference = src.reference.as_deref().unwrap_or("HEAD");
    let full = matches!(reference.len(), 40 | 64);
    if full && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(reference.to_ascii_lowercase());
    }
    let git = Git {
        src,
        repo: Path::new("/"),
    };
    let listing = git.run(&["ls-remote", &src.remote, reference]).ok()?;
    git_cache::commit_in_listing(&listing, reference)
}

/// `--checksum`: the commit must start with it.
fn check_commit(src: &GitSource, commit: &str) -> Result<(), GitError> {
    match &src.checksum {
        Some(expected) if !commit.starts_with(expected.as_str()) => Err(GitError::Checksum {
            remote: src.remote.clone(),
            expected: expected.clone(),
            actual: commit.into(),
        }),
        _ => Ok(()),
    }
}

/// `repo/dir`, checked one component at a time: a symlink in the
/// repository must never lead outside it.
fn subdir(src: &GitSource, repo: &Path, dir: &str, commit: &str) -> Result<PathBuf, GitError> {
    let mut path = repo.to_path_buf();
    for part in dir.split('/').filter(|p| !p.is_empty() && *p != ".") {
        path.push(part);
        let is_dir = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
        if part == ".." || part == ".git" || !is_dir {
            return Err(GitError::Subdir {
                remote: src.remote.clone(),
                subdir: dir.into(),
                commit: commit.into(),
            });
        }
    }
    Ok(path)
}

/// Sets the times of `root` and everything under it (links themselves,
/// never what they point to) to `time`.
fn date_tree(src: &GitSource, root: &Path, time: i64) -> Result<(), GitError> {
    let ts = TimeSpec::new(time, 0);
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(src, &dir))? {
            let entry = entry.map_err(io_err(src, &dir))?;
            let path = entry.path();
            if entry.file_type().map_err(io_err(src, &path))?.is_dir() {
                dirs.push(path.clone());
            }
            utimensat(AT_FDCWD, &path, &ts, &ts, UtimensatFlags::NoFollowSymlink)
                .map_err(|e| io_err(src, &path)(e.into()))?;
        }
    }
    Ok(())
}

fn io_err<'a>(src: &'a GitSource, path: &'a Path) -> impl Fn(std::io::Error) -> GitError + 'a {
    move |source| GitError::Io {
        remote: src.remote.clone(),
        path: path.to_path_buf(),
        source,
    }
}

/// The host's git, run on one repository with prompts off and only
/// network protocols allowed.
struct Git<'a> {
    src: &'a GitSource,
    repo: &'a Path,
}

impl Git<'_> {
    /// Fetches the reference (the remote's HEAD by default), checks it out
    /// detached and returns the commit's full hash.
    fn fetch_and_checkout(&self) -> Result<String, GitError> {
        let reference = self.src.reference.as_deref().unwrap_or("HEAD");
        let remote = self.src.remote.as_str();
        let shallow = ["fetch", "-q", "--no-tags", "--depth=1", remote, reference];
        let Err(refused) = self.run(&shallow) else {
            self.run(&["checkout", "-q", "--detach", "FETCH_HEAD"])?;
            return Ok(self.run(&["rev-parse", "HEAD"])?.trim().to_string());
        };
        // A dumb HTTP server cannot fetch shallow, and a server may refuse
        // a commit hash that no ref points at: fetch every branch and tag,
        // then find the reference among them. When it is not there either,
        // the first fetch's error says why best.
        let all = [
            "fetch",
            "-q",
            "--tags",
            remote,
            "+refs/heads/*:refs/remotes/origin/*",
            "+HEAD:refs/remotes/origin/HEAD",
        ];
        if self.run(&all).is_err() {
            return Err(refused);
        }
        let found = [
            format!("{reference}^{{commit}}"),
            format!("refs/remotes/origin/{reference}^{{commit}}"),
        ]
        .iter()
        .find_map(|name| self.run(&["rev-parse", "-q", "--verify", name]).ok())
        .ok_or(refused)?;
        let found = found.trim();
        self.run(&["checkout", "-q", "--detach", found])?;
        Ok(found.to_string())
    }

    fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let remote = || self.src.remote.clone();
        let out = Command::new("git")
            .args([
                "-c",
                "protocol.allow=never",
                "-c",
                "protocol.https.allow=always",
                "-c",
                "protocol.http.allow=always",
                "-c",
                "protocol.git.allow=always",
                "-c",
                "protocol.ssh.allow=always",
                "-c",
                "advice.detachedHead=false",
                // A server that stops sending fails the step instead of
                // hanging the build (HTTP; git:// and ssh have their own
                // connection timeouts).
                "-c",
                "http.lowSpeedLimit=1",
                "-c",
                "http.lowSpeedTime=60",
            ])
            .args(args)
            .current_dir(self.repo)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "true")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| GitError::Spawn {
                remote: remote(),
                source,
            })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(GitError::Git {
                remote: remote(),
                command: args.first().copied().unwrap_or_default().into(),
                message: stderr.trim().lines().last().unwrap_or("").into(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_network_remotes_are_fetched() {
        for ok in [
            "https://h/x.git",
            "http://h/x.git",
            "git://h:9418/x.git",
            "ssh://git@h/x.git",
            "git@h:x/y.git",
        ] {
            assert!(check_protocol(ok).is_ok(), "{ok}");
        }
        for bad in [
            "file:///etc",
            "ext::sh -c id",
            "/srv/x.git",
            "-uhttps://h/x.git",
            "@h:x",
            "a/b@h:x",
            "u@:x",
            "u@-oProxyCommand=x:y",
        ] {
            assert!(check_protocol(bad).is_err(), "{bad}");
        }
    }
}
