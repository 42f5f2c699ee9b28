//! The hostile-input list of issue 13: images, contexts and Dockerfiles
//! made to have the builder write outside its roots, read the host, or
//! hang. Each test keeps a sentinel outside the rootfs that must stay
//! untouched, runs both modes under a watchdog, and allows only a clean
//! success or a clear error, never a panic.

use crate::util::craft::{load_on_busybox, LayerTar};
use crate::util::loopdev::Loop;
use crate::util::{assert_success, read_oci_archive, stderr, wait_or_kill, TestEnv};
use std::io::Read;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

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
        "FROM busybox\nCOPY . /ctx/\nRUN ls -l /ctx > /listing\n",
        &[("plain", "plain\n")],
    );
    let mknod = |name: &str, kind: libc::mode_t, dev: libc::dev_t| {
        let path = std::ffi::CString::new(ctx.join(name).to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        let rc = unsafe { libc::mknod(path.as_ptr(), kind | 0o644, dev) };
        assert_eq!(rc, 0, "mknod {name}");
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

/// `pid` and every process below it.
fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut i = 0;
    while i < all.len() {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", all[i]));
        for task in tasks.into_iter().flatten().flatten() {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            all.extend(
                kids.split_whitespace()
                    .filter_map(|k| k.parse::<u32>().ok()),
            );
        }
        i += 1;
    }
    all
}

/// A process's peak RSS since its exec, in KiB (`VmHWM`).
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs mybuild under a watchdog and returns its output and the largest
/// peak RSS, in MiB, of it and every process below it (the sandbox
/// helpers, the steps). Polled from /proc: a child's rusage would not do,
/// as exec counts the parent's RSS at fork (this test process, grown by
/// the other tests running beside it) into the child's maximum.
fn run_measured(env: &TestEnv, args: &[&str]) -> (Output, u64) {
    let log = |name: &str| std::fs::File::create(env.work.path().join(name)).unwrap();
    let mut child = env
        .cmd()
        .args(args)
        .stdout(log("measured.out"))
        .stderr(log("measured.err"))
        .spawn()
        .expect("run mybuild");
    // A million files take minutes on a busy disk: this only catches hangs.
    let deadline = std::time::Instant::now() + Duration::from_secs(1800);
    let mut peaks: std::collections::HashMap<u32, u64> = Default::default();
    let status = loop {
        for pid in process_tree(child.id()) {
            if let Some(kib) = peak_kib(pid) {
                // A pid may be reused by a later process: keep the larger.
                let seen = peaks.entry(pid).or_default();
                *seen = (*seen).max(kib);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mybuild {args:?} hung (killed after 1800 s)");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |name: &str| std::fs::read(env.work.path().join(name)).unwrap();
    let out = Output {
        status,
        stdout: read("measured.out"),
        stderr: read("measured.err"),
    };
    (out, peaks.values().copied().max().unwrap_or(0) / 1024)
}

/// Writes `entries` through a fast gzip into `path`.
fn write_tar_gz(
    path: &Path,
    entries: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<std::fs::File>>),
) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(gz);
    entries(&mut b);
    b.into_inner().unwrap().finish().unwrap();
}

fn empty_header(kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_mtime(0);
    h
}

/// ADD of a million-entry archive, of a gzip bomb (512 MiB of zeros in
/// half a MiB), and of a PAX header claiming 1 GiB: the builder's memory
/// stays bounded whatever the archive expands to, and the header bomb is
/// refused naming the limit rather than read into memory.
#[test]
fn archive_bombs_keep_memory_bounded() {
    let env = TestEnv::new();
    let ctx = env.context(
        "bombs",
        "FROM busybox\nADD million.tar.gz /m/\nRUN test $(ls /m | wc -l) = 1000 && test $(ls /m/d999 | wc -l) = 1000\n\
         ADD zeros.tar.gz /z/\nRUN test $(wc -c < /z/zeros) = 536870912\n",
        &[],
    );
    // The measurement sees a step's memory: a RUN holding 100 MB shows.
    let hog = env.context(
        "hog",
        "FROM busybox\nRUN x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}\n",
        &[],
    );
    let (out, peak) = run_measured(&env, &["build", hog.to_str().unwrap()]);
    assert_success(&out, "a RUN holding 100 MB");
    assert!(
        peak >= 95,
        "peak RSS {peak} MiB: the measurement missed the step"
    );

    write_tar_gz(&ctx.join("million.tar.gz"), |b| {
        for d in 0..1000 {
            for f in 0..1000 {
                let mut h = empty_header(tar::EntryType::Regular, 0);
                b.append_data(&mut h, format!("d{d}/f{f}"), std::io::empty())
                    .unwrap();
            }
        }
    });
    write_tar_gz(&ctx.join("zeros.tar.gz"), |b| {
        let mut h = empty_header(tar::EntryType::Regular, 512 << 20);
        b.append_data(&mut h, "zeros", std::io::repeat(0).take(512 << 20))
            .unwrap();
    });
    let ctx_s = ctx.to_str().unwrap();
    let (out, peak) = run_measured(&env, &["build", "--progress=plain", "-t", "bombs", ctx_s]);
    assert_success(&out, "build with a million-entry archive and a gzip bomb");

    eprintln!("peak RSS with a million entries and a 512 MiB bomb: {peak} MiB");
    assert!(
        peak < 400,
        "peak RSS {peak} MiB: memory grows with the archive"
    );

    let pax = env.context("pax-bomb", "FROM busybox\nADD pax.tar.gz /p/\n", &[]);
    write_tar_gz(&pax.join("pax.tar.gz"), |b| {
        let mut h = empty_header(tar::EntryType::XHeader, 1 << 30);
        b.append_data(&mut h, "PaxHeaders/x", std::io::repeat(b'1').take(1 << 30))
            .unwrap();
        let mut h = empty_header(tar::EntryType::Regular, 0);
        b.append_data(&mut h, "x", std::io::empty()).unwrap();
    });
    let (out, peak) = run_measured(&env, &["build", "--progress=plain", pax.to_str().unwrap()]);
    let log = stderr(&out);
    assert!(
        !assert_clean_outcome(&out, "PAX bomb"),
        "a 1 GiB PAX header was accepted"
    );
    assert!(
        log.contains("exceed 4 MiB"),
        "the error does not name the limit:\n{log}"
    );
    eprintln!("peak RSS with a 1 GiB PAX header: {peak} MiB");
    assert!(
        peak < 200,
        "peak RSS {peak} MiB: the PAX header was read into memory"
    );
}

/// A tmpfs of a given size, to run out of space on purpose.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn new(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().unwrap();
        let fs = SmallFs { dir };
        fs.mount(&format!("size={size}"), false);
        fs
    }

    fn mount(&self, opts: &str, remount: bool) {
        let opts = if remount {
            format!("remount,{opts}")
        } else {
            opts.to_string()
        };
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(self.dir.path())
            .output()
            .expect("mount(8)");
        assert!(
            out.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Gives the filesystem room again.
    fn grow(&self) {
        self.mount("size=1g", true);
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// A store on `fs` holding busybox; the scratch dir stays on the big disk.
fn small_store(fs: &SmallFs) -> TestEnv {
    let env = TestEnv {
        root: tempfile::tempdir_in(fs.path()).unwrap(),
        work: tempfile::tempdir().unwrap(),
    };
    assert_success(
        &env.mybuild(&["bootstrap-busybox"]),
        "bootstrap on the small disk",
    );
    env
}

fn assert_out_of_space(out: &Output, what: &str) {
    let log = stderr(out);
    assert!(
        !assert_clean_outcome(out, what),
        "{what}: succeeded on a full disk"
    );
    assert!(
        log.contains("No space left on device"),
        "{what}: the error does not say why:\n{log}"
    );
}

/// The disk fills while a layer is written, while a pulled or loaded blob
/// is written, and while an image is exported. Each fails saying so; once
/// there is room again the same commands succeed, and nothing half-written
/// is served: the step runs again rather than hitting the cache, every
/// digest checks out, and a failed export leaves no file behind.
#[test]
fn a_full_disk_fails_cleanly_and_nothing_half_written_is_served() {
    // A 40 MB random layer and its saved archive, made with room to spare.
    let roomy = TestEnv::new();
    let df = "FROM busybox\nRUN head -c 40000000 /dev/urandom > /big\n";
    let ctx = roomy.context("big", df, &[]);
    assert_success(
        &roomy.mybuild(&["build", "-t", "big:1", ctx.to_str().unwrap()]),
        "build big",
    );
    let saved = roomy.work.path().join("big.tar");
    assert_success(
        &roomy.mybuild(&["save", "big:1", "-o", saved.to_str().unwrap()]),
        "save",
    );

    // A RUN that fills the disk fails; with room again it runs again.
    let small = SmallFs::new("64m");
    let env = small_store(&small);
    let over = env.context(
        "over",
        "FROM busybox\nRUN head -c 80000000 /dev/urandom > /big\n",
        &[],
    );
    let out = run_guarded(&env, &["build", "--progress=plain", over.to_str().unwrap()]);
    // (busybox's head reports ENOSPC as "I/O error", so only failing is checked)
    assert!(
        !assert_clean_outcome(&out, "RUN"),
        "RUN filled the disk and succeeded"
    );
    small.grow();
    let (out, archive) = env.build(&over, &[]);
    assert_success(&out, "the same build with room again");
    let cached = crate::util::cached_steps(&stderr(&out));
    assert!(
        !cached.iter().any(|s| s.contains("RUN")),
        "a failed RUN was served from the cache"
    );
    assert_eq!(
        read_oci_archive(&archive).file("big").map(|b| b.len()),
        Some(80_000_000)
    );

    // Layer write: the RUN's 40 MB fits in 64 MiB, its exported layer does not.
    let small = SmallFs::new("64m");
    let env = small_store(&small);
    let (out, _) = env.build(&ctx, &[]);
    assert_out_of_space(&out, "layer write");
    small.grow();
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "the same export with room again");
    let image = read_oci_archive(&archive);
    assert_eq!(image.file("big").map(|b| b.len()), Some(40_000_000));

    // Blob write: loading the saved image into a fresh small store.
    let small = SmallFs::new("48m");
    let env = TestEnv {
        root: tempfile::tempdir_in(small.path()).unwrap(),
        work: tempfile::tempdir().unwrap(),
    };
    let out = run_guarded(&env, &["load", "-i", saved.to_str().unwrap()]);
    assert_out_of_space(&out, "blob write");
    let listed = env.mybuild(&["images"]);
    assert!(
        !crate::util::stdout(&listed).contains("big"),
        "a half-loaded image was tagged"
    );
    small.grow();
    assert_success(
        &run_guarded(&env, &["load", "-i", saved.to_str().unwrap()]),
        "load with room again",
    );
    let on = env.context("on-big", "FROM big:1\nRUN wc -c < /big > /n\n", &[]);
    let (out, archive) = env.build(&on, &[]);
    assert_success(&out, "build FROM the loaded image");
    assert_eq!(
        read_oci_archive(&archive).file("n"),
        Some(b"40000000\n".to_vec())
    );

    // Export: the destination's filesystem is too small for the archive.
    let tiny = SmallFs::new("8m");
    let dest_file = tiny.path().join("out.tar");
    let ctx_s = ctx.to_str().unwrap();
    for kind in ["oci", "docker"] {
        let dest = format!("type={kind},dest={}", dest_file.display());
        let out = run_guarded(
            &roomy,
            &["build", "--progress=plain", "--output", &dest, ctx_s],
        );
        assert_out_of_space(&out, &format!("{kind} export"));
        let left: Vec<_> = std::fs::read_dir(tiny.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{kind} export left {left:?} behind");
    }
}
