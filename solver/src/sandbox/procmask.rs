//! Docker's masked and read-only kernel paths. The command runs as real
//! root, so without this it could write host-wide sysctls or trigger
//! `/proc/sysrq-trigger`, and read `/proc/kcore` or `/proc/keys`.

use super::rootpath::{fd_path, open_in_root};
use super::status::{SetupError, StepExt};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, SFlag};
use std::os::fd::OwnedFd;

const MASKED: [&str; 12] = [
    "proc/asound",
    "proc/acpi",
    "proc/interrupts",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
];

const READ_ONLY: [&str; 5] = [
    "proc/bus",
    "proc/fs",
    "proc/irq",
    "proc/sys",
    "proc/sysrq-trigger",
];

/// Applies both lists below `root` (before `pivot_root`, so the host's
/// /dev/null is still reachable). Paths this kernel lacks are skipped.
pub(super) fn apply(root: &OwnedFd) -> Result<(), SetupError> {
    for path in READ_ONLY {
        let Some(target) = open_existing(root, path)? else {
            continue;
        };
        let step = || format!("make /{path} read-only");
        mount(
            Some(fd_path(&target).as_str()),
            fd_path(&target).as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .step(step)?;
        let bound = open_in_root(root, path, OFlag::O_PATH).step(step)?;
        let ro = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC;
        mount(
            None::<&str>,
            fd_path(&bound).as_str(),
            None::<&str>,
            ro,
            None::<&str>,
        )
        .step(step)?;
    }
    for path in MASKED {
        let Some(target) = open_existing(root, path)? else {
            continue;
        };
        let step = || format!("mask /{path}");
        let is_dir =
            fstat(&target).step(step)?.st_mode & SFlag::S_IFMT.bits() == SFlag::S_IFDIR.bits();
        let target = fd_path(&target);
        if is_dir {
            mount(
                Some("tmpfs"),
                target.as_str(),
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
            )
            .step(step)?;
        } else {
            mount(
                Some("/dev/null"),
                target.as_str(),
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .step(step)?;
        }
    }
    Ok(())
}

fn open_existing(root: &OwnedFd, path: &str) -> Result<Option<OwnedFd>, SetupError> {
    match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e).step(|| format!("open /{path}")),
    }
}
