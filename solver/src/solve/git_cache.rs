//! Remembered git checkouts: the layer one commit of a remote made (with
//! the same subdirectory and `--keep-git-dir`), so a build whose ref still
//! points at that commit asks the remote only `git ls-remote` and fetches
//! nothing. Entries live in `GIT_SOURCES_DIR` beside the store; one whose
//! layer is gone is ignored, and `prune -a` removes them all.

use mybuild_cache::Store;
use mybuild_graph::{Digest, GitSource, KeyEncoder};
use std::path::PathBuf;

/// Which layer a commit of a git remote made. Defined here, not with the
/// solver's other directory names in `types`, so `types` -> `error` ->
/// `git` -> this file is no import circle.
pub const GIT_SOURCES_DIR: &str = "git-sources";

/// The entry's path: a digest of everything that decides the tree.
fn entry(store: &Store, src: &GitSource, commit: &str) -> PathBuf {
    let mut e = KeyEncoder::new();
    e.str("git-source-v1")
        .str(&src.remote)
        .str(commit)
        .opt_str(src.subdir.as_deref())
        .str(if src.keep_git_dir { "keep-git-dir" } else { "" });
    store.state_dir(GIT_SOURCES_DIR).join(e.finish().hex())
}

/// The layer remembered for `commit`, when the store still has it.
pub(super) fn lookup(store: &Store, src: &GitSource, commit: &str) -> Option<Digest> {
    let text = std::fs::read_to_string(entry(store, src, commit)).ok()?;
    let diff = Digest::parse(text.trim()).ok()?;
    store.snapshot_dir(&diff).is_some().then_some(diff)
}

/// Remembers that `commit` made layer `diff`. Best effort: a store that
/// cannot keep the entry fetches again next time.
pub(super) fn remember(store: &Store, src: &GitSource, commit: &str, diff: &Digest) {
    let path = entry(store, src, commit);
    let Some(dir) = path.parent() else { return };
    let tmp = path.with_extension("tmp");
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&tmp, diff.to_string()))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The commit `reference` names in `git ls-remote` output: a peeled tag
/// first, then the tag, the branch, or the name as listed (`HEAD`).
pub(super) fn commit_in_listing(listing: &str, reference: &str) -> Option<String> {
    let wanted = [
        format!("refs/tags/{reference}^{{}}"),
        format!("refs/tags/{reference}"),
        format!("refs/heads/{reference}"),
        reference.to_string(),
    ];
    let lines: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    wanted.iter().find_map(|name| {
        lines
            .iter()
            .find(|(_, r)| r == name)
            .map(|(hash, _)| hash.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_resolve_peeled_tags_then_branches() {
        let listing = "aaa\tHEAD\nbbb\trefs/heads/main\nccc\trefs/tags/v1\nddd\trefs/tags/v1^{}\n\
                       eee\trefs/heads/v1-branch\n";
        assert_eq!(commit_in_listing(listing, "v1").as_deref(), Some("ddd"));
        assert_eq!(commit_in_listing(listing, "main").as_deref(), Some("bbb"));
        assert_eq!(commit_in_listing(listing, "HEAD").as_deref(), Some("aaa"));
        assert_eq!(commit_in_listing(listing, "v1-branc"), None);
    }

    #[test]
    fn entries_need_their_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let src = GitSource {
            remote: "https://h/r.git".into(),
            reference: None,
            subdir: None,
            keep_git_dir: false,
            checksum: None,
        };
        let diff = Digest::of(b"no such layer");
        remember(&store, &src, "abc", &diff);
        assert_eq!(lookup(&store, &src, "abc"), None, "the layer is not there");
        let kept = GitSource {
            keep_git_dir: true,
            ..src.clone()
        };
        assert_ne!(entry(&store, &src, "abc"), entry(&store, &kept, "abc"));
    }
}
