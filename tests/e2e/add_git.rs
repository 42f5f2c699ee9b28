//! Issue 17: `ADD <git url>`, with `#ref:subdir`, `--keep-git-dir` and
//! `--checksum`, fetched from a real `git daemon` on loopback.

use crate::util::git::{git, GitDaemon};
use crate::util::{assert_success, cached_steps, read_oci_archive, stderr, Image, TestEnv};
use std::path::{Path, PathBuf};

/// A bare repository `repo.git` under `base`, with tag `v1` (a.txt "one",
/// an executable, a subdirectory with a link out of the tree) and then a
/// second commit on main (a.txt "two"). Returns the work tree and v1's
/// commit.
fn repository(base: &Path) -> (PathBuf, String) {
    let tree = base.join("tree");
    std::fs::create_dir_all(tree.join("sub/deep")).unwrap();
    std::fs::write(tree.join("a.txt"), "one").unwrap();
    std::fs::write(tree.join("sub/deep/d.txt"), "deep").unwrap();
    std::fs::write(tree.join("run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tree.join("sub/link")).unwrap();
    git(&tree, &["init", "-q"]);
    git(&tree, &["add", "-A"]);
    git(&tree, &["update-index", "--chmod=+x", "run.sh"]);
    commit(&tree, &["-m", "one"]);
    git(&tree, &["tag", "v1"]);
    let v1 = rev(&tree, "v1^{commit}");
    commit_a(&tree, "two");
    publish(base, &tree);
    (tree, v1)
}

/// The committer time of every commit: 2020-01-01, long before any
/// checkout, so a file dated by its checkout would show.
const COMMIT_TIME: u64 = 1_577_836_800;

fn commit(tree: &Path, args: &[&str]) {
    let date = format!("@{COMMIT_TIME} +0000");
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q"])
        .args(args)
        .env("GIT_AUTHOR_DATE", &date)
        .env("GIT_COMMITTER_DATE", &date)
        .current_dir(tree)
        .output()
        .unwrap();
    assert!(out.status.success(), "git commit {args:?}");
}

fn commit_a(tree: &Path, content: &str) {
    std::fs::write(tree.join("a.txt"), content).unwrap();
    commit(tree, &["-am", content]);
}

/// (Re)writes `base/repo.git` from the work tree.
fn publish(base: &Path, tree: &Path) {
    let bare = base.join("repo.git");
    let _ = std::fs::remove_dir_all(&bare);
    let (t, b) = (tree.to_str().unwrap(), bare.to_str().unwrap());
    git(base, &["clone", "-q", "--bare", t, b]);
}

fn rev(tree: &Path, what: &str) -> String {
    let out = std::process::Command::new("git")
        .args(["rev-parse", what])
        .current_dir(tree)
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn text(img: &Image, path: &str) -> String {
    let data = img.file(path).unwrap_or_else(|| panic!("{path} missing"));
    String::from_utf8(data).unwrap()
}

#[test]
fn add_git_fetches_refs_subdirs_and_keeps_git_dir() {
    let env = TestEnv::new();
    let base = env.work.path().join("srv");
    let (tree, v1) = repository(&base);
    let daemon = GitDaemon::start(&base);
    let url = daemon.url("repo.git");
    let df = format!(
        "FROM busybox\nADD {url}#v1:sub /v1sub\nADD --checksum={} {url}#v1 /checked\n\
         ADD {url} /head\nADD --keep-git-dir {url}#main /kept\n\
         RUN stat -c '%Y %a %n' /v1sub/deep/d.txt /v1sub/link /checked/run.sh > /times \
         && /checked/run.sh > /ran\n",
        &v1[..12]
    );
    let ctx = env.context("ctx", &df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build with ADD git");
    let img = read_oci_archive(&archive);
    assert_eq!(text(&img, "head/a.txt"), "two");
    assert!(img.file("head/.git/HEAD").is_none(), ".git is dropped");
    assert_eq!(text(&img, "v1sub/deep/d.txt"), "deep");
    assert!(img.file("v1sub/a.txt").is_none(), "only the subdir");
    assert!(img.file("kept/.git/HEAD").is_some(), "--keep-git-dir");
    assert_eq!(text(&img, "checked/a.txt"), "one");
    assert_eq!(text(&img, "ran"), "ran\n");
    // Every entry is dated by its commit.
    let t = COMMIT_TIME;
    let times = text(&img, "times");
    let want = format!("{t} 644 /v1sub/deep/d.txt\n{t} 777 /v1sub/link\n{t} 755 /checked/run.sh\n");
    assert_eq!(times, want);

    // A new commit on main: the steps from v1 (first) stay cached, HEAD's
    // do not.
    commit_a(&tree, "three");
    publish(&base, &tree);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "rebuild after a commit");
    let log = stderr(&out);
    let cached = cached_steps(&log);
    assert!(
        !cached.iter().any(|s| s.contains("/head")),
        "HEAD moved: {cached:?}"
    );
    assert_eq!(text(&read_oci_archive(&archive), "head/a.txt"), "three");
    for step in ["#v1:sub /v1sub", "#v1 /checked"] {
        assert!(
            cached.iter().any(|s| s.contains(step)),
            "{step}: {cached:?}"
        );
    }
}

#[test]
fn add_git_layers_are_the_same_on_two_roots() {
    let (a, b) = (TestEnv::new(), TestEnv::new());
    let base = a.work.path().join("srv");
    repository(&base);
    let daemon = GitDaemon::start(&base);
    let df = format!("FROM busybox\nADD {}#v1 /src\n", daemon.url("repo.git"));
    // The epoch dates the directory the copy creates; the tree keeps its
    // commit's (earlier) time.
    let epoch = (COMMIT_TIME + 1000).to_string();
    let layer = |env: &TestEnv| {
        let ctx = env.context("ctx", &df, &[]);
        let archive = env.work.path().join("out.tar");
        let out = (env.cmd().env("SOURCE_DATE_EPOCH", &epoch))
            .args(["build", "--no-cache", "--progress=plain", "-o"])
            .arg(format!("type=oci,dest={}", archive.display()))
            .arg(&ctx)
            .output()
            .unwrap();
        assert_success(&out, "build");
        let img = read_oci_archive(&archive);
        img.config["rootfs"]["diff_ids"].as_array().unwrap().clone()
    };
    let (first, second) = (layer(&a), layer(&b));
    assert_eq!(first.len(), 2);
    assert_eq!(first, second, "one commit, one layer");
}

#[test]
fn add_git_refuses_a_wrong_checksum_and_a_missing_ref() {
    let env = TestEnv::new();
    let base = env.work.path().join("srv");
    repository(&base);
    let daemon = GitDaemon::start(&base);
    let url = daemon.url("repo.git");
    let cases = [
        (
            format!("ADD --checksum=0000000 {url}#v1 /s"),
            "checksum mismatch",
        ),
        (format!("ADD {url}#no-such-branch /s"), "git fetch failed"),
        (
            format!("ADD {url}#v1:sub/link /s"),
            "is not a directory in commit",
        ),
    ];
    for (i, (line, says)) in cases.iter().enumerate() {
        let ctx = env.context(&format!("c{i}"), &format!("FROM busybox\n{line}\n"), &[]);
        let (out, _) = env.build(&ctx, &[]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{line}: should fail");
        assert!(err.contains(says), "{line}: wanted {says:?}:\n{err}");
        assert!(err.contains(&url), "{line}: names the remote:\n{err}");
    }
}
