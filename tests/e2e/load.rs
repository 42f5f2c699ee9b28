//! End-to-end tests of `mybuild load`: archives exported by `mybuild build`
//! (docker and OCI) and rewritten by skopeo load into a second, empty store
//! with the same image id, and a build `FROM` the loaded image sees its
//! files. Broken archives fail naming the file and tag nothing.

use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const DOCKERFILE: &str = "FROM busybox\nCOPY hello.txt /hello.txt\nRUN echo built > /built.txt\n";

/// An image built with a COPY and a RUN, exported both ways.
struct Built {
    env: TestEnv,
    docker: PathBuf,
    oci: PathBuf,
    /// Full image id, `sha256:...`.
    id: String,
}

fn build_app() -> Built {
    let env = TestEnv::new();
    let ctx = env.context("app", DOCKERFILE, &[("hello.txt", "hi\n")]);
    let docker = env.work.path().join("app.docker.tar");
    let dest = format!("type=docker,dest={}", docker.display());
    let (out, oci) = env.build(&ctx, &["-t", "app:1", "--output", &dest]);
    assert_success(&out, "build");
    let log = stderr(&out);
    let id = log
        .lines()
        .find_map(|l| l.split("writing image ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no image id in:\n{log}"))
        .to_string();
    Built {
        env,
        docker,
        oci,
        id,
    }
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The short id `mybuild images` lists for `repo:tag`.
fn listed_id(env: &TestEnv, repo: &str, tag: &str) -> Option<String> {
    let out = env.mybuild(&["images"]);
    assert_success(&out, "images");
    stdout(&out).lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.first() == Some(&repo) && cols.get(1) == Some(&tag)).then(|| cols[2].to_string())
    })
}

fn load(env: &TestEnv, archive: &Path) -> std::process::Output {
    env.mybuild(&["load", "-i", archive.to_str().unwrap()])
}

/// Builds `FROM image` in `env` and returns what the RUN saw of its files.
fn build_on(env: &TestEnv, image: &str) -> Vec<u8> {
    let df = format!("FROM {image}\nRUN cat /hello.txt /built.txt > /both.txt\n");
    let ctx = env.context("on-top", &df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, &format!("build FROM {image}"));
    read_oci_archive(&archive).file("both.txt").unwrap()
}

#[test]
fn loads_docker_and_oci_exports_into_a_fresh_store() {
    let built = build_app();
    let short = &built.id["sha256:".len()..][..12];
    for archive in [&built.docker, &built.oci] {
        let env = TestEnv::empty();
        let out = load(&env, archive);
        assert_success(&out, "load");
        assert_eq!(stdout(&out), "Loaded image: app:1\n", "{archive:?}");
        assert!(stderr(&out).contains("Loading layer"), "{}", stderr(&out));
        assert_eq!(listed_id(&env, "app", "1").as_deref(), Some(short));
        assert_eq!(build_on(&env, "app:1"), b"hi\nbuilt\n", "{archive:?}");

        let again = load(&env, archive);
        assert_success(&again, "second load");
        assert!(
            stderr(&again).contains("already exists"),
            "{}",
            stderr(&again)
        );
    }
}

#[test]
fn loads_from_standard_input() {
    let built = build_app();
    let env = TestEnv::empty();
    let mut child = env
        .cmd()
        .args(["load", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = std::fs::read(&built.docker).unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_success(&out, "load from a pipe");
    assert_eq!(stdout(&out), "Loaded image: app:1\n");
    assert_eq!(stderr(&out), "", "-q prints no progress");
    assert_eq!(
        listed_id(&env, "app", "1").as_deref(),
        Some(&built.id[7..19])
    );
}

#[test]
fn broken_archives_fail_naming_the_file_and_tag_nothing() {
    let built = build_app();
    let bytes = std::fs::read(&built.docker).unwrap();
    let truncated = built.env.work.path().join("truncated.tar");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // A flipped byte in the middle of the (compressed) busybox layer.
    let corrupt = built.env.work.path().join("corrupt.tar");
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 3] ^= 0xff;
    std::fs::write(&corrupt, &flipped).unwrap();
    for (archive, why) in [(&truncated, "truncated"), (&corrupt, "hashes to")] {
        let env = TestEnv::empty();
        let out = load(&env, archive);
        assert_eq!(out.status.code(), Some(1), "{archive:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with("ERROR: "), "{err}");
        assert!(err.contains(archive.to_str().unwrap()), "{err}");
        assert!(err.contains(why), "{err}");
        assert_eq!(listed_id(&env, "app", "1"), None, "nothing tagged");
    }
}

#[test]
fn loads_archives_written_by_skopeo() {
    let built = build_app();
    let work = built.env.work.path();
    let skopeo = |from: String, to: String| {
        let out = Command::new("skopeo")
            .args(["copy", &from, &to])
            .output()
            .expect("skopeo is installed (.ci/example installs it)");
        assert_success(&out, &format!("skopeo copy {from} {to}"));
    };
    let docker = work.join("skopeo.docker.tar");
    skopeo(
        format!("oci-archive:{}", built.oci.display()),
        format!("docker-archive:{}:sk/app:2", docker.display()),
    );
    let oci = work.join("skopeo.oci.tar");
    skopeo(
        format!("docker-archive:{}", built.docker.display()),
        format!("oci-archive:{}:example.com/app:3", oci.display()),
    );
    // skopeo keeps the config bytes going to docker-archive, but re-encodes
    // them for OCI: that image's id is the config digest its manifest names.
    let raw = Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", oci.display()))
        .output()
        .unwrap();
    assert_success(&raw, "skopeo inspect --raw");
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let oci_id = manifest["config"]["digest"].as_str().unwrap().to_string();
    let env = TestEnv::empty();
    for (archive, repo, tag, id) in [
        (&docker, "sk/app", "2", &built.id),
        (&oci, "example.com/app", "3", &oci_id),
    ] {
        let out = load(&env, archive);
        assert_success(&out, "load");
        assert_eq!(stdout(&out), format!("Loaded image: {repo}:{tag}\n"));
        assert_eq!(listed_id(&env, repo, tag).as_deref(), Some(&id[7..19]));
    }
    assert_eq!(build_on(&env, "sk/app:2"), b"hi\nbuilt\n");
    assert_eq!(build_on(&env, "example.com/app:3"), b"hi\nbuilt\n");
}
