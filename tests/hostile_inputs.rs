//! The hostile-input list of issue 13: images, contexts and Dockerfiles
//! made to have the builder write outside its roots, read the host, or
//! hang. Each test keeps a sentinel outside the rootfs that must stay
//! untouched, runs both modes under a watchdog, and allows only a clean
//! success or a clear error, never a panic.

mod util;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;
use util::craft::{load_on_busybox, LayerTar};
use util::loopdev::Loop;
use util::{assert_success, read_oci_archive, stderr, wait_or_kill, TestEnv};

/// Runs mybuild with a watchdog, so a hang fails the test instead of CI.
fn run_guarded(env: &TestEnv, args: &[&str]) -> Output {
    let child = env
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mybuild");
    wait_or_kill(child, Duration::from_secs(120))
        .unwrap_or_else(|| panic!("mybuild {args:?} hung (killed after 120 s)"))
}

/// Builds `ctx` without cache in the default mode and in legacy mode.
fn build_both(env: &TestEnv, ctx: &Path) -> [(&'static str, Output); 2] {
    let ctx = ctx.to_str().unwrap();
    [
        (
            "default",
            run_guarded(env, &["build", "--progress=plain", "--no-cache", ctx]),
        ),
        (
            "legacy",
            run_guarded(env, &["build", "--legacy", "--no-cache", ctx]),
        ),
    ]
}

/// No panic, no crash: exit 0, or 1 with an `ERROR` line.
fn assert_clean_outcome(out: &Output, what: &str) -> bool {
    let log = stderr(out);
    assert!(
        !log.contains("panicked"),
        "{what}: mybuild panicked:\n{log}"
    );
    match out.status.code() {
        Some(0) => true,
        Some(1) => {
            assert!(
                log.contains("ERROR"),
                "{what}: failed without an error:\n{log}"
            );
            false
        }
        other => panic!("{what}: exit {other:?}:\n{log}"),
    }
}

/// A host directory an image points at, holding one file that must keep
/// its content, with nothing added beside it.
struct Sentinel {
    dir: tempfile::TempDir,
}

impl Sentinel {
    fn new() -> Sentinel {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("y"), "sentinel").unwrap();
        Sentinel { dir }
    }

    fn path(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    fn assert_untouched(&self, what: &str) {
        let names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            ["y"],
            "{what}: something was written into the host dir"
        );
        let y = std::fs::read_to_string(self.dir.path().join("y")).unwrap();
        assert_eq!(y, "sentinel", "{what}: the host file was changed");
    }
}

/// `../../..` enough times to climb out of any store path, then `abs`.
fn climbing(abs: &str) -> String {
    format!("{}{}", "../".repeat(24), abs.trim_start_matches('/'))
}

/// Layers `etc -> <host dir>`, then `etc/x`, then a whiteout `etc/.wh.y`:
/// unpacking or stacking them must never write or delete through the link.
#[test]
fn a_symlinked_directory_in_a_base_layer_does_not_redirect_later_layers() {
    let sentinel = Sentinel::new();
    let env = TestEnv::new();
    for (i, target) in [sentinel.path().to_string(), climbing(sentinel.path())]
        .iter()
        .enumerate()
    {
        let tag = format!("evil-etc-{i}:1");
        load_on_busybox(
            &env,
            &tag,
            vec![
                LayerTar::new().symlink("etc", target).bytes(),
                LayerTar::new().file("etc/x", b"evil").bytes(),
                LayerTar::new().file("etc/.wh.y", b"").bytes(),
            ],
        );
        sentinel.assert_untouched(&format!("load {tag}"));
        let df = format!(
            "FROM {tag}\nRUN ls -la /etc/; cat /etc/x /etc/y; echo more > /etc/x2; true\n\
             COPY f /etc/z\n"
        );
        let ctx = env.context(&format!("etc-{i}"), &df, &[("f", "f\n")]);
        for (mode, out) in build_both(&env, &ctx) {
            assert_clean_outcome(&out, &format!("{tag} {mode}"));
            sentinel.assert_untouched(&format!("{tag} {mode}"));
        }
    }
}

/// An image whose `/dev` is a link to a host directory, or whose
/// `/dev/null` is a link to a host file: the sandbox's /dev and every
/// write to /dev/null stay inside the container.
#[test]
fn an_image_whose_dev_is_a_symlink_cannot_reach_the_host() {
    let sentinel = Sentinel::new();
    let env = TestEnv::new();
    let host_file = format!("{}/y", sentinel.path());
    let images = [
        (
            "evil-dev:1",
            LayerTar::new().symlink("dev", sentinel.path()),
        ),
        (
            "evil-devnull:1",
            LayerTar::new()
                .dir("dev")
                .symlink("dev/null", &host_file)
                .symlink("dev/zero", &climbing(&host_file)),
        ),
    ];
    for (i, (tag, layer)) in images.into_iter().enumerate() {
        load_on_busybox(&env, tag, vec![layer.bytes()]);
        let df = format!(
            "FROM {tag}\n\
             RUN echo PWNED > /dev/null && echo PWNED > /dev/zero; ls -la /dev; touch /dev/made; true\n\
             COPY f /dev/null\n"
        );
        let ctx = env.context(&format!("dev-{i}"), &df, &[("f", "PWNED\n")]);
        for (mode, out) in build_both(&env, &ctx) {
            assert_clean_outcome(&out, &format!("{tag} {mode}"));
            sentinel.assert_untouched(&format!("{tag} {mode}"));
        }
    }
}

/// `/etc/passwd` as a FIFO, a link to `/dev/zero`, or a device node made
/// in the image, with `USER app` and `COPY --chown=app`: an open of the
/// FIFO used to block forever. Each build must end promptly, and fail
/// naming the file wherever it could read it. (COPY resolves names in the
/// snapshot, where `/dev/zero` does not exist: a missing passwd makes the
/// name unknown, which COPY maps to root, as before.)
#[test]
fn a_passwd_that_is_a_fifo_or_device_fails_the_build_instead_of_hanging() {
    let env = TestEnv::new();
    let tricks = [
        ("fifo", "mkfifo /p && ln -sf /p /etc/passwd"),
        ("devzero", "ln -sf /dev/zero /etc/passwd"),
        ("node", "mknod /z c 1 5 && ln -sf /z /etc/passwd"),
    ];
    for (name, trick) in tricks {
        for last in ["COPY --chown=app f /f", "USER app\nRUN id"] {
            let df = format!("FROM busybox\nRUN {trick}\n{last}\n");
            let ctx = env.context(&format!("passwd-{name}"), &df, &[("f", "f\n")]);
            for (mode, out) in build_both(&env, &ctx) {
                let what = format!("{name}, {last:?}, {mode}");
                let built = assert_clean_outcome(&out, &what);
                if name == "devzero" && last.starts_with("COPY") {
                    continue;
                }
                assert!(!built, "{what}: built");
                let log = stderr(&out);
                assert!(
                    log.contains("/etc/passwd"),
                    "{what}: the error does not name /etc/passwd:\n{log}"
                );
            }
        }
    }
}

/// `WORKDIR /proc/self/fd/N` (and a link to it made in the image) used to
/// put RUN's working directory on a directory the sandbox held open
/// outside the root: `cat ../../../<host file>` printed it (runc's
/// CVE-2024-21626). Now such a step fails before the command starts.
#[test]
fn workdir_through_proc_self_fd_cannot_leave_the_root() {
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("secret");
    let marker = format!("HOST-SECRET-{}", std::process::id() * 7);
    std::fs::write(&secret, &marker).unwrap();
    let peek = climbing(secret.to_str().unwrap());
    let env = TestEnv::new();
    for n in 3..=9 {
        for via_link in [false, true] {
            let setup = if via_link {
                format!("RUN ln -s /proc/self/fd/{n} /w\nWORKDIR /w\n")
            } else {
                format!("WORKDIR /proc/self/fd/{n}\n")
            };
            let df = format!("FROM busybox\n{setup}RUN cat {peek}; ls -la .. ../..; true\n");
            let ctx = env.context(&format!("fd-{n}-{via_link}"), &df, &[]);
            for (mode, out) in build_both(&env, &ctx) {
                let what = format!("fd {n}, link {via_link}, {mode}");
                let log = stderr(&out);
                assert!(!log.contains(&marker), "{what}: read the host file:\n{log}");
                if !assert_clean_outcome(&out, &what) {
                    assert!(log.contains("working directory"), "{what}:\n{log}");
                }
            }
        }
    }
}

/// A context holding a FIFO, a socket and device nodes (one of them a
/// real loop device over a sentinel): the build neither blocks on the FIFO
/// nor reads the device; nodes are copied as nodes, as Docker does.
#[test]
fn special_files_in_the_context_are_never_opened() {
    let lo = Loop::new();
    let (major, minor) = lo.numbers();
    let env = TestEnv::new();
    let ctx = env.context(
        "specials",
        "FROM busybox\nCOPY . /ctx/\nRUN ls -l /ctx\n",
        &[("plain", "plain\n")],
    );
    let mknod = |name: &str, kind: libc::mode_t, dev: libc::dev_t| {
        let path = std::ffi::CString::new(ctx.join(name).to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(
            unsafe { libc::mknod(path.as_ptr(), kind | 0o644, dev) },
            0,
            "mknod {name}"
        );
    };
    mknod("fifo", libc::S_IFIFO, 0);
    mknod(
        "blk",
        libc::S_IFBLK,
        libc::makedev(major as u32, minor as u32),
    );
    mknod("null", libc::S_IFCHR, libc::makedev(1, 3));
    let _sock = std::os::unix::net::UnixListener::bind(ctx.join("sock")).unwrap();
    let archive = env.work.path().join("specials.oci.tar");
    let dest = format!("type=oci,dest={}", archive.display());
    let out = run_guarded(
        &env,
        &[
            "build",
            "--progress=plain",
            "--output",
            &dest,
            ctx.to_str().unwrap(),
        ],
    );
    assert_success(&out, "build with special files in the context");
    let legacy = run_guarded(&env, &["build", "--legacy", ctx.to_str().unwrap()]);
    assert_success(&legacy, "legacy build with special files in the context");
    let image = read_oci_archive(&archive);
    let top = image
        .layers
        .iter()
        .rev()
        .find(|l| l.contains_key("ctx/plain"))
        .unwrap();
    let kind = |name: &str| top.get(&format!("ctx/{name}")).map(|(k, _)| *k as char);
    assert_eq!(kind("fifo"), Some('6'), "the FIFO is copied as a FIFO");
    assert_eq!(
        kind("blk"),
        Some('4'),
        "the block device is copied as a node"
    );
    assert_eq!(
        kind("null"),
        Some('3'),
        "the char device is copied as a node"
    );
    for layer in &image.layers {
        for (name, (_, data)) in layer {
            assert!(
                !data.windows(17).any(|w| w == b"SENTINEL-ON-HOST!"),
                "{name}: the device's content reached the image"
            );
        }
    }
}
