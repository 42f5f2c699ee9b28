//! End-to-end tests of pushing to (and pulling back from) a real registry:
//! Debian's `docker-registry`, read back with skopeo, with a fault-injecting
//! proxy in between where a test needs to see or break the traffic.

use crate::util::proxy::{Fault, Proxy};
use crate::util::registry::{inspect, skopeo, Registry};
use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

/// Attempts per push request (the first try and three retries).
const ATTEMPTS: usize = 4;

const APP: &str = "FROM busybox\nRUN echo made-by-run > /made\n";

/// `skopeo copy` to a `dir:`, which verifies every blob's digest.
fn copy_to_dir(image: &str, dir: &Path) {
    let out = skopeo(&[
        "copy",
        "-q",
        "--src-tls-verify=false",
        &format!("docker://{image}"),
        &format!("dir:{}", dir.display()),
    ]);
    assert_success(&out, &format!("skopeo copy {image}"));
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn is_blob_write((method, path): &(String, String)) -> bool {
    matches!(method.as_str(), "POST" | "PATCH" | "PUT") && path.contains("/blobs/")
}

fn manifest_puts(log: &[(String, String)]) -> usize {
    log.iter()
        .filter(|(m, p)| m == "PUT" && p.contains("/manifests/"))
        .count()
}

/// Builds `df` tagged `name` and pushes it with `build --push`; returns the
/// number of layers and the manifest digest the build reported.
fn build_and_push(env: &TestEnv, ctx: &str, df: &str, name: &str) -> (usize, String) {
    let ctx = env.context(ctx, df, &[]);
    let (out, archive) = env.build(&ctx, &["-t", name, "--push"]);
    assert_success(&out, "build --push");
    let err = stderr(&out);
    let prefix = format!("pushing manifest for {name}@");
    let digest = err
        .lines()
        .find_map(|l| l.split_once(&prefix).map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no manifest push in the build log:\n{err}"))
        .to_string();
    (read_oci_archive(&archive).layers.len(), digest)
}

/// Just builds and tags (no push).
fn build_only(env: &TestEnv, ctx: &str, df: &str, name: &str) -> usize {
    let ctx = env.context(ctx, df, &[]);
    let (out, archive) = env.build(&ctx, &["-t", name]);
    assert_success(&out, "build");
    read_oci_archive(&archive).layers.len()
}

/// The manifest's layer digests and the config's diff_ids of `image`.
fn layers_of(image: &str) -> (Vec<String>, Vec<String>) {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let manifest = inspect(image, &["--raw"]);
    let digests = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    let config = inspect(image, &["--config", "--raw"]);
    (digests, strings(&config["rootfs"]["diff_ids"]))
}

fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// Nothing of a failed pull was committed: every stored blob matches its
/// name, the layer's blob is absent, and no layer record names its diff_id.
fn assert_nothing_committed(env: &TestEnv, blob: &str, diff_id: &str) {
    let v1 = env.root.path().join("v1");
    let blobs = v1.join("blobs/sha256");
    for e in std::fs::read_dir(&blobs).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(
            sha256_file(&p),
            name,
            "stored blob {} is damaged",
            p.display()
        );
    }
    let blob_hex = blob.strip_prefix("sha256:").unwrap();
    assert!(
        !blobs.join(blob_hex).exists(),
        "blob {blob} was committed by a failed pull"
    );
    let diff_hex = diff_id.strip_prefix("sha256:").unwrap();
    let layers: Vec<String> = std::fs::read_dir(v1.join("layers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !layers.iter().any(|l| l.contains(diff_hex)),
        "layer {diff_id} was recorded by a failed pull: {layers:?}"
    );
}

/// `build --push`, then skopeo reads it (digests verified) and a second,
/// fresh store builds on it and sees the first build's RUN output.
#[test]
fn build_push_is_readable_by_skopeo_and_pullable() {
    let registry = Registry::start();
    let env = TestEnv::new();
    let name = format!("{}/app:1", registry.addr);
    let (layers, digest) = build_and_push(&env, "app", APP, &name);
    assert_eq!(layers, 2, "busybox plus the RUN layer");

    let info = inspect(&name, &[]);
    assert_eq!(info["Layers"].as_array().unwrap().len(), layers);
    assert_eq!(info["Digest"].as_str().unwrap(), digest);
    let dir = env.work.path().join("copied");
    copy_to_dir(&name, &dir);
    assert!(dir.join("manifest.json").is_file());

    let env2 = TestEnv::new();
    let df = format!("FROM {name}\nRUN cp /made /seen\n");
    let ctx = env2.context("pullback", &df, &[]);
    let (out, archive) = env2.build(&ctx, &[]);
    assert_success(&out, "build FROM the pushed image");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("made").unwrap(), b"made-by-run\n");
    assert_eq!(img.file("seen").unwrap(), b"made-by-run\n");
}

/// A second push of the same image sends no blob: only HEADs and the manifest.
#[test]
fn repush_uploads_no_blob() {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let env = TestEnv::new();
    let name = format!("{}/app:1", proxy.addr);
    let (layers, _) = build_and_push(&env, "app", APP, &name);
    assert!(
        proxy.requests().iter().any(is_blob_write),
        "the first push uploads through the proxy: {:?}",
        proxy.requests()
    );

    proxy.clear_log();
    let out = env.mybuild(&["push", &name]);
    assert_success(&out, "re-push");
    let log = proxy.requests();
    assert!(
        !log.iter().any(is_blob_write),
        "re-push wrote a blob: {log:?}"
    );
    let heads = log
        .iter()
        .filter(|(m, p)| m == "HEAD" && p.contains("/blobs/sha256:"))
        .count();
    assert_eq!(
        heads,
        layers + 1,
        "one HEAD per layer and the config: {log:?}"
    );
    assert_eq!(manifest_puts(&log), 1, "{log:?}");
    assert_eq!(log.len(), heads + 1, "nothing else was sent: {log:?}");
    assert_eq!(
        stdout(&out).matches("already exists").count(),
        layers + 1,
        "{}",
        stdout(&out)
    );
    assert_eq!(
        inspect(&format!("{}/app:1", registry.addr), &[])["Layers"]
            .as_array()
            .unwrap()
            .len(),
        layers
    );
}

/// A push to a sibling repository mounts every blob instead of uploading.
#[test]
fn push_to_sibling_repository_mounts_blobs() {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let env = TestEnv::new();
    let name = format!("{}/app:1", proxy.addr);
    let other = format!("{}/other:1", proxy.addr);
    let (layers, digest) = build_and_push(&env, "app", APP, &name);
    assert_success(&env.mybuild(&["tag", &name, &other]), "tag");

    proxy.clear_log();
    let out = env.mybuild(&["push", &other]);
    assert_success(&out, "push other");
    let log = proxy.requests();
    let posts: Vec<_> = log
        .iter()
        .filter(|(m, p)| m == "POST" && p.contains("/v2/other/blobs/uploads/"))
        .collect();
    assert_eq!(posts.len(), layers + 1, "{log:?}");
    for (_, p) in &posts {
        assert!(p.contains("mount=sha256") && p.contains("from=app"), "{p}");
    }
    assert!(
        !log.iter()
            .any(|(m, p)| matches!(m.as_str(), "PUT" | "PATCH") && p.contains("/blobs/")),
        "a mounted blob was uploaded: {log:?}"
    );
    let so = stdout(&out);
    assert_eq!(so.matches("mounted sha256:").count(), layers + 1, "{so}");
    assert!(so.contains(&format!("from {}/app", proxy.addr)), "{so}");

    let info = inspect(&format!("{}/other:1", registry.addr), &[]);
    assert_eq!(info["Digest"].as_str().unwrap(), digest);
    copy_to_dir(
        &format!("{}/other:1", registry.addr),
        &env.work.path().join("other"),
    );
}

/// A 500 on an upload PUT and a dropped connection on a HEAD are retried.
#[test]
fn push_survives_transient_faults() {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let env = TestEnv::new();
    let name = format!("{}/app:1", proxy.addr);
    let layers = build_only(&env, "app", APP, &name);
    proxy.fault("PUT", "/blobs/uploads/", Fault::Status(500), 1);
    proxy.fault("HEAD", "/blobs/sha256:", Fault::Drop, 1);

    let out = env.mybuild(&["push", &name]);
    assert_success(&out, "push through faults");
    let log = proxy.requests();
    let repeated = |method: &str, part: &str| {
        log.iter()
            .filter(|(m, p)| m == method && p.contains(part))
            .any(|r| log.iter().filter(|x| *x == r).count() == 2)
    };
    assert!(repeated("HEAD", "/blobs/sha256:"), "HEAD retried: {log:?}");
    assert!(repeated("PUT", "/blobs/uploads/"), "PUT retried: {log:?}");
    assert_eq!(manifest_puts(&log), 1);

    let direct = format!("{}/app:1", registry.addr);
    assert_eq!(
        inspect(&direct, &[])["Layers"].as_array().unwrap().len(),
        layers
    );
    copy_to_dir(&direct, &env.work.path().join("copied"));
}

/// A blob that cannot be uploaded fails the push after all attempts, and the
/// manifest is never sent: no tag names missing blobs.
#[test]
fn failed_blob_upload_leaves_no_tag() {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let env = TestEnv::new();
    let name = format!("{}/app:1", proxy.addr);
    build_only(&env, "app", APP, &name);
    proxy.fault("PUT", "/blobs/uploads/", Fault::Status(500), 1000);

    let out = env.mybuild(&["push", &name]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "push must fail: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    let url = format!("PUT http://{}/v2/app/blobs/uploads/", proxy.addr);
    assert!(err.contains(&url) && err.contains("500"), "{err}");

    let log = proxy.requests();
    assert_eq!(
        manifest_puts(&log),
        0,
        "manifest pushed after a failed blob: {log:?}"
    );
    let puts: Vec<_> = log
        .iter()
        .filter(|(m, p)| m == "PUT" && p.contains("/blobs/uploads/"))
        .collect();
    let most = puts
        .iter()
        .map(|r| puts.iter().filter(|x| *x == r).count())
        .max()
        .unwrap_or(0);
    assert_eq!(
        most, ATTEMPTS,
        "each upload PUT is tried {ATTEMPTS} times: {log:?}"
    );

    let missing = skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}/app:1", registry.addr),
    ]);
    assert!(
        !missing.status.success(),
        "the tag exists after a failed push: {}",
        stdout(&missing)
    );
}

/// Layers over 8 MiB go up in PATCH chunks (a failed chunk is retried),
/// and arrive intact.
#[test]
fn large_layer_is_pushed_in_chunks() {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let env = TestEnv::new();
    let name = format!("{}/big:1", proxy.addr);
    let df = "FROM busybox\nRUN head -c 20000000 /dev/urandom > /big\n";
    // A chunk answered 500 is sent again to the same upload URL.
    proxy.fault("PATCH", "/blobs/uploads/", Fault::Status(500), 1);
    build_and_push(&env, "big", df, &name);

    let log = proxy.requests();
    let patches: Vec<_> = log
        .iter()
        .filter(|(m, p)| m == "PATCH" && p.contains("/v2/big/blobs/uploads/"))
        .collect();
    let mut chunks = patches.clone();
    chunks.dedup();
    assert!(
        chunks.len() >= 2,
        "a 20 MB blob takes 2 chunks or more: {log:?}"
    );
    assert_eq!(
        patches.len(),
        chunks.len() + 1,
        "one chunk retried: {log:?}"
    );

    let direct = format!("{}/big:1", registry.addr);
    let (digests, _) = layers_of(&direct);
    let dir = env.work.path().join("copied");
    copy_to_dir(&direct, &dir);
    let big = &digests[digests.len() - 1];
    let blob = dir.join(big.strip_prefix("sha256:").unwrap());
    let size = std::fs::metadata(&blob).unwrap().len();
    assert!(size > 16 << 20, "the RUN layer is {size} bytes");
    assert_eq!(sha256_file(&blob), big.strip_prefix("sha256:").unwrap());
}

/// Pulls through the proxy with `fault` once on the layer's GET: the build
/// either succeeds (retried) or fails cleanly with nothing committed; then a
/// rebuild succeeds. Returns whether the faulted build succeeded, and its stderr.
fn pull_with_fault(proxy: &Proxy, layer: &str, diff_id: &str, fault: Fault) -> (bool, String) {
    let env = TestEnv::new();
    let df = format!("FROM {}/app:1\nRUN cp /made /seen\n", proxy.addr);
    let ctx = env.context("pull", &df, &[]);
    let blob_path = format!("/v2/app/blobs/{layer}");
    proxy.fault("GET", &blob_path, fault, 1);
    proxy.clear_log();
    let (out, archive) = env.build(&ctx, &[]);
    let gets = |log: &[(String, String)]| {
        log.iter()
            .filter(|(m, p)| m == "GET" && p.contains(&blob_path))
            .count()
    };
    assert!(gets(&proxy.requests()) >= 1, "the layer was fetched");
    let err = stderr(&out);
    let ok = out.status.success();
    if ok {
        let img = read_oci_archive(&archive);
        assert_eq!(img.file("seen").unwrap(), b"made-by-run\n");
        return (true, err);
    }
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("http://{}{blob_path}", proxy.addr)),
        "the error names the blob URL:\n{err}"
    );
    assert_nothing_committed(&env, layer, diff_id);

    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "rebuild once the fault is used up");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("seen").unwrap(), b"made-by-run\n");
    (false, err)
}

/// A corrupted layer download fails the pull with a digest mismatch and
/// commits nothing; transient faults on the GET are retried.
#[test]
fn pull_through_faults_commits_nothing_bad() {
    let registry = Registry::start();
    let proxy = Proxy::start(&registry.addr);
    let env = TestEnv::new();
    let direct = format!("{}/app:1", registry.addr);
    build_and_push(&env, "app", APP, &direct);
    let (digests, diff_ids) = layers_of(&direct);
    let (layer, diff_id) = (digests.last().unwrap(), diff_ids.last().unwrap());

    let (ok, err) = pull_with_fault(&proxy, layer, diff_id, Fault::CorruptBody);
    assert!(!ok, "a corrupted layer was accepted");
    assert!(
        err.contains("digest mismatch") && err.contains(layer.as_str()),
        "the error names the digest mismatch:\n{err}"
    );

    // Transient faults are retried: the pull goes through.
    for fault in [Fault::Status(500), Fault::Drop] {
        let (ok, err) = pull_with_fault(&proxy, layer, diff_id, fault);
        assert!(ok, "pull did not retry {fault:?}:\n{err}");
    }
}
