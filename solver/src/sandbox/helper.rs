//! The helper process (`mybuild __sandbox`, or a child the zygote forked):
//! a single-threaded process, so unsharing namespaces and forking are safe here. It guards
//! against an orphaned run, reads the request, joins the step's cgroup
//! (v1; see [`SelfJoin`]), builds the mount namespace
//! with the overlay and hands off to the exec or file path.

use super::cgroup::SelfJoin;
use super::layout::Layout;
use super::status::{self, SetupError, Status, StepExt};
use super::{console, container, filetask, overlay, Envelope, HelperRequest, Task};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use std::io::Read;
use std::path::PathBuf;

/// Entry point of `mybuild __sandbox`; `main` must call it before any
/// thread or async runtime exists.
pub fn helper_main() -> ! {
    let caller = std::env::args().nth(2).and_then(|p| p.parse::<i32>().ok());
    helper_body(caller)
}

/// The helper proper, in a process started by `caller` (mybuild, or the
/// zygote that forked it) with the request on stdin and the status pipe
/// on fd 3.
pub(super) fn helper_body(caller: Option<i32>) -> ! {
    guard_parent(caller);
    if fcntl(status::status_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
        // Not started by Sandbox::run: there is nobody to report to.
        eprintln!("mybuild __sandbox is internal and needs the status pipe on fd 3");
        std::process::exit(2);
    }
    let status = match read_request().and_then(|req| run(&req)) {
        Ok(status) => status,
        Err(e) => e.into_status(),
    };
    status::send(&status);
    std::process::exit(0)
}

/// Dies with the caller: PDEATHSIG, then a check that the caller did not
/// already exit before the signal was armed.
fn guard_parent(expected: Option<i32>) {
    let armed = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_ok();
    let parent = nix::unistd::getppid().as_raw();
    if !armed || expected != Some(parent) {
        std::process::exit(3);
    }
}

fn read_request() -> Result<HelperRequest, SetupError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut bytes)
        .step(|| "read request".into())?;
    // The command must not read the request pipe: give it /dev/null.
    let null = nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(|| "open /dev/null".into())?;
    nix::unistd::dup2_stdin(&null).step(|| "redirect stdin".into())?;
    let envelope: Envelope<SelfJoin, HelperRequest> =
        serde_json::from_slice(&bytes).map_err(|source| SetupError::Request { source })?;
    // Before anything is started, so all of it counts against the limits.
    envelope
        .join
        .join()
        .map_err(|source| SetupError::Cgroup { source })?;
    if let Task::Exec(x) = &envelope.request.task {
        console::take_stdin(x.console)?;
    }
    Ok(envelope.request)
}

fn run(req: &HelperRequest) -> Result<Status, SetupError> {
    let mut flags = CloneFlags::CLONE_NEWNS;
    if let Task::Exec(x) = &req.task {
        flags |= CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWPID;
        if x.network == mybuild_graph::NetworkMode::None {
            flags |= CloneFlags::CLONE_NEWNET;
        }
    }
    unshare(flags).step(|| "unshare namespaces".into())?;
    let none: Option<&str> = None;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)
        .step(|| "make / private".into())?;
    let layout = prepare_layout(req)?;
    match &req.task {
        Task::Exec(x) => container::run(req, &layout, x),
        Task::File(f) => filetask::run(req, &layout, f),
    }
}

fn prepare_layout(req: &HelperRequest) -> Result<Layout, SetupError> {
    let scratch = req.merged.clone();
    mount(
        Some("tmpfs"),
        &scratch,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=1m"),
    )
    .step(|| format!("mount scratch tmpfs on {}", scratch.display()))?;
    let layout = Layout {
        root: scratch.join("root"),
        empty: scratch.join("empty"),
        upper: req.upper.clone(),
        scratch,
    };
    for dir in [&layout.root, &layout.empty] {
        std::fs::create_dir(dir).step(|| format!("create {}", dir.display()))?;
    }
    // Lowers are relative to the snapshot root to keep the option string short.
    std::env::set_current_dir(&req.snapshots_root)
        .step(|| format!("chdir to snapshots root {}", req.snapshots_root.display()))?;
    let empty_lower = [layout.empty.clone()];
    let lowers: &[PathBuf] = if req.lowers.is_empty() {
        &empty_lower
    } else {
        &req.lowers
    };
    let upper = overlay::Upper {
        upper: &req.upper,
        work: &req.work,
    };
    overlay::mount_overlay(lowers, Some(upper), &layout.root, false)?;
    Ok(layout)
}
