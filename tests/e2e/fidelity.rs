//! Regressions found by building ordinary Dockerfiles from outside
//! (issue 12): each test failed on the main of the day it was written.

use crate::util::registry::Registry;
use crate::util::{assert_success, cached_steps, read_oci_archive, stderr, stdout, TestEnv};

/// Item 1: two steps with the same diff (`RUN true` twice, the same file
/// COPY'd twice) put one snapshot twice in the chain, and overlayfs
/// refused the mount (ELOOP) for every later step, in both modes and in
/// builds FROM such an image.
#[test]
fn identical_layers_in_one_chain_build_in_both_modes() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN true\nRUN true\nCOPY a /a\nCOPY a /a\n\
              ENV A=1\nRUN true\nRUN echo third > /third && cat /a\n";
    let ctx = env.context("dup", df, &[("a", "same\n")]);
    let (out, archive) = env.build(&ctx, &["-t", "dup:1"]);
    assert_success(&out, "build with repeated identical layers");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("third").unwrap(), b"third\n");
    // As in BuildKit, every step keeps its layer, empty or not.
    assert_eq!(img.layers.len(), 1 + 6, "base + six filesystem steps");
    assert_eq!(img.layers[1], img.layers[2], "the two RUN true layers");

    let out = env.legacy(&ctx, &["--no-cache", "-t", "dup:legacy"]);
    assert_success(&out, "legacy build with repeated identical layers");

    let ctx2 = env.context(
        "on-dup",
        "FROM dup:1\nRUN true\nRUN cat /third /a > /both\n",
        &[],
    );
    let (out, archive) = env.build(&ctx2, &[]);
    assert_success(&out, "build FROM an image with repeated layers");
    assert_eq!(
        read_oci_archive(&archive).file("both").unwrap(),
        b"third\nsame\n"
    );
}

/// A registry holding the busybox base as `<addr>/busybox:latest`.
fn registry_with_base(env: &TestEnv) -> (Registry, String) {
    let reg = Registry::start();
    let archive = env.work.path().join("base.oci.tar");
    let out = env.mybuild(&[
        "save",
        "--format",
        "oci",
        "-o",
        archive.to_str().unwrap(),
        "busybox:latest",
    ]);
    assert_success(&out, "save the base");
    reg.push_oci_archive(&archive, "busybox:latest");
    let name = format!("{}/busybox:latest", reg.addr);
    (reg, name)
}

/// The marker is computed, so only a RUN that really runs prints it.
fn marker_df(base: &str) -> String {
    format!("FROM {base}\nRUN echo ran-$((40+2)) | tee /m\n")
}

/// Item 2: the base was pinned by its manifest digest when pulled and by
/// its config digest once stored, so the build after a pull re-ran every
/// step, `--pull` and plain builds keyed apart, and a cache exported from a
/// store that held the base missed on a fresh machine.
#[test]
fn one_base_image_has_one_cache_key_however_it_was_found() {
    let seed = TestEnv::new();
    let (_reg, base) = registry_with_base(&seed);
    let env = TestEnv::empty();
    let ctx = env.context("keyed", &marker_df(&base), &[]);
    let (out, _) = env.build(&ctx, &[]);
    assert_success(&out, "first build, pulling the base");
    assert!(stderr(&out).contains("ran-42"));

    let (out, _) = env.build(&ctx, &[]);
    assert_success(&out, "second build, base from the store");
    let log = stderr(&out);
    assert!(!log.contains("ran-42"), "the RUN re-ran:\n{log}");
    assert!(cached_steps(&log).iter().any(|s| s.contains("RUN echo")));

    let (out, _) = env.build(&ctx, &["--pull"]);
    assert_success(&out, "--pull build");
    assert!(!stderr(&out).contains("ran-42"), "{}", stderr(&out));

    let out = env.legacy(&ctx, &[]);
    assert_success(&out, "legacy build");
    let text = stdout(&out);
    assert!(text.contains("Using cache") && !text.contains("Running in"));

    // A cache exported by a store that already held the base (tagged under
    // the registry's name) is hit by a fresh store that pulls it.
    let cache = seed.work.path().join("cache");
    let out = seed.mybuild(&["tag", "busybox:latest", &base]);
    assert_success(&out, "tag the base");
    let seed_ctx = seed.context("keyed", &marker_df(&base), &[]);
    let to = format!("--cache-to=type=local,dest={}", cache.display());
    let (out, _) = seed.build(&seed_ctx, &[&to]);
    assert_success(&out, "build with --cache-to, base in the store");
    assert!(stderr(&out).contains("ran-42"));
    let fresh = TestEnv::empty();
    let fresh_ctx = fresh.context("keyed", &marker_df(&base), &[]);
    let from = format!("--cache-from=type=local,src={}", cache.display());
    let (out, archive) = fresh.build(&fresh_ctx, &[&from]);
    assert_success(&out, "build with --cache-from on a fresh store");
    assert!(!stderr(&out).contains("ran-42"), "{}", stderr(&out));
    assert_eq!(read_oci_archive(&archive).file("m").unwrap(), b"ran-42\n");
}

/// Item 3: a COPY whose source is missing fails before it starts, and
/// progress showed it as `#7 n3` (plain) or an empty `=> ERROR` row (tty).
#[test]
fn a_failed_copy_is_named_in_progress() {
    let env = TestEnv::new();
    let ctx = env.context("nocopy", "FROM busybox\nRUN true\nCOPY missing /x\n", &[]);
    let (out, _) = env.build(&ctx, &[]);
    assert!(!out.status.success(), "a missing source must fail");
    let log = stderr(&out);
    let header = log
        .lines()
        .find(|l| l.ends_with(" [3/3] COPY missing /x"))
        .unwrap_or_else(|| panic!("no vertex named for the COPY:\n{log}"));
    let num = header.split(' ').next().unwrap();
    assert!(
        log.lines().any(|l| l.starts_with(&format!("{num} ERROR"))),
        "{log}"
    );
    let unnamed = log.lines().any(|l| {
        l.split_once(' ').is_some_and(|(n, rest)| {
            n.starts_with('#') && rest.starts_with('n') && rest[1..].parse::<u32>().is_ok()
        })
    });
    assert!(!unnamed, "a vertex shown by its node id:\n{log}");
}

/// Item 5: 1,000 chained `FROM sN-1 AS sN`, or hundreds of stages each
/// `COPY --from` the one before, overflowed the stack (exit 134), even
/// with `--print=graph`.
#[test]
fn deep_stage_chains_build() {
    use std::fmt::Write;
    let env = TestEnv::new();
    let mut chain = String::from("FROM busybox AS s0\n");
    for i in 1..=1000 {
        writeln!(chain, "FROM s{} AS s{i}", i - 1).unwrap();
    }
    chain.push_str("RUN echo deep > /deep\n");
    let ctx = env.context("from-chain", &chain, &[]);
    let out = env.mybuild(&["build", "--print=graph", ctx.to_str().unwrap()]);
    assert_success(&out, "--print=graph of 1,000 chained stages");
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build of 1,000 chained stages");
    assert_eq!(read_oci_archive(&archive).file("deep").unwrap(), b"deep\n");

    let mut copies = String::from("FROM busybox AS s0\nRUN echo 0 > /f\n");
    for i in 1..=200 {
        writeln!(copies, "FROM busybox AS s{i}\nCOPY --from=s{} /f /f", i - 1).unwrap();
    }
    let ctx = env.context("copy-chain", &copies, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build of 200 stages copying from each other");
    assert_eq!(read_oci_archive(&archive).file("f").unwrap(), b"0\n");
}

/// Item 6: CLI slips a docker user meets at once.
#[test]
fn the_command_line_refuses_and_accepts_what_docker_does() {
    let env = TestEnv::new();
    let ctx = env.context("cli", "FROM busybox\nARG A\nRUN echo a=$A\n", &[]);
    let ctx_s = ctx.to_str().unwrap();

    let out = env.mybuild(&["build", "--build-arg", "=x", ctx_s]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("empty key"), "{}", stderr(&out));

    let out = env
        .cmd()
        .arg("biuld")
        .current_dir(env.work.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("'biuld' is not a mybuild command"), "{err}");
    assert!(err.contains("'build'"), "a suggestion: {err}");

    let out = env.mybuild(&["--progress=plain", "build", "--build-arg", "A=1", ctx_s]);
    assert_success(&out, "build flags before the word build");
    assert!(stderr(&out).contains("a=1"), "{}", stderr(&out));
}

/// Item 7: vertex names expand variables as BuildKit's do, and an unknown
/// `# syntax=` frontend is mentioned once instead of silently ignored.
#[test]
fn progress_names_expand_variables_and_foreign_frontends_are_named() {
    let env = TestEnv::new();
    let df = "# syntax=example.com/my/frontend:1\nFROM busybox\nARG V=argval\n\
              ENV VIRTUAL_ENV=/opt/venv D=/dst\n\
              RUN echo $VIRTUAL_ENV ${V} \"$D\" '$D' ${NOPE:-x} \\$D\n\
              WORKDIR $D/w\ncopy f $D/\n";
    let ctx = env.context("names", df, &[("f", "f\n")]);
    let (out, _) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let log = stderr(&out);
    for name in [
        "] RUN echo /opt/venv argval \"/dst\" '$D' ${NOPE:-x} $D",
        "] WORKDIR /dst/w",
        "] COPY f /dst/",
    ] {
        assert!(
            log.lines().any(|l| l.ends_with(name)),
            "no {name:?} in\n{log}"
        );
    }
    let warned = log
        .lines()
        .filter(|l| l.contains("example.com/my/frontend:1") && l.contains("built-in"))
        .count();
    assert_eq!(warned, 1, "{log}");
}
