//! End-to-end tests of `mybuild build` (issue 2, the walking skeleton):
//! real namespaces, overlayfs, store and registry; images read back from
//! the exported OCI archives with every digest verified.

use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};

const ALL_INSTRUCTIONS: &str = r#"
ARG BASE=busybox:latest
FROM ${BASE}
ARG WHO=world
ENV APP=/app GREETING="hello there"
LABEL org.example.name="demo" tier=test
WORKDIR $APP
COPY hello.txt ./
ADD files.tar /app/unpacked/
RUN echo "$GREETING $WHO" > greeting.txt && id -u > uid-root.txt
USER 1000:1000
RUN id -u > /tmp/uid.txt
USER root
EXPOSE 8080 53/udp
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/greeting.txt"]
"#;

fn tar_with(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o640);
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn builds_every_skeleton_instruction_into_a_valid_image() {
    let env = TestEnv::new();
    let ctx = env.context("all", ALL_INSTRUCTIONS, &[("hello.txt", "hi\n")]);
    std::fs::write(ctx.join("files.tar"), tar_with(&[("a/b.txt", b"inside\n")])).unwrap();
    let (out, archive) = env.build(&ctx, &["-t", "demo:1", "--build-arg", "WHO=tests"]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    let c = &img.config["config"];
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "root");
    assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(c["Cmd"], serde_json::json!(["cat /app/greeting.txt"]));
    assert_eq!(c["Labels"]["org.example.name"], "demo");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
    let envs: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(envs.contains(&"GREETING=hello there"), "{envs:?}");
    assert!(
        !envs.iter().any(|e| e.starts_with("WHO=")),
        "ARGs are not persisted: {envs:?}"
    );
    assert_eq!(
        img.file("app/greeting.txt").unwrap(),
        b"hello there tests\n"
    );
    assert_eq!(img.file("app/hello.txt").unwrap(), b"hi\n");
    assert_eq!(
        img.file("app/unpacked/a/b.txt").unwrap(),
        b"inside\n",
        "ADD extracts local tars"
    );
    assert_eq!(
        img.file("tmp/uid.txt").unwrap(),
        b"1000\n",
        "USER applies to RUN"
    );
    // history matches layers, and the image is listed under its tag
    let history = img.config["history"].as_array().unwrap();
    let layered = history.iter().filter(|h| h["empty_layer"] != true).count();
    assert_eq!(layered, img.layers.len());
    let images = env.mybuild(&["images"]);
    assert!(
        String::from_utf8_lossy(&images.stdout).contains("demo "),
        "{}",
        String::from_utf8_lossy(&images.stdout)
    );
}

#[test]
fn unchanged_rebuild_is_all_cached_and_no_cache_runs_again() {
    let env = TestEnv::new();
    // The marker is computed, so only real output (not the step name) holds it.
    let df = "FROM busybox\nCOPY f /f\nRUN echo ran-step-$((40+2)) && cat /f > /g\n";
    let ctx = env.context("cache", df, &[("f", "one\n")]);
    let (first, _) = env.build(&ctx, &[]);
    assert_success(&first, "first build");
    assert!(stderr(&first).contains("ran-step-42"));

    // mtime alone must not invalidate COPY; the clock moves past a second
    // so a config stamped with "now" would get another id.
    let f = ctx.join("f");
    std::fs::write(&f, "one\n").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (second, _) = env.build(&ctx, &[]);
    assert_success(&second, "second build");
    let log = stderr(&second);
    assert!(
        !log.contains("ran-step-42"),
        "no RUN may execute on a full cache hit:\n{log}"
    );
    let cached = crate::util::cached_steps(&log);
    assert!(cached.iter().any(|n| n.contains("] COPY f /f")), "{log}");
    assert!(cached.iter().any(|n| n.contains("] RUN echo")), "{log}");
    assert_eq!(
        image_id(&log),
        image_id(&stderr(&first)),
        "a full cache hit writes the same image, as BuildKit does"
    );

    let (third, _) = env.build(&ctx, &["--no-cache"]);
    assert_success(&third, "--no-cache build");
    assert!(
        stderr(&third).contains("ran-step-42"),
        "--no-cache runs everything again"
    );

    std::fs::write(&f, "two\n").unwrap();
    let (fourth, archive) = env.build(&ctx, &[]);
    assert_success(&fourth, "build after edit");
    assert!(
        stderr(&fourth).contains("ran-step-42"),
        "a content change invalidates COPY and what follows"
    );
    assert_eq!(read_oci_archive(&archive).file("g").unwrap(), b"two\n");
}

/// The id from plain progress' `writing image sha256:... done`.
fn image_id(log: &str) -> String {
    log.lines()
        .find_map(|l| l.split("writing image ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no image id in:\n{log}"))
        .to_string()
}

#[test]
fn failing_run_reports_command_exit_code_and_output() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN echo before-fail && echo to-stderr >&2 && exit 3\n";
    let ctx = env.context("fail", df, &[]);
    let (out, archive) = env.build(&ctx, &["-t", "broken:1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("exit code: 3"), "{err}");
    assert!(
        err.contains("echo before-fail && echo to-stderr >&2 && exit 3"),
        "{err}"
    );
    assert!(
        err.contains("to-stderr"),
        "the last output lines are shown:\n{err}"
    );
    assert!(
        err.contains("Dockerfile:2:1\n   |\n 2 | RUN echo before-fail"),
        "the failing instruction is shown where it is:\n{err}"
    );
    assert!(!archive.exists(), "nothing is exported");
    let images = env.mybuild(&["images"]);
    assert!(!String::from_utf8_lossy(&images.stdout).contains("broken"));
}

/// Issue 3: a missing context file names the Dockerfile line and points at
/// the source that is not there.
#[test]
fn missing_context_file_points_at_the_source() {
    let env = TestEnv::new();
    let df = "FROM busybox
COPY here.txt gone.txt /dst/
";
    let ctx = env.context("missing", df, &[("here.txt", "x")]);
    let (out, _) = env.build(&ctx, &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "Dockerfile:2:15\n   |\n 2 | COPY here.txt gone.txt /dst/\n   |               ^^^^^^^^"
        ),
        "{err}"
    );
    assert!(err.contains("gone.txt: not found"), "{err}");
}

#[test]
fn deleting_a_base_file_writes_a_whiteout() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN rm /bin/vi && mkdir -p /d/sub && echo x > /d/sub/f\nRUN rm -rf /d && mkdir /d && echo fresh > /d/only\n";
    let ctx = env.context("wh", df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    let n = img.layers.len();
    assert!(
        img.layers[n - 2].contains_key("bin/.wh.vi"),
        "{:?}",
        img.layers[n - 2].keys().collect::<Vec<_>>()
    );
    assert!(
        img.layers[n - 1].contains_key("d/.wh..wh..opq"),
        "{:?}",
        img.layers[n - 1].keys().collect::<Vec<_>>()
    );
}

#[test]
fn run_is_isolated_in_namespaces() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN echo $$ > /pid && hostname > /host && ls /sys/class/net > /nets 2>/dev/null; ls /proc | grep -c '^[0-9]' > /procs; true\n";
    let ctx = env.context("ns", df, &[]);
    let (out, archive) = env.build(&ctx, &["--network=none"]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    assert_eq!(
        img.file("pid").unwrap(),
        b"1\n",
        "RUN is PID 1 of its own PID namespace"
    );
    assert_eq!(img.file("host").unwrap(), b"buildkitsandbox\n");
    let procs: u32 = String::from_utf8(img.file("procs").unwrap())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        procs <= 3,
        "only the sandbox's processes are visible, saw {procs}"
    );
}

/// The layers of a docker archive, as `manifest.json` lists them: (media
/// type from the OCI manifest, bytes), and the config's diff_ids.
fn docker_archive_layers(path: &std::path::Path) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    use std::io::Read as _;
    let mut files = std::collections::BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let json = |name: &str| -> serde_json::Value { serde_json::from_slice(&files[name]).unwrap() };
    let entry = &json("manifest.json")[0];
    let config = json(entry["Config"].as_str().unwrap());
    let index = json("index.json");
    let hex = index["manifests"][0]["digest"].as_str().unwrap();
    let manifest = json(&format!("blobs/sha256/{}", &hex[7..]));
    let layers = entry["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(manifest["layers"].as_array().unwrap())
        .map(|(p, desc)| {
            let data = files[p.as_str().unwrap()].clone();
            (desc["mediaType"].as_str().unwrap().to_string(), data)
        })
        .collect();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    (layers, diff_ids)
}

/// `-o type=docker` writes plain layer tars, as `docker save` does, each
/// named by its diff_id; gzip only when asked for, in -o or --compression.
#[test]
fn docker_archives_carry_plain_layer_tars_unless_asked() {
    let env = TestEnv::new();
    let ctx = env.context(
        "plain",
        "FROM busybox\nCOPY a.txt /\nRUN echo ran > /ran\n",
        &[("a.txt", "a\n")],
    );
    let plain = env.work.path().join("plain.tar");
    let dest = format!("type=docker,dest={}", plain.display());
    let (out, _) = env.build(&ctx, &["-t", "plain:1", "--output", &dest]);
    assert_success(&out, "build");
    let (layers, diff_ids) = docker_archive_layers(&plain);
    assert_eq!(layers.len(), 3);
    assert_eq!(layers.len(), diff_ids.len());
    for ((media_type, data), diff_id) in layers.iter().zip(&diff_ids) {
        assert_eq!(media_type, "application/vnd.oci.image.layer.v1.tar");
        assert!(!data.starts_with(&[0x1f, 0x8b]), "{diff_id} is gzipped");
        let digest = format!("sha256:{}", crate::util::sha256_hex(data));
        assert_eq!(&digest, diff_id, "a plain layer's digest is its diff_id");
    }
    // A rebuild finds the very archive in place and leaves it; one byte
    // changed anywhere and it is written anew.
    use std::os::unix::fs::MetadataExt as _;
    let ino = || std::fs::metadata(&plain).unwrap().ino();
    let first = ino();
    let (out, _) = env.build(&ctx, &["-t", "plain:1", "--output", &dest]);
    assert_success(&out, "rebuild");
    assert_eq!(ino(), first, "an identical archive is not rewritten");
    let mut bytes = std::fs::read(&plain).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&plain, &bytes).unwrap();
    let (out, _) = env.build(&ctx, &["-t", "plain:1", "--output", &dest]);
    assert_success(&out, "rebuild over a changed archive");
    assert_ne!(ino(), first, "a changed archive is rewritten");
    let (fixed, fixed_ids) = docker_archive_layers(&plain);
    assert_eq!(fixed_ids, diff_ids);
    for ((_, data), diff_id) in fixed.iter().zip(&diff_ids) {
        assert_eq!(
            &format!("sha256:{}", crate::util::sha256_hex(data)),
            diff_id
        );
    }

    // compression= in -o, then the build's --compression.
    for (i, (suffix, flag)) in [
        (",compression=gzip", None),
        ("", Some("--compression=gzip")),
    ]
    .into_iter()
    .enumerate()
    {
        let gz = env.work.path().join(format!("gzip{i}.tar"));
        let dest = format!("type=docker,dest={}{suffix}", gz.display());
        let mut args = vec!["--output", &dest];
        args.extend(flag);
        let (out, _) = env.build(&ctx, &args);
        assert_success(&out, "gzip build");
        let (layers, gz_diff_ids) = docker_archive_layers(&gz);
        assert_eq!(gz_diff_ids, diff_ids, "the same image");
        for (media_type, data) in &layers {
            assert!(media_type.ends_with("+gzip"), "{media_type}");
            assert!(data.starts_with(&[0x1f, 0x8b]), "asked-for gzip: {args:?}");
        }
    }
}

#[test]
fn from_scratch_and_docker_archive_output() {
    let env = TestEnv::empty();
    let ctx = env.context(
        "scratch",
        "FROM scratch\nCOPY a.txt /\nCMD [\"/a.txt\"]\n",
        &[("a.txt", "alone\n")],
    );
    let docker_tar = env.work.path().join("docker.tar");
    let dest = format!("type=docker,dest={}", docker_tar.display());
    let (out, archive) = env.build(&ctx, &["-t", "scratchy:v1", "--output", &dest]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.file("a.txt").unwrap(), b"alone\n");
    let inspect = std::process::Command::new("skopeo")
        .args(["inspect", "--config"])
        .arg(format!("docker-archive:{}", docker_tar.display()))
        .output()
        .unwrap();
    assert!(
        inspect.status.success(),
        "skopeo reads the docker archive: {}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let cfg: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(cfg["config"]["Cmd"], serde_json::json!(["/a.txt"]));
}

#[test]
fn pulls_base_image_from_a_real_registry() {
    // Seed: a busybox image exported by mybuild itself, pushed with skopeo.
    let seed = TestEnv::new();
    let (out, base_archive) = seed.build(&seed.context("seed", "FROM busybox\n", &[]), &[]);
    assert_success(&out, "seed build");
    let registry = crate::util::registry::Registry::start();
    registry.push_oci_archive(&base_archive, "base/busybox:latest");

    let env = TestEnv::empty();
    let df = format!(
        "FROM {}/base/busybox:latest\nRUN echo pulled > /proof\n",
        registry.addr
    );
    let ctx = env.context("pull", &df, &[]);
    let (out, archive) = env.build(&ctx, &["-t", "pulled:1"]);
    assert_success(&out, "build from registry");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("proof").unwrap(), b"pulled\n");
    assert!(
        img.file("bin/busybox").is_some(),
        "base layers come from the registry"
    );

    // A docker archive takes the pulled base as the gzip blob it came as,
    // as BuildKit does unless told force-compression=true (then it is a
    // plain tar too); the layer built here is a plain tar either way,
    // although the harness's OCI output has made a gzip blob of it.
    for (i, force) in ["", ",force-compression=true"].into_iter().enumerate() {
        let dest = env.work.path().join(format!("docker{i}.tar"));
        let spec = format!("type=docker,dest={}{force}", dest.display());
        let (out, _) = env.build(&ctx, &["-t", "pulled:1", "--output", &spec]);
        assert_success(&out, &spec);
        let (layers, diff_ids) = docker_archive_layers(&dest);
        assert_eq!(layers.len(), 2, "{spec}");
        let gzipped = [force.is_empty(), false];
        for (((media_type, data), diff_id), gz) in layers.iter().zip(&diff_ids).zip(gzipped) {
            assert_eq!(data.starts_with(&[0x1f, 0x8b]), gz, "{spec}");
            assert_eq!(media_type.ends_with("+gzip"), gz, "{spec}");
            let mut plain = Vec::new();
            if gz {
                let mut gz = flate2::read::MultiGzDecoder::new(&data[..]);
                std::io::Read::read_to_end(&mut gz, &mut plain).unwrap();
            } else {
                plain.clone_from(data);
            }
            let digest = format!("sha256:{}", crate::util::sha256_hex(&plain));
            assert_eq!(&digest, diff_id, "{spec}");
        }
        let out = std::process::Command::new("skopeo")
            .args(["inspect", &format!("docker-archive:{}", dest.display())])
            .output()
            .expect("skopeo");
        assert_success(&out, &format!("skopeo inspect {spec}"));
    }
}

/// Issue 3: `COPY <<EOF` writes each document as a file; unquoted ones
/// expand variables but keep quotes, and `--chmod` applies to them.
#[test]
fn copy_heredocs_write_files() {
    let env = TestEnv::new();
    let df = "FROM busybox\nARG WHO=world\nCOPY <<EOF /etc/motd\nhi $WHO \"q\" \\$HOME\nEOF\n\
              COPY --chmod=0750 <<'TOOL' /usr/local/bin/\n#!/bin/sh\necho tool $WHO\nTOOL\n\
              RUN stat -c %a /usr/local/bin/TOOL > /mode && /usr/local/bin/TOOL > /out\n";
    let ctx = env.context("heredoc", df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("etc/motd").unwrap(), b"hi world \"q\" $HOME\n");
    assert_eq!(
        img.file("usr/local/bin/TOOL").unwrap(),
        b"#!/bin/sh\necho tool $WHO\n"
    );
    assert_eq!(img.file("mode").unwrap(), b"750\n");
    assert_eq!(img.file("out").unwrap(), b"tool world\n");
}

/// Issue 3: `COPY --parents` keeps source paths below the root or a `/./`
/// pivot; `--exclude` drops paths below each source (BuildKit's cases).
#[test]
fn copy_parents_and_exclude() {
    let env = TestEnv::new();
    let df = "FROM busybox\n\
              COPY --parents ./x/./y/*.txt src/**/*.md /p/\n\
              COPY --exclude=*/*.png . /all\n\
              ADD --exclude=*.png d* /flat/\n\
              RUN cd / && find p all flat | sort > /listing\n";
    let ctx = env.context(
        "parents",
        df,
        &[
            ("x/y/a.txt", "a"),
            ("x/y/b.png", "b"),
            ("src/k/l.md", "l"),
            ("d1/i.png", "i"),
            ("d1/j.txt", "j"),
            ("d2/k.txt", "k"),
        ],
    );
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let listing = String::from_utf8(read_oci_archive(&archive).file("listing").unwrap()).unwrap();
    let want = [
        "all",
        "all/Dockerfile",
        "all/d1",
        "all/d1/j.txt",
        "all/d2",
        "all/d2/k.txt",
        "all/src",
        "all/src/k",
        "all/src/k/l.md",
        "all/x",
        "all/x/y",
        "all/x/y/a.txt",
        "all/x/y/b.png",
        "flat",
        "flat/j.txt",
        "flat/k.txt",
        "p",
        "p/src",
        "p/src/k",
        "p/src/k/l.md",
        "p/y",
        "p/y/a.txt",
    ];
    assert_eq!(listing.lines().collect::<Vec<_>>(), want);
}

/// Issue 3: `RUN --mount`. A cache mount persists between builds and never
/// reaches the layer; binds read the context or a stage (writes discarded);
/// a tmpfs is empty; a secret is a read-only file that leaves no trace.
#[test]
fn run_mounts_cache_bind_tmpfs_and_secret() {
    let env = TestEnv::new();
    let df = "FROM busybox AS tools\nRUN mkdir -p /opt && echo tool > /opt/t\n\
              FROM busybox\n\
              RUN --mount=type=cache,target=/cache echo x >> /cache/runs && wc -l < /cache/runs > /count\n\
              RUN --mount=type=bind,source=src,target=/src cat /src/in > /from-ctx && (touch /src/w 2>/dev/null; echo $? > /ctx-write)\n\
              RUN --mount=type=bind,from=tools,source=/opt,target=/opt,rw cat /opt/t > /from-stage && echo scribble > /opt/t\n\
              RUN --mount=type=tmpfs,target=/scratch ls -A /scratch | wc -l > /tmp-empty\n\
              RUN --mount=type=secret,id=tok,required stat -c %a /run/secrets/tok > /secret-mode && grep -c s3cret /run/secrets/tok > /secret-seen\n\
              RUN --mount=type=secret,id=tok,env=TOKEN echo \"$TOKEN\" | grep -c s3cret > /env-seen && (ls /run/secrets 2>/dev/null | wc -l) > /env-files\n";
    let ctx = env.context(
        "mounts",
        df,
        &[("src/in", "from context\n"), ("tok", "s3cret\n")],
    );
    let tok = ctx.join("tok");
    let secret = format!("id=tok,src={}", tok.display());
    let (out, archive) = env.build(&ctx, &["--secret", &secret]);
    assert_success(&out, "first build");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("count").unwrap(), b"1\n");
    assert_eq!(img.file("from-ctx").unwrap(), b"from context\n");
    assert_ne!(
        img.file("ctx-write").unwrap(),
        b"0\n",
        "context binds are read-only"
    );
    assert_eq!(img.file("from-stage").unwrap(), b"tool\n");
    assert_eq!(img.file("tmp-empty").unwrap(), b"0\n");
    assert_eq!(img.file("secret-mode").unwrap(), b"400\n");
    assert_eq!(img.file("secret-seen").unwrap(), b"1\n");
    assert_eq!(
        img.file("env-seen").unwrap(),
        b"1\n",
        "env= exposes the secret"
    );
    assert_eq!(
        img.file("env-files").unwrap(),
        b"0\n",
        "env= alone mounts no file"
    );
    let config_env = img.config["config"]["Env"].to_string();
    assert!(!config_env.contains("TOKEN"), "{config_env}");
    for layer in &img.layers {
        for path in layer.keys() {
            assert!(
                !["cache/", "src/", "opt/", "scratch/", "run/"]
                    .iter()
                    .any(|p| path.starts_with(p)),
                "mount content or stub {path} leaked into a layer"
            );
        }
        assert!(
            !layer
                .values()
                .any(|(_, data)| data.windows(6).any(|w| w == b"s3cret")),
            "the secret reached a layer"
        );
    }

    // The cache mount's contents survive into the next build; a changed
    // bind source invalidates only the steps that read it.
    std::fs::write(ctx.join("src/in"), "edited\n").unwrap();
    let (again, archive) = env.build(&ctx, &["--secret", &secret, "--no-cache"]);
    assert_success(&again, "second build");
    let img = read_oci_archive(&archive);
    assert_eq!(
        img.file("count").unwrap(),
        b"2\n",
        "the cache mount persisted"
    );
    assert_eq!(img.file("from-ctx").unwrap(), b"edited\n");

    // Checked when the step runs (a cached step reads no secret, as in BuildKit).
    let (missing, _) = env.build(&ctx, &["--no-cache"]);
    assert!(
        !missing.status.success(),
        "a required secret that is not given fails"
    );
    assert!(
        stderr(&missing).contains("secret \"tok\" is required"),
        "{}",
        stderr(&missing)
    );
}

/// A changed bind-mount source is a cache miss for the RUN that reads it.
#[test]
fn bind_mount_source_is_part_of_the_cache_key() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN --mount=type=bind,target=/m cat /m/f > /copy\n";
    let ctx = env.context("bindkey", df, &[("f", "one\n")]);
    let (first, _) = env.build(&ctx, &[]);
    assert_success(&first, "first build");
    std::fs::write(ctx.join("f"), "two\n").unwrap();
    let (second, archive) = env.build(&ctx, &[]);
    assert_success(&second, "second build");
    assert_eq!(read_oci_archive(&archive).file("copy").unwrap(), b"two\n");
}

/// A bind source is resolved inside its own root: a context symlink to `/`
/// means the context, never the host.
#[test]
fn bind_mount_source_cannot_leave_the_context() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN --mount=type=bind,source=esc/etc,target=/m cat /m/hostname\n";
    let ctx = env.context("bindesc", df, &[]);
    std::os::unix::fs::symlink("/", ctx.join("esc")).unwrap();
    let (out, _) = env.build(&ctx, &[]);
    assert!(!out.status.success(), "the host's /etc must not be mounted");
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
}

/// Issue 3: `ADD <url>` downloads the file (mode 0600 unless `--chmod`,
/// named after the URL path), checks `--checksum`, keys later steps on the
/// body, and fails naming the URL on a 404.
#[test]
fn add_from_url() {
    use sha2::Digest as _;
    let server = crate::util::http::FileServer::start();
    server.set("/dl/tool.sh", b"#!/bin/sh\necho v1\n");
    let url = server.url("/dl/tool.sh");
    let sum = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(b"#!/bin/sh\necho v1\n"))
    );
    let env = TestEnv::new();
    let df = format!(
        "FROM busybox\nADD {url} /opt/\nADD --checksum={sum} --chmod=755 {url} /bin/tool\n\
         RUN stat -c '%a %Y' /opt/tool.sh > /meta && /bin/tool > /out\n"
    );
    let ctx = env.context("addurl", &df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("opt/tool.sh").unwrap(), b"#!/bin/sh\necho v1\n");
    assert_eq!(
        img.file("meta").unwrap(),
        b"600 784111777\n",
        "mode 0600, Last-Modified time"
    );
    assert_eq!(img.file("out").unwrap(), b"v1\n");

    // A new body: the checksum no longer matches.
    server.set("/dl/tool.sh", b"#!/bin/sh\necho v2\n");
    let (bad, _) = env.build(&ctx, &[]);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("checksum mismatch"),
        "{}",
        stderr(&bad)
    );

    // Without a checksum, the new body invalidates what follows.
    let df = format!("FROM busybox\nADD --chmod=755 {url} /bin/tool\nRUN /bin/tool > /out\n");
    let ctx = env.context("addurl2", &df, &[]);
    let (first, archive) = env.build(&ctx, &[]);
    assert_success(&first, "build v2");
    assert_eq!(read_oci_archive(&archive).file("out").unwrap(), b"v2\n");
    server.set("/dl/tool.sh", b"#!/bin/sh\necho v3\n");
    let (second, archive) = env.build(&ctx, &[]);
    assert_success(&second, "build v3");
    assert_eq!(read_oci_archive(&archive).file("out").unwrap(), b"v3\n");

    let missing = server.url("/nope");
    let ctx = env.context("add404", &format!("FROM busybox\nADD {missing} /x\n"), &[]);
    let (out, _) = env.build(&ctx, &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&missing) && stderr(&out).contains("404"),
        "{}",
        stderr(&out)
    );
}

/// A bind of the context shows only what `.dockerignore` lets in, like
/// everything else that reads the context.
#[test]
fn bind_mount_of_the_context_respects_dockerignore() {
    let env = TestEnv::new();
    let df = "FROM busybox\n\
              RUN --mount=type=bind,target=/m cd /m && find . | sort > /all\n\
              RUN --mount=type=bind,source=sub,target=/s cd /s && find . | sort > /sub\n";
    let ctx = env.context(
        "bindignore",
        df,
        &[
            (".dockerignore", "secret.txt\nsub/skip\n"),
            ("secret.txt", "hidden"),
            ("keep.txt", "k"),
            ("sub/skip", "s"),
            ("sub/keep", "k"),
        ],
    );
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    let all = String::from_utf8(img.file("all").unwrap()).unwrap();
    assert!(
        !all.contains("secret.txt") && !all.contains("skip"),
        "{all}"
    );
    assert!(
        all.contains("./keep.txt") && all.contains("./sub/keep"),
        "{all}"
    );
    assert_eq!(img.file("sub").unwrap(), b".\n./keep\n");
}

/// Issue 3/4: `COPY --link` makes its layer on its own, so a change below
/// it does not re-run it, and the image still has the file on top.
#[test]
fn copy_link_layer_does_not_depend_on_the_stage_below() {
    let env = TestEnv::new();
    let df = |v: u32| {
        format!("FROM busybox\nRUN echo {v} > /v\nCOPY --link --chmod=0640 f /app/f\nRUN stat -c %a /app/f > /mode\n")
    };
    let ctx = env.context("link", &df(1), &[("f", "linked\n")]);
    let (first, archive) = env.build(&ctx, &[]);
    assert_success(&first, "first build");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("app/f").unwrap(), b"linked\n");
    assert_eq!(img.file("mode").unwrap(), b"640\n");
    assert_eq!(img.layers.len(), 4, "base, RUN, the linked COPY, RUN");
    assert_eq!(
        img.config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        4
    );

    std::fs::write(ctx.join("Dockerfile"), df(2)).unwrap();
    let (second, archive) = env.build(&ctx, &[]);
    assert_success(&second, "second build");
    let log = stderr(&second);
    let copy_cached = log
        .lines()
        .skip_while(|l| !l.contains("COPY --link"))
        .take_while(|l| !l.is_empty())
        .any(|l| l.ends_with("CACHED"));
    assert!(
        copy_cached,
        "the linked COPY is reused after a change below it:\n{log}"
    );
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("v").unwrap(), b"2\n");
    assert_eq!(img.file("app/f").unwrap(), b"linked\n");
}

/// Mounts may nest: the outer one is mounted first and the inner one's
/// mount point is made inside it.
#[test]
fn nested_run_mounts() {
    let env = TestEnv::new();
    let df = "FROM busybox\nRUN --mount=type=tmpfs,target=/a/b --mount=type=cache,target=/a \
              touch /a/b/inner /a/outer && ls /a/b > /inner && ls /a > /outer\n";
    let ctx = env.context("nested", df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("inner").unwrap(), b"inner\n");
    assert_eq!(img.file("outer").unwrap(), b"b\nouter\n");
    assert!(img
        .layers
        .iter()
        .all(|l| !l.keys().any(|k| k.starts_with("a/"))));
}
