//! End-to-end tests of the store commands (issue 4): tag, rmi, inspect,
//! history, save, du and prune, and export compression; and (issue 16)
//! Docker's `images` rows, filters and formats, inspect templates,
//! RepoDigests, `ps`, prune's question, single-cause errors, completion,
//! man and version.

use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A two-layer image tagged `app:1`, plus its image id.
fn built(env: &TestEnv) -> (std::path::PathBuf, String) {
    let ctx = env.context(
        "app",
        "FROM busybox\nCOPY data /data\nRUN echo made > /made\nCMD [\"cat\", \"/made\"]\n",
        &[("data", &"d".repeat(100_000))],
    );
    let (out, _) = env.build(&ctx, &["-t", "app:1"]);
    assert_success(&out, "build");
    let inspect = env.mybuild(&["inspect", "--format", "{{.Id}}", "app:1"]);
    assert_success(&inspect, "inspect");
    (ctx, stdout(&inspect).trim().to_string())
}

#[test]
fn tag_inspect_history_and_rmi() {
    let env = TestEnv::new();
    let (_, id) = built(&env);
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    assert_success(
        &env.mybuild(&["tag", "app:1", "registry.example:5000/app:2"]),
        "tag",
    );
    let short = &id[7..19];
    assert_success(&env.mybuild(&["tag", short, "app:by-id"]), "tag by id");
    let out = env.mybuild(&["inspect", "app:1"]);
    assert_success(&out, "inspect");
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let img = &v[0];
    assert_eq!(img["Id"], id.as_str());
    let tags: Vec<&str> = img["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, ["app:1", "app:by-id", "registry.example:5000/app:2"]);
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["cat", "/made"]));
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 3);
    assert!(img["Size"].as_u64().unwrap() > 100_000);

    let out = env.mybuild(&["history", "--no-trunc", "app:1"]);
    assert_success(&out, "history");
    let h = stdout(&out);
    let lines: Vec<&str> = h.lines().collect();
    assert!(lines[0].starts_with("IMAGE"), "{h}");
    assert!(lines[1].starts_with(&id), "newest first, with the id: {h}");
    assert!(
        lines[1].contains("CMD [\"cat\" \"/made\"]") || lines[1].contains("CMD"),
        "{h}"
    );
    assert!(h.contains("RUN /bin/sh -c echo made > /made"), "{h}");
    assert!(h.contains("<missing>"), "{h}");

    // An id with several names needs --force; a name removes just itself.
    let out = env.mybuild(&["rmi", short]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let out = env.mybuild(&["rmi", "app:by-id"]);
    assert_success(&out, "rmi by name");
    assert_eq!(stdout(&out), "Untagged: app:by-id\n");
    let out = env.mybuild(&["rmi", "-f", short]);
    assert_success(&out, "rmi -f by id");
    assert!(
        stdout(&out).contains(&format!("Deleted: {id}")),
        "{}",
        stdout(&out)
    );
    let out = env.mybuild(&["inspect", "app:1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no such image: app:1"),
        "{}",
        stderr(&out)
    );
    let images = stdout(&env.mybuild(&["images"]));
    assert!(!images.contains("app"), "{images}");
}

#[test]
fn save_writes_an_archive_other_tools_read() {
    let env = TestEnv::new();
    built(&env);
    let oci = env.work.path().join("app-oci.tar");
    let out = env.mybuild(&[
        "save",
        "--format",
        "oci",
        "-o",
        oci.to_str().unwrap(),
        "app:1",
        "busybox",
    ]);
    assert_success(&out, "save");
    let index: Value = {
        let mut ar = tar::Archive::new(std::fs::File::open(&oci).unwrap());
        let mut found = None;
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_str() == Some("index.json") {
                found = Some(serde_json::from_reader(&mut e).unwrap());
            }
        }
        found.expect("index.json")
    };
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["io.containerd.image.name"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "docker.io/library/app:1",
            "docker.io/library/busybox:latest"
        ]
    );
    let img = read_oci_archive(&oci);
    assert_eq!(img.file("made").unwrap(), b"made\n");

    // skopeo, a real third-party reader, accepts both layouts.
    if std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok()
    {
        let docker = env.work.path().join("app-docker.tar");
        let out = env
            .cmd()
            .args(["save", "app:1"])
            .stdout(std::fs::File::create(&docker).unwrap())
            .output()
            .unwrap();
        assert_success(&out, "save to stdout");
        for r in [
            format!("docker-archive:{}", docker.display()),
            format!("oci-archive:{}:1", oci.display()),
        ] {
            let out = std::process::Command::new("skopeo")
                .args(["inspect", &r])
                .output()
                .unwrap();
            assert_success(&out, &format!("skopeo inspect {r}"));
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["Layers"].as_array().unwrap().len(), 3, "{r}");
        }
    }
}

#[test]
fn zstd_export_is_made_once_and_verifies() {
    let env = TestEnv::new();
    let (ctx, _) = built(&env);
    let (out, archive) = env.build(&ctx, &["--compression", "zstd"]);
    assert_success(&out, "zstd export");
    let raw = std::fs::read(&archive).unwrap();
    let mut ar = tar::Archive::new(&raw[..]);
    let mut zstd_layers = 0;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut head = [0u8; 4];
        if std::io::Read::read_exact(&mut e, &mut head).is_ok() && head == [0x28, 0xb5, 0x2f, 0xfd]
        {
            zstd_layers += 1;
        }
    }
    assert_eq!(zstd_layers, 3, "every layer is zstd");
    // Both check every digest and diff_id: the harness and skopeo.
    let img = read_oci_archive(&archive);
    assert_eq!(img.file("made").unwrap(), b"made\n");
    let copy = env.work.path().join("copied");
    let out = std::process::Command::new("skopeo")
        .args(["copy", &format!("oci-archive:{}", archive.display())])
        .arg(format!("dir:{}", copy.display()))
        .output();
    if let Ok(out) = out {
        assert_success(&out, "skopeo copy of the zstd archive");
    }
    // Compressed once: a second zstd export adds no blob.
    let blobs = || {
        std::fs::read_dir(env.root.path().join("v1/blobs/sha256"))
            .unwrap()
            .count()
    };
    let before = blobs();
    let (out, _) = env.build(&ctx, &["--compression", "zstd"]);
    assert_success(&out, "second zstd export");
    assert_eq!(blobs(), before);
    let out = env.mybuild(&[
        "build",
        "--progress=plain",
        &format!(
            "--output=type=oci,dest={},compression=uncompressed",
            env.work.path().join("raw.tar").display()
        ),
        ctx.to_str().unwrap(),
    ]);
    assert_success(&out, "uncompressed export");
    let img = read_oci_archive(&env.work.path().join("raw.tar"));
    assert_eq!(img.file("made").unwrap(), b"made\n");
}

#[test]
fn du_and_prune_free_cache_but_keep_images() {
    let env = TestEnv::new();
    let (ctx, _) = built(&env);
    // A second, untagged build: its layers are build cache only.
    let other = env.context(
        "other",
        "FROM busybox\nRUN head -c 300000 /dev/zero > /zeros\n",
        &[],
    );
    let (out, _) = env.build(&other, &[]);
    assert_success(&out, "untagged build");

    let du = stdout(&env.mybuild(&["du"]));
    let row = |kind: &str| -> Vec<String> {
        du.lines()
            .find(|l| l.starts_with(kind))
            .unwrap_or_else(|| panic!("{kind} row in:\n{du}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(row("Images")[1], "2", "{du}");
    assert_ne!(row("Build cache")[3], "0B", "{du}");

    let out = env.mybuild(&["prune", "--filter", "until=1h", "-f"]);
    assert_success(&out, "prune until");
    assert!(
        !stdout(&out).contains("Deleted build cache objects"),
        "everything was used just now: {}",
        stdout(&out)
    );

    let out = env.mybuild(&["prune", "-f"]);
    assert_success(&out, "prune");
    assert!(
        stdout(&out).contains("Deleted build cache objects:"),
        "{}",
        stdout(&out)
    );
    let du = stdout(&env.mybuild(&["du"]));
    assert!(
        du.lines()
            .any(|l| l.starts_with("Build cache") && l.contains(" 0B")),
        "{du}"
    );

    // Tagged images still run, but their steps build again.
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "rebuild after prune");
    // Only the FROM is CACHED: the base image's layers are still unpacked.
    assert_eq!(
        stderr(&out).matches(" CACHED").count(),
        1,
        "prune removed the build cache:\n{}",
        stderr(&out)
    );
    assert_eq!(read_oci_archive(&archive).file("made").unwrap(), b"made\n");
    let from_kept = env.context(
        "kept",
        "FROM app:1\nRUN cat /made /data | wc -c > /n\n",
        &[],
    );
    let (out, archive) = env.build(&from_kept, &[]);
    assert_success(&out, "build FROM a kept image");
    assert_eq!(read_oci_archive(&archive).file("n").unwrap(), b"100005\n");
    for e in std::fs::read_dir(env.root.path().join("v1/blobs/sha256")).unwrap() {
        use sha2::Digest as _;
        let e = e.unwrap();
        let hex = hex::encode(sha2::Sha256::digest(std::fs::read(e.path()).unwrap()));
        assert_eq!(hex, e.file_name().to_string_lossy());
    }
}

/// `FROM busybox` with label `v=N` and a file holding N, tagged `name`.
fn build_labelled(env: &TestEnv, name: &str, n: u32) {
    let ctx = env.context(
        &format!("lab{n}"),
        &format!("FROM busybox\nLABEL v={n} k=x\nRUN echo {n} > /n\nCMD [\"sh\"]\n"),
        &[],
    );
    let (out, _) = env.build(&ctx, &["-t", name]);
    assert_success(&out, "build");
}

fn id_of(env: &TestEnv, name: &str) -> String {
    let out = env.mybuild(&["inspect", "-f", "{{.Id}}", name]);
    assert_success(&out, "inspect id");
    stdout(&out).trim().to_string()
}

/// `images` as Docker 20.10 lists them: a re-tagged name leaves a
/// `<none>:<none>` row, and every filter and format form.
#[test]
fn images_list_untagged_rows_with_filters_and_formats() {
    let env = TestEnv::new();
    build_labelled(&env, "app:1", 1);
    let old = id_of(&env, "app:1");
    // Image times are whole seconds: keep before/since apart.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    build_labelled(&env, "app:1", 2);
    let new = id_of(&env, "app:1");
    assert_ne!(old, new);
    let images = |args: &[&str]| {
        let out = env.mybuild(&[&["images"], args].concat());
        assert_success(&out, &format!("images {args:?}"));
        stdout(&out)
    };
    let table = images(&[]);
    let lines: Vec<&str> = table.lines().collect();
    // Docker's tabwriter columns: as wide as the widest cell plus 3, at least 10.
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED   "),
        "{table}"
    );
    assert!(
        lines[1].starts_with(&format!("app          1         {}", &new[7..19])),
        "{table}"
    );
    assert!(
        lines[2].starts_with(&format!("<none>       <none>    {}", &old[7..19])),
        "{table}"
    );
    assert!(lines[3].starts_with("busybox      latest"), "{table}");

    let fmt = "{{.Repository}}:{{.Tag}}";
    assert_eq!(
        images(&["-f", "dangling=true", "--format", fmt]),
        "<none>:<none>\n"
    );
    assert_eq!(
        images(&["-f", "dangling=false", "--format", fmt]),
        "app:1\nbusybox:latest\n"
    );
    assert_eq!(
        images(&["-f", "label=v=1", "--format", fmt]),
        "<none>:<none>\n"
    );
    assert_eq!(
        images(&["-f", "label=k", "-f", "label=v=2", "--format", fmt]),
        "app:1\n"
    );
    assert_eq!(
        images(&["-f", "before=app:1", "--format", fmt]),
        "<none>:<none>\nbusybox:latest\n"
    );
    assert_eq!(
        images(&["-f", "since=busybox", "-f", "before=app:1", "-q"]),
        format!("{}\n", &old[7..19])
    );
    assert_eq!(images(&["-f", "reference=a*", "--format", fmt]), "app:1\n");
    assert_eq!(
        images(&["-f", "reference=busy*:l?test", "--format", fmt]),
        "busybox:latest\n"
    );
    assert_eq!(images(&["busybox", "--format", fmt]), "busybox:latest\n");
    let out = env.mybuild(&["images", "-f", "colour=red"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("invalid filter 'colour'"),
        "{}",
        stderr(&out)
    );

    assert_eq!(
        images(&["app", "--no-trunc", "--format", "{{.ID}} {{.Digest}}"]),
        format!("{new} <none>\n")
    );
    assert_eq!(
        images(&["app", "--format", r"table {{.Repository}}\t{{.ID}}"]),
        format!("REPOSITORY   IMAGE ID\napp          {}\n", &new[7..19])
    );
    let json: Value = serde_json::from_str(&images(&["app", "--format", "{{json .}}"])).unwrap();
    assert_eq!(json["Repository"], "app");
    assert_eq!(json["Tag"], "1");
    assert!(
        json["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"),
        "{json}"
    );
    assert!(
        json["CreatedSince"].as_str().unwrap().ends_with(" ago"),
        "{json}"
    );
    assert!(json["Size"].as_str().unwrap().ends_with("MB"), "{json}");
    let digests = images(&["--digests", "busybox"]);
    assert!(
        digests.starts_with("REPOSITORY   TAG       DIGEST    IMAGE ID"),
        "{digests}"
    );

    // The untagged image is still an image: rmi by id deletes it.
    let out = env.mybuild(&["rmi", &old[7..19]]);
    assert_success(&out, "rmi <none>");
    assert_eq!(images(&["-f", "dangling=true", "-q"]), "");
}

/// `build -q .` with neither `-t` nor `--output`: the id it prints is a
/// `<none>` image other commands take, as with `docker build -q`.
#[test]
fn an_untagged_build_is_a_none_image_usable_by_id() {
    let env = TestEnv::new();
    let ctx = env.context("untagged", "FROM busybox\nRUN echo u > /u\n", &[]);
    let out = env.mybuild(&["build", "-q", ctx.to_str().unwrap()]);
    assert_success(&out, "build -q");
    let id = stdout(&out).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let out = env.mybuild(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]);
    assert_success(&out, "images");
    assert!(
        stdout(&out).contains(&format!("<none>:<none> {id}\n")),
        "{}",
        stdout(&out)
    );
    assert_success(
        &env.mybuild(&["tag", &id, "named:1"]),
        "tag by the printed id",
    );
    let out = env.mybuild(&["images", "-qf", "dangling=true"]);
    assert_eq!(stdout(&out), "", "named now");
}

/// `inspect -f` and history's aligned `--no-trunc` columns.
#[test]
fn inspect_templates_and_history_columns_read_as_docker() {
    let env = TestEnv::new();
    build_labelled(&env, "app:1", 1);
    assert_success(&env.mybuild(&["tag", "app:1", "app:2"]), "tag");
    let f = |t: &str| {
        let out = env.mybuild(&["inspect", "-f", t, "app:1"]);
        assert_success(&out, t);
        stdout(&out)
    };
    assert_eq!(f("{{.Config.Cmd}}"), "[sh]\n");
    assert_eq!(f("{{.Config.Labels}}"), "map[k:x v:1]\n");
    assert_eq!(f(r#"{{index .Config.Labels "v"}}"#), "1\n");
    assert_eq!(f("{{json .Config.Cmd}}"), "[\"sh\"]\n");
    assert!(f("{{json .Config}}").starts_with('{'));
    assert_eq!(f("{{range .RepoTags}}{{.}} {{end}}"), "app:1 app:2 \n");
    assert_eq!(f("{{.RepoDigests}}"), "[]\n");
    let out = env.mybuild(&["inspect", "-f", "{{.Nope}}", "app:1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("executing \"\" at <.Nope>: can't evaluate field Nope"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty());

    let out = env.mybuild(&["history", "--no-trunc", "app:1"]);
    assert_success(&out, "history");
    let h = stdout(&out);
    let lines: Vec<&str> = h.lines().collect();
    for col in ["CREATED", "CREATED BY", "SIZE"] {
        let at = lines[0].find(&format!("   {col}")).unwrap() + 3;
        for l in &lines[1..] {
            let (before, here) = (l.as_bytes()[at - 1], l.as_bytes()[at]);
            assert!(before == b' ' && here != b' ', "{col} misaligned:\n{h}");
        }
    }
}

#[test]
fn push_records_repo_digests() {
    let env = TestEnv::new();
    let registry = crate::util::registry::Registry::start();
    build_labelled(&env, "app:1", 1);
    let name = format!("{}/app:1", registry.addr);
    assert_success(&env.mybuild(&["tag", "app:1", &name]), "tag");
    let out = env.mybuild(&["push", "-q", &name]);
    assert_success(&out, "push");
    let digest = stdout(&out).trim().to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");
    let out = env.mybuild(&["inspect", "-f", "{{json .RepoDigests}}", "app:1"]);
    assert_success(&out, "inspect");
    let want = format!("{}/app@{digest}", registry.addr);
    assert_eq!(stdout(&out).trim(), serde_json::json!([want]).to_string());
    let out = env.mybuild(&[
        "images",
        "--digests",
        "--format",
        "{{.Repository}} {{.Digest}}",
        &format!("{}/app", registry.addr),
    ]);
    assert_success(&out, "images --digests");
    assert_eq!(stdout(&out), format!("{}/app {digest}\n", registry.addr));
}

#[test]
fn ps_lists_only_running_containers() {
    let env = TestEnv::new();
    let ctx = env.context("ps", "FROM busybox\nRUN true\n", &[]);
    assert_success(&env.legacy(&ctx, &["--rm=false"]), "legacy --rm=false");
    let all = stdout(&env.mybuild(&["ps", "-a"]));
    assert_eq!(all.lines().count(), 2, "{all}");
    let running = env.mybuild(&["ps"]);
    assert_success(&running, "ps");
    assert_eq!(
        stdout(&running).lines().count(),
        1,
        "header only: {}",
        stdout(&running)
    );
    assert!(stdout(&running).starts_with("CONTAINER ID   IMAGE"));
    assert!(env.mybuild(&["ps", "-q"]).stdout.is_empty());
}

#[test]
fn prune_without_force_asks_and_a_pipe_without_yes_removes_nothing() {
    use std::io::Write as _;
    let env = TestEnv::new();
    let other = env.context("other", "FROM busybox\nRUN echo x > /x\n", &[]);
    let (out, _) = env.build(&other, &[]);
    assert_success(&out, "untagged build");
    let du = || stdout(&env.mybuild(&["du"]));
    let before = du();
    let prune = |input: &[u8]| {
        let mut child = env
            .cmd()
            .arg("prune")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    };
    for answer in [&b""[..], b"n\n", b"yes\n"] {
        let out = prune(answer);
        assert_success(&out, "prune, not confirmed");
        assert!(
            stdout(&out).contains("Are you sure you want to continue? [y/N] "),
            "{}",
            stdout(&out)
        );
        assert!(
            !stdout(&out).contains("Total reclaimed"),
            "{}",
            stdout(&out)
        );
        assert_eq!(du(), before, "answer {answer:?} removed something");
    }
    let out = prune(b"y\n");
    assert_success(&out, "prune, confirmed");
    assert!(
        stdout(&out).contains("Deleted build cache objects:"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn errors_print_their_cause_once() {
    let env = TestEnv::new();
    let out = env.mybuild(&["load", "-i", "/nonexistent/missing.tar"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    let out = env.mybuild(&["rmi", "nope", "busybox", "nada:1"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).starts_with("Untagged: busybox:latest\nDeleted: sha256:"),
        "the others are still removed: {}",
        stdout(&out)
    );
    assert_eq!(
        stderr(&out),
        "ERROR: no such image: nope\nno such image: nada:1\n",
        "each failure once, together"
    );
}

#[test]
fn completion_man_and_version() {
    let env = TestEnv::empty();
    for shell in ["bash", "zsh", "fish"] {
        let out = env.mybuild(&["completion", shell]);
        assert_success(&out, shell);
        let script = stdout(&out);
        for sub in ["images", "inspect", "prune", "completion"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    assert!(!env.mybuild(&["completion", "tcsh"]).status.success());
    let out = env.mybuild(&["man"]);
    assert_success(&out, "man");
    assert!(stdout(&out).contains(".TH mybuild 1"), "{}", stdout(&out));
    let out = env.mybuild(&["version"]);
    assert_success(&out, "version");
    let v = stdout(&out);
    for field in [
        "Version:",
        "Git commit:",
        "Rust version:",
        "Target:",
        "OS/Arch:",
    ] {
        let line = v.lines().find(|l| l.trim_start().starts_with(field));
        let value = line.map(|l| l.trim_start()[field.len()..].trim());
        assert!(value.is_some_and(|x| !x.is_empty()), "{field} in\n{v}");
    }
    assert!(v.contains(env!("CARGO_PKG_VERSION")), "{v}");
}

/// A listing whose reader has gone (`mybuild images | head -1` after head
/// exits) ends by SIGPIPE, as `ls` does, instead of panicking.
#[test]
fn listings_end_quietly_when_the_reader_is_gone() {
    use std::os::unix::process::ExitStatusExt;
    let env = TestEnv::empty();
    for args in [&["images"][..], &["ps", "-a"], &["version"]] {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        drop(read);
        let out = env
            .cmd()
            .args(args)
            .stdout(std::process::Stdio::from(write))
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run mybuild");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "{args:?}: {err}");
    }
}
