//! End-to-end tests of progress output (the BuildKit-faithful progress
//! issue): plain transcripts of the reference Dockerfile compared with
//! golden files shaped like `shared/reference/transcripts/buildkit-plain-*`,
//! quiet, rawjson and `--log-dir`.
//!
//! Timings, digests, ids and sizes are masked before comparing.
//! `MYBUILD_BLESS=1 cargo test --test e2e progress::` rewrites the golden files
//! in `testdata/progress/`.

use crate::util::{assert_success, stderr, TestEnv};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::process::Output;

/// The reference transcripts' Dockerfile, on the harness' busybox.
const REFERENCE: &str = r#"FROM busybox:latest
RUN echo "installing redis (pretend)" && mkdir -p /usr/local/bin && echo '#!/bin/sh' > /usr/local/bin/redis-server && chmod +x /usr/local/bin/redis-server
COPY app.conf /etc/app.conf
WORKDIR /data
CMD ["redis-server"]
"#;

const FAILING: &str = r#"FROM busybox:latest
RUN echo before
RUN echo "some output" && echo "an error message" >&2 && exit 3
RUN echo never
"#;

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `mybuild build ARGS CTX`, without the harness' OCI export (whose path
/// would show in the transcript).
fn build(env: &TestEnv, ctx: &Path, args: &[&str]) -> Output {
    let out = env.cmd().arg("build").args(args).arg(ctx).output();
    out.expect("run mybuild")
}

fn reference_context(env: &TestEnv) -> std::path::PathBuf {
    env.context(
        "ref",
        REFERENCE,
        &[("app.conf", "port 6379\n"), ("Dockerfile.fail", FAILING)],
    )
}

fn golden(name: &str, actual: &str) {
    crate::util::golden::assert_golden("progress", name, actual);
}

/// `sha256:<64 hex>` -> `sha256:<digest>`.
fn mask_digests(mut s: &str) -> String {
    let mut out = String::new();
    while let Some(i) = s.find("sha256:") {
        let (head, rest) = s.split_at(i + 7);
        out.push_str(head);
        let hex = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex == 64 {
            out.push_str("<digest>");
            s = &rest[64..];
        } else {
            s = rest;
        }
    }
    out + s
}

fn is_number(s: &str) -> bool {
    let mut parts = s.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("0");
    !whole.is_empty() && (whole.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
}

/// Timings (`#4 0.067 text`, `DONE 0.1s`, `0.3s done`) to zero, sizes to
/// `<size>`, digests and ids to `sha256:<digest>`.
fn mask(transcript: &str) -> String {
    let mut out = String::new();
    for line in transcript.lines() {
        let mut words: Vec<String> = line.split(' ').map(String::from).collect();
        let vertex_line = words[0].starts_with('#');
        for (i, w) in words.iter_mut().enumerate() {
            if vertex_line && i == 1 && w.contains('.') && is_number(w) {
                *w = "0.000".into();
            } else if w
                .strip_suffix('s')
                .is_some_and(|n| n.contains('.') && is_number(n))
            {
                *w = "0.0s".into();
            } else if ["kB", "MB", "GB", "B"]
                .iter()
                .any(|u| w.strip_suffix(u).is_some_and(is_number))
            {
                *w = "<size>".into();
            }
        }
        out += &mask_digests(&words.join(" "));
        out.push('\n');
    }
    out
}

#[test]
fn masking_hides_only_what_varies() {
    let raw = "#4 0.067 took 2 tries\n#4 DONE 12.3s\n#9 writing image sha256:\
               ed966ea254117a3012b7a517f95530b3673206d3ceb98860110dc20354e11093 done\n\
               #1 transferring dockerfile: 292B done\n#3 sha256:ab 1.5MB / 2.22MB 0.3s\n";
    assert_eq!(
        mask(raw),
        "#4 0.000 took 2 tries\n#4 DONE 0.0s\n#9 writing image sha256:<digest> done\n\
         #1 transferring dockerfile: <size> done\n#3 sha256:ab <size> / <size> 0.0s\n"
    );
}

#[test]
fn plain_cold_and_cached_builds_have_buildkits_shape() {
    let env = TestEnv::new();
    let ctx = reference_context(&env);
    for (run, file) in [
        ("cold", "e2e-plain-cold.txt"),
        ("cached", "e2e-plain-cached.txt"),
    ] {
        let out = build(&env, &ctx, &["--progress=plain", "-t", "tr:bk"]);
        assert_success(&out, run);
        assert_eq!(stdout(&out), "", "plain progress goes to stderr");
        golden(file, &mask(&stderr(&out)));
    }
}

#[test]
fn plain_failure_ends_with_the_step_its_line_and_exit_code() {
    let env = TestEnv::new();
    let ctx = reference_context(&env);
    let file = ctx.join("Dockerfile.fail");
    let out = build(
        &env,
        &ctx,
        &["--progress=plain", "-f", file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = mask(&stderr(&out));
    golden("e2e-plain-failure.txt", &log);
    assert!(
        !log.contains("never"),
        "the step after the failure does not run"
    );
}

/// `#N` -> the vertex's name, from the headers of a plain transcript.
fn headers(log: &str) -> HashMap<String, String> {
    let mut names = HashMap::new();
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        // A header opens a block: it follows a blank line or starts the log.
        if let Some((n, name)) = line.split_once(' ') {
            names.entry(n.to_string()).or_insert(name.to_string());
        }
        while lines.peek().is_some_and(|l| !l.is_empty()) {
            lines.next();
        }
        lines.next();
    }
    names
}

#[test]
fn parallel_steps_output_stays_attributable() {
    let env = TestEnv::new();
    let run = |s: &str| {
        format!(
            "RUN for i in 1 2 3 4 5 6; do echo {s}-line-$i; echo $i >> /{s}.txt; sleep 0.05; done"
        )
    };
    let df = format!(
        "FROM busybox AS a\n{}\nFROM busybox AS b\n{}\nFROM busybox\n\
         COPY --from=a /a.txt /a\nCOPY --from=b /b.txt /b\n",
        run("a"),
        run("b")
    );
    let ctx = env.context("parallel", &df, &[]);
    let out = build(&env, &ctx, &["--progress=plain"]);
    assert_success(&out, "build");
    let log = stderr(&out);
    let names = headers(&log);
    for stage in ["a", "b"] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                let words: Vec<&str> = l.split(' ').collect();
                words.len() == 3 && words[2].starts_with(&format!("{stage}-line-"))
            })
            .collect();
        assert_eq!(lines.len(), 6, "{log}");
        for (i, line) in lines.iter().enumerate() {
            let (n, rest) = line.split_once(' ').unwrap();
            let name = &names[n];
            assert!(
                name.starts_with(&format!("[{stage} 2/2] RUN for i")),
                "{line:?} is under {name:?}:\n{log}"
            );
            assert!(rest.ends_with(&format!(" {stage}-line-{}", i + 1)), "{log}");
        }
    }
}

#[test]
fn quiet_prints_only_the_image_id() {
    let env = TestEnv::new();
    let ctx = reference_context(&env);
    let out = build(&env, &ctx, &["-q", "-t", "quiet:1"]);
    assert_success(&out, "quiet build");
    let id = stdout(&out);
    let hex = id.trim_end().strip_prefix("sha256:").unwrap_or("");
    assert!(
        hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) && id.ends_with('\n'),
        "stdout: {id:?}"
    );
    assert_eq!(id.lines().count(), 1, "{id:?}");
    assert_eq!(stderr(&out), "", "quiet prints nothing on stderr");
    let inspect = env.mybuild(&["inspect", "--format", "{{.Id}}", "quiet:1"]);
    assert_eq!(stdout(&inspect), id, "the id printed is the image's");
}

fn rawjson_events(out: &Output) -> Vec<Value> {
    stderr(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn rawjson_lines_are_events_in_order() {
    let env = TestEnv::new();
    let ctx = reference_context(&env);
    let out = build(&env, &ctx, &["--progress=rawjson"]);
    assert_success(&out, "rawjson build");
    let events = rawjson_events(&out);
    let kinds = ["started", "log", "done", "cached", "error", "bytes"];
    let mut started = HashMap::new();
    let mut run_vertex = None;
    for (i, ev) in events.iter().enumerate() {
        let kind = ev["event"].as_str().unwrap();
        assert!(kinds.contains(&kind), "{ev}");
        let vertex = ev["vertex"].as_str().expect("vertex").to_string();
        assert!(ev["time"].as_f64().unwrap() > 1.6e9, "unix seconds: {ev}");
        match kind {
            "started" => {
                let name = ev["name"].as_str().unwrap();
                if name.starts_with("[2/4] RUN echo") {
                    let digest = ev["digest"].as_str().unwrap();
                    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{ev}");
                    run_vertex = Some(vertex.clone());
                }
                assert!(started.insert(vertex, i).is_none(), "started twice: {ev}");
            }
            "log" | "done" => {
                assert!(started.contains_key(&vertex), "{kind} before started: {ev}")
            }
            _ => {}
        }
    }
    let run = run_vertex.expect("the RUN step started");
    let logged = events.iter().any(|e| {
        e["event"] == "log"
            && e["vertex"] == run.as_str()
            && e["stream"] == 1
            && e["data"] == "installing redis (pretend)\n"
    });
    assert!(logged, "the RUN's output is a log event");
    assert!(events
        .iter()
        .any(|e| e["event"] == "done" && e["vertex"] == run.as_str()));
    assert_eq!(events.last().unwrap()["event"], "done");

    let again = build(&env, &ctx, &["--progress=rawjson"]);
    assert_success(&again, "cached rawjson build");
    let cached: Vec<Value> = rawjson_events(&again)
        .into_iter()
        .filter(|e| e["event"] == "cached")
        .collect();
    assert_eq!(cached.len(), 4, "FROM, RUN, COPY and WORKDIR: {cached:?}");
    assert!(cached.iter().all(|e| e["digest"].as_str().is_some()));
}

#[test]
fn log_dir_keeps_the_complete_output_in_every_mode() {
    let env = TestEnv::new();
    let df = "FROM busybox\n\
              RUN i=1; while [ $i -le 5000 ]; do echo \"line $i\"; i=$((i+1)); done; echo to-stderr >&2\n";
    let ctx = env.context("many", df, &[]);
    let want: Vec<String> = (1..=5000).map(|i| format!("line {i}")).collect();
    for mode in [
        "--progress=plain",
        "--progress=rawjson",
        "-q",
        "--progress=tty",
    ] {
        let dir = env.work.path().join(format!("logs{mode}"));
        let dir_s = dir.to_str().unwrap();
        let out = build(&env, &ctx, &[mode, "--no-cache", "--log-dir", dir_s]);
        assert_success(&out, mode);
        let files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("-RUN-"))
            .collect();
        assert_eq!(files.len(), 1, "{mode}: {files:?}");
        let name = &files[0];
        assert!(
            name.contains("-2-2-RUN-i-1-while") && name.ends_with(".log"),
            "{name}"
        );
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        let (errs, outs): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| *l == "to-stderr");
        assert_eq!(errs.len(), 1, "{mode}: stderr is kept too");
        assert!(outs == want, "{mode}: {name} is not the whole output");
        if mode == "--progress=plain" {
            let log = stderr(&out);
            let header = log.lines().find(|l| l.contains("] RUN i=1")).unwrap();
            let number = header.split(' ').next().unwrap().trim_start_matches('#');
            assert!(name.starts_with(&format!("{:02}-", number.parse::<usize>().unwrap())));
            assert_eq!(
                log.matches(" line ").count(),
                5000,
                "plain is not clipped either"
            );
        }
    }
}

#[test]
fn an_unusable_log_dir_warns_once_and_builds() {
    let env = TestEnv::new();
    let ctx = env.context("warn", "FROM busybox\nRUN echo hi\n", &[]);
    let blocker = env.work.path().join("a-file");
    std::fs::write(&blocker, "").unwrap();
    let dir = blocker.join("logs");
    let out = build(&env, &ctx, &["-q", "--log-dir", dir.to_str().unwrap()]);
    assert_success(&out, "build");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--log-dir") && err.contains(dir.to_str().unwrap()),
        "{err}"
    );
}
