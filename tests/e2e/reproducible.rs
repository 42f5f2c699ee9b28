//! `SOURCE_DATE_EPOCH`: two `--no-cache` builds on fresh stores give the
//! same image, byte for byte, when the epoch is set (from the environment
//! or `--build-arg`), and differ without it.

use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Output;

const EPOCH: u64 = 1_700_000_000;

const DOCKERFILE: &str = "FROM busybox
COPY f /app/f
WORKDIR /work/deep
RUN echo built > made.txt && mkdir sub && echo x > sub/y && echo \"pre=$SOURCE_DATE_EPOCH\" > /pre.txt
ARG SOURCE_DATE_EPOCH
RUN echo \"epoch=$SOURCE_DATE_EPOCH\" > /epoch.txt
";

/// A fresh store and context; `mybuild build --no-cache` there with
/// `SOURCE_DATE_EPOCH` set to `env_epoch` (or unset) and `extra` flags,
/// exporting an OCI archive with `out_opts` added to its `-o`.
fn build(env_epoch: Option<&str>, extra: &[&str], out_opts: &str) -> (TestEnv, Output, PathBuf) {
    let env = TestEnv::new();
    let mut args = vec!["--no-cache"];
    args.extend_from_slice(extra);
    let (out, archive) = build_in(&env, env_epoch, &args, out_opts);
    (env, out, archive)
}

/// `mybuild build` of [`DOCKERFILE`] in `env`'s store, as [`build`] says.
fn build_in(
    env: &TestEnv,
    env_epoch: Option<&str>,
    extra: &[&str],
    out_opts: &str,
) -> (Output, PathBuf) {
    let ctx = env.context("repro", DOCKERFILE, &[("f", "data\n")]);
    let n = std::fs::read_dir(env.work.path()).unwrap().count();
    let archive = env.work.path().join(format!("image-{n}.oci.tar"));
    let mut cmd = env.cmd();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    if let Some(v) = env_epoch {
        cmd.env("SOURCE_DATE_EPOCH", v);
    }
    let dest = format!("type=oci,dest={}{out_opts}", archive.display());
    cmd.args(["build", "--progress=plain", "-o", &dest])
        .args(extra)
        .arg(&ctx);
    (cmd.output().expect("run mybuild"), archive)
}

/// The manifest digest an OCI archive's index names.
fn manifest_digest(archive: &Path) -> String {
    let mut ar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy().trim_start_matches("./") == "index.json" {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            let index: serde_json::Value = serde_json::from_str(&s).unwrap();
            return index["manifests"][0]["digest"].as_str().unwrap().into();
        }
    }
    panic!("{}: no index.json", archive.display());
}

/// Every entry's (path, mtime) in the image's layers after the base one.
fn new_layer_mtimes(archive: &Path) -> Vec<(String, u64)> {
    let mut blobs = std::collections::BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(archive).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        blobs.insert(name.trim_start_matches("./").to_string(), data);
    }
    let blob = |d: &serde_json::Value| {
        let hex = d.as_str().unwrap().strip_prefix("sha256:").unwrap();
        blobs[&format!("blobs/sha256/{hex}")].clone()
    };
    let index: serde_json::Value = serde_json::from_slice(&blobs["index.json"]).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(&index["manifests"][0]["digest"])).unwrap();
    let mut out = Vec::new();
    for desc in manifest["layers"].as_array().unwrap().iter().skip(1) {
        let gz = blob(&desc["digest"]);
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            out.push((path, e.header().mtime().unwrap()));
        }
    }
    out
}

#[test]
fn source_date_epoch_makes_no_cache_builds_on_two_roots_identical() {
    let epoch = EPOCH.to_string();
    let (_a, out_a, tar_a) = build(Some(&epoch), &[], "");
    assert_success(&out_a, "build with SOURCE_DATE_EPOCH in the environment");
    // The build arg wins over the environment (a bad value there is unused).
    let arg = format!("SOURCE_DATE_EPOCH={epoch}");
    let (_b, out_b, tar_b) = build(
        Some("not-a-number"),
        &["--build-arg", &arg],
        ",rewrite-timestamp=true",
    );
    assert_success(&out_b, "build with --build-arg SOURCE_DATE_EPOCH");
    assert_eq!(
        manifest_digest(&tar_a),
        manifest_digest(&tar_b),
        "same epoch, same image on two fresh roots"
    );

    let image = read_oci_archive(&tar_a);
    assert_eq!(image.config["created"], "2023-11-14T22:13:20Z");
    let history = image.config["history"].as_array().unwrap();
    for h in &history[history.len() - 5..] {
        assert_eq!(h["created"], "2023-11-14T22:13:20Z", "{h}");
    }
    // Visible to RUN once the stage declares the ARG, as in BuildKit.
    assert_eq!(image.file("pre.txt").unwrap(), b"pre=\n");
    assert_eq!(image.file("epoch.txt").unwrap(), b"epoch=1700000000\n");

    let mtimes = new_layer_mtimes(&tar_a);
    for want in [
        "app/f",
        "work/deep/",
        "work/deep/made.txt",
        "work/deep/sub/y",
        "epoch.txt",
    ] {
        let found = mtimes.iter().find(|(p, _)| p == want);
        assert_eq!(found.map(|(_, t)| *t), Some(EPOCH), "{want} in {mtimes:?}");
    }
    assert!(mtimes.iter().all(|(_, t)| *t <= EPOCH), "{mtimes:?}");
}

#[test]
fn without_source_date_epoch_no_cache_builds_differ() {
    let (_a, out_a, tar_a) = build(None, &[], "");
    assert_success(&out_a, "first build");
    // Past a second, so the clock shows in `created` and in file times.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (_b, out_b, tar_b) = build(None, &[], "");
    assert_success(&out_b, "second build");
    assert_ne!(manifest_digest(&tar_a), manifest_digest(&tar_b));
    let (a, b) = (read_oci_archive(&tar_a), read_oci_archive(&tar_b));
    assert_ne!(a.config["created"], b.config["created"]);
    assert!(new_layer_mtimes(&tar_a).iter().any(|(_, t)| *t > EPOCH));
}

/// The clamp is part of each step's cache key: an unclamped layer is never
/// served to a build with an epoch, nor one epoch's layer to another's.
#[test]
fn the_cache_keeps_clamped_and_unclamped_layers_apart() {
    let env = TestEnv::new();
    let (plain, _) = build_in(&env, None, &[], "");
    assert_success(&plain, "build without an epoch");
    let epoch = EPOCH.to_string();
    let (clamped, tar) = build_in(&env, Some(&epoch), &[], "");
    assert_success(&clamped, "build with an epoch");
    let log = stderr(&clamped);
    let cached = crate::util::cached_steps(&log);
    assert!(
        !cached.iter().any(|n| n.contains("RUN echo built")),
        "{log}"
    );
    let mtimes = new_layer_mtimes(&tar);
    assert!(
        mtimes
            .iter()
            .any(|(p, t)| p == "work/deep/made.txt" && *t == EPOCH),
        "{mtimes:?}"
    );

    // The same epoch again: all cached, the very same image.
    let (again, tar2) = build_in(&env, Some(&epoch), &[], "");
    assert_success(&again, "rebuild with the epoch");
    let log2 = stderr(&again);
    assert!(
        crate::util::cached_steps(&log2)
            .iter()
            .any(|n| n.contains("RUN echo built")),
        "{log2}"
    );
    assert_eq!(manifest_digest(&tar), manifest_digest(&tar2));
}

#[test]
fn a_source_date_epoch_that_is_not_seconds_is_refused() {
    let (_env, out, _) = build(Some("2023-11-14"), &[], "");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("invalid SOURCE_DATE_EPOCH \"2023-11-14\""),
        "{err}"
    );
}

/// Docker's classic builder knows no SOURCE_DATE_EPOCH; nor does `--legacy`.
#[test]
fn the_legacy_builder_ignores_source_date_epoch() {
    let (_env, out, archive) = build(Some("not-seconds"), &["--legacy"], "");
    assert_success(&out, "legacy build with SOURCE_DATE_EPOCH set");
    let image = read_oci_archive(&archive);
    assert_ne!(image.config["created"], "2023-11-14T22:13:20Z");
    assert_eq!(image.file("epoch.txt").unwrap(), b"epoch=\n");
}
