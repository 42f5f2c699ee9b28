//! Cancellation (issue 4): a failing branch or Ctrl-C stops the other
//! branches at once, kills their sandboxes and leaves the store clean.

use crate::util::{assert_success, TestEnv};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Pids whose command line is exactly `args`.
fn processes(args: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = args.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

/// Waits for `child`, failing the test rather than hanging it: the steps
/// here sleep for ten minutes unless they are killed.
fn wait_bounded(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mybuild did not stop: its running steps were not cancelled");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A sleep length no other test (of this process or another) uses.
/// `mybuild build --progress=plain CTX` with its progress on a pipe.
fn spawn_build(env: &TestEnv, ctx: &std::path::Path) -> Child {
    env.cmd()
        .args(["build", "--progress=plain"])
        .arg(ctx)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn marker(test: u32) -> String {
    format!("{}{test}", 600_000 + std::process::id())
}

#[test]
fn a_failing_branch_kills_the_others() {
    let env = TestEnv::new();
    let m = marker(1);
    let df = format!(
        "FROM busybox AS slow\nRUN sleep {m}\n\
         FROM busybox AS bad\nRUN sleep 0.3; exit 7\n\
         FROM busybox\nCOPY --from=slow / /s\nCOPY --from=bad / /b\n"
    );
    let ctx = env.context("fail", &df, &[]);
    let mut child = spawn_build(&env, &ctx);
    let status = wait_bounded(&mut child);
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("exit code: 7"), "{log}");
    assert!(
        processes(&["sleep", &m]).is_empty(),
        "sibling step survived"
    );
    let tmp: Vec<_> = std::fs::read_dir(env.root.path().join("v1/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "work dirs left behind: {tmp:?}");
}

/// Starts a build whose step sleeps, sends `signal` once the step runs,
/// and checks mybuild exits with `code`, killing the step and leaving no
/// work dir behind.
fn signal_stops_the_build(env: &TestEnv, name: &str, test: u32, signal: i32, code: i32) {
    let m = marker(test);
    let df = format!("FROM busybox\nRUN echo go && sleep {m}\n");
    let ctx = env.context(name, &df, &[]);
    let mut child = spawn_build(env, &ctx);
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains(" go") {
        line.clear();
        assert!(err.read_line(&mut line).unwrap() > 0, "build ended early");
    }
    // SAFETY: plain syscall on our child.
    unsafe { libc_kill(child.id() as i32, signal) };
    let status = wait_bounded(&mut child);
    assert_eq!(status.code(), Some(code));
    assert!(
        processes(&["sleep", &m]).is_empty(),
        "step survived signal {signal}"
    );
    let tmp: Vec<_> = std::fs::read_dir(env.root.path().join("v1/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "work dirs left behind: {tmp:?}");
}

#[test]
fn ctrl_c_stops_the_build_and_leaves_a_usable_store() {
    let env = TestEnv::new();
    signal_stops_the_build(&env, "intr", 2, 2, 130);
    let ok = env.context("after", "FROM busybox\nRUN echo fine > /f\n", &[]);
    let (out, _) = env.build(&ok, &[]);
    assert_success(&out, "build after Ctrl-C");
}

/// Issue 13 item 6: SIGTERM (what `timeout`, systemd and CI runners send)
/// left a work dir behind, where Ctrl-C did not.
#[test]
fn sigterm_stops_the_build_and_leaves_no_work_dir() {
    signal_stops_the_build(&TestEnv::new(), "term", 3, 15, 143);
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
