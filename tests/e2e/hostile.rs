//! What a RUN step must not reach on the host (issue 13), each checked with
//! a sentinel outside the rootfs that has to stay untouched.

use crate::util::loopdev::Loop;
use crate::util::{assert_success, read_oci_archive, stderr, TestEnv};
use std::process::Command;

/// Issue 13 item 1: with CAP_MKNOD and no device policy, a RUN step read
/// and wrote a host loop device's backing file through `mknod`, and wrote
/// to the kernel log through /dev/kmsg (1:11). mknod itself must still
/// succeed, as under Docker; only opening such a node must fail, wherever
/// it is: made by the step, shipped in an earlier layer, or in a cache
/// mount. The default devices keep working.
#[test]
fn device_nodes_other_than_the_defaults_cannot_be_opened() {
    let lo = Loop::new();
    let before = lo.content();
    let (major, minor) = lo.numbers();
    let env = TestEnv::new();
    let marker = std::process::id();
    let attack = format!(
        "head -c 17 /tmp/lp > /tmp/read 2>/dev/null; \
                  printf PWNED | dd of=/tmp/lp bs=1 seek=100 conv=notrunc 2>/dev/null; \
                  echo mybuild-kmsg-probe-$((6*7))-{marker} > /tmp/kmsg"
    );
    let df = format!(
        "FROM busybox AS made\n\
         RUN mknod /tmp/lp b {major} {minor} && mknod /tmp/kmsg c 1 11 && echo mknod-ok > /mknod; \
             {attack}; true\n\
         FROM made\n\
         RUN {attack}; true\n\
         RUN --mount=type=cache,target=/c mknod /c/lp b {major} {minor}; \
             head -c 17 /c/lp > /tmp/cache-read 2>/dev/null; true\n\
         RUN head -c 4 /dev/urandom | wc -c > /defaults && echo ok > /dev/null \
             && cat /dev/zero | head -c 3 | wc -c >> /defaults\n"
    );
    let ctx = env.context("devices", &df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    assert_eq!(
        img.file("mknod").unwrap(),
        b"mknod-ok\n",
        "mknod must succeed"
    );
    for read in ["tmp/read", "tmp/cache-read"] {
        let got = img.file(read).unwrap_or_default();
        assert!(
            !got.windows(8).any(|w| w == b"SENTINEL"),
            "{read}: the host device was read"
        );
    }
    assert_eq!(lo.content(), before, "the host device was written");
    assert_eq!(img.file("defaults").unwrap(), b"4\n3\n");
    let dmesg = Command::new("dmesg").output().expect("dmesg");
    let log = String::from_utf8_lossy(&dmesg.stdout);
    assert!(dmesg.status.success(), "dmesg: {}", stderr(&dmesg));
    assert!(
        !log.contains(&format!("mybuild-kmsg-probe-42-{marker}")),
        "the step wrote to the host's kernel log"
    );
}

/// A registry on loopback that accepts connections and then goes quiet:
/// with `headers` false it never answers; with true it sends the headers
/// of a manifest and a few bytes of its body, then nothing.
fn stalling_registry(headers: bool) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            if headers {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: \
                    application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000\r\n\r\n{\"sche";
                let _ = conn.write_all(head.as_bytes());
            }
            held.push(conn);
        }
    });
    addr
}

/// Issue 13 item 4: a registry that stops sending held the build for the
/// server's own timeout, or for ever; a slow blob ended in "error decoding
/// response body". Now an idle limit ends each try, the retries stay, and
/// the error names the URL and what stalled.
#[test]
fn a_registry_that_stalls_fails_the_build_with_a_clear_error() {
    let env = TestEnv::empty();
    for headers in [false, true] {
        let addr = stalling_registry(headers);
        let ctx = env.context("stall", &format!("FROM {addr}/app:1\n"), &[]);
        let child = env
            .cmd()
            .env("MYBUILD_REGISTRY_TIMEOUT", "1")
            .args(["build", "--progress=plain", ctx.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Four tries of one idle second each, plus the backoff between them,
        // end well within this watchdog; a build without limits never does.
        let out = crate::util::wait_or_kill(child, std::time::Duration::from_secs(90))
            .unwrap_or_else(|| panic!("the build hung on a stalled registry (headers: {headers})"));
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains(&format!("{addr}/v2/app/manifests/1")), "{err}");
        assert!(err.contains("stalled"), "{err}");
    }
}

/// Issue 13 item 2: RUN had no seccomp filter, and `unshare -r -m` gave a
/// step a user namespace with every capability, where mounting a tmpfs
/// worked. Docker's default profile refuses both; ordinary work goes on.
#[test]
fn run_steps_are_under_dockers_default_seccomp_profile() {
    let env = TestEnv::new();
    let df = "FROM busybox\n\
              RUN grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status > /status; \
                  unshare -r -m sh -c 'mount -t tmpfs none /mnt && echo mounted' > /userns 2>&1; \
                  mount -t tmpfs none /mnt > /mount 2>&1; \
                  echo done > /done\n\
              RUN (sleep 0.1 &) && wait && echo forked > /forked\n";
    let ctx = env.context("seccomp", df, &[]);
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    let status = String::from_utf8(img.file("status").unwrap()).unwrap();
    assert!(status.contains("Seccomp:\t2"), "no filter: {status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let userns = String::from_utf8(img.file("userns").unwrap()).unwrap();
    assert!(
        !userns.contains("mounted"),
        "unshare -r -m mounted: {userns}"
    );
    assert!(userns.contains("not permitted"), "{userns}");
    let mount = String::from_utf8(img.file("mount").unwrap()).unwrap();
    assert!(!mount.is_empty(), "mount gave no error");
    assert_eq!(img.file("done").unwrap(), b"done\n");
    assert_eq!(img.file("forked").unwrap(), b"forked\n");
}

/// Issue 13 item 6: an invalid UTF-8 Dockerfile was refused without a
/// line, and a 10 MB line was echoed about four times (40 MB of output).
#[test]
fn bad_dockerfile_bytes_are_located_and_long_lines_are_not_echoed() {
    let env = TestEnv::new();
    let ctx = env.context("utf8", "", &[]);
    std::fs::write(ctx.join("Dockerfile"), b"FROM busybox\nRUN echo h\xffi\n").unwrap();
    let (out, _) = env.build(&ctx, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("Dockerfile:2:11"), "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");

    for line in [
        format!("XYZ {}", "a".repeat(10_000_000)),
        format!("RUN echo ${{{}", "a".repeat(10_000_000)),
    ] {
        let ctx = env.context("long", &format!("FROM busybox\n{line}\n"), &[]);
        let (out, _) = env.build(&ctx, &[]);
        assert!(!out.status.success());
        let all = out.stdout.len() + out.stderr.len();
        assert!(all < 64 * 1024, "{all} bytes of output for one bad line");
        assert!(
            stderr(&out).contains("Dockerfile:2"),
            "{}",
            &stderr(&out)[..2000]
        );
    }
}

/// The steps' cgroups that still exist under the default parent, for this
/// store's builds (named `step-<mybuild pid>-<n>`).
fn step_cgroups() -> Vec<String> {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let parents: &[&str] = if v2 {
        &["/sys/fs/cgroup/mybuild"]
    } else {
        &[
            "/sys/fs/cgroup/memory/mybuild",
            "/sys/fs/cgroup/pids/mybuild",
        ]
    };
    parents
        .iter()
        .filter_map(|p| std::fs::read_dir(p).ok())
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("step-"))
        .collect()
}

/// Runs `mybuild ARGS` and returns its output and its pid.
fn run_with_pid(env: &TestEnv, args: &[&str]) -> (std::process::Output, u32) {
    let child = env
        .cmd()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

/// Every step runs in a cgroup of its own under the default limits too,
/// the command included: on v1 the sandbox helper moves itself in before
/// it starts anything (`SelfJoin`), on v2 mybuild moves it.
#[test]
fn every_step_runs_in_its_own_cgroup() {
    let env = TestEnv::new();
    let ctx = env.context(
        "cg",
        "FROM busybox\nRUN cat /proc/self/cgroup > /one\nRUN cat /proc/self/cgroup > /two\n",
        &[],
    );
    let (out, archive) = env.build(&ctx, &[]);
    assert_success(&out, "build");
    let img = read_oci_archive(&archive);
    let step_of = |file: &str| {
        let text = String::from_utf8(img.file(file).unwrap()).unwrap();
        let line = text
            .lines()
            .find(|l| l.contains("pids") || l.starts_with("0::"))
            .map(str::to_string);
        line.filter(|l| l.contains("/mybuild/step-"))
            .unwrap_or_else(|| panic!("{file}: not in a step cgroup:\n{text}"))
    };
    assert_ne!(step_of("one"), step_of("two"), "one cgroup per step");
}

/// Issue 13 item 3: RUN had no memory or pids limit, so a runaway
/// allocation or a fork bomb took the machine down with the build. A step
/// that hits a limit fails with a message that says so, mybuild itself
/// survives, and no cgroup (or process) is left behind.
#[test]
fn memory_and_pids_limits_stop_a_step_and_say_so() {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    eprintln!("cgroup {} on this machine", if v2 { "v2" } else { "v1" });
    let env = TestEnv::new();
    let hog = env.context(
        "hog",
        "FROM busybox\nRUN x=$(head -c 300m /dev/zero | tr '\\0' a); echo ${#x}\n",
        &[],
    );
    let args = ["build", "--memory", "64m", "--memory-swap", "64m"];
    let (out, pid) = run_with_pid(&env, &[&args[..], &[hog.to_str().unwrap()]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("killed: out of memory, limit 64MiB"), "{err}");
    let left: Vec<String> = step_cgroups()
        .into_iter()
        .filter(|n| n.starts_with(&format!("step-{pid}-")))
        .collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");

    let m = 700_000 + std::process::id();
    let bomb = env.context(
        "bomb",
        &format!("FROM busybox\nRUN for i in $(seq 100); do sleep {m} & done; wait\n"),
        &[],
    );
    let (out, pid) = run_with_pid(
        &env,
        &["build", "--pids-limit", "20", bomb.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("limit of 20 processes"),
        "{}",
        stderr(&out)
    );
    let sleepers = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| c == format!("sleep\0{m}\0").as_bytes())
        .count();
    assert_eq!(sleepers, 0, "the step's processes were not all reaped");
    let left: Vec<String> = step_cgroups()
        .into_iter()
        .filter(|n| n.starts_with(&format!("step-{pid}-")))
        .collect();
    assert!(left.is_empty(), "cgroups left behind: {left:?}");
}
