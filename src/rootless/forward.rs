//! The parent outside the namespace: it forwards the signals sent to it
//! (by `kill`, a supervisor, a CI runner) to the child and exits with the
//! child's code. Signals from the terminal (Ctrl-C) already reach the
//! child, which is in the same process group, so those are not sent twice.

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The same signals `mybuild run` forwards to its command.
use mybuild_solver::sandbox::FORWARDED_SIGNALS as FORWARDED;

fn watched() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set.add(Signal::SIGCHLD);
    set
}

/// The signal mask from before the fork. Blocked before forking, so a
/// signal that comes early waits for the parent's loop instead of killing
/// the parent; the child restores the old mask.
pub(super) struct SignalGuard {
    old: SigSet,
}

impl SignalGuard {
    pub(super) fn block() -> Result<SignalGuard, Errno> {
        let mut old = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&watched()), Some(&mut old))?;
        Ok(SignalGuard { old })
    }

    pub(super) fn restore(self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// Waits for `child`, forwarding signals; its exit code, or 128+N when
/// signal N killed it.
pub(super) fn until_exit(child: Pid) -> Result<u8, Errno> {
    let set = watched();
    loop {
        if let Some(code) = exited(child)? {
            return Ok(code);
        }
        // SAFETY: siginfo_t is plain data that sigwaitinfo fills in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a valid signal set and `info` is writable.
        let sig = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
        if sig < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                e => return Err(e),
            }
        }
        // A tty's signals (SI_KERNEL) went to the child's process group too.
        let sent_by_process = info.si_code <= 0;
        if sig != libc::SIGCHLD && sent_by_process {
            if let Ok(signal) = Signal::try_from(sig) {
                let _ = kill(child, signal);
            }
        }
    }
}

fn exited(child: Pid) -> Result<Option<u8>, Errno> {
    match waitpid(child, Some(WaitPidFlag::WNOHANG))? {
        WaitStatus::Exited(_, code) => Ok(Some(code as u8)),
        WaitStatus::Signaled(_, sig, _) => Ok(Some(128u8.saturating_add(sig as u8))),
        _ => Ok(None),
    }
}
