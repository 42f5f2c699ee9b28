//! COPY and ADD's words: sources, destination, owner and mode, expanded
//! and checked before any node is made.

use super::error::{ConvertError, StepError};
use super::state::{resolve_path, Stage};
use crate::instructions::Copy;
use crate::parser::Heredoc;
use mybuild_graph::{CopyAction, Digest, GitSource, Owner};

/// A COPY/ADD's source words after expansion, sorted by where they come
/// from.
pub(super) struct Sources {
    /// Paths in the build context or the `--from` stage or image.
    pub(super) paths: Vec<String>,
    /// `http(s)://` URLs (ADD only).
    pub(super) urls: Vec<String>,
    /// Git repositories (ADD only), with `--keep-git-dir` and `--checksum`.
    pub(super) gits: Vec<GitSource>,
    /// `--exclude` patterns.
    pub(super) excludes: Vec<String>,
    /// `ADD --checksum`, for the one URL (a git source keeps its own).
    pub(super) checksum: Option<Digest>,
}

impl Sources {
    /// Every source as the history line lists it: paths, URLs, then
    /// heredocs.
    pub(super) fn words(&self, inline: &[Heredoc]) -> Vec<String> {
        let docs = inline.iter().map(|d| format!("<<{}", d.name));
        let gits = self.gits.iter().map(git_word);
        let words = self.paths.iter().chain(&self.urls).cloned().chain(gits);
        words.chain(docs).collect()
    }
}

/// Expands the sources, `--exclude` and `--checksum`, sorting out URLs
/// and git repositories (ADD only).
pub(super) fn expand_sources(stage: &Stage, c: &Copy, escape: char) -> Result<Sources, StepError> {
    let excludes = c
        .exclude
        .iter()
        .map(|p| stage.expand(p, escape))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut paths, mut urls, mut gits) = (Vec::new(), Vec::new(), Vec::new());
    for s in &c.srcs {
        let s = stage.expand(s, escape)?;
        match remote_kind(&s) {
            None => paths.push(s),
            Some(_) if !c.add => return Err(invalid("COPY source (a URL needs ADD)", &s).into()),
            Some(Remote::Http) => urls.push(s),
            Some(Remote::Git) => gits.push(parse_git(&s, c.keep_git_dir)?),
        }
    }
    let mut checksum = None;
    if let Some(sum) = &c.checksum {
        let sum = stage.expand(sum, escape)?;
        match (paths.len(), urls.len(), gits.as_mut_slice()) {
            (0, 1, []) => {
                checksum = Some(Digest::parse(&sum).map_err(|_| invalid("ADD --checksum", &sum))?)
            }
            (0, 0, [git]) => git.checksum = Some(commit_checksum(&sum)?),
            _ => {
                let srcs = c.srcs.join(" ");
                let what = "ADD --checksum (needs one HTTP(S) or git source)";
                return Err(invalid(what, &srcs).into());
            }
        }
    }
    Ok(Sources {
        paths,
        urls,
        gits,
        excludes,
        checksum,
    })
}

/// A git URL split into the remote and its `#ref:subdir` fragment.
fn parse_git(src: &str, keep_git_dir: bool) -> Result<GitSource, ConvertError> {
    let (remote, fragment) = src.split_once('#').unwrap_or((src, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    // Git would read a remote or ref starting with `-` as an option.
    if remote.starts_with('-') || reference.starts_with('-') {
        return Err(invalid("ADD git source", src));
    }
    if subdir.split('/').any(|part| part == "..") {
        return Err(invalid("ADD git subdirectory (no `..`)", src));
    }
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Ok(GitSource {
        remote: remote.to_string(),
        reference: some(reference),
        subdir: some(subdir.trim_matches('/')),
        keep_git_dir,
        checksum: None,
    })
}

/// `ADD --checksum` of a git source: the commit, in full or a prefix of
/// at least 7 hex digits.
fn commit_checksum(sum: &str) -> Result<String, ConvertError> {
    let hex = sum.len() >= 7 && sum.len() <= 64 && sum.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return Err(invalid(
            "ADD --checksum (a git source needs a commit hash)",
            sum,
        ));
    }
    Ok(sum.to_ascii_lowercase())
}

/// A git source as the history line shows it: as written.
fn git_word(g: &GitSource) -> String {
    let mut word = g.remote.clone();
    if g.reference.is_some() || g.subdir.is_some() {
        word.push('#');
        word.push_str(g.reference.as_deref().unwrap_or(""));
        if let Some(dir) = &g.subdir {
            word.push(':');
            word.push_str(dir);
        }
    }
    word
}

/// The copy action every source starts from: destination, owner and mode.
pub(super) fn base_action(
    stage: &Stage,
    c: &Copy,
    sources: &Sources,
    raw_dest: &str,
    owner_spec: Option<&str>,
) -> Result<CopyAction, ConvertError> {
    let dest = dest_path(&stage.workdir(), raw_dest);
    let owner = owner_spec.map(parse_owner).transpose()?;
    let mode = c.chmod.as_deref().map(parse_chmod).transpose()?;
    // Several sources go one after the other to the same path, as in
    // BuildKit (Docker 20.10), which has no check for a missing `/`;
    // documents, which it lacks, always go into a directory.
    let count = sources.paths.len() + sources.urls.len() + sources.gits.len();
    let several = count + c.inline.len() > 1;
    let dest = if several && !c.inline.is_empty() && !dest.ends_with('/') {
        format!("{dest}/")
    } else {
        dest
    };
    Ok(CopyAction {
        source: 0,
        src: Vec::new(),
        dest,
        owner,
        mode,
        extract_archives: false,
        parents: false,
        exclude: Vec::new(),
    })
}

enum Remote {
    Http,
    Git,
}

fn remote_kind(src: &str) -> Option<Remote> {
    if src.starts_with("http://") || src.starts_with("https://") {
        let git = src
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .ends_with(".git");
        return Some(if git { Remote::Git } else { Remote::Http });
    }
    ["git@", "git://", "ssh://"]
        .iter()
        .any(|p| src.starts_with(p))
        .then_some(Remote::Git)
}

fn invalid(what: &'static str, value: &str) -> ConvertError {
    ConvertError::Invalid {
        what,
        value: value.into(),
    }
}

/// The file name `ADD <url> dir/` gives: the URL path's last segment.
pub(super) fn url_filename(url: &str) -> String {
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    // Never a name that walks out of the directory it is written into.
    match path.split_once('/') {
        Some((_, p)) => p
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty() && *n != "." && *n != ".."),
        None => None,
    }
    .unwrap_or("__unnamed__")
    .to_string()
}

/// The absolute destination; a trailing `/` (or `.`) means "into".
fn dest_path(workdir: &str, dest: &str) -> String {
    let mut path = if dest.starts_with('/') {
        dest.to_string()
    } else {
        resolve_path(workdir, dest)
    };
    let into = dest.ends_with('/') || dest == "." || dest.is_empty() || dest.ends_with("/.");
    if into && !path.ends_with('/') {
        path.push('/');
    }
    path
}

fn parse_owner(spec: &str) -> Result<Owner, ConvertError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g.to_string())),
        None => (spec, None),
    };
    if user.is_empty() || group.as_deref() == Some("") {
        return Err(ConvertError::Invalid {
            what: "--chown",
            value: spec.into(),
        });
    }
    Ok(Owner {
        user: user.into(),
        group,
    })
}

fn parse_chmod(spec: &str) -> Result<u32, ConvertError> {
    u32::from_str_radix(spec, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| ConvertError::Invalid {
            what: "--chmod (expected octal)",
            value: spec.into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_come_from_the_url_path() {
        assert_eq!(url_filename("https://h/a/b/tool.tgz?x=1"), "tool.tgz");
        assert_eq!(url_filename("http://h:8080/f#frag"), "f");
        assert_eq!(url_filename("https://h/"), "__unnamed__");
        assert_eq!(url_filename("https://h"), "__unnamed__");
        assert_eq!(url_filename("https://h/a/.."), "__unnamed__");
        assert_eq!(url_filename("https://h/a/."), "__unnamed__");
    }

    #[test]
    fn dest_is_absolute_and_keeps_into_slash() {
        assert_eq!(dest_path("/e", "."), "/e/");
        assert_eq!(dest_path("/w", "sub/"), "/w/sub/");
        assert_eq!(dest_path("/w", "f"), "/w/f");
        assert_eq!(dest_path("/", "/dst/"), "/dst/");
    }

    #[test]
    fn parses_owner_and_mode() {
        assert_eq!(
            parse_owner("1:2").unwrap(),
            Owner {
                user: "1".into(),
                group: Some("2".into())
            }
        );
        assert_eq!(
            parse_owner("nobody").unwrap(),
            Owner {
                user: "nobody".into(),
                group: None
            }
        );
        assert!(parse_owner(":x").is_err());
        assert_eq!(parse_chmod("0640").unwrap(), 0o640);
        assert!(parse_chmod("u+x").is_err());
        assert!(parse_chmod("99").is_err());
    }
}
