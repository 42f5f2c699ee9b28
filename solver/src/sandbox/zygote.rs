//! The zygote: one single-threaded process per [`super::Sandbox`] that
//! forks a helper for each step, so mybuild does not fork and exec its own
//! large binary every time (exec, dynamic linking and Rust's start-up were
//! about 1.2 ms of a 7 ms RUN step; see README, "Where a `steps` RUN's
//! time goes").
//!
//! mybuild sends one message a step on the control socket (fd 3 of
//! `mybuild __sandbox-zygote`) with five descriptors: the helper's stdin
//! (the request), stdout, stderr, status pipe, and a reply socket. The
//! zygote forks; the child sets those up as fds 0 to 3 and becomes exactly
//! what `mybuild __sandbox` would be (its parent, whose death kills it, is
//! the zygote). On the reply socket the zygote sends the child's pid with a
//! pidfd (signals through it can never reach a reused pid), and its wait
//! status when it exits. EOF on the control socket (mybuild exited, or
//! dropped the sandbox) ends the zygote, and with it any helper left.

use super::fdpass;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::unistd::{fork, ForkResult, Pid};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

/// `main` dispatches this first argument to [`zygote_main`].
pub const ZYGOTE_ARG: &str = "__sandbox-zygote";
const CONTROL_FD: RawFd = 3;
/// Descriptors in a request: stdin, stdout, stderr, status, reply.
const REQUEST_FDS: usize = 5;

/// A helper the zygote is running for mybuild.
struct Live {
    pid: Pid,
    pidfd: OwnedFd,
    reply: OwnedFd,
}

/// Entry point of `mybuild __sandbox-zygote`; `main` must call it before
/// any thread or async runtime exists (it forks).
pub fn zygote_main() -> ! {
    // SAFETY: fd 3 is the control socket Zygote::start passed; nothing
    // else in this fresh process owns it.
    let control = unsafe { OwnedFd::from_raw_fd(CONTROL_FD) };
    let _ = nix::fcntl::fcntl(
        control.as_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    let me = nix::unistd::getpid();
    let mut live: Vec<Live> = Vec::new();
    loop {
        let (control_ready, exited) = wait_for_events(&control, &live);
        for i in exited.into_iter().rev() {
            reap(live.swap_remove(i));
        }
        if control_ready {
            let mut buf = [0u8; 8];
            match fdpass::recv(control.as_fd(), &mut buf) {
                Ok((0, _)) | Err(_) => std::process::exit(0),
                Ok((_, fds)) => live.extend(fork_helper(me, fds)),
            }
        }
    }
}

/// Blocks until the control socket or a helper's pidfd is ready; returns
/// whether the control socket is, and the indexes of exited helpers.
fn wait_for_events(control: &OwnedFd, live: &[Live]) -> (bool, Vec<usize>) {
    loop {
        let mut fds: Vec<PollFd> = std::iter::once(control.as_fd())
            .chain(live.iter().map(|l| l.pidfd.as_fd()))
            .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => std::process::exit(1),
            Ok(_) => {}
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let exited = (1..fds.len()).filter(|i| ready(&fds[*i])).map(|i| i - 1);
        return (ready(&fds[0]), exited.collect());
    }
}

/// Reports an exited helper's wait status on its reply socket.
fn reap(helper: Live) {
    let mut status = 0;
    // SAFETY: plain syscall on our own exited child.
    let r = unsafe { libc::waitpid(helper.pid.as_raw(), &mut status, libc::WNOHANG) };
    if r == helper.pid.as_raw() {
        let _ = fdpass::send(helper.reply.as_fd(), &status.to_le_bytes(), &[]);
    }
    // A failed wait sends nothing: mybuild sees EOF and says the helper died.
    drop(helper.pidfd);
}

/// Forks a helper for one request; `None` (after telling mybuild, by
/// closing the reply socket unanswered) when the request or the fork fails.
fn fork_helper(zygote: Pid, fds: Vec<OwnedFd>) -> Option<Live> {
    let Ok::<[OwnedFd; REQUEST_FDS], _>([stdin, stdout, stderr, status, reply]) = fds.try_into()
    else {
        return None;
    };
    // SAFETY: this process is single-threaded (it never starts threads).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => become_helper(zygote, [stdin, stdout, stderr, status]),
        Ok(ForkResult::Parent { child }) => {
            let pidfd = pidfd_open(child)?;
            let pid = child.as_raw().to_le_bytes();
            fdpass::send(reply.as_fd(), &pid, &[pidfd.as_raw_fd()]).ok()?;
            Some(Live {
                pid: child,
                pidfd,
                reply,
            })
        }
        Err(_) => None,
    }
}

/// In the forked child: the step's descriptors become fds 0 to 3, every
/// other descriptor of the zygote is closed, then the helper runs.
fn become_helper(zygote: Pid, fds: [OwnedFd; 4]) -> ! {
    for (target, fd) in fds.into_iter().enumerate() {
        let raw = fd.into_raw_fd();
        // SAFETY: plain syscalls on descriptors this process owns; `raw`
        // is 4 or more (0 to 3 were taken when it arrived), so no dup2
        // here clobbers a later source.
        if raw != target as RawFd && unsafe { libc::dup2(raw, target as RawFd) } < 0 {
            std::process::exit(4);
        }
    }
    // SAFETY: closes only descriptors above the four just set up; nothing
    // in this process refers to them again (the zygote's state is dead
    // code in this child).
    unsafe { libc::syscall(libc::SYS_close_range, 4u32, u32::MAX, 0u32) };
    super::helper::helper_body(Some(zygote.as_raw()))
}

fn pidfd_open(pid: Pid) -> Option<OwnedFd> {
    // SAFETY: plain syscall; the child is ours and unreaped.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0u32) };
    let fd = RawFd::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just returned this new descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        fd.as_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .ok()?;
    Some(fd)
}

/// mybuild's handle on its zygote.
#[derive(Debug)]
pub(super) struct Zygote {
    control: Option<OwnedFd>,
    process: Child,
}

/// A helper the zygote forked: its pid, a pidfd to signal it by, and the
/// socket its wait status arrives on.
pub(super) struct Forked {
    pub(super) pid: u32,
    pub(super) pidfd: OwnedFd,
    reply: OwnedFd,
}

impl Zygote {
    /// Starts `exe __sandbox-zygote` with the control socket on fd 3.
    pub(super) fn start(exe: &Path) -> std::io::Result<Zygote> {
        let (ours, theirs) = seqpacket_pair()?;
        let raw = theirs.as_raw_fd();
        let mut cmd = Command::new(exe);
        cmd.arg(ZYGOTE_ARG)
            .env_clear()
            .stdin(Stdio::null())
            // Nothing the user waits on (a terminal, a CI log pipe) stays
            // open in it; its helpers get pipes of their own.
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let r = if raw == CONTROL_FD {
                    libc::fcntl(CONTROL_FD, libc::F_SETFD, 0)
                } else {
                    libc::dup2(raw, CONTROL_FD)
                };
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let process = cmd.spawn()?;
        Ok(Zygote {
            control: Some(ours),
            process,
        })
    }

    pub(super) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Has the zygote fork a helper with `stdio` (stdin, stdout, stderr,
    /// status) as its fds 0 to 3.
    pub(super) fn fork(&self, stdio: [RawFd; 4]) -> std::io::Result<Forked> {
        let control = self.control.as_ref().expect("open until drop");
        let (reply, theirs) = seqpacket_pair()?;
        let [a, b, c, d] = stdio;
        fdpass::send(control.as_fd(), b"run", &[a, b, c, d, theirs.as_raw_fd()])?;
        drop(theirs);
        let mut buf = [0u8; 8];
        let (n, mut fds) = fdpass::recv(reply.as_fd(), &mut buf)?;
        match (n, fds.pop()) {
            (4, Some(pidfd)) => Ok(Forked {
                pid: u32::from_le_bytes(buf[..4].try_into().expect("four bytes")),
                pidfd,
                reply,
            }),
            _ => Err(std::io::Error::other(
                "the sandbox zygote could not fork a helper",
            )),
        }
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        // EOF on its control socket ends the zygote; reap it.
        drop(self.control.take());
        let _ = self.process.wait();
    }
}

impl Forked {
    /// Waits for the helper's exit; `None` when the zygote could not tell
    /// (it died, or its wait failed).
    pub(super) fn wait(self) -> Option<ExitStatus> {
        let mut buf = [0u8; 8];
        match fdpass::recv(self.reply.as_fd(), &mut buf) {
            Ok((4, _)) => Some(ExitStatus::from_raw(i32::from_le_bytes(
                buf[..4].try_into().expect("four bytes"),
            ))),
            _ => None,
        }
    }
}

fn seqpacket_pair() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}
