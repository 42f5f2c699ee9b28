//! Deep layer chains (issue 15, scaling): a RUN over more than 128 layers
//! mounts its top layers over one flat view of the rest. The images must be
//! those of a build that mounts every layer, and a chain past overlay's 500
//! lower dirs must build at all.

use crate::util::{assert_success, stdout, TestEnv};
use std::fmt::Write as _;
use std::path::Path;

/// Early steps make, replace and delete what later steps read, so the view
/// (the layers below the top 64) has whiteouts, opaque directories and
/// changed directory metadata to get right.
fn dockerfile(steps: usize) -> String {
    let mut df = String::from(
        "FROM busybox\n\
         RUN mkdir -p /d/sub /e /r && echo a > /d/a && echo s > /d/sub/s && ln -s /d/a /l && echo x > /x\n\
         RUN rm /d/a /x && echo c > /d/c && chmod 700 /e && mkdir /x && echo in > /x/in\n\
         RUN rm -rf /d && mkdir /d && echo n > /d/n && rm /l && mkdir /l && chown 5:6 /r\n",
    );
    for i in 3..steps - 1 {
        writeln!(df, "RUN echo {i} > /r/s{i}").unwrap();
    }
    df.push_str(
        "RUN (cd / && find d e l r x -print | sort && stat -c '%n %a %u:%g %s' d e l r x d/n x/in \
         && cat d/n x/in r/s3) > /seen\n",
    );
    df
}

/// `build -q -t TAG CTX` with the epoch set and `MYBUILD_FLAT` as given
/// (unset: the default); the image's diff_ids.
fn build(env: &TestEnv, ctx: &Path, tag: &str, flat: Option<&str>) -> Vec<String> {
    let mut cmd = env.cmd();
    if let Some(f) = flat {
        cmd.env("MYBUILD_FLAT", f);
    }
    cmd.env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "-q", "--no-cache", "-t", tag])
        .arg(ctx);
    assert_success(&cmd.output().unwrap(), tag);
    let out = env.mybuild(&["inspect", "-f", "{{json .RootFS.Layers}}", tag]);
    assert_success(&out, "inspect");
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

#[test]
fn deep_chains_build_the_same_image_over_flat_views() {
    let env = TestEnv::new();
    let ctx = env.context("deep", &dockerfile(150), &[]);
    let views = || {
        std::fs::read_dir(env.root.path().join("v1/flat"))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let every_layer = build(&env, &ctx, "deep:layers", Some("100000,64"));
    assert_eq!(views(), 0, "views were turned off");
    let viewed = build(&env, &ctx, "deep:views", None);
    assert_eq!(views(), 2, "one view of 64 layers, one of 128");
    assert_eq!(viewed, every_layer);
    // The smallest views: every chain of two or more layers, one layer a step.
    let stepwise = build(&env, &ctx, "deep:stepwise", Some("1,1"));
    assert_eq!(stepwise, every_layer);

    let out = env.mybuild(&["prune", "-a", "-f"]);
    assert_success(&out, "prune");
    assert_eq!(views(), 0, "prune removes every view");
}

/// Overlay takes at most 500 lower dirs: without views the 502nd step
/// could not be mounted.
#[test]
fn a_chain_past_500_layers_builds() {
    let env = TestEnv::new();
    let ctx = env.context("deeper", &dockerfile(520), &[]);
    let layers = build(&env, &ctx, "deeper:1", None);
    assert_eq!(layers.len(), 521, "busybox and 520 steps");
    let out = env.mybuild(&["run", "--rm", "deeper:1", "cat", "/seen"]);
    assert_success(&out, "run");
    assert!(stdout(&out).contains("d/n 644 0:0 2"), "{}", stdout(&out));
}
