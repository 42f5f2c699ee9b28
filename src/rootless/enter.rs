//! Creating and mapping the user namespace: fork, unshare in the child,
//! `newuidmap`/`newgidmap` from the parent (they are set-uid root and must
//! run in the initial namespace), then the child goes on as uid 0.

use super::error::RootlessError;
use super::forward::{self, SignalGuard};
use super::subid::{self, Range};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, getgid, getuid, pipe2, ForkResult, Gid, Pid, Uid, User};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `main` does next.
pub enum Entered {
    /// Inside (or no namespace needed): run the command.
    Run,
    /// The parent, after the child ended: exit with this code.
    Exit(u8),
}

const SUBUID: &str = "/etc/subuid";
const SUBGID: &str = "/etc/subgid";

/// The ids to map, looked up before forking so a missing range or tool is
/// reported before anything starts.
struct Maps {
    uid: (Uid, Range),
    gid: (Gid, Range),
    newuidmap: PathBuf,
    newgidmap: PathBuf,
}

/// The kernel must mount overlayfs in a user namespace (`userxattr`,
/// Linux 5.11): refused up front rather than at the first RUN.
fn check_kernel() -> Result<(), RootlessError> {
    let path = "/proc/sys/kernel/osrelease";
    let release = std::fs::read_to_string(path).map_err(|source| RootlessError::Read {
        path: path.into(),
        source,
    })?;
    let release = release.trim().to_string();
    match kernel_version(&release) {
        Some(v) if v < (5, 11) => Err(RootlessError::OldKernel { release }),
        _ => Ok(()),
    }
}

/// `(major, minor)` of a release such as `6.1.0-13-amd64`.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn maps() -> Result<Maps, RootlessError> {
    let (uid, gid) = (getuid(), getgid());
    let name = match User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    };
    Ok(Maps {
        uid: (uid, subid::lookup(Path::new(SUBUID), &name, uid.as_raw())?),
        gid: (gid, subid::lookup(Path::new(SUBGID), &name, uid.as_raw())?),
        newuidmap: find_tool("newuidmap")?,
        newgidmap: find_tool("newgidmap")?,
    })
}

fn find_tool(tool: &'static str) -> Result<PathBuf, RootlessError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .ok_or(RootlessError::MissingTool { tool })
}

pub(super) fn enter() -> Result<Entered, RootlessError> {
    check_kernel()?;
    let maps = maps()?;
    let sys = |step| move |source| RootlessError::Sys { step, source };
    // CLOEXEC: newuidmap and the commands mybuild starts get none of them.
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("create pipe"))?;
    let (go_r, go_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("create pipe"))?;
    let guard = SignalGuard::block().map_err(sys("block signals"))?;
    let parent = nix::unistd::getpid();
    // SAFETY: `main` calls this before the runtime or any other thread
    // exists, so the child is a complete copy of a single-threaded process.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Child => {
            drop((ready_r, go_w));
            child(File::from(ready_w), File::from(go_r), parent);
            guard.restore();
            Ok(Entered::Run)
        }
        ForkResult::Parent { child } => {
            drop((ready_w, go_r));
            let code = parent_side(&maps, child, File::from(ready_r), File::from(go_w));
            code.map(Entered::Exit)
        }
    }
}

/// Unshares, reports, waits to be mapped. Any failure ends the child; the
/// parent reports it.
fn child(mut ready: File, mut go: File, parent: Pid) {
    let unshared = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS);
    let errno = unshared.err().map_or(0, |e| e as i32);
    let mut byte = [0u8];
    let mapped = ready.write_all(&errno.to_ne_bytes()).is_ok()
        && go.read_exact(&mut byte).is_ok()
        && byte == [1];
    if errno != 0 || !mapped {
        std::process::exit(1);
    }
    // Unsharing gave new credentials, which cleared any death signal.
    let armed = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_ok();
    if !armed || nix::unistd::getppid() != parent {
        std::process::exit(1);
    }
    // The user's supplementary groups are unmapped here (nobody); drop them.
    let _ = nix::unistd::setgroups(&[]);
    // The host's mount events reach us, ours never reach the host.
    let none = None::<&str>;
    if mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SLAVE, none).is_err() {
        eprintln!("ERROR: rootless: make / a slave mount");
        std::process::exit(1);
    }
}

fn parent_side(
    maps: &Maps,
    child: Pid,
    mut ready: File,
    mut go: File,
) -> Result<u8, RootlessError> {
    let mut errno = [0u8; 4];
    if ready.read_exact(&mut errno).is_err() {
        let _ = waitpid(child, None);
        return Err(RootlessError::Sys {
            step: "wait for the namespace",
            source: Errno::ECHILD,
        });
    }
    let errno = i32::from_ne_bytes(errno);
    if errno != 0 {
        let _ = waitpid(child, None);
        return Err(RootlessError::Unshare {
            source: Errno::from_raw(errno),
        });
    }
    if let Err(e) = write_maps(maps, child) {
        let _ = kill(child, Signal::SIGKILL);
        let _ = waitpid(child, None);
        return Err(e);
    }
    go.write_all(&[1]).map_err(|e| RootlessError::Sys {
        step: "start the namespace",
        source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
    })?;
    drop(go);
    forward::until_exit(child).map_err(|source| RootlessError::Sys {
        step: "wait for the namespace",
        source,
    })
}

fn write_maps(maps: &Maps, child: Pid) -> Result<(), RootlessError> {
    let (uid, uids) = maps.uid;
    let (gid, gids) = maps.gid;
    run_map("newuidmap", &maps.newuidmap, child, uid.as_raw(), uids)?;
    run_map("newgidmap", &maps.newgidmap, child, gid.as_raw(), gids)
}

/// `TOOL PID 0 ID 1 1 START COUNT`: 0 is the user, 1.. the range.
fn run_map(
    tool: &'static str,
    path: &Path,
    pid: Pid,
    id: u32,
    range: Range,
) -> Result<(), RootlessError> {
    let args = [
        pid.to_string(),
        "0".into(),
        id.to_string(),
        "1".into(),
        "1".into(),
        range.start.to_string(),
        range.count.to_string(),
    ];
    let out = Command::new(path)
        .args(&args)
        .output()
        .map_err(|source| RootlessError::Spawn { tool, source })?;
    if out.status.success() {
        return Ok(());
    }
    Err(RootlessError::Map {
        tool,
        args: args.join(" "),
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::kernel_version;

    #[test]
    fn kernel_versions_compare_by_major_then_minor() {
        assert_eq!(kernel_version("6.1.0-13-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("5.10.0"), Some((5, 10)));
        assert!(kernel_version("5.10.0").unwrap() < (5, 11));
        assert!(kernel_version("6.18.2").unwrap() >= (5, 11));
        assert_eq!(kernel_version("weird"), None);
    }
}
