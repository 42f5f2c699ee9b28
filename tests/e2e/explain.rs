//! `--explain-cache` (issue 17 item 3): a build after a deliberate change
//! names that change for each step that missed, in plain progress and in
//! rawjson, and prints nothing extra when quiet or fully cached.

use crate::util::craft::{load_on_busybox, LayerTar};
use crate::util::{assert_success, stderr, stdout, TestEnv};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `mybuild build --explain-cache --progress=plain [extra] CTX`: its stderr.
fn explain(env: &TestEnv, ctx: &Path, extra: &[&str]) -> String {
    let mut cmd = env.cmd();
    cmd.args(["build", "--explain-cache", "--progress=plain"])
        .args(extra)
        .arg(ctx);
    let out = cmd.output().expect("run mybuild");
    assert_success(&out, "explained build");
    stderr(&out)
}

/// The `cache miss:` lines of a plain log, each with its step's name.
fn misses(log: &str) -> Vec<(String, String)> {
    let mut names = std::collections::BTreeMap::new();
    let mut found = Vec::new();
    for line in log.lines() {
        let Some((num, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else {
            continue;
        };
        if let Some(why) = rest.strip_prefix("cache miss: ") {
            let name: &String = names.get(num).expect("a miss follows its step's header");
            found.push((name.clone(), why.to_string()));
        } else if !names.contains_key(num) {
            names.insert(num.to_string(), rest.to_string());
        }
    }
    found
}

fn copy_ctx(env: &TestEnv) -> std::path::PathBuf {
    let df = "FROM busybox\nCOPY a.txt b.txt /\nRUN cat /a.txt\n";
    env.context("copy", df, &[("a.txt", "one\n"), ("b.txt", "same\n")])
}

#[test]
fn a_changed_context_file_is_named_with_content() {
    let env = TestEnv::new();
    let ctx = copy_ctx(&env);
    let first = explain(&env, &ctx, &[]);
    assert!(
        misses(&first)
            .iter()
            .all(|(_, why)| why == "no earlier record of this step"),
        "{first}"
    );
    assert!(misses(&explain(&env, &ctx, &[])).is_empty(), "all cached");
    std::fs::write(ctx.join("a.txt"), "two\n").unwrap();
    let log = explain(&env, &ctx, &[]);
    assert_eq!(
        misses(&log),
        [
            (
                "[2/3] COPY a.txt b.txt /".to_string(),
                "context file \"a.txt\" changed (content)".to_string()
            ),
            (
                "[3/3] RUN cat /a.txt".to_string(),
                "parent step changed ([2/3] COPY a.txt b.txt /)".to_string()
            ),
        ],
        "{log}"
    );
}

#[test]
fn a_chmod_is_named_as_mode() {
    let env = TestEnv::new();
    let ctx = copy_ctx(&env);
    explain(&env, &ctx, &[]);
    let file = ctx.join("b.txt");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = explain(&env, &ctx, &[]);
    let m = misses(&log);
    assert_eq!(m[0].1, "context file \"b.txt\" changed (mode)", "{log}");
}

#[test]
fn a_changed_build_arg_is_named_with_old_and_new() {
    let env = TestEnv::new();
    let ctx = env.context("arg", "FROM busybox\nARG V=0\nRUN echo \"$V\"\n", &[]);
    explain(&env, &ctx, &["--build-arg", "V=one"]);
    let log = explain(&env, &ctx, &["--build-arg", "V=two"]);
    assert_eq!(
        misses(&log),
        [(
            "[2/2] RUN echo \"two\"".to_string(),
            "build arg or env V changed (\"one\" -> \"two\")".to_string()
        )],
        "{log}"
    );
}

#[test]
fn rawjson_carries_the_same_reasons() {
    let env = TestEnv::new();
    let ctx = env.context("json", "FROM busybox\nARG V=0\nRUN echo \"$V\"\n", &[]);
    explain(&env, &ctx, &["--build-arg", "V=one"]);
    let mut cmd = env.cmd();
    cmd.args(["build", "--explain-cache", "--progress=rawjson"])
        .args(["--build-arg", "V=two"])
        .arg(&ctx);
    let out = cmd.output().unwrap();
    assert_success(&out, "rawjson build");
    let events: Vec<Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|e: &Value| e["event"] == "cache-miss")
        .collect();
    assert_eq!(events.len(), 1, "{}", stderr(&out));
    assert_eq!(events[0]["name"], "[2/2] RUN echo \"two\"");
    assert_eq!(
        events[0]["reasons"],
        serde_json::json!([{"kind": "env", "name": "V", "old": "one", "new": "two"}])
    );
}

#[test]
fn a_new_base_image_is_named_by_digest() {
    let env = TestEnv::new();
    let ctx = env.context("base", "FROM busybox\nRUN echo hi\n", &[]);
    explain(&env, &ctx, &[]);
    let layer = LayerTar::new().file("marker", b"other base\n").bytes();
    load_on_busybox(&env, "other:1", vec![layer]);
    assert_success(&env.mybuild(&["tag", "other:1", "busybox:latest"]), "tag");
    let log = explain(&env, &ctx, &[]);
    let m = misses(&log);
    assert_eq!(m.len(), 1, "{log}");
    let why = &m[0].1;
    let rest = why
        .strip_prefix("base image docker.io/library/busybox:latest changed (sha256:")
        .unwrap_or_else(|| panic!("{log}"));
    let (old, new) = rest
        .trim_end_matches(')')
        .split_once(" -> sha256:")
        .unwrap();
    assert_ne!(old, new);
    assert_eq!((old.len(), new.len()), (64, 64), "{why}");
}

#[test]
fn a_changed_parent_run_is_named() {
    let env = TestEnv::new();
    let df = |v: &str| format!("FROM busybox\nRUN echo {v} > /a\nRUN cat /a\n");
    let ctx = env.context("parent", &df("1"), &[]);
    explain(&env, &ctx, &[]);
    std::fs::write(ctx.join("Dockerfile"), df("2")).unwrap();
    let log = explain(&env, &ctx, &[]);
    assert_eq!(
        misses(&log),
        [
            (
                "[2/3] RUN echo 2 > /a".to_string(),
                "instruction changed (command)".to_string()
            ),
            (
                "[3/3] RUN cat /a".to_string(),
                "parent step changed ([2/3] RUN echo 2 > /a)".to_string()
            ),
        ],
        "{log}"
    );
}

#[test]
fn quiet_prints_nothing_extra() {
    let env = TestEnv::new();
    let ctx = copy_ctx(&env);
    let out = env
        .cmd()
        .args(["build", "--explain-cache", "-q"])
        .arg(&ctx)
        .output()
        .unwrap();
    assert_success(&out, "quiet build");
    assert!(!stderr(&out).contains("cache miss"), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1);
}

/// The `Key inputs` row of `mybuild du`: its count.
fn key_inputs_count(env: &TestEnv) -> u64 {
    let du = stdout(&env.mybuild(&["du"]));
    let row = du
        .lines()
        .find(|l| l.starts_with("Key inputs"))
        .unwrap_or_else(|| panic!("no Key inputs row in du:\n{du}"));
    row.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn du_counts_the_records_and_prune_drops_them_with_their_entries() {
    let env = TestEnv::new();
    let ctx = copy_ctx(&env);
    explain(&env, &ctx, &[]);
    assert_eq!(key_inputs_count(&env), 2, "one record per executed step");
    assert_success(&env.mybuild(&["prune", "-f"]), "prune");
    assert_eq!(key_inputs_count(&env), 0, "gone with their cache entries");
    let log = explain(&env, &ctx, &[]);
    assert!(
        misses(&log)
            .iter()
            .all(|(_, why)| why == "no earlier record of this step"),
        "{log}"
    );
}
