//! The zygote: one per sandbox serves every step, concurrent ones too, and
//! a sandbox whose zygote died goes on by exec-ing helpers.

use crate::fixture::{exec, sandbox, Fixture};
use mybuild_solver::sandbox::{HelperRequest, OutputStream, Sandbox, SandboxError, Task};

/// Runs `sh -c script` on the base layer in `sb`; returns stdout.
fn run_in(sb: &Sandbox, fx: &Fixture, script: &str) -> Result<String, SandboxError> {
    run_req(
        sb,
        &fx.request(&["base"], Task::Exec(exec(&["sh", "-c", script]))),
    )
}

fn run_req(sb: &Sandbox, req: &HelperRequest) -> Result<String, SandboxError> {
    let mut out = Vec::new();
    sb.run(req, &mut |stream, data| {
        if let OutputStream::Stdout = stream {
            out.extend_from_slice(data)
        }
    })?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

pub fn one_zygote_serves_many_steps() {
    let fx = Fixture::new();
    let sb = sandbox();
    assert_eq!(sb.zygote_pid(), None, "started before the first step");
    assert_eq!(run_in(&sb, &fx, "echo one").unwrap(), "one\n");
    let zygote = sb.zygote_pid().expect("the first step started the zygote");
    std::thread::scope(|s| {
        let steps: Vec<_> = (0..3)
            .map(|i| {
                let script = format!("sleep 0.2; echo {i}; exit {i}");
                let req = fx.request(&["base"], Task::Exec(exec(&["sh", "-c", &script])));
                let sb = &sb;
                s.spawn(move || run_req(sb, &req))
            })
            .collect();
        for (i, step) in steps.into_iter().enumerate() {
            match (i, step.join().unwrap()) {
                (0, Ok(out)) => assert_eq!(out, "0\n"),
                (_, Err(SandboxError::Exited { code })) => assert_eq!(code, i as i32),
                (_, other) => panic!("step {i}: {other:?}"),
            }
        }
    });
    assert_eq!(sb.zygote_pid(), Some(zygote), "a second zygote started");
}

pub fn a_dead_zygote_falls_back_to_exec() {
    let fx = Fixture::new();
    let sb = sandbox();
    assert_eq!(run_in(&sb, &fx, "echo before").unwrap(), "before\n");
    let zygote = sb.zygote_pid().expect("zygote running") as libc::pid_t;
    // SAFETY: plain syscall on the sandbox's own (unreaped) child.
    assert_eq!(unsafe { libc::kill(zygote, libc::SIGKILL) }, 0);
    assert_eq!(run_in(&sb, &fx, "echo after").unwrap(), "after\n");
    assert_eq!(sb.zygote_pid(), None, "still relying on a dead zygote");
    assert_eq!(run_in(&sb, &fx, "echo again").unwrap(), "again\n");
}
