//! `mybuild run` end to end (issue 17 item 5): `docker run`'s command
//! line, environment, exit codes, binds, kept containers, signals and an
//! interactive terminal, in the RUN sandbox.

use crate::util::pty::{run_on_pty, Reply};
use crate::util::{assert_success, stderr, stdout, TestEnv};
use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};
use std::time::Duration;

fn run(env: &TestEnv, args: &[&str]) -> Output {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    env.mybuild(&all)
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn the_exit_code_passes_through() {
    let env = TestEnv::new();
    assert_eq!(
        code(&run(&env, &["--rm", "busybox", "sh", "-c", "exit 7"])),
        7
    );
    let missing = run(&env, &["--rm", "busybox", "no-such-command"]);
    assert_eq!(code(&missing), 127, "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(code(&run(&env, &["--rm", "busybox", "/etc"])), 126);
    let no_image = run(&env, &["--rm", "no-such-image", "true"]);
    assert_eq!(code(&no_image), 125, "{}", stderr(&no_image));
}

#[test]
fn env_workdir_and_user_apply() {
    let env = TestEnv::new();
    let script = "echo $A; pwd; id -u; id -g";
    let out = run(
        &env,
        &[
            "--rm",
            "-e",
            "A=b c",
            "-w",
            "/srv/x",
            "-u",
            "1000:1001",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    assert_success(&out, "run");
    assert_eq!(stdout(&out), "b c\n/srv/x\n1000\n1001\n");
}

#[test]
fn cmd_replaces_the_image_cmd_and_entrypoint_stays() {
    let env = TestEnv::new();
    let ctx = env.context(
        "ep",
        "FROM busybox\nENTRYPOINT [\"echo\", \"ep\"]\nCMD [\"default\"]\n",
        &[],
    );
    let built = env.mybuild(&["build", "-q", "-t", "ep", ctx.to_str().unwrap()]);
    assert_success(&built, "build");
    assert_eq!(stdout(&run(&env, &["--rm", "ep"])), "ep default\n");
    assert_eq!(stdout(&run(&env, &["--rm", "ep", "x", "-y"])), "ep x -y\n");
    // --entrypoint drops the image's Cmd too, as docker does.
    assert_eq!(
        stdout(&run(&env, &["--rm", "--entrypoint", "echo", "ep"])),
        "\n"
    );
    let out = run(&env, &["--rm", "--entrypoint", "sh", "ep", "-c", "echo hi"]);
    assert_eq!(stdout(&out), "hi\n");
}

#[test]
fn volumes_bind_read_write_and_read_only() {
    let env = TestEnv::new();
    let host = env.work.path().join("vol");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("in"), "from host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let out = run(
        &env,
        &[
            "--rm",
            "-v",
            &rw,
            "busybox",
            "sh",
            "-c",
            "cat /data/in; echo out > /data/out",
        ],
    );
    assert_success(&out, "rw bind");
    assert_eq!(stdout(&out), "from host\n");
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "out\n");
    let ro = format!("{}:/data:ro", host.display());
    let out = run(
        &env,
        &[
            "--rm",
            "-v",
            &ro,
            "busybox",
            "sh",
            "-c",
            "echo x > /data/no",
        ],
    );
    assert_ne!(code(&out), 0, "a :ro bind was written");
    assert!(!host.join("no").exists());
}

#[test]
fn rm_leaves_nothing_and_a_kept_container_is_listed_and_diffable() {
    let env = TestEnv::new();
    let tmp = env.root.path().join("v1/tmp");
    let out = run(&env, &["--rm", "busybox", "sh", "-c", "echo a > /made"]);
    assert_success(&out, "run --rm");
    assert_eq!(stdout(&env.mybuild(&["ps", "-a", "-q"])), "");
    let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "work dirs left in {}", tmp.display());

    let out = run(
        &env,
        &[
            "--name",
            "kept",
            "busybox",
            "sh",
            "-c",
            "echo a > /made; exit 4",
        ],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let ps = stdout(&env.mybuild(&["ps", "-a"]));
    assert!(ps.contains("Exited (4)") && ps.contains("busybox"), "{ps}");
    let diff = env.mybuild(&["diff", "kept"]);
    assert_success(&diff, "diff");
    assert!(stdout(&diff).contains("A /made"), "{}", stdout(&diff));
    // A kept container's files can be run again (over its image).
    let again = run(&env, &["--rm", "kept", "cat", "/made"]);
    assert_success(&again, "run on a kept container");
    assert_eq!(stdout(&again), "a\n");
    assert_success(&env.mybuild(&["rm", "kept"]), "rm");
    assert_eq!(stdout(&env.mybuild(&["ps", "-a", "-q"])), "");
}

#[test]
fn sigterm_reaches_the_container() {
    let env = TestEnv::new();
    let script = "trap 'echo got; exit 3' TERM; echo ready; while :; do sleep 0.1; done";
    let mut child = env
        .cmd()
        .args(["run", "--rm", "busybox", "sh", "-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mybuild");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got");
    let out = crate::util::wait_or_kill(child, Duration::from_secs(60)).expect("run hung");
    assert_eq!(code(&out), 3, "{}", stderr(&out));
}

#[test]
fn it_gives_the_command_a_terminal_of_the_callers_size() {
    let env = TestEnv::new();
    let mut cmd = env.cmd();
    cmd.args(["run", "--rm", "-it", "busybox", "sh"]);
    let reply = Reply {
        after: "# ",
        input: b"tty; stty size; exit 5\r",
    };
    let (out, status) = run_on_pty(cmd, (101, 33), Some(reply));
    assert_eq!(status.code(), Some(5), "{out}");
    assert!(out.contains("/dev/pts/0\r\n"), "{out}");
    assert!(out.contains("33 101\r\n"), "{out}");
}

#[test]
fn on_error_shell_opens_the_failed_steps_filesystem() {
    let env = TestEnv::new();
    let ctx = env.context(
        "fails",
        "FROM busybox\nENV FOO=bar\nWORKDIR /w\nRUN echo step-file > /marker && exit 9\n",
        &[],
    );
    let mut cmd = env.cmd();
    cmd.args(["build", "--progress=plain", "--on-error=shell"])
        .arg(&ctx);
    let reply = Reply {
        after: "/w # ",
        input: b"cat /marker; echo foo=$FOO; exit\r",
    };
    let (out, status) = run_on_pty(cmd, (100, 30), Some(reply));
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(out.contains("\r\nstep-file\r\n"), "{out}");
    assert!(out.contains("\r\nfoo=bar\r\n"), "{out}");
    assert!(out.contains("exit code: 9"), "{out}");
}

#[test]
fn on_error_shell_without_a_terminal_fails_clearly() {
    let env = TestEnv::new();
    let ctx = env.context("fails", "FROM busybox\nRUN exit 9\n", &[]);
    let out = env
        .cmd()
        .args(["build", "--on-error=shell"])
        .arg(&ctx)
        .stdin(Stdio::null())
        .output()
        .expect("run mybuild");
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("needs a terminal"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_volume_target_through_a_symlink_stays_in_the_rootfs() {
    let env = TestEnv::new();
    let host = env.work.path().join("vol");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("f"), "bound\n").unwrap();
    // An absolute-looking link that would leave the rootfs if followed on
    // the host; the same directory exists on the host and in the image.
    let outside = env.work.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let o = outside.display();
    let dockerfile =
        format!("FROM busybox\nRUN mkdir -p {o} && ln -s ../../../../../../..{o} /esc\n");
    let ctx = env.context("symlink", &dockerfile, &[]);
    assert_success(
        &env.mybuild(&["build", "-q", "-t", "sym", ctx.to_str().unwrap()]),
        "build",
    );
    let bind = format!("{}:/esc/in", host.display());
    let script = format!("cat {o}/in/f");
    let out = run(&env, &["--rm", "-v", &bind, "sym", "sh", "-c", &script]);
    assert_success(&out, "run");
    assert_eq!(stdout(&out), "bound\n");
    assert!(
        !outside.join("in").exists(),
        "the mount point was made on the host"
    );
}

#[test]
fn a_failed_legacy_runs_container_can_be_entered() {
    let env = TestEnv::new();
    let ctx = env.context(
        "legacy-fails",
        "FROM busybox\nRUN echo left > /m && exit 3\n",
        &[],
    );
    let built = env.legacy(&ctx, &[]);
    assert_eq!(code(&built), 3, "{}", stderr(&built));
    let id = stdout(&env.mybuild(&["ps", "-a", "-q"]));
    let id = id
        .lines()
        .next()
        .expect("the failed RUN's container is kept");
    let out = run(&env, &["--rm", id, "cat", "/m"]);
    assert_success(&out, "run on the failed container");
    assert_eq!(stdout(&out), "left\n");
}
