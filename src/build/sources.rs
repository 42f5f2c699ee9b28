//! Where a build's context and named contexts come from, as docker/buildx
//! take them: a directory, `-` (a tar on stdin, or a Dockerfile and no
//! context), an `http(s)://` tarball, or a git URL
//! (`https://host/repo.git#ref:subdir`, `git@host:repo`, `git://…`).
//! Fetched contexts are unpacked or cloned into temporary directories that
//! live as long as the [`Fetched`] holding them.

use anyhow::{bail, Context as _};
use mybuild_graph::GitSource;
use mybuild_solver::fileop::{unpack_tarball, TarballKind};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A context argument that is not a local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Remote {
    /// Split as BuildKit splits it: the remote, then the fragment's `ref`
    /// (branch, tag or commit) and `subdir`.
    Git(GitSource),
    Tarball(String),
}

impl Remote {
    /// Docker's `urlutil`: `git://`, `git@`, `github.com/` and `http(s)`
    /// URLs whose path ends in `.git` are git; other `http(s)` URLs are
    /// tarballs; anything else is a path.
    pub(super) fn parse(arg: &str) -> Option<Remote> {
        let (url, fragment) = match arg.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (arg, None),
        };
        let http = url.starts_with("http://") || url.starts_with("https://");
        let git = url.starts_with("git://")
            || url.starts_with("git@")
            || url.starts_with("github.com/")
            || (http && url.ends_with(".git"));
        if git {
            let (reference, subdir) = match fragment.map(|f| f.split_once(':').unwrap_or((f, ""))) {
                Some((r, s)) => (non_empty(r), non_empty(s)),
                None => (None, None),
            };
            let remote = match url.strip_prefix("github.com/") {
                Some(rest) => format!("https://github.com/{rest}"),
                None => url.to_string(),
            };
            return Some(Remote::Git(GitSource {
                remote,
                reference,
                subdir,
                keep_git_dir: false,
                checksum: None,
            }));
        }
        http.then(|| Remote::Tarball(arg.to_string()))
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Temporary directories backing fetched contexts; dropped after the build.
#[derive(Default)]
pub(super) struct Fetched {
    dirs: Vec<TempDir>,
}

impl Fetched {
    fn temp(&mut self) -> anyhow::Result<PathBuf> {
        let dir = tempfile::Builder::new()
            .prefix("mybuild-context-")
            .tempdir()
            .context("creating a temporary context directory")?;
        let path = dir.path().to_path_buf();
        self.dirs.push(dir);
        Ok(path)
    }

    /// Reads stdin: a tarball is unpacked and its directory returned; any
    /// other text is a Dockerfile, returned with an empty context.
    pub(super) fn stdin(&mut self) -> anyhow::Result<(PathBuf, Option<String>)> {
        let dir = self.temp()?;
        let mut spool = tempfile::tempfile().context("spooling stdin")?;
        std::io::copy(&mut std::io::stdin().lock(), &mut spool).context("reading stdin")?;
        match unpack_tarball(&mut spool, &dir, "build context -")? {
            TarballKind::Unpacked => Ok((dir, None)),
            TarballKind::NotArchive => {
                use std::io::Seek as _;
                let mut text = String::new();
                spool.rewind().context("reading stdin")?;
                spool
                    .read_to_string(&mut text)
                    .context("the Dockerfile on stdin is not valid UTF-8")?;
                Ok((dir, Some(text)))
            }
        }
    }

    /// Downloads or clones `remote` and returns its directory.
    pub(super) async fn remote(&mut self, remote: &Remote) -> anyhow::Result<PathBuf> {
        let dir = self.temp()?;
        match remote {
            Remote::Tarball(url) => {
                let mut file = download(url).await?;
                match unpack_tarball(&mut file, &dir, &format!("build context {url}"))? {
                    TarballKind::Unpacked => Ok(dir),
                    TarballKind::NotArchive => {
                        bail!("build context {url}: not a tar archive (plain or gzip)")
                    }
                }
            }
            Remote::Git(git) => (clone(git, &dir).await)
                .with_context(|| format!("git build context {}", git.remote)),
        }
    }
}

/// The body of `url`, in an unlinked temporary file.
async fn download(url: &str) -> anyhow::Result<std::fs::File> {
    use std::io::Write as _;
    let mut resp = reqwest::get(url)
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("downloading build context {url}"))?;
    let mut file = tempfile::tempfile().context("spooling a downloaded context")?;
    while let Some(chunk) = (resp.chunk().await).with_context(|| format!("downloading {url}"))? {
        file.write_all(&chunk)
            .context("spooling a downloaded context")?;
    }
    Ok(file)
}

/// Clones `git` into `dir` as `ADD <git url>` does (a shallow fetch of
/// the ref, else of everything), without `.git`; returns the tree's
/// directory.
async fn clone(git: &GitSource, dir: &Path) -> anyhow::Result<PathBuf> {
    let (git, dir) = (git.clone(), dir.to_path_buf());
    let done = tokio::task::spawn_blocking(move || mybuild_solver::git_checkout(&git, &dir))
        .await
        .context("the git clone thread")??;
    Ok(done.tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(remote: &str, reference: Option<&str>, subdir: Option<&str>) -> Option<Remote> {
        Some(Remote::Git(GitSource {
            remote: remote.into(),
            reference: reference.map(Into::into),
            subdir: subdir.map(Into::into),
            keep_git_dir: false,
            checksum: None,
        }))
    }

    #[test]
    fn git_urls_split_ref_and_subdir() {
        let u = "https://h/r.git";
        assert_eq!(
            Remote::parse("https://h/r.git#v1:app/web"),
            git(u, Some("v1"), Some("app/web"))
        );
        assert_eq!(
            Remote::parse("https://h/r.git#main"),
            git(u, Some("main"), None)
        );
        assert_eq!(
            Remote::parse("https://h/r.git#:sub"),
            git(u, None, Some("sub"))
        );
        assert_eq!(Remote::parse(u), git(u, None, None));
        assert_eq!(
            Remote::parse("git@h:o/r#dev"),
            git("git@h:o/r", Some("dev"), None)
        );
        assert_eq!(
            Remote::parse("git://127.0.0.1/r"),
            git("git://127.0.0.1/r", None, None)
        );
        assert_eq!(
            Remote::parse("github.com/o/r"),
            git("https://github.com/o/r", None, None)
        );
    }

    #[test]
    fn other_urls_are_tarballs_and_the_rest_paths() {
        let t = "http://h/ctx.tar.gz";
        assert_eq!(Remote::parse(t), Some(Remote::Tarball(t.into())));
        assert_eq!(Remote::parse("./dir"), None);
        assert_eq!(Remote::parse("-"), None);
    }
}
