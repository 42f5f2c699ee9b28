//! `--legacy` / `DOCKER_BUILDKIT=0` end to end (issue 6): the classic
//! builder's transcripts, intermediate images and containers, and the
//! cache shared with the default mode.

use crate::util::{assert_success, TestEnv};
use std::path::{Path, PathBuf};
use std::process::Output;

const BASE: &str = "127.0.0.1:5000/busybox:latest";

fn reference(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/legacy");
    std::fs::read_to_string(dir.join(name)).unwrap()
}

/// A store whose busybox is named as in the reference Dockerfiles, and a
/// context holding them.
fn setup() -> (TestEnv, PathBuf) {
    let env = TestEnv::empty();
    assert_success(
        &env.mybuild(&["bootstrap-busybox", "-t", BASE]),
        "bootstrap",
    );
    let ctx = env.context(
        "ctx",
        &reference("Dockerfile"),
        &[("app.conf", &reference("app.conf"))],
    );
    (env, ctx)
}

/// stdout then stderr, as a terminal shows a build, plus the capture's
/// `exit status` line.
fn transcript(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        s.push_str(&format!(
            "exit status: {}\n",
            out.status.code().unwrap_or(-1)
        ));
    }
    s
}

fn is_builder_line(l: &str) -> bool {
    [
        "Step ",
        " ---> ",
        "Removing intermediate",
        "Successfully",
        "Sending build",
        "The command",
        "exit status",
    ]
    .iter()
    .any(|p| l.starts_with(p))
}

/// Masks ids, sizes and colours. A step's own output is sorted: the daemon
/// copies stdout and stderr separately, so their order is not defined (the
/// reference shows stderr first although the command wrote it second).
fn normalize(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut block: Vec<String> = Vec::new();
    for raw in text.replace('\r', "").lines() {
        let line = strip_ansi(raw);
        if is_builder_line(&line) {
            block.sort();
            out.append(&mut block);
            out.push(mask(&line));
        } else if !line.is_empty() {
            block.push(line);
        }
    }
    block.sort();
    out.append(&mut block);
    out
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// 12-digit hex words become `<id>`, the context size `<size>`.
fn mask(line: &str) -> String {
    if let Some(rest) = line.strip_prefix("Sending build context to Docker daemon  ") {
        assert!(rest.ends_with("kB") || rest.ends_with('B'), "size {rest:?}");
        return "Sending build context to Docker daemon  <size>".into();
    }
    line.split(' ')
        .map(|w| {
            if w.len() == 12 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                "<id>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_matches_reference(out: &Output, name: &str) {
    let got = normalize(&transcript(out));
    let want = normalize(&reference(name));
    assert_eq!(
        got,
        want,
        "mybuild --legacy vs {name}; raw output:\n{}",
        transcript(out)
    );
}

/// The 12-digit ids a transcript shows after ` ---> `, in order.
fn step_ids(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .filter(|w| w.len() == 12)
        .map(String::from)
        .collect()
}

#[test]
fn cold_cached_and_rm_false_builds_print_the_classic_transcripts() {
    let (env, ctx) = setup();
    let cold = env.legacy(&ctx, &["-t", "tr:classic"]);
    assert_success(&cold, "cold legacy build");
    assert_matches_reference(&cold, "classic-cold.txt");
    assert!(cold.stderr.is_empty(), "classic output is all on stdout");
    // history names each step's image, as the classic engine's does.
    let hist = env.mybuild(&["history", "-q", "tr:classic"]);
    let hist: Vec<String> = String::from_utf8_lossy(&hist.stdout)
        .lines()
        .map(String::from)
        .collect();
    let mut want = step_ids(&cold);
    want.reverse();
    assert_eq!(hist, want);

    let cached = env.legacy(&ctx, &["-t", "tr:classic"]);
    assert_success(&cached, "cached legacy build");
    assert_matches_reference(&cached, "classic-cached.txt");
    // A cache hit is the same intermediate image, step for step.
    assert_eq!(step_ids(&cold), step_ids(&cached));

    let kept = env.legacy(&ctx, &["--rm=false", "--no-cache", "-t", "tr:classic"]);
    assert_success(&kept, "--rm=false build");
    assert_matches_reference(&kept, "classic-rm-false.txt");

    // Every intermediate image is listed and usable by id.
    let all = String::from_utf8_lossy(&env.mybuild(&["images", "-a", "-q"]).stdout).into_owned();
    for id in step_ids(&cold).iter().chain(&step_ids(&kept)) {
        assert!(
            all.lines().any(|l| l == id),
            "{id} not in images -a:\n{all}"
        );
    }
    let plain = String::from_utf8_lossy(&env.mybuild(&["images", "-q"]).stdout).into_owned();
    assert!(
        !plain.contains(&step_ids(&kept)[2]),
        "intermediates only with -a"
    );
    let copy_step = &step_ids(&cold)[2];
    let from_id = env.context(
        "byid",
        &format!("FROM {copy_step}\nRUN cat /etc/app.conf\n"),
        &[],
    );
    let out = env.legacy(&from_id, &[]);
    assert_success(&out, "FROM <intermediate id>");
    assert!(String::from_utf8_lossy(&out.stdout).contains("port 6379"));

    // --rm=false kept the RUN's container (exited 0) and the two config
    // steps' (created, never started); the COPY had none.
    let ps = String::from_utf8_lossy(&env.mybuild(&["ps", "-a"]).stdout).into_owned();
    let rows: Vec<&str> = ps.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{ps}");
    assert!(ps
        .lines()
        .next()
        .unwrap()
        .starts_with("CONTAINER ID   IMAGE"));
    assert_eq!(
        rows.iter().filter(|r| r.contains("Exited (0)")).count(),
        1,
        "{ps}"
    );
    assert_eq!(
        rows.iter()
            .filter(|r| r.trim_end().ends_with("Created"))
            .count(),
        2,
        "{ps}"
    );
    assert!(ps.contains(r#""/bin/sh -c '#(nop) …"#), "{ps}");
    let ids = String::from_utf8_lossy(&env.mybuild(&["ps", "-a", "-q"]).stdout).into_owned();
    let ids: Vec<&str> = ids.lines().collect();
    let mut rm = vec!["rm"];
    rm.extend(&ids);
    assert_success(&env.mybuild(&rm), "rm");
    assert!(env.mybuild(&["ps", "-a", "-q"]).stdout.is_empty());
    assert!(
        !env.mybuild(&["rm", ids[0]]).status.success(),
        "removed twice"
    );
}

#[test]
fn a_failing_step_prints_the_classic_error_and_keeps_its_container() {
    let (env, ctx) = setup();
    std::fs::write(ctx.join("Dockerfile.fail"), reference("Dockerfile.fail")).unwrap();
    let df = ctx.join("Dockerfile.fail");
    let out = env.legacy(&ctx, &["-f", df.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "the RUN's exit code, as docker build"
    );
    assert_matches_reference(&out, "classic-failure.txt");
    // stderr of the step is coloured, as the daemon sends it.
    assert!(String::from_utf8_lossy(&out.stdout).contains("\x1b[91man error message\n\x1b[0m"));

    let ps = String::from_utf8_lossy(&env.mybuild(&["ps", "-a"]).stdout).into_owned();
    let rows: Vec<&str> = ps.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "only the failed container is kept:\n{ps}");
    assert!(rows[0].contains("Exited (3)"), "{ps}");
    let cid = &rows[0][..12];
    let running = String::from_utf8_lossy(&out.stdout);
    assert!(
        running.contains(&format!(" ---> Running in {cid}")),
        "{running}"
    );
}

#[test]
fn a_failed_container_can_be_diffed_and_committed() {
    let (env, _) = setup();
    let df = format!(
        "FROM {BASE}\nRUN echo partial > /partial && mkdir -p /etc/new && rm /bin/true && exit 7\n"
    );
    let ctx = env.context("partial", &df, &[]);
    let out = env.legacy(&ctx, &[]);
    assert_eq!(out.status.code(), Some(7));
    let cid = String::from_utf8_lossy(&env.mybuild(&["ps", "-a", "-q"]).stdout)
        .trim()
        .to_string();
    assert_eq!(cid.len(), 12, "one kept container");

    let diff = env.mybuild(&["diff", &cid]);
    assert_success(&diff, "diff");
    let diff = String::from_utf8_lossy(&diff.stdout).into_owned();
    let lines: Vec<&str> = diff.lines().collect();
    for want in ["A /partial", "C /etc", "A /etc/new", "D /bin/true"] {
        assert!(lines.contains(&want), "{want:?} missing from diff:\n{diff}");
    }

    let commit = env.mybuild(&["commit", &cid, "salvaged:1"]);
    assert_success(&commit, "commit");
    let ctx2 = env.context(
        "salvaged",
        "FROM salvaged:1\nRUN cat /partial && test ! -e /bin/true\n",
        &[],
    );
    let out = env.legacy(&ctx2, &[]);
    assert_success(&out, "build on the committed image");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\npartial\n"));
}

#[test]
fn force_rm_removes_the_failed_container() {
    let (env, _) = setup();
    let ctx = env.context("f", &format!("FROM {BASE}\nRUN exit 2\n"), &[]);
    let out = env.legacy(&ctx, &["--force-rm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Removing intermediate container"));
    assert!(env.mybuild(&["ps", "-a", "-q"]).stdout.is_empty());
}

#[test]
fn both_modes_share_one_cache() {
    let (env, ctx) = setup();
    let bk = env.mybuild(&["build", "-q", "-t", "tr:bk", ctx.to_str().unwrap()]);
    assert_success(&bk, "buildkit-mode build");
    let bk_id = String::from_utf8_lossy(&bk.stdout).trim().to_string();
    // DOCKER_BUILDKIT=0 selects the legacy mode, as with docker.
    let out = env
        .cmd()
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "-t", "tr:classic"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert_success(&out, "legacy build after a BuildKit-mode one");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Step 2/5"), "{text}");
    // RUN, COPY and WORKDIR came from the other mode's cache, and the last
    // step's image is the other mode's image itself.
    assert_eq!(text.matches(" ---> Using cache").count(), 4, "{text}");
    assert!(
        !text.contains("\ninstalling redis (pretend)\n"),
        "the RUN did not run again:\n{text}"
    );
    let last = step_ids(&out).pop().unwrap();
    assert!(
        bk_id.starts_with(&format!("sha256:{last}")),
        "same image: {bk_id} vs {last}"
    );

    // And the other way round: a legacy build's layers are BuildKit-mode hits.
    let ctx2 = env.context("other", &format!("FROM {BASE}\nRUN echo fresh > /f\n"), &[]);
    assert_success(&env.legacy(&ctx2, &[]), "legacy build");
    let plain = env.mybuild(&["build", "--progress=plain", ctx2.to_str().unwrap()]);
    assert_success(&plain, "plain build");
    let cached = crate::util::cached_steps(&crate::util::stderr(&plain));
    assert!(
        cached.iter().any(|n| n.contains("] RUN echo fresh")),
        "{}",
        crate::util::stderr(&plain)
    );
}

#[test]
fn every_stage_up_to_the_target_is_built_in_order() {
    let (env, _) = setup();
    let df = format!(
        "ARG V=1\nFROM {BASE} AS unused\nRUN echo unused-stage\n\
         FROM {BASE} AS build\nRUN echo v$V > /v\n\
         FROM build AS final\nCOPY --from=build /v /copied\nCMD [\"cat\", \"/copied\"]\n\
         FROM {BASE} AS after\nRUN echo never\n"
    );
    let ctx = env.context("multi", &df, &[]);
    let out = env.legacy(&ctx, &["--target", "final"]);
    assert_success(&out, "multi-stage legacy build");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let steps: Vec<&str> = text.lines().filter(|l| l.starts_with("Step ")).collect();
    assert_eq!(
        steps,
        [
            "Step 1/8 : ARG V=1",
            &format!("Step 2/8 : FROM {BASE} AS unused"),
            "Step 3/8 : RUN echo unused-stage",
            &format!("Step 4/8 : FROM {BASE} AS build"),
            "Step 5/8 : RUN echo v$V > /v",
            "Step 6/8 : FROM build AS final",
            "Step 7/8 : COPY --from=build /v /copied",
            "Step 8/8 : CMD [\"cat\", \"/copied\"]",
        ][..],
        "{text}"
    );
    assert!(
        text.contains("\nunused-stage\n"),
        "the classic builder builds unused stages"
    );
    assert!(!text.contains("never"));
    // FROM an earlier stage starts from that stage's last image.
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .collect();
    let after_run = text
        .split("Step 6/8")
        .next()
        .unwrap()
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(" ---> "))
        .unwrap();
    let from_build = text
        .split("Step 6/8")
        .nth(1)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap();
    assert_eq!(from_build, format!(" ---> {after_run}"), "{ids:?}");
}

#[test]
fn a_legacy_build_can_push_and_the_image_pulls_back() {
    let registry = crate::util::registry::Registry::start();
    let (env, ctx) = setup();
    let name = format!("{}/legacy/app:1", registry.addr);
    let out = env.legacy(&ctx, &["-t", &name, "--push"]);
    assert_success(&out, "legacy build --push");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!("Successfully tagged {name}")),
        "{text}"
    );
    assert!(text.contains("digest: sha256:"), "{text}");
    // A fresh store pulls it from the registry and runs on it.
    let other = TestEnv::new();
    let pull_ctx = other.context(
        "pulled",
        &format!("FROM {name}\nRUN cat /etc/app.conf\n"),
        &[],
    );
    let out = other.legacy(&pull_ctx, &[]);
    assert_success(&out, "legacy build FROM the pushed image");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\nport 6379\n"));
}
