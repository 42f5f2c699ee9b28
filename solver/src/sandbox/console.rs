//! An attached command (`mybuild run`, a debug shell) as opposed to a
//! build step: its stdin comes from the caller (fd 4 of the helper), it may
//! get a terminal, and signals sent to the helper reach it.
//!
//! The terminal is a pty of the container's own devpts instance, opened by
//! the PID-1 child after its root is set up (so `tty` names `/dev/pts/0`
//! inside and the host's /dev/pts is never shown); its master goes back to
//! the caller over the console socket (fd 4) as SCM_RIGHTS, as runc does.

use super::status::{SetupError, StepExt};
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The helper's fd for the caller's stdin, or for the console socket.
pub(super) const ATTACH_FD: i32 = 4;

/// How the command talks to the caller.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Console {
    /// A build step: output through pipes, stdin /dev/null.
    #[default]
    Pipes,
    /// The caller's stdout/stderr; its stdin too when `stdin`.
    Attached { stdin: bool },
    /// A new pty whose master is sent over the console socket.
    Tty,
}

/// Signals an attached command gets when the helper gets them (and a
/// rootless build's inner process when the outer one gets them).
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// The command's pid, for the forwarding handler.
static COMMAND: AtomicI32 = AtomicI32::new(0);

/// Blocked from the helper's exec on (see [`super::Sandbox::run_attached`])
/// until [`forward_signals`] unblocks them.
pub(super) fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set
}

/// Helper side, before the fork: holds the forwarded signals back until
/// the handler knows whom to forward them to (the child's exec unblocks).
pub(super) fn hold_signals(console: Console) -> Result<(), SetupError> {
    if console == Console::Pipes {
        return Ok(());
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded_set()), None)
        .step(|| "block signals".into())
}

extern "C" fn forward(sig: libc::c_int) {
    let pid = COMMAND.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe; the pid is our unreaped child.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Helper side, after the fork: forwards signals to `child` from now on.
pub(super) fn forward_signals(console: Console, child: i32) -> Result<(), SetupError> {
    if console == Console::Pipes {
        return Ok(());
    }
    COMMAND.store(child, Ordering::Relaxed);
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(forward),
        nix::sys::signal::SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in FORWARDED {
        // SAFETY: the handler only reads an atomic and calls kill.
        unsafe { nix::sys::signal::sigaction(s, &action) }.step(|| format!("handle {s}"))?;
    }
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&forwarded_set()), None)
        .step(|| "unblock signals".into())
}

/// Helper side, once the request is read: the command's stdin.
pub(super) fn take_stdin(console: Console) -> Result<(), SetupError> {
    // SAFETY: fd 4 is ours when the caller attached one (else EBADF below).
    let attached = unsafe { BorrowedFd::borrow_raw(ATTACH_FD) };
    match console {
        Console::Attached { stdin: true } => {
            nix::unistd::dup2_stdin(attached).step(|| "attach stdin".into())?;
            nix::unistd::close(ATTACH_FD).step(|| "close attached stdin".into())
        }
        // The socket stays open for the child, which closes it on exec.
        Console::Tty => nix::fcntl::fcntl(
            attached,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map(drop)
        .step(|| "keep console socket".into()),
        _ => Ok(()),
    }
}

/// Child side, after the root is set up and before the user changes: a
/// session of its own (so a terminal's Ctrl-C reaches it only through the
/// caller) and, for `Tty`, the new pty as its controlling terminal and
/// stdio.
pub(super) fn attach_child(console: Console, uid: u32) -> Result<(), SetupError> {
    if console == Console::Pipes {
        return Ok(());
    }
    nix::unistd::setsid().step(|| "start a session".into())?;
    if console != Console::Tty {
        return Ok(());
    }
    let (master, slave) = open_pty()?;
    // SAFETY: plain ioctl on an open fd; we are a session leader without a terminal.
    let r = unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(r).step(|| "make the pty the controlling terminal".into())?;
    nix::unistd::fchown(&slave, Some(uid.into()), None).step(|| "chown the pty".into())?;
    nix::unistd::dup2_stdin(&slave).step(|| "pty as stdin".into())?;
    nix::unistd::dup2_stdout(&slave).step(|| "pty as stdout".into())?;
    nix::unistd::dup2_stderr(&slave).step(|| "pty as stderr".into())?;
    send_master(&master)
}

fn open_pty() -> Result<(OwnedFd, OwnedFd), SetupError> {
    let flags = OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    let master = nix::fcntl::open("/dev/ptmx", flags, Mode::empty())
        .step(|| "open /dev/ptmx of the container".into())?;
    let mut unlock: libc::c_int = 0;
    let mut number: libc::c_uint = 0;
    // SAFETY: ioctls on the fresh master with pointers to locals.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) };
    nix::errno::Errno::result(r).step(|| "unlock the pty".into())?;
    // SAFETY: as above.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) };
    nix::errno::Errno::result(r).step(|| "number the pty".into())?;
    let path = format!("/dev/pts/{number}");
    let slave =
        nix::fcntl::open(path.as_str(), flags, Mode::empty()).step(|| format!("open {path}"))?;
    Ok((master, slave))
}

fn send_master(master: &OwnedFd) -> Result<(), SetupError> {
    // SAFETY: fd 4 is the console socket the caller passed, open until closed below.
    let sock = unsafe { std::os::fd::BorrowedFd::borrow_raw(ATTACH_FD) };
    super::fdpass::send(sock, b"pty", &[master.as_raw_fd()])
        .step(|| "send the pty to mybuild".into())?;
    nix::unistd::close(ATTACH_FD).step(|| "close console socket".into())
}

/// Caller side: waits for the pty master the child sends (`None` when the
/// command failed before it made one).
pub fn receive_master(socket: &OwnedFd) -> Result<Option<OwnedFd>, std::io::Error> {
    let mut buf = [0u8; 8];
    let (_, fds) = super::fdpass::recv(socket.as_fd(), &mut buf)?;
    Ok(fds.into_iter().next())
}
