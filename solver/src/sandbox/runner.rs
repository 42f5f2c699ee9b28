//! The caller's side: starts the helper process, feeds it the request,
//! streams the command's output and turns the status lines into a result.

use super::cgroup::{Limits, SelfJoin, StepCgroup};
use super::kill::{KillSwitch, Target};
use super::status::{self, Status, STATUS_FD};
use super::zygote::{Forked, Zygote};
use super::{Envelope, HelperRequest, OutputStream, SandboxError};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

/// Starts sandboxed steps in helpers: forked by one zygote per sandbox
/// (started on first use), or, for attached commands and when the zygote
/// cannot run, by re-executing a binary whose `main` dispatches
/// `__sandbox` to [`super::helper_main`].
#[derive(Debug, Clone)]
pub struct Sandbox {
    exe: PathBuf,
    limits: Limits,
    zygote: Arc<Mutex<ZygoteSlot>>,
}

#[derive(Debug, Default)]
enum ZygoteSlot {
    #[default]
    NotStarted,
    Running(Arc<Zygote>),
    /// It could not start or stopped answering: exec a helper per step.
    Failed,
}

/// A running helper, however it was started.
enum Helper {
    Exec(Child),
    Forked(Forked),
}

impl Helper {
    fn id(&self) -> u32 {
        match self {
            Helper::Exec(child) => child.id(),
            Helper::Forked(f) => f.pid,
        }
    }

    fn target(&self) -> Target {
        match self {
            Helper::Exec(child) => Target::Pid(child.id() as libc::pid_t),
            Helper::Forked(f) => Target::PidFd(f.pidfd.as_raw_fd()),
        }
    }

    fn kill(&mut self) {
        self.target().send(libc::SIGKILL);
    }

    fn wait(self) -> std::io::Result<ExitStatus> {
        match self {
            Helper::Exec(mut child) => child.wait(),
            Helper::Forked(f) => f.wait().ok_or_else(|| {
                std::io::Error::other("the sandbox zygote exited before the helper's status")
            }),
        }
    }
}

/// Names each step's cgroup uniquely within this process.
static STEP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The caller's ends of the helper's pipes (no output pipes when attached).
struct Pipes {
    request: OwnedFd,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    status: OwnedFd,
}

/// What an attached command ([`super::Console`] other than `Pipes`) gets
/// instead of output pipes.
#[derive(Debug)]
pub struct Attach {
    /// The command's stdin (`Attached { stdin: true }`) or the console
    /// socket (`Tty`); becomes fd 4 of the helper.
    pub fd4: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

impl Sandbox {
    /// Uses the running binary as the helper, resolved once so a later
    /// upgrade of the file on disk cannot swap helpers mid-build.
    pub fn new() -> Result<Sandbox, SandboxError> {
        let exe = std::fs::read_link("/proc/self/exe")
            .map_err(|source| SandboxError::CurrentExe { source })?;
        Ok(Sandbox {
            exe,
            limits: Limits::default(),
            zygote: Arc::default(),
        })
    }

    /// Sets the resource limits every step runs under.
    pub fn with_limits(mut self, limits: Limits) -> Sandbox {
        self.limits = limits;
        self
    }

    /// Uses `exe` as the helper (tests point this at a built binary).
    pub fn with_exe(exe: PathBuf) -> Sandbox {
        Sandbox {
            exe,
            limits: Limits::default(),
            zygote: Arc::default(),
        }
    }

    /// The step's cgroup, made before its helper starts, and how the
    /// helper joins it itself (v1) before it reads the rest of its
    /// request; `None` for the join means [`Sandbox::enter`] (v2). The
    /// default limits are best-effort (a machine without cgroup
    /// controllers still builds); limits asked for are not.
    fn step_cgroup(&self) -> Result<(Option<StepCgroup>, SelfJoin), SandboxError> {
        let seq = STEP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("step-{}-{seq}", std::process::id());
        let required = self.limits != Limits::default();
        match StepCgroup::create(&self.limits, &name) {
            Ok(cg) => {
                let join = cg.as_ref().and_then(|cg| cg.self_join(required));
                Ok((cg, join.unwrap_or_default()))
            }
            Err(_) if !required => Ok((None, SelfJoin::default())),
            Err(source) => Err(SandboxError::Cgroup { source }),
        }
    }

    /// Moves the helper `pid` into `cgroup` when it does not join itself.
    fn enter(
        &self,
        cgroup: Option<StepCgroup>,
        join: &SelfJoin,
        pid: u32,
    ) -> Result<Option<StepCgroup>, SandboxError> {
        let Some(cg) = cgroup else {
            return Ok(None);
        };
        if !join.is_empty() {
            return Ok(Some(cg));
        }
        match cg.add(pid) {
            Ok(()) => Ok(Some(cg)),
            Err(_) if self.limits == Limits::default() => Ok(None),
            Err(source) => Err(SandboxError::Cgroup { source }),
        }
    }

    /// Runs one step and blocks until it is done (callers use
    /// `spawn_blocking`). Output is streamed to `on_output` as it arrives.
    pub fn run(
        &self,
        req: &HelperRequest,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
    ) -> Result<(), SandboxError> {
        self.run_killable(req, on_output, &KillSwitch::default())
    }

    /// [`Sandbox::run`], with a switch another thread can use to kill the
    /// step's whole process tree (a cancelled build).
    pub fn run_killable(
        &self,
        req: &HelperRequest,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
        kill: &KillSwitch,
    ) -> Result<(), SandboxError> {
        self.run_with(req, None, on_output, kill)
    }

    /// Runs an attached command (`mybuild run`): its stdio is `attach`'s,
    /// and [`KillSwitch::signal`] reaches it through the helper.
    pub fn run_attached(
        &self,
        req: &HelperRequest,
        attach: Attach,
        kill: &KillSwitch,
    ) -> Result<(), SandboxError> {
        self.run_with(req, Some(attach), &mut |_, _| {}, kill)
    }

    fn run_with(
        &self,
        req: &HelperRequest,
        attach: Option<Attach>,
        on_output: &mut dyn FnMut(OutputStream, &[u8]),
        kill: &KillSwitch,
    ) -> Result<(), SandboxError> {
        let (cgroup, join) = self.step_cgroup()?;
        let request = serde_json::to_vec(&Envelope {
            join: &join,
            request: req,
        })
        .map_err(|source| SandboxError::Encode { source })?;
        let (mut child, pipes) = self.spawn(attach)?;
        let _armed = kill.arm(child.target());
        let cgroup = match self.enter(cgroup, &join, child.id()) {
            Ok(cg) => cg,
            Err(e) => {
                child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let Pipes {
            request: request_w,
            stdout,
            stderr,
            status: status_r,
        } = pipes;
        // The helper reads the whole request before anything else, so this
        // cannot deadlock; a helper that died early just yields EPIPE here.
        let _ = std::fs::File::from(request_w).write_all(&request);
        let status_bytes = pump(stdout, stderr, status_r, on_output);
        // Unreaped, the pid cannot be reused yet: disarm before the wait.
        drop(_armed);
        let exit = child.wait().map_err(|source| SandboxError::Io {
            step: "wait for helper",
            source,
        })?;
        let result = self.outcome(&status_bytes?, exit);
        match (&cgroup, result) {
            (Some(cg), Err(e)) => Err(limit_reached(cg, &self.limits).unwrap_or(e)),
            (_, result) => result,
        }
    }

    fn outcome(
        &self,
        status_bytes: &[u8],
        exit: std::process::ExitStatus,
    ) -> Result<(), SandboxError> {
        match status::parse(status_bytes)? {
            Some(Status::Exited { code: 0 }) => Ok(()),
            Some(Status::Exited { code }) => Err(SandboxError::Exited { code }),
            Some(Status::Signaled { signal }) => Err(SandboxError::Signaled { signal }),
            Some(Status::Setup { step, message }) => Err(SandboxError::Setup { step, message }),
            Some(Status::FileOp { message }) => Err(SandboxError::FileOp { message }),
            None => Err(SandboxError::HelperDied {
                exe: self.exe.clone(),
                status: exit,
            }),
        }
    }

    /// The running zygote's pid (tests kill it to prove the fallback).
    #[doc(hidden)]
    pub fn zygote_pid(&self) -> Option<u32> {
        match &*self.zygote.lock().expect("zygote slot poisoned") {
            ZygoteSlot::Running(z) => Some(z.pid()),
            _ => None,
        }
    }

    /// The zygote, started on first use; `None` once it has failed.
    fn zygote(&self) -> Option<Arc<Zygote>> {
        let mut slot = self.zygote.lock().expect("zygote slot poisoned");
        if let ZygoteSlot::NotStarted = *slot {
            *slot = match Zygote::start(&self.exe) {
                Ok(z) => ZygoteSlot::Running(Arc::new(z)),
                Err(_) => ZygoteSlot::Failed,
            };
        }
        match &*slot {
            ZygoteSlot::Running(z) => Some(Arc::clone(z)),
            _ => None,
        }
    }

    fn spawn(&self, attach: Option<Attach>) -> Result<(Helper, Pipes), SandboxError> {
        if attach.is_none() {
            if let Some(zygote) = self.zygote() {
                match self.fork(&zygote) {
                    Ok(forked) => return Ok(forked),
                    // Exec helpers from now on; the step goes on below.
                    Err(_) => {
                        *self.zygote.lock().expect("zygote slot poisoned") = ZygoteSlot::Failed
                    }
                }
            }
        }
        self.exec(attach)
    }

    /// A helper forked by the zygote, with output pipes.
    fn fork(&self, zygote: &Zygote) -> Result<(Helper, Pipes), SandboxError> {
        let (req_r, req_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let stdio = [&req_r, &out_w, &err_w, &status_w].map(|fd| fd.as_raw_fd());
        let forked = zygote.fork(stdio).map_err(|source| SandboxError::Spawn {
            exe: self.exe.clone(),
            source,
        })?;
        // Our copies of the helper's ends close here, so EOF on the read
        // ends means the helper tree is gone.
        drop((req_r, status_w, out_w, err_w));
        let pipes = Pipes {
            request: req_w,
            stdout: Some(out_r),
            stderr: Some(err_r),
            status: status_r,
        };
        Ok((Helper::Forked(forked), pipes))
    }

    /// A helper started by exec-ing `exe __sandbox`.
    fn exec(&self, attach: Option<Attach>) -> Result<(Helper, Pipes), SandboxError> {
        let (req_r, req_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        let status_raw = status_w.as_raw_fd();
        let mut cmd = Command::new(&self.exe);
        cmd.arg("__sandbox")
            .arg(std::process::id().to_string())
            .env_clear()
            .stdin(Stdio::from(req_r));
        let (mut out_r, mut err_r, mut fd4, mut held) = (None, None, None, None);
        match attach {
            None => {
                let (r, w) = pipe()?;
                cmd.stdout(Stdio::from(w));
                out_r = Some(r);
                let (r, w) = pipe()?;
                cmd.stderr(Stdio::from(w));
                err_r = Some(r);
            }
            Some(a) => {
                cmd.stdout(Stdio::from(a.stdout))
                    .stderr(Stdio::from(a.stderr))
                    // A terminal's Ctrl-C reaches the command once, forwarded.
                    .process_group(0);
                // Above 3 and 4, so neither dup2 below clobbers the other.
                fd4 = a.fd4.map(high_fd).transpose()?;
                // The helper holds signals back until it can forward them.
                held = Some(super::console::forwarded_set());
            }
        }
        let fd4_raw = fd4.as_ref().map(|f| f.as_raw_fd());

        // SAFETY: only async-signal-safe calls (dup2, fcntl, sigprocmask) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let ret = if status_raw == STATUS_FD {
                    libc::fcntl(STATUS_FD, libc::F_SETFD, 0)
                } else {
                    libc::dup2(status_raw, STATUS_FD)
                };
                if ret < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(set) = &held {
                    if libc::sigprocmask(libc::SIG_BLOCK, set.as_ref(), std::ptr::null_mut()) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if let Some(raw) = fd4_raw {
                    if libc::dup2(raw, super::console::ATTACH_FD) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| SandboxError::Spawn {
            exe: self.exe.clone(),
            source,
        })?;
        // Dropping `cmd` and `status_w` closes our copies of the helper's
        // ends, so EOF on the read ends means the helper tree is gone.
        drop(cmd);
        drop(status_w);
        drop(fd4);
        Ok((
            Helper::Exec(child),
            Pipes {
                request: req_w,
                stdout: out_r,
                stderr: err_r,
                status: status_r,
            },
        ))
    }
}

/// Why a failed step failed, when one of its limits is the reason.
fn limit_reached(cg: &StepCgroup, limits: &Limits) -> Option<SandboxError> {
    if let Some(limit) = cg.oom_killed() {
        return Some(SandboxError::OutOfMemory {
            limit: super::cgroup::human(limit),
        });
    }
    cg.hit_pids_limit().then(|| SandboxError::PidsLimit {
        limit: limits.pids.unwrap_or_default(),
    })
}

/// `fd` moved to a number of 10 or more (close-on-exec).
fn high_fd(fd: OwnedFd) -> Result<OwnedFd, SandboxError> {
    let raw = fcntl(fd.as_fd(), FcntlArg::F_DUPFD_CLOEXEC(10)).map_err(io_err("move fd 4"))?;
    // SAFETY: fcntl just returned this new fd, owned by nobody else.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) })
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| SandboxError::Io {
        step: "create pipe",
        source: e.into(),
    })
}

/// Reads stdout, stderr and status until all three reach EOF, forwarding
/// output as it comes; returns the raw status bytes.
fn pump(
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    status: OwnedFd,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<Vec<u8>, SandboxError> {
    let mut files = [
        stdout.map(std::fs::File::from),
        stderr.map(std::fs::File::from),
        Some(std::fs::File::from(status)),
    ];
    for file in files.iter().flatten() {
        // Non-blocking, so a spurious wakeup never parks us in read().
        let flags = fcntl(file.as_fd(), FcntlArg::F_GETFL).map_err(io_err("poll pipes"))?;
        let flags = OFlag::from_bits_retain(flags) | OFlag::O_NONBLOCK;
        fcntl(file.as_fd(), FcntlArg::F_SETFL(flags)).map_err(io_err("poll pipes"))?;
    }
    let mut status_bytes = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while files.iter().any(Option::is_some) {
        let open: Vec<usize> = (0..3).filter(|i| files[*i].is_some()).collect();
        let mut fds: Vec<libc::pollfd> = open
            .iter()
            .map(|i| libc::pollfd {
                fd: files[*i].as_ref().expect("open").as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: `fds` is a valid array of pollfds for the duration of the call.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            let source = std::io::Error::last_os_error();
            if source.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(SandboxError::Io {
                step: "poll helper pipes",
                source,
            });
        }
        let ready = fds.iter().map(|f| f.revents != 0);
        for (slot, _) in open.iter().zip(ready).filter(|(_, r)| *r) {
            let file = files[*slot].as_mut().expect("open");
            match file.read(&mut buf) {
                Ok(0) => files[*slot] = None,
                Ok(n) => match slot {
                    0 => on_output(OutputStream::Stdout, &buf[..n]),
                    1 => on_output(OutputStream::Stderr, &buf[..n]),
                    _ => status_bytes.extend_from_slice(&buf[..n]),
                },
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(source) => {
                    return Err(SandboxError::Io {
                        step: "read helper output",
                        source,
                    })
                }
            }
        }
    }
    Ok(status_bytes)
}

fn io_err(step: &'static str) -> impl Fn(nix::errno::Errno) -> SandboxError {
    move |e| SandboxError::Io {
        step,
        source: e.into(),
    }
}
