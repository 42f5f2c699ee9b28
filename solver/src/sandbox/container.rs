//! RUN steps: the helper forks the command as PID 1 of the new PID
//! namespace, waits for it, then removes the mount-point stubs it created.
//! The child builds its view of the filesystem, becomes the step's user and
//! execs; its setup errors go straight to the status pipe.

use super::layout::Layout;
use super::rootpath::{open_dir_path, open_in_root};
use super::status::{self, SetupError, Status, StepExt};
use super::stubs::Stubs;
use super::{
    binds, console, etchosts, mounts, privs, prune, rlimits, seccomp, user, ExecTask, HelperRequest,
};
use mybuild_graph::NetworkMode;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::stat::{mkdirat, Mode};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::fchownat;
use nix::unistd::{fork, ForkResult, Pid};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs the command and reports how it ended.
pub(super) fn run(
    req: &HelperRequest,
    layout: &Layout,
    task: &ExecTask,
) -> Result<Status, SetupError> {
    nix::unistd::sethostname(&task.hostname)
        .step(|| format!("set hostname {:?}", task.hostname))?;
    let host_network = task.network == NetworkMode::Host;
    if !host_network {
        loopback_up()?;
    }
    let root = open_dir_path(&layout.root).step(|| format!("open {}", layout.root.display()))?;
    let mut stubs = Stubs::default();
    let result = prepare_and_fork(req, &root, &mut stubs, layout, task);
    // Pruning edits `upper` under the live overlay; nothing reads the
    // overlay afterwards, and unmounting first would cost an RCU grace
    // period (tens of ms) per RUN.
    let cleanup = stubs
        .remove_all(&root)
        .map(|()| prune::prune_copy_ups(&layout.upper, stubs.touched()));
    match (result, cleanup) {
        (Err(e), _) => Err(e),
        (Ok(Status::Exited { code: 0 }), Err(e)) => Err(e),
        (Ok(status), _) => Ok(status),
    }
}

fn prepare_and_fork(
    req: &HelperRequest,
    root: &OwnedFd,
    stubs: &mut Stubs,
    layout: &Layout,
    task: &ExecTask,
) -> Result<Status, SetupError> {
    let host_network = task.network == NetworkMode::Host;
    let hosts = etchosts::write(layout, &task.env_extra.extra_hosts, host_network)?;
    for (path, kind) in mounts::mountpoints(host_network, hosts.is_some()) {
        stubs.ensure(root, path, kind)?;
    }
    let extra = binds::prepare(req, layout, root, stubs, &task.mounts)?;
    let view = mounts::RootView {
        host_network,
        hosts,
        shm_size: task.env_extra.shm_size,
    };
    nix::unistd::chdir(&layout.root).step(|| format!("chdir to {}", layout.root.display()))?;
    // The child watches this pipe: EOF means the helper is already gone.
    let (alive_r, alive_w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).step(|| "create liveness pipe".into())?;
    console::hold_signals(task.console)?;
    // SAFETY: the helper is single-threaded, so the child may do anything.
    match unsafe { fork() }.step(|| "fork".into())? {
        ForkResult::Child => {
            drop(alive_w);
            let err = match child(task, &view, &extra, alive_r) {
                Err(e) => e,
                Ok(never) => match never {},
            };
            status::send(&err.into_status());
            // SAFETY: _exit skips the helper's atexit state, as a forked child must.
            unsafe { libc::_exit(127) }
        }
        ForkResult::Parent { child } => {
            drop(alive_r);
            console::forward_signals(task.console, child.as_raw())?;
            let status = wait(child);
            drop(alive_w);
            status
        }
    }
}

fn wait(child: Pid) -> Result<Status, SetupError> {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return Ok(Status::Exited { code }),
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return Ok(Status::Signaled {
                    signal: signal as i32,
                })
            }
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).step(|| "wait for command".into()),
        }
    }
}

/// PID 1 of the step: returns only on failure.
fn child(
    task: &ExecTask,
    view: &mounts::RootView,
    extra: &[binds::Prepared],
    alive: OwnedFd,
) -> Result<std::convert::Infallible, SetupError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).step(|| "set parent-death signal".into())?;
    if helper_gone(&alive) {
        // SAFETY: nobody is left to report to.
        unsafe { libc::_exit(1) }
    }
    drop(alive);
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .step(|| "unshare mount namespace".into())?;
    mounts::setup_root(view, extra)?;
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    rlimits::apply(&task.env_extra.ulimits)?;
    let id = user::load(&task.user)?;
    console::attach_child(task.console, id.uid)?;
    let env = environment(&task.env, &id.home);
    let cwd = open_cwd(&task.cwd, id.uid, id.gid)?;
    // As runc: the working directory is entered before the user is switched
    // (it may be closed to that user, which Docker allows), and only tried
    // again as the user if root could not (found by tests/differential).
    let entered = nix::unistd::fchdir(&cwd).is_ok();
    privs::drop_to(&id)?;
    if !entered {
        nix::unistd::fchdir(&cwd).step(|| format!("enter working directory {}", task.cwd))?;
    }
    drop(cwd);
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_string();
    let program = privs::find_executable(
        task.args.first().map(String::as_str).unwrap_or(""),
        &path_var,
    )?;
    let filters = seccomp::compile()?;
    exec(&program, &task.args, &env, &filters)
}

fn helper_gone(alive: &OwnedFd) -> bool {
    let mut fds = [libc::pollfd {
        fd: alive.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd; a zero timeout never blocks.
    unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) > 0 }
}

/// The step's environment plus `HOME` (from passwd) and `PATH` when unset.
fn environment(env: &[String], home: &str) -> Vec<String> {
    let mut env = env.to_vec();
    let has = |env: &[String], key: &str| {
        env.iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
    };
    if !has(&env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={home}"));
    }
    env
}

/// Creates the working directory, the new parts owned by the step's user,
/// and opens it. Every prefix is resolved inside the root with magic links
/// refused, so neither `WORKDIR /proc/self/fd/N` nor an image symlink to it
/// can name a directory this process holds open outside the root (runc's
/// CVE-2024-21626), and a symlink in the image can't lead out either.
fn open_cwd(cwd: &str, uid: u32, gid: u32) -> Result<OwnedFd, SetupError> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let root = open_dir_path(std::path::Path::new("/")).step(|| "open / of the step".into())?;
    let confined = |e: Errno| match e {
        Errno::ELOOP | Errno::EXDEV => SetupError::CwdOutsideRoot {
            cwd: cwd.to_string(),
        },
        e => SetupError::Sys {
            step: format!("enter working directory {cwd}"),
            source: e,
        },
    };
    let mut prefix = String::from("/");
    for part in cwd.split('/').filter(|p| !p.is_empty() && *p != ".") {
        let parent = open_in_root(&root, &prefix, flags).map_err(confined)?;
        match mkdirat(&parent, part, Mode::from_bits_truncate(0o755)) {
            Ok(()) => fchownat(
                &parent,
                part,
                Some(uid.into()),
                Some(gid.into()),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .step(|| format!("chown working directory {prefix}{part}"))?,
            Err(Errno::EEXIST) => {}
            Err(e) => return Err(e).step(|| format!("create working directory {prefix}{part}")),
        }
        prefix.push_str(part);
        prefix.push('/');
    }
    open_in_root(&root, cwd, flags).map_err(confined)
}

fn exec(
    program: &str,
    args: &[String],
    env: &[String],
    filters: &seccomp::Filters,
) -> Result<std::convert::Infallible, SetupError> {
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| SetupError::NulInCommand {
            program: program.to_string(),
        })
    };
    let program_c = cstr(program)?;
    let args_c = args
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let env_c = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
    // The Rust runtime ignores SIGPIPE; commands expect the default.
    // SAFETY: resetting a disposition to SIG_DFL has no handler to race with.
    unsafe { nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) }
        .step(|| "reset SIGPIPE".into())?;
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .step(|| "reset signal mask".into())?;
    // Whatever the caller's process leaked without O_CLOEXEC stops here.
    // SAFETY: plain syscall without pointers.
    unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
    // Last: from here on only what Docker's profile allows works.
    filters.apply()?;
    let err = nix::unistd::execve(&program_c, &args_c, &env_c).unwrap_err();
    Err(err).step(|| format!("exec {program}"))
}

/// A new network namespace starts with `lo` down; bring it up so
/// localhost works, as in Docker's `--network none`.
fn loopback_up() -> Result<(), SetupError> {
    let step = || "bring up lo".to_string();
    // SAFETY: socket() and ioctl() on a zeroed ifreq naming "lo".
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        let sock = nix::errno::Errno::result(sock).step(step)?;
        let sock = <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(sock);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let fd = sock.as_raw_fd();
        nix::errno::Errno::result(libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req)).step(step)?;
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        nix::errno::Errno::result(libc::ioctl(fd, libc::SIOCSIFFLAGS, &req)).step(step)?;
    }
    Ok(())
}
