//! Where a build's context and named contexts come from, as docker/buildx
//! take them: a directory, `-` (a tar on stdin, or a Dockerfile and no
//! context), an `http(s)://` tarball, or a git URL
//! (`https://host/repo.git#ref:subdir`, `git@host:repo`, `git://…`).
//! Fetched contexts are unpacked or cloned into temporary directories that
//! live as long as the [`Fetched`] holding them.

use anyhow::{bail, Context as _};
use mybuild_solver::fileop::{unpack_tarball, TarballKind};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A git context URL split as BuildKit splits it: the remote, then the
/// fragment's `ref` (branch, tag or commit) and `subdir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GitUrl {
    pub remote: String,
    pub reference: Option<String>,
    pub subdir: Option<String>,
}

/// A context argument that is not a local directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Remote {
    Git(GitUrl),
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
            return Some(Remote::Git(GitUrl {
                remote,
                reference,
                subdir,
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

/// Clones `git` into `dir` as BuildKit does (a shallow fetch of the ref,
/// else of everything for a commit), drops `.git`, and returns the subdir.
async fn clone(git: &GitUrl, dir: &Path) -> anyhow::Result<PathBuf> {
    let reference = git.reference.as_deref().unwrap_or("HEAD");
    run_git(dir, &["init", "-q"]).await?;
    run_git(dir, &["remote", "add", "origin", &git.remote]).await?;
    let shallow = ["fetch", "-q", "--depth=1", "origin", reference];
    let commit = reference.len() >= 7 && reference.bytes().all(|b| b.is_ascii_hexdigit());
    match run_git(dir, &shallow).await {
        Ok(()) => run_git(dir, &["checkout", "-q", "FETCH_HEAD"]).await?,
        Err(e) if !commit => return Err(e),
        Err(_) => {
            // A commit the server won't serve by id: fetch everything.
            let full = [
                "fetch",
                "-q",
                "--tags",
                "origin",
                "+refs/heads/*:refs/remotes/origin/*",
            ];
            run_git(dir, &full).await?;
            run_git(dir, &["checkout", "-q", reference]).await?;
        }
    }
    std::fs::remove_dir_all(dir.join(".git")).context("removing .git from the git context")?;
    let dir = dir.canonicalize().context("the git context directory")?;
    let Some(sub) = &git.subdir else {
        return Ok(dir);
    };
    let want = dir.join(sub.trim_start_matches('/'));
    let real = want
        .canonicalize()
        .with_context(|| format!("git context {}: subdirectory {sub}", git.remote))?;
    if !real.starts_with(&dir) || !real.is_dir() {
        bail!(
            "git context {}: {sub} is not a directory in the repository",
            git.remote
        );
    }
    Ok(real)
}

async fn run_git(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = tokio::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .context("running git (is it installed?)")?;
    if !out.status.success() {
        bail!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(remote: &str, reference: Option<&str>, subdir: Option<&str>) -> Option<Remote> {
        Some(Remote::Git(GitUrl {
            remote: remote.into(),
            reference: reference.map(Into::into),
            subdir: subdir.map(Into::into),
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
