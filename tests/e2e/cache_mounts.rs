//! Issue 17: `--cache-mounts-to` / `--cache-mounts-from` carry the
//! contents of `RUN --mount=type=cache` to a fresh store, through a
//! directory and through a real registry on loopback, with a size cap.

use crate::util::registry::Registry;
use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};

/// Each build appends a line to the cache and copies the count into the
/// image, so the image shows how many builds the cache has seen. The
/// `--no-cache` builds make the step run every time.
const DF: &str = "FROM busybox\n\
    RUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs \
    echo built >> /var/cache/pkgs/log && wc -l < /var/cache/pkgs/log > /count\n\
    RUN --mount=type=cache,id=big,target=/big head -c 300000 /dev/urandom > /big/blob\n";

fn count(env: &TestEnv, extra: &[&str]) -> String {
    let ctx = env.context("ctx", DF, &[]);
    let mut args = vec!["--no-cache"];
    args.extend_from_slice(extra);
    let (out, archive) = env.build(&ctx, &args);
    assert_success(&out, &format!("build {extra:?}"));
    let img = read_oci_archive(&archive);
    String::from_utf8(img.file("count").expect("/count"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn cache_mounts_travel_through_a_directory_with_a_size_cap() {
    let first = TestEnv::new();
    let dir = first.work.path().join("mounts");
    let to = format!("type=local,dest={}", dir.display());
    assert_eq!(count(&first, &["--cache-mounts-to", &to]), "1");
    assert!(dir.join("index.json").is_file(), "an OCI layout");
    // A fresh store starts from the exported cache.
    let fresh = TestEnv::new();
    let from = format!("type=local,src={}", dir.display());
    assert_eq!(count(&fresh, &["--cache-mounts-from", &from]), "2");
    // Its own cache is never overwritten by an import.
    assert_eq!(count(&fresh, &["--cache-mounts-from", &from]), "3");
    // Under the cap, the random 300 kB cache is left out and says so.
    let capped = first.work.path().join("capped");
    let to = format!("type=local,dest={},max-size=100k", capped.display());
    let ctx = first.context("ctx", DF, &[]);
    let (out, _) = first.build(&ctx, &["--cache-mounts-to", &to]);
    assert_success(&out, "capped export");
    let log = stderr(&out);
    assert!(
        log.contains("cache mount \"big\" left out: over max-size"),
        "{log}"
    );
    assert!(log.contains("1 cache mount(s) exported"), "{log}");
    // An import from nowhere is a warning, not a failure.
    let missing = format!(
        "type=local,src={}",
        first.work.path().join("none").display()
    );
    let (out, _) = fresh.build(&ctx, &["--cache-mounts-from", &missing]);
    assert_success(&out, "missing cache mounts");
    assert!(
        stderr(&out).contains("WARNING: cache mounts from"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cache_mounts_travel_through_a_registry() {
    let registry = Registry::start();
    let reference = format!("{}/ci/mounts:main", registry.addr);
    let first = TestEnv::new();
    let to = format!("type=registry,ref={reference}");
    assert_eq!(count(&first, &["--cache-mounts-to", &to]), "1");
    let fresh = TestEnv::new();
    let from = format!("type=registry,ref={reference}");
    assert_eq!(count(&fresh, &["--cache-mounts-from", &from]), "2");
    // The flags are refused where they mean nothing.
    let ctx = fresh.context("ctx", DF, &[]);
    let out = fresh.legacy(&ctx, &["--cache-mounts-from", &from]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--cache-mounts-from needs BuildKit mode"),
        "{}",
        stderr(&out)
    );
    let out = fresh.mybuild(&[
        "build",
        "--cache-mounts-to",
        "type=local",
        ctx.to_str().unwrap(),
    ]);
    assert!(
        stderr(&out).contains("type=local needs a directory"),
        "{}",
        stderr(&out)
    );
}
