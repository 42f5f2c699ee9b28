//! Killing a running step from outside its blocking thread.
//!
//! A step runs on a `spawn_blocking` thread that a dropped future cannot
//! stop. The [`KillSwitch`] lets the async side SIGKILL the helper instead:
//! its children die by their parent-death signal, PID 1 of the step's PID
//! namespace takes every other process with it, the pipes reach EOF and the
//! thread returns at once.

use std::sync::{Arc, Mutex};

/// How to reach a running helper.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// Our own unreaped child, so its pid cannot be reused yet.
    Pid(libc::pid_t),
    /// A pidfd (of a helper the zygote forked): names that one process,
    /// reaped or not.
    PidFd(std::os::fd::RawFd),
}

impl Target {
    pub(crate) fn send(self, signal: libc::c_int) {
        match self {
            // SAFETY: plain syscall; the pid is our unreaped child.
            Target::Pid(pid) => unsafe {
                libc::kill(pid, signal);
            },
            // SAFETY: plain syscall on a pidfd the armed step keeps open.
            Target::PidFd(fd) => unsafe {
                libc::syscall(libc::SYS_pidfd_send_signal, fd, signal, 0usize, 0u32);
            },
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// The helper while it runs (and, for a pid, is not yet reaped).
    target: Option<Target>,
    killed: bool,
    /// Signals sent before the helper started, delivered when it does.
    pending: Vec<libc::c_int>,
}

/// Shared between the thread running a step and whoever may cancel it.
#[derive(Debug, Clone, Default)]
pub struct KillSwitch(Arc<Mutex<State>>);

/// Disarms the switch when the step is over.
pub(crate) struct Armed<'a>(&'a KillSwitch);

impl KillSwitch {
    /// Kills the step now if it runs, or as soon as it starts.
    pub fn kill(&self) {
        let mut st = self.0.lock().expect("kill switch poisoned");
        st.killed = true;
        if let Some(target) = st.target {
            target.send(libc::SIGKILL);
        }
    }

    /// Sends `signal` to the helper while it runs (or once it starts); an
    /// attached command's helper passes it on to the command.
    pub fn signal(&self, signal: i32) {
        let mut st = self.0.lock().expect("kill switch poisoned");
        match st.target {
            Some(target) => target.send(signal),
            None => st.pending.push(signal),
        }
    }

    pub fn is_killed(&self) -> bool {
        self.0.lock().expect("kill switch poisoned").killed
    }

    /// Points the switch at a running helper until the guard drops.
    pub(crate) fn arm(&self, target: Target) -> Armed<'_> {
        let mut st = self.0.lock().expect("kill switch poisoned");
        st.target = Some(target);
        if st.killed {
            target.send(libc::SIGKILL);
        }
        // An attached helper starts with these blocked, so they wait for
        // its forwarding handler.
        for signal in std::mem::take(&mut st.pending) {
            target.send(signal);
        }
        Armed(self)
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0 .0.lock().expect("kill switch poisoned").target = None;
    }
}

/// Fires the switch when dropped, unless defused: what a cancelled future
/// leaves behind.
pub struct KillOnDrop(Option<KillSwitch>);

impl KillOnDrop {
    pub fn new(switch: KillSwitch) -> Self {
        KillOnDrop(Some(switch))
    }

    /// The step finished normally: nothing to kill.
    pub fn defuse(mut self) {
        self.0 = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt as _;

    #[test]
    fn a_signal_sent_before_the_start_is_delivered_at_it() {
        let switch = KillSwitch::default();
        switch.signal(libc::SIGTERM);
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("start sleep");
        let armed = switch.arm(Target::Pid(child.id() as libc::pid_t));
        let status = child.wait().expect("wait for sleep");
        drop(armed);
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
