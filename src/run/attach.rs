//! Running an attached command off the async runtime while mybuild
//! forwards the signals it gets (INT, TERM, HUP, QUIT, USR1, USR2) to it,
//! and, for a pty, relays the terminal.

use super::tty;
use anyhow::Context as _;
use mybuild_solver::sandbox::{
    Attach, Console, HelperRequest, KillSwitch, Sandbox, SandboxError, Task,
};
use std::os::fd::{AsFd, OwnedFd};
use tokio::signal::unix::{signal, SignalKind};

const FORWARDED: [libc::c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Runs `req` (an `Exec` task with an attached console) to its end.
/// `stdin`: a pty relays mybuild's stdin to the command.
pub async fn run_attached(
    sandbox: Sandbox,
    req: HelperRequest,
    stdin: bool,
    switch: KillSwitch,
) -> anyhow::Result<Result<(), SandboxError>> {
    let console = match &req.task {
        Task::Exec(x) => x.console,
        Task::File(_) => Console::Pipes,
    };
    let (attach, socket) = attachment(console)?;
    let forwarders = forward_signals(&switch)?;
    let sw = switch.clone();
    let mut job = tokio::task::spawn_blocking(move || sandbox.run_attached(&req, attach, &sw));
    let relay = match socket {
        Some(socket) => tty::Relay::start(socket, stdin).await?,
        None => None,
    };
    let result = (&mut job).await.context("the container's thread panicked");
    if let Some(relay) = relay {
        relay.finish().await;
    }
    for f in forwarders {
        f.abort();
    }
    result
}

/// The helper's stdio and fd 4, and our end of the console socket for a pty.
fn attachment(console: Console) -> anyhow::Result<(Attach, Option<OwnedFd>)> {
    let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned();
    let stdout = dup(std::io::stdout().as_fd()).context("duplicating stdout")?;
    let stderr = dup(std::io::stderr().as_fd()).context("duplicating stderr")?;
    let (fd4, ours) = match console {
        Console::Tty => {
            use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
            let (ours, theirs) = socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .context("creating the console socket")?;
            (Some(theirs), Some(ours))
        }
        Console::Attached { stdin: true } => {
            let stdin = dup(std::io::stdin().as_fd()).context("duplicating stdin")?;
            (Some(stdin), None)
        }
        _ => (None, None),
    };
    Ok((
        Attach {
            fd4,
            stdout,
            stderr,
        },
        ours,
    ))
}

/// One task per signal, each passing it to the helper, which passes it on.
fn forward_signals(switch: &KillSwitch) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for sig in FORWARDED {
        let mut stream =
            signal(SignalKind::from_raw(sig)).with_context(|| format!("handling signal {sig}"))?;
        let switch = switch.clone();
        tasks.push(tokio::spawn(async move {
            while stream.recv().await.is_some() {
                switch.signal(sig);
            }
        }));
    }
    Ok(tasks)
}
