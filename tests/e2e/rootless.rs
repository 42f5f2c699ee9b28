//! Rootless mybuild (issue 17, item 1): an ordinary user builds in a user
//! namespace mapped from /etc/subuid and /etc/subgid, and the image's
//! layers carry exactly the owners a build as root gives. Before, the
//! first base layer failed: `layer entry "bin/": chown: Operation not
//! permitted`.

use crate::util::rootless::{owner_listing, RootlessEnv};
use crate::util::{assert_success, read_oci_archive, stderr, wait_or_kill, BIN};
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

/// Owners from RUN (chown, a USER's files), COPY --chown and plain COPY,
/// an opaque directory (removed and made again over a lower one) read by
/// a later step, and a whiteout.
const DOCKERFILE: &str = "FROM busybox
RUN echo app:x:1000:1000::/:/bin/sh >> /etc/passwd && echo app:x:1000: >> /etc/group \\
 && mkdir -p /data/a /data/b /gone \\
 && chown 1000:1000 /data/a && touch /data/b/f /gone/x /old \\
 && chown 2000:3000 /data/b && chown 65534:65534 /data/b/f
COPY --chown=1234:5678 a.txt /a.txt
COPY b.txt /b.txt
USER app
RUN id -u > /tmp/whoami && touch /tmp/mine && mkdir /tmp/d
USER root
RUN rm -rf /gone && mkdir /gone && echo new > /gone/y && rm /old
RUN ls -A /gone > /gone-list && ls -ln /tmp/mine | awk '{print $3\":\"$4}' > /mine-owner
";

#[test]
fn rootless_build_gives_the_layers_root_gives() {
    let rl = RootlessEnv::new();
    let ctx = rl
        .env
        .context("owners", DOCKERFILE, &[("a.txt", "a\n"), ("b.txt", "b\n")]);
    assert_success(&rl.env.mybuild(&["bootstrap-busybox"]), "bootstrap as root");
    let root_tar = rl.env.work.path().join("root.tar");
    let dest = format!("type=oci,dest={}", root_tar.display());
    let ctx_s = ctx.to_str().unwrap();
    let out = rl.env.mybuild(&["build", "--no-cache", "-o", &dest, ctx_s]);
    assert_success(&out, "build as root");

    let out = rl.mybuild(&["bootstrap-busybox"]);
    assert_success(&out, "bootstrap-busybox as the rootless user");
    let user_tar = rl.env.work.path().join("user.tar");
    let dest = format!("type=oci,dest={}", user_tar.display());
    let out = rl.mybuild(&[
        "build",
        "--progress=plain",
        "-t",
        "owners:1",
        "-o",
        &dest,
        ctx_s,
    ]);
    assert_success(&out, "build as the rootless user");

    let img = read_oci_archive(&user_tar);
    assert_eq!(
        img.file("tmp/whoami").unwrap(),
        b"1000\n",
        "USER app is uid 1000"
    );
    assert_eq!(
        img.file("gone-list").unwrap(),
        b"y\n",
        "the opaque dir hides x"
    );
    assert_eq!(img.file("mine-owner").unwrap(), b"1000:1000\n");
    let (root_layers, user_layers) = (owner_listing(&root_tar), owner_listing(&user_tar));
    assert!(
        user_layers
            .iter()
            .flatten()
            .any(|l| l.starts_with("data/b/ 5 2000:3000 ")),
        "chowned dir in the layer: {user_layers:#?}"
    );
    assert!(user_layers
        .iter()
        .flatten()
        .any(|l| l.starts_with("a.txt 0 1234:5678 ")));
    assert_eq!(user_layers, root_layers, "layers as the user vs as root");

    // The store is the user's, at $XDG_DATA_HOME/mybuild, and the image in it.
    let store = rl.store();
    let meta = std::fs::metadata(&store).expect("store at $XDG_DATA_HOME/mybuild");
    assert_eq!(meta.uid(), rl.user.uid, "the store belongs to the user");
    let out = rl.mybuild(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_success(&out, "images as the user");
    assert!(String::from_utf8_lossy(&out.stdout).contains("owners:1"));
}

/// `run` as the user: the command's exit code comes back through the
/// process outside the namespace.
#[test]
fn rootless_run_passes_the_exit_code_through() {
    let rl = RootlessEnv::with_busybox();
    let out = rl.mybuild(&["run", "--rm", "busybox", "sh", "-c", "id -u; exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "0\n");
}

/// SIGTERM sent to the user's mybuild (the process outside the namespace)
/// reaches the build inside, which stops its step and exits 143.
#[test]
fn rootless_build_stops_on_sigterm() {
    let rl = RootlessEnv::with_busybox();
    let ctx = rl
        .env
        .context("slow", "FROM busybox\nRUN echo started; sleep 60\n", &[]);
    let mut cmd = rl.cmd();
    cmd.args(["build", "--progress=plain", ctx.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // setpriv execs mybuild: the pid is the outer mybuild's.
    std::thread::sleep(Duration::from_secs(3));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = wait_or_kill(child, Duration::from_secs(20)).expect("mybuild ended after SIGTERM");
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(stderr(&out).contains("terminated"), "{}", stderr(&out));
}

/// A user without subordinate ids is told what to configure.
#[test]
fn rootless_without_subordinate_ids_says_what_to_add() {
    let rl = RootlessEnv::new();
    // nobody has no /etc/subuid line.
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            BIN,
            "images",
        ])
        .env("HOME", rl.env.work.path())
        .env("XDG_DATA_HOME", rl.env.work.path().join("nobody"))
        .env("MYBUILD_CONFIG", "/dev/null")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("/etc/subuid has no subordinate ids for user nobody"),
        "{err}"
    );
    assert!(err.contains("usermod --add-subuids"), "{err}");
}

/// A base layer with a device node (made as root) loads and builds as
/// the user: the node is left out, a FIFO beside it is kept (README's
/// rootless limits).
#[test]
fn rootless_leaves_device_nodes_out_of_base_layers() {
    let rl = RootlessEnv::new();
    assert_success(&rl.env.mybuild(&["bootstrap-busybox"]), "bootstrap as root");
    let df = "FROM busybox\nRUN mknod /zero c 1 5 && mkfifo /fifo\n";
    let ctx = rl.env.context("devs", df, &[]);
    let ctx_s = ctx.to_str().unwrap();
    assert_success(
        &rl.env.mybuild(&["build", "-t", "devs:1", ctx_s]),
        "build as root",
    );
    let archive = rl.env.work.path().join("devs.tar");
    let out = rl
        .env
        .mybuild(&["save", "-o", archive.to_str().unwrap(), "devs:1"]);
    assert_success(&out, "save as root");

    let out = rl.mybuild(&["load", "-i", archive.to_str().unwrap()]);
    assert_success(&out, "load as the user");
    let df = "FROM devs:1\nRUN test -p /fifo && test ! -e /zero && echo ok > /checked\n";
    let ctx = rl.env.context("on-devs", df, &[]);
    let dest = format!(
        "type=tar,dest={}",
        rl.env.work.path().join("on.tar").display()
    );
    let out = rl.mybuild(&[
        "build",
        "--progress=plain",
        "-o",
        &dest,
        ctx.to_str().unwrap(),
    ]);
    assert_success(&out, "build FROM a base with a device node as the user");
}

/// No cgroup is delegated to the user: a limit asked for is not applied,
/// and the build says so instead of failing on /sys/fs/cgroup.
#[test]
fn rootless_limits_are_ignored_with_a_warning() {
    let rl = RootlessEnv::with_busybox();
    let ctx = rl
        .env
        .context("limits", "FROM busybox\nRUN echo hi > /hi\n", &[]);
    let out = rl.mybuild(&["build", "--memory", "64m", ctx.to_str().unwrap()]);
    assert_success(&out, "build with --memory as the user");
    assert!(
        stderr(&out).contains("WARNING: rootless: --memory"),
        "{}",
        stderr(&out)
    );
}
