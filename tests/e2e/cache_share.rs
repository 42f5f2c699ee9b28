//! Build cache shared between machines (issue 5): `--cache-to` on one
//! store, `--cache-from` on a second, empty one, through a directory and
//! through the real registry.

use crate::util::registry::Registry;
use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};

/// The markers are computed, so only a RUN that really runs prints them.
const DF: &str = "FROM busybox AS side\nRUN echo side-$((1+1)) | tee /side\n\
FROM busybox\nCOPY f /f\nRUN echo main-$((40+2)) && cat /f > /g\n\
COPY --from=side /side /side\n";

fn machine(name: &str) -> (TestEnv, std::path::PathBuf) {
    let env = TestEnv::new();
    let ctx = env.context(name, DF, &[("f", "shared\n")]);
    (env, ctx)
}

fn check(archive: &std::path::Path) {
    let img = read_oci_archive(archive);
    assert_eq!(img.file("g").unwrap(), b"shared\n");
    assert_eq!(img.file("side").unwrap(), b"side-2\n");
}

#[test]
fn local_cache_lets_a_second_machine_skip_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (a, ctx_a) = machine("a");
    let to = format!("--cache-to=type=local,dest={},mode=max", cache.display());
    let (out, _) = a.build(&ctx_a, &[&to]);
    assert_success(&out, "build with --cache-to");
    assert!(stderr(&out).contains("main-42"));

    let (b, ctx_b) = machine("b");
    let from = format!("--cache-from=type=local,src={}", cache.display());
    let (out, archive) = b.build(&ctx_b, &[&from]);
    assert_success(&out, "build with --cache-from");
    let log = stderr(&out);
    assert!(!log.contains("main-42") && !log.contains("side-2"), "{log}");
    check(&archive);

    // A changed input still runs, and only from there on.
    std::fs::write(ctx_b.join("f"), "changed\n").unwrap();
    let (out, _) = b.build(&ctx_b, &[&from]);
    assert_success(&out, "build after a change");
    assert!(stderr(&out).contains("main-42"), "{}", stderr(&out));

    // A damaged blob in the cache is refused, and the step just runs.
    let blobs = cache.join("blobs/sha256");
    let (c, ctx_c) = machine("c");
    for e in std::fs::read_dir(&blobs).unwrap() {
        let p = e.unwrap().path();
        let mut data = std::fs::read(&p).unwrap();
        if data.starts_with(&[0x1f, 0x8b]) {
            let n = data.len();
            data[n / 2] ^= 0xff;
            std::fs::write(&p, data).unwrap();
        }
    }
    let (out, _) = c.build(&ctx_c, &[&from]);
    assert!(!out.status.success(), "a corrupt cache must not be served");
    assert!(stderr(&out).contains("digest mismatch"), "{}", stderr(&out));
}

#[test]
fn registry_cache_between_two_machines_and_min_mode() {
    let reg = Registry::start();
    let (a, ctx_a) = machine("a");
    let max = format!(
        "--cache-to=type=registry,ref={}/app:cache-max,mode=max",
        reg.addr
    );
    let min = format!("--cache-to=type=registry,ref={}/app:cache-min", reg.addr);
    let (out, _) = a.build(&ctx_a, &[&max, &min]);
    assert_success(&out, "build exporting two caches");

    let (b, ctx_b) = machine("b");
    let from = format!("--cache-from=type=registry,ref={}/app:cache-max", reg.addr);
    let (out, archive) = b.build(&ctx_b, &[&from]);
    assert_success(&out, "build from the max cache");
    let log = stderr(&out);
    assert!(!log.contains("main-42") && !log.contains("side-2"), "{log}");
    check(&archive);

    // min exports only what the final image is built on: the side stage runs.
    let (c, ctx_c) = machine("c");
    let from = format!("--cache-from={}/app:cache-min", reg.addr);
    let (out, archive) = c.build(&ctx_c, &[&from]);
    assert_success(&out, "build from the min cache");
    let log = stderr(&out);
    assert!(!log.contains("main-42"), "{log}");
    assert!(log.contains("side-2"), "{log}");
    check(&archive);

    // A cache that does not exist yet only warns (the first CI run).
    let (d, ctx_d) = machine("d");
    let from = format!("--cache-from={}/app:never-pushed", reg.addr);
    let (out, _) = d.build(&ctx_d, &[&from]);
    assert_success(&out, "build from a missing cache");
    assert!(stderr(&out).contains("main-42"));
}

/// The `--cache-from` warning for `what`, which must not fail the build.
fn warned(log: &str, from: &str, reason: &str) {
    let line = log
        .lines()
        .find(|l| l.contains(&format!("WARNING: failed to import cache from {from}:")))
        .unwrap_or_else(|| panic!("no warning for {from}:\n{log}"));
    assert!(line.contains(reason), "{line}");
}

#[test]
fn unusable_cache_from_warns_and_builds_without_it() {
    let reg = Registry::start();
    // An ordinary image: busybox pushed as it is.
    let (a, ctx_a) = machine("a");
    let (out, archive) = a.build(&ctx_a, &[]);
    assert_success(&out, "plain build");
    reg.push_oci_archive(&archive, "plain:latest");
    // A BuildKit cache manifest (`image-manifest=true` form).
    reg.put_config_manifest(
        "bk",
        "cache",
        "application/vnd.buildkit.cacheconfig.v0",
        br#"{"layers":[],"records":[]}"#,
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("{}/app:cache", closed.local_addr().unwrap());
    drop(closed);
    let cases = [
        (
            format!("{}/plain:latest", reg.addr),
            "without mybuild cache records",
        ),
        (format!("{}/bk:cache", reg.addr), "a BuildKit cache"),
        (format!("{}/app:missing", reg.addr), "not found"),
        (dead, "Connection refused"),
    ];
    let (b, ctx_b) = machine("b");
    for (from, reason) in cases {
        let (out, archive) = b.build(&ctx_b, &[&format!("--cache-from={from}")]);
        assert_success(&out, &format!("build with --cache-from={from}"));
        warned(&stderr(&out), &from, reason);
        check(&archive);
    }
    // A missing local cache warns the same way.
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("none");
    let spec = format!("--cache-from=type=local,src={}", from.display());
    let (out, _) = b.build(&ctx_b, &[&spec]);
    assert_success(&out, "build with a missing local cache");
    warned(&stderr(&out), &from.display().to_string(), "not found");
}

/// `mybuild build --progress=plain ARGS CTX` on `env`, with the image id.
fn build_iid(env: &TestEnv, ctx: &std::path::Path, args: &[&str]) -> (String, String) {
    let iid = env.work.path().join("iid");
    let iid_arg = format!("--iidfile={}", iid.display());
    let mut all = vec!["build", "--progress=plain", &iid_arg];
    all.extend_from_slice(args);
    let ctx = ctx.to_string_lossy().into_owned();
    all.push(&ctx);
    // A layer fetched from a cache is dated when fetched (the store keeps
    // no creation time from elsewhere): the epoch pins every time instead.
    let out = (env.cmd().args(&all))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .output()
        .unwrap();
    assert_success(&out, &format!("build {args:?}"));
    (stderr(&out), std::fs::read_to_string(iid).unwrap())
}

#[test]
fn inline_cache_travels_with_the_pushed_image() {
    let reg = Registry::start();
    let image = format!("{}/app:inline", reg.addr);
    let (a, ctx_a) = machine("a");
    let (log_a, id_a) = build_iid(
        &a,
        &ctx_a,
        &["-t", &image, "--push", "--cache-to=type=inline"],
    );
    assert!(log_a.contains("main-42"), "{log_a}");

    // A fresh store: every step of the final stage comes from the image.
    let (b, ctx_b) = machine("b");
    let from = format!("--cache-from={image}");
    let (log_b, id_b) = build_iid(&b, &ctx_b, &[&from, "--cache-to=type=inline"]);
    assert!(!log_b.contains("main-42"), "{log_b}");
    let cached = crate::util::cached_steps(&log_b);
    for step in [
        "COPY f /f",
        "RUN echo main-$((40+2))",
        "COPY --from=side /side /side",
    ] {
        assert!(
            cached.iter().any(|c| c.contains(step)),
            "{step} not CACHED: {cached:?}\n{log_b}"
        );
    }
    assert_eq!(id_a, id_b, "the same image on both machines");

    // Without type=inline the image carries no records: a warning, and a rebuild.
    let plain = format!("{}/app:plain", reg.addr);
    build_iid(&a, &ctx_a, &["-t", &plain, "--push"]);
    let (c, ctx_c) = machine("c");
    let (log_c, _) = build_iid(&c, &ctx_c, &[&format!("--cache-from={plain}")]);
    assert!(
        log_c.contains("main-42") && log_c.contains("without mybuild cache records"),
        "{log_c}"
    );
}
