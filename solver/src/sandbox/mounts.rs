//! The command's filesystem view, built by the PID-1 child in its own mount
//! namespace (so the helper's namespace keeps only the overlay and can clean
//! stubs up afterwards): /proc of the new PID namespace, a minimal /dev,
//! read-only /sys, the host's resolver files, then `pivot_root`.
//!
//! Device policy, as Docker's: only null, zero, full, random, urandom, tty
//! and the step's own pseudo-terminals (ptmx, pts) can be opened. Every
//! other mount the step sees is `nodev` (the rootfs overlay, /dev's tmpfs,
//! RUN mounts), so a device node made with mknod (which still succeeds, as
//! package scripts expect) or shipped in an image opens nothing. The
//! allowed nodes are bind mounts of the host's, each a mount of its own
//! that the tmpfs's `nodev` does not cover. runc gets the same effect from
//! the devices cgroup; this way needs no cgroup, on v1 and v2 alike, and
//! the mount flags are locked against a step that is root (no
//! CAP_SYS_ADMIN, and a user namespace cannot clear a lock).

use super::remount::remount_readonly;
use super::rootpath::{fd_path, open_in_root};
use super::status::{SetupError, StepExt};
use super::stubs::Kind;
use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{mkdirat, Mode};
use nix::unistd::symlinkat;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Mount points the helper must make exist (as stubs) before forking.
pub(super) fn mountpoints(host_network: bool, own_hosts: bool) -> Vec<(&'static str, Kind)> {
    let mut points = vec![("proc", Kind::Dir), ("dev", Kind::Dir), ("sys", Kind::Dir)];
    if host_network {
        points.push(("etc/resolv.conf", Kind::File));
    }
    if host_network || own_hosts {
        points.push(("etc/hosts", Kind::File));
    }
    points
}

/// What the step's root gets besides its rootfs.
pub(super) struct RootView {
    /// The host's resolver files are bound in.
    pub host_network: bool,
    /// The `--add-host` hosts file, bound on /etc/hosts instead of the host's.
    pub hosts: Option<PathBuf>,
    /// Bytes of the /dev/shm tmpfs (`--shm-size`); Docker's 64 MiB if unset.
    pub shm_size: Option<u64>,
}

/// Docker's /dev/shm size: 64 MiB.
const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// Host device nodes bind-mounted into the fresh /dev.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

const DEV_LINKS: [(&str, &str); 5] = [
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// Mounts everything below the rootfs at the current directory, then makes
/// it `/`. Must run in a mount namespace of its own.
pub(super) fn setup_root(
    view: &RootView,
    extra: &[super::binds::Prepared],
) -> Result<(), SetupError> {
    let root = nix::fcntl::open(
        ".",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .step(|| "open rootfs".into())?;
    let special = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let proc_dir = mount_point(&root, "proc", Kind::Dir)?;
    mount(
        Some("proc"),
        fd_path(&proc_dir).as_str(),
        Some("proc"),
        special,
        None::<&str>,
    )
    .step(|| "mount /proc".into())?;
    mount_sys(&root, special)?;
    super::procmask::apply(&root)?;
    setup_dev(&root, view.shm_size)?;
    if view.host_network {
        bind_file(&root, "etc/resolv.conf", Path::new("/etc/resolv.conf"))?;
    }
    match &view.hosts {
        Some(file) => bind_file(&root, "etc/hosts", file)?,
        None if view.host_network => bind_file(&root, "etc/hosts", Path::new("/etc/hosts"))?,
        None => {}
    }
    super::binds::mount_all(&root, extra)?;
    pivot(&root)
}

/// A read-only sysfs on /sys. Rootless with the host's network, the user
/// namespace does not own the network namespace and may not mount sysfs:
/// the host's /sys is bound read-only instead, as rootless Podman does.
fn mount_sys(root: &OwnedFd, special: MsFlags) -> Result<(), SetupError> {
    let sys_dir = mount_point(root, "sys", Kind::Dir)?;
    let target = fd_path(&sys_dir);
    let fresh = mount(
        Some("sysfs"),
        target.as_str(),
        Some("sysfs"),
        special | MsFlags::MS_RDONLY,
        None::<&str>,
    );
    match fresh {
        Err(Errno::EPERM) if mybuild_cache::in_user_namespace() => {
            let bind = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(
                Some("/sys"),
                target.as_str(),
                None::<&str>,
                bind,
                None::<&str>,
            )
            .step(|| "bind the host's /sys".into())?;
            remount_readonly(root, "sys", special)
        }
        fresh => fresh.step(|| "mount /sys".into()),
    }
}

/// The rootfs entry at `path`, which the helper made sure exists.
fn mount_point(root: &OwnedFd, path: &str, kind: Kind) -> Result<OwnedFd, SetupError> {
    let flags = match kind {
        Kind::Dir => OFlag::O_PATH | OFlag::O_DIRECTORY,
        Kind::File => OFlag::O_PATH,
    };
    let bad = |_| SetupError::BadMountpoint {
        step: format!("mount /{path}"),
        path: format!("/{path}"),
        kind: if kind == Kind::Dir {
            "directory"
        } else {
            "file"
        },
    };
    open_in_root(root, path, flags).map_err(bad)
}

fn setup_dev(root: &OwnedFd, shm_size: Option<u64>) -> Result<(), SetupError> {
    let dev = mount_point(root, "dev", Kind::Dir)?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_STRICTATIME;
    mount(
        Some("tmpfs"),
        fd_path(&dev).as_str(),
        Some("tmpfs"),
        flags,
        Some("mode=755,size=65536k"),
    )
    .step(|| "mount tmpfs on /dev".into())?;
    // Re-open: the old handle names the directory under the new tmpfs.
    let dev = open_in_root(root, "dev", OFlag::O_PATH | OFlag::O_DIRECTORY)
        .step(|| "open /dev".into())?;
    let base = fd_path(&dev);
    for name in DEVICES {
        let create = OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
        openat(&dev, name, create, Mode::from_bits_truncate(0o666))
            .step(|| format!("create /dev/{name}"))?;
        let host = format!("/dev/{name}");
        mount(
            Some(host.as_str()),
            format!("{base}/{name}").as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .step(|| format!("bind {host}"))?;
    }
    mkdir(&dev, "pts", 0o755)?;
    let pts_opts = "newinstance,ptmxmode=0666,mode=0620,gid=5";
    mount(
        Some("devpts"),
        format!("{base}/pts").as_str(),
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(pts_opts),
    )
    .step(|| "mount /dev/pts".into())?;
    mkdir(&dev, "shm", 0o1777)?;
    let shm_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    let shm_size = shm_size.unwrap_or(DEFAULT_SHM_SIZE);
    mount(
        Some("shm"),
        format!("{base}/shm").as_str(),
        Some("tmpfs"),
        shm_flags,
        Some(format!("mode=1777,size={shm_size}").as_str()),
    )
    .step(|| "mount /dev/shm".into())?;
    for (name, target) in DEV_LINKS {
        symlinkat(target, &dev, name).step(|| format!("create /dev/{name}"))?;
    }
    Ok(())
}

fn mkdir(dir: impl AsFd, name: &str, mode: u32) -> Result<(), SetupError> {
    mkdirat(dir, name, Mode::from_bits_truncate(mode)).step(|| format!("create /dev/{name}"))
}

/// Read-only bind of a host file (resolver config) on `/{path}`. A rootfs
/// entry that is a dangling symlink is left alone rather than followed out
/// of the root.
fn bind_file(root: &OwnedFd, path: &str, source: &Path) -> Result<(), SetupError> {
    let target = match open_in_root(root, path, OFlag::O_PATH) {
        Err(Errno::ENOENT) => return Ok(()),
        other => other.step(|| format!("open /{path}"))?,
    };
    let host = source.display().to_string();
    mount(
        Some(host.as_str()),
        fd_path(&target).as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .step(|| format!("bind {host}"))?;
    remount_readonly(root, path, MsFlags::MS_NOSUID | MsFlags::MS_NODEV)
}

/// Makes the rootfs `/` and drops every trace of the host's mounts.
fn pivot(root: &OwnedFd) -> Result<(), SetupError> {
    nix::unistd::fchdir(root).step(|| "chdir to rootfs".into())?;
    nix::unistd::pivot_root(".", ".").step(|| "pivot_root".into())?;
    umount2(".", MntFlags::MNT_DETACH).step(|| "detach old root".into())?;
    nix::unistd::chdir("/").step(|| "chdir /".into())
}
