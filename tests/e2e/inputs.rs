//! End-to-end tests of the build inputs docker/buildx take: `-f -` (the
//! Dockerfile on stdin), context `-` (a plain or gzip tar on stdin, or a
//! Dockerfile and no context), a hostile tar on stdin that must not write
//! outside its temporary context, a tarball URL from a local HTTP server,
//! a git URL served by a real `git daemon` (branch and subdir), and
//! `--build-context` as a directory and as `docker-image://`. Each build
//! exports `-o type=local` and the files are read back.

use crate::util::craft::LayerTar;
use crate::util::git::{git, GitDaemon};
use crate::util::http::FileServer;
use crate::util::{assert_success, stderr, TestEnv};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

/// `mybuild build -o type=local,dest=WORK/out ARGS…` with `stdin` piped in;
/// returns the output and the export directory.
fn build(env: &TestEnv, args: &[&str], stdin: &[u8]) -> (Output, PathBuf) {
    let dest = env.work.path().join("out");
    let mut child = env
        .cmd()
        .current_dir(env.work.path())
        .args(["build", "--progress=plain", "-o"])
        .arg(format!("type=local,dest={}", dest.display()))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mybuild");
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Written from a thread: a build that fails early stops reading.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for mybuild");
    let _ = writer.join();
    (out, dest)
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

const COPY_ALL: &str = "FROM scratch\nCOPY . /\n";

#[test]
fn dockerfile_on_stdin_with_a_directory_context() {
    let env = TestEnv::empty();
    let ctx = env.context(
        "ctx",
        "FROM scratch\nCOPY nothing /\n",
        &[("a.txt", "from ctx")],
    );
    let df = b"FROM scratch\nCOPY a.txt /copied\n";
    let (out, dest) = build(&env, &["-f", "-", ctx.to_str().unwrap()], df);
    assert_success(&out, "build -f -");
    assert_eq!(read(&dest, "copied"), "from ctx");
}

#[test]
fn a_dockerfile_as_context_dash_has_no_context() {
    let env = TestEnv::empty();
    let (ok, _) = build(&env, &["-"], b"FROM scratch\nLABEL a=b\n");
    assert_success(&ok, "build - < Dockerfile");
    let (out, _) = build(&env, &["-"], b"FROM scratch\nCOPY a.txt /\n");
    assert!(!out.status.success(), "COPY with no context built");
    let err = stderr(&out);
    assert!(err.contains("a.txt") && err.contains("not found"), "{err}");
}

fn context_tar() -> Vec<u8> {
    LayerTar::new()
        .file("Dockerfile", COPY_ALL.as_bytes())
        .dir("sub")
        .file("sub/f.txt", b"in the tar")
        .file("other.Dockerfile", b"FROM scratch\nCOPY sub/f.txt /only\n")
        .bytes()
}

#[test]
fn a_tar_on_stdin_is_the_context() {
    let env = TestEnv::empty();
    let (out, dest) = build(&env, &["-"], &context_tar());
    assert_success(&out, "build - < ctx.tar");
    assert_eq!(read(&dest, "sub/f.txt"), "in the tar");
    // -f names a file inside the tar.
    std::fs::remove_dir_all(&dest).unwrap();
    let (out, dest) = build(&env, &["-f", "other.Dockerfile", "-"], &context_tar());
    assert_success(&out, "build -f other.Dockerfile - < ctx.tar");
    assert_eq!(read(&dest, "only"), "in the tar");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[test]
fn a_gzip_tar_on_stdin_is_the_context() {
    let env = TestEnv::empty();
    let (out, dest) = build(&env, &["-"], &gzip(&context_tar()));
    assert_success(&out, "build - < ctx.tar.gz");
    assert_eq!(read(&dest, "sub/f.txt"), "in the tar");
}

#[test]
fn a_hostile_tar_on_stdin_cannot_write_outside_its_context() {
    let env = TestEnv::empty();
    let sentinel = tempfile::tempdir().unwrap();
    let target = sentinel.path().to_str().unwrap();
    let climb = format!("../../../../../../..{target}/climbed");
    let tars = [
        LayerTar::new()
            .file("Dockerfile", COPY_ALL.as_bytes())
            .file_named_raw(&climb, b"x")
            .bytes(),
        LayerTar::new()
            .file("Dockerfile", COPY_ALL.as_bytes())
            .symlink("link", target)
            .file("link/through", b"x")
            .bytes(),
    ];
    for (i, tar) in tars.iter().enumerate() {
        let (out, dest) = build(&env, &["-"], tar);
        let left: Vec<_> = std::fs::read_dir(sentinel.path()).unwrap().collect();
        assert!(left.is_empty(), "hostile tar {i} wrote {left:?}");
        if i == 0 {
            // Climbing above the context is refused, as Docker's breakoutError.
            assert!(!out.status.success(), "a ../ entry was accepted");
            assert!(stderr(&out).contains("outside"), "{}", stderr(&out));
        } else {
            // An absolute link resolves inside the context, as in Docker:
            // the file lands below the context's own copy of that path.
            assert_success(&out, "absolute symlink tar");
            let inside = dest.join(target.trim_start_matches('/')).join("through");
            assert_eq!(std::fs::read_to_string(&inside).unwrap(), "x");
        }
    }
}

#[test]
fn a_tarball_url_is_the_context() {
    let env = TestEnv::empty();
    let server = FileServer::start();
    server.set("/ctx.tar.gz", &gzip(&context_tar()));
    server.set("/not-a-tar", b"hello");
    let (out, dest) = build(&env, &[&server.url("/ctx.tar.gz")], b"");
    assert_success(&out, "build http://…/ctx.tar.gz");
    assert_eq!(read(&dest, "sub/f.txt"), "in the tar");
    // The same tarball as a named context.
    std::fs::remove_dir_all(&dest).unwrap();
    let ctx = env.context(
        "ctx",
        "FROM scratch\nCOPY --from=web sub/f.txt /named\n",
        &[],
    );
    let named = format!("web={}", server.url("/ctx.tar.gz"));
    let args = ["--build-context", &named, ctx.to_str().unwrap()];
    let (out, dest) = build(&env, &args, b"");
    assert_success(&out, "build --build-context web=URL");
    assert_eq!(read(&dest, "named"), "in the tar");
    let (out, _) = build(&env, &[&server.url("/not-a-tar")], b"");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a tar archive"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_git_url_builds_its_branch_and_subdir() {
    let env = TestEnv::empty();
    let base = env.work.path().join("repos");
    let repo = base.join("app.git");
    std::fs::create_dir_all(repo.join("web")).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join("web/Dockerfile"), COPY_ALL).unwrap();
    std::fs::write(repo.join("web/page"), "on main").unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "main"]);
    git(&repo, &["checkout", "-qb", "feature"]);
    std::fs::write(repo.join("web/page"), "on feature").unwrap();
    git(&repo, &["commit", "-qam", "feature"]);
    git(&repo, &["checkout", "-q", "main"]);
    let daemon = GitDaemon::start(&base);
    let url = format!("{}#feature:web", daemon.url("app.git"));
    let (out, dest) = build(&env, &[&url], b"");
    assert_success(&out, &format!("build {url}"));
    assert_eq!(read(&dest, "page"), "on feature");
    assert!(!dest.join(".git").exists() && !dest.join("web").exists());
    // A commit id as the ref: main's first commit.
    let sha = std::process::Command::new("git")
        .args(["rev-parse", "main"])
        .current_dir(&repo)
        .output()
        .expect("git rev-parse");
    let sha = String::from_utf8(sha.stdout).unwrap();
    std::fs::remove_dir_all(&dest).unwrap();
    let url = format!("{}#{}:web", daemon.url("app.git"), sha.trim());
    let (out, dest) = build(&env, &[&url], b"");
    assert_success(&out, &format!("build {url}"));
    assert_eq!(read(&dest, "page"), "on main");
}

#[test]
fn build_contexts_name_a_directory_for_from_and_copy_from() {
    let env = TestEnv::empty();
    let extra = env.context("extra", "unused", &[("x.txt", "extra file")]);
    // The stage `extra` names an unreachable image: the context replaces it.
    let df = "FROM 127.0.0.1:1/nowhere AS extra\nFROM extra AS base\nFROM scratch\n\
              COPY --from=extra x.txt /copied\nCOPY --from=base /x.txt /via-from\n";
    let ctx = env.context("ctx", df, &[]);
    let named = format!("extra={}", extra.display());
    let args = ["--build-context", &named, ctx.to_str().unwrap()];
    let (out, dest) = build(&env, &args, b"");
    assert_success(&out, "build --build-context extra=DIR");
    assert_eq!(read(&dest, "copied"), "extra file");
    assert_eq!(read(&dest, "via-from"), "extra file");
}

#[test]
fn a_build_context_names_an_image() {
    let env = TestEnv::new();
    let df = "FROM scratch\nCOPY --from=tool /bin/busybox /bb\n";
    let ctx = env.context("ctx", df, &[]);
    let args = [
        "--build-context",
        "tool=docker-image://busybox:latest",
        ctx.to_str().unwrap(),
    ];
    let (out, dest) = build(&env, &args, b"");
    assert_success(&out, "build --build-context tool=docker-image://busybox");
    assert!(dest.join("bb").metadata().unwrap().len() > 0);
}
