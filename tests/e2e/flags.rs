//! The `docker build`/`buildx build` flags scripts pass: each one's effect
//! checked on a real build (image config, the registry's manifest, what a
//! RUN sees) and each refusal checked for a message naming the value.

use crate::util::registry::Registry;
use crate::util::{assert_success, cached_steps, sha256_hex, stderr, stdout, TestEnv};
use serde_json::Value;
use std::process::Command;

/// `mybuild build --progress=plain [extra] CTX` into the store.
fn build(env: &TestEnv, ctx: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.args(["build", "--progress=plain"])
        .args(extra)
        .arg(ctx)
        .env_remove("BUILDKIT_PROGRESS")
        .env_remove("DOCKER_DEFAULT_PLATFORM");
    cmd.output().expect("run mybuild")
}

fn inspect(env: &TestEnv, image: &str) -> Value {
    let out = env.mybuild(&["inspect", image]);
    assert_success(&out, "inspect");
    serde_json::from_slice::<Value>(&out.stdout).unwrap()[0].clone()
}

/// The manifest the registry serves for `reference`, as raw bytes.
fn registry_manifest(reference: &str) -> Vec<u8> {
    let out = Command::new("skopeo")
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("skopeo not installed (apt-get install skopeo)");
    assert_success(&out, "skopeo inspect --raw");
    out.stdout
}

#[test]
fn label_iidfile_and_load_reach_the_stored_image() {
    let env = TestEnv::new();
    let ctx = env.context("label", "FROM busybox\nLABEL a=file b=file\n", &[]);
    let iid = env.work.path().join("iid");
    let iid_s = iid.to_string_lossy().into_owned();
    let out = build(
        &env,
        &ctx,
        &[
            "-t",
            "lab:1",
            "--load",
            "--label",
            "a=flag",
            "--label",
            "c=3",
            "--iidfile",
            &iid_s,
        ],
    );
    assert_success(&out, "build --label --iidfile --load");
    let image = inspect(&env, "lab:1");
    let labels = &image["Config"]["Labels"];
    assert_eq!(
        *labels,
        serde_json::json!({"a": "flag", "b": "file", "c": "3"})
    );
    let written = std::fs::read_to_string(&iid).unwrap();
    assert_eq!(written, image["Id"].as_str().unwrap());
    assert!(written.starts_with("sha256:") && !written.ends_with('\n'));
}

#[test]
fn metadata_file_after_push_matches_the_registry() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let ctx = env.context("meta", "FROM busybox\nRUN echo hi > /hi\n", &[]);
    let name = format!("{}/meta:1", reg.addr);
    let meta = env.work.path().join("meta.json");
    let meta_s = meta.to_string_lossy().into_owned();
    let out = build(
        &env,
        &ctx,
        &[
            "-t",
            &name,
            "--push",
            "--metadata-file",
            &meta_s,
            "--annotation",
            "org.example.note=yes",
            "--annotation",
            "manifest:org.example.two=2",
        ],
    );
    assert_success(&out, "build --push --metadata-file --annotation");
    let doc: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let manifest = registry_manifest(&name);
    let digest = format!("sha256:{}", sha256_hex(&manifest));
    assert_eq!(doc["containerimage.digest"], digest.as_str(), "{doc}");
    assert_eq!(doc["containerimage.descriptor"]["digest"], digest.as_str());
    assert_eq!(doc["containerimage.descriptor"]["size"], manifest.len());
    let parsed: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        doc["containerimage.descriptor"]["mediaType"],
        parsed["mediaType"]
    );
    assert_eq!(
        doc["containerimage.config.digest"],
        parsed["config"]["digest"]
    );
    assert_eq!(doc["image.name"], name.as_str());
    let annotations = &parsed["annotations"];
    assert_eq!(annotations["org.example.note"], "yes", "{parsed}");
    assert_eq!(annotations["org.example.two"], "2", "{parsed}");
    let image = inspect(&env, &name);
    assert_eq!(doc["containerimage.config.digest"], image["Id"]);
}

#[test]
fn refusals_name_what_is_refused() {
    let env = TestEnv::new();
    let ctx = env.context("refuse", "FROM busybox\n", &[]);
    let host = if cfg!(target_arch = "x86_64") {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    for ok in [host, "local"] {
        assert_success(&build(&env, &ctx, &["--platform", ok]), ok);
    }
    let cases: [(&[&str], &str); 6] = [
        (&["--platform", "windows/amd64"], "windows/amd64"),
        (&["--annotation", "index:k=v"], "only manifest annotations"),
        (&["--add-host", "gw:host-gateway"], "host-gateway"),
        (&["--ulimit", "bogus=1"], "invalid ulimit type: bogus"),
        (&["--allow", "security.insecure"], "security.insecure"),
        (&["--allow", "device"], "device"),
    ];
    for (args, needle) in cases {
        let out = build(&env, &ctx, args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
    }
    assert_success(
        &build(&env, &ctx, &["--allow", "network.host"]),
        "--allow network.host",
    );
    // The classic builder has no buildx metadata file.
    let out = env.legacy(&ctx, &["--metadata-file", "meta.json"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--metadata-file needs BuildKit mode"),
        "{}",
        stderr(&out)
    );
}

/// `--annotation` reaches the manifest of an OCI archive, and
/// `--metadata-file` names that very manifest.
#[test]
fn annotations_reach_archived_manifests() {
    let env = TestEnv::new();
    let ctx = env.context("annotated", "FROM busybox\nRUN echo hi > /hi\n", &[]);
    let (archive, meta) = (
        env.work.path().join("a.tar"),
        env.work.path().join("m.json"),
    );
    let dest = format!("type=oci,dest={}", archive.display());
    let meta_s = meta.to_string_lossy().into_owned();
    let args = [
        "-o",
        &dest,
        "--annotation",
        "org.example.k=v",
        "--metadata-file",
        &meta_s,
    ];
    assert_success(&build(&env, &ctx, &args), "build with --annotation -o");
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg("index.json")
        .output()
        .unwrap();
    let index: Value = serde_json::from_slice(&out.stdout).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let out = Command::new("tar")
        .arg("-xOf")
        .arg(&archive)
        .arg(&blob)
        .output()
        .unwrap();
    let manifest: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(manifest["annotations"]["org.example.k"], "v", "{manifest}");
    let doc: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    assert_eq!(doc["containerimage.digest"], digest.as_str());
}

/// The classic builder takes `--label` (as one LABEL step after the last
/// line, values unexpanded) and `--iidfile`.
#[test]
fn legacy_takes_label_and_iidfile() {
    let env = TestEnv::new();
    let ctx = env.context("legacy-label", "FROM busybox\nENV HOME=/root\n", &[]);
    let iid = env.work.path().join("iid");
    let iid_s = iid.to_string_lossy().into_owned();
    let out = env.legacy(
        &ctx,
        &[
            "-t",
            "lab:1",
            "--label",
            "b=$HOME",
            "--label",
            "a=it's",
            "--iidfile",
            &iid_s,
        ],
    );
    assert_success(&out, "legacy build with --label and --iidfile");
    let log = stdout(&out);
    assert!(
        log.contains("Step 3/3 : LABEL \"a\"='it'\"'\"'s' \"b\"='$HOME'"),
        "{log}"
    );
    let image = inspect(&env, "lab:1");
    assert_eq!(image["Config"]["Labels"]["a"], "it's");
    assert_eq!(image["Config"]["Labels"]["b"], "$HOME", "not expanded");
    assert_eq!(
        std::fs::read_to_string(&iid).unwrap(),
        image["Id"].as_str().unwrap()
    );
}

/// The flags reach the RUN (read back from the exported layer), and a
/// build without them runs the RUN again: they are part of its key.
#[test]
fn run_sees_add_host_ulimit_and_shm_size() {
    let env = TestEnv::new();
    let script = "FROM busybox\nRUN cat /etc/hosts > /hosts && ulimit -n > /nofile \
                  && ulimit -Hn >> /nofile && grep ' /dev/shm ' /proc/mounts > /shm\n";
    let ctx = env.context("runenv", script, &[]);
    let flags = [
        "--add-host",
        "db.internal:10.9.8.7",
        "--add-host",
        "v6=[fd00::1]",
        "--ulimit",
        "nofile=1024:2048",
        "--shm-size",
        "128m",
    ];
    let (out, tar) = env.build(&ctx, &flags);
    assert_success(&out, "build --add-host --ulimit --shm-size");
    let image = crate::util::read_oci_archive(&tar);
    let file = |p: &str| String::from_utf8(image.file(p).unwrap()).unwrap();
    let hosts = file("hosts");
    assert!(hosts.contains("10.9.8.7\tdb.internal\n"), "{hosts}");
    assert!(hosts.contains("fd00::1\tv6\n"), "{hosts}");
    assert_eq!(file("nofile"), "1024\n2048\n");
    assert!(file("shm").contains("size=131072k"), "{}", file("shm"));

    let (out, tar) = env.build(&ctx, &[]);
    assert_success(&out, "build without the flags");
    assert!(cached_steps(&stderr(&out))
        .iter()
        .all(|s| !s.contains("RUN")));
    let image = crate::util::read_oci_archive(&tar);
    let file = |p: &str| String::from_utf8(image.file(p).unwrap()).unwrap();
    assert!(!file("hosts").contains("db.internal"));
    assert!(file("shm").contains("size=65536k"), "{}", file("shm"));
}

/// `--no-cache-filter a` runs stage `a`'s steps again and takes stage
/// `b`'s from the cache.
#[test]
fn no_cache_filter_reruns_only_the_named_stage() {
    let env = TestEnv::new();
    let script = "FROM busybox AS a\nRUN echo a > /a\nFROM busybox AS b\nRUN echo b > /b\n\
                  FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n";
    let ctx = env.context("ncf", script, &[]);
    assert_success(&build(&env, &ctx, &[]), "first build");
    let out = build(&env, &ctx, &["--no-cache-filter", "a"]);
    assert_success(&out, "build --no-cache-filter a");
    let cached = cached_steps(&stderr(&out));
    assert!(
        cached.iter().any(|s| s.contains("[b 2/2] RUN echo b")),
        "{cached:?}"
    );
    assert!(
        !cached.iter().any(|s| s.contains("[a 2/2] RUN echo a")),
        "{cached:?}"
    );
}

/// `BUILDKIT_PROGRESS` picks the progress output; `--progress` wins.
#[test]
fn buildkit_progress_sets_the_default_output() {
    let env = TestEnv::new();
    let ctx = env.context("bkp", "FROM busybox\nRUN echo hi\n", &[]);
    let run = |var: &str, extra: &[&str]| {
        let mut cmd = env.cmd();
        cmd.arg("build").args(extra).arg(&ctx);
        cmd.env("BUILDKIT_PROGRESS", var)
            .env_remove("DOCKER_DEFAULT_PLATFORM");
        let out = cmd.output().unwrap();
        assert_success(&out, &format!("BUILDKIT_PROGRESS={var} {extra:?}"));
        out
    };
    let raw = run("rawjson", &[]);
    let first = stderr(&raw).lines().next().unwrap_or_default().to_string();
    assert!(
        serde_json::from_str::<Value>(&first).is_ok(),
        "{}",
        stderr(&raw)
    );
    let quiet = run("quiet", &[]);
    assert!(stderr(&quiet).is_empty(), "{}", stderr(&quiet));
    assert!(
        stdout(&quiet).trim().starts_with("sha256:"),
        "{}",
        stdout(&quiet)
    );
    let plain = run("rawjson", &["--progress", "plain"]);
    assert!(stderr(&plain).starts_with('#'), "{}", stderr(&plain));
    let bad = env
        .cmd()
        .args(["build"])
        .arg(&ctx)
        .env("BUILDKIT_PROGRESS", "fancy")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("BUILDKIT_PROGRESS=fancy"),
        "{}",
        stderr(&bad)
    );
    // Empty is unset, as in buildx: auto, which is plain off a terminal.
    let empty = run("", &[]);
    assert!(stderr(&empty).starts_with('#'), "{}", stderr(&empty));
}

/// Without `--push`, the metadata names the manifest the image would have:
/// a later `push` sends exactly that one.
#[test]
fn metadata_file_without_push_names_the_manifest_push_sends() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let ctx = env.context("meta2", "FROM busybox\nRUN echo 2 > /two\n", &[]);
    let name = format!("{}/meta2:1", reg.addr);
    let meta = env.work.path().join("meta2.json");
    let meta_s = meta.to_string_lossy().into_owned();
    let out = build(&env, &ctx, &["-t", &name, "--metadata-file", &meta_s]);
    assert_success(&out, "build --metadata-file");
    let doc: Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let out = env.mybuild(&["push", "-q", &name]);
    assert_success(&out, "push");
    assert_eq!(doc["containerimage.digest"], stdout(&out).trim(), "{doc}");
    assert_eq!(
        doc["containerimage.config.digest"],
        inspect(&env, &name)["Id"]
    );
}

/// `--add-host` also reaches a RUN without the host's network.
#[test]
fn add_host_without_the_host_network() {
    let env = TestEnv::new();
    let ctx = env.context("nonet", "FROM busybox\nRUN cat /etc/hosts > /hosts\n", &[]);
    let (out, tar) = env.build(&ctx, &["--network", "none", "--add-host", "db:10.1.1.1"]);
    assert_success(&out, "build --network none --add-host");
    let image = crate::util::read_oci_archive(&tar);
    let hosts = String::from_utf8(image.file("hosts").unwrap()).unwrap();
    assert!(hosts.starts_with("127.0.0.1\tlocalhost"), "{hosts}");
    assert!(hosts.ends_with("10.1.1.1\tdb\n"), "{hosts}");
}
