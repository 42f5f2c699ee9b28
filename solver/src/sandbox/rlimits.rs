//! `--ulimit`: resource limits set in the step's PID 1 before it drops
//! its privileges (raising a hard limit needs CAP_SYS_RESOURCE), so the
//! command and everything it starts inherit them.

use super::status::{SetupError, StepExt};
use mybuild_graph::Ulimit;
use nix::errno::Errno;

/// The kernel resource of one of Docker's ulimit names.
fn resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "core" => libc::RLIMIT_CORE,
        "cpu" => libc::RLIMIT_CPU,
        "data" => libc::RLIMIT_DATA,
        "fsize" => libc::RLIMIT_FSIZE,
        "locks" => libc::RLIMIT_LOCKS,
        "memlock" => libc::RLIMIT_MEMLOCK,
        "msgqueue" => libc::RLIMIT_MSGQUEUE,
        "nice" => libc::RLIMIT_NICE,
        "nofile" => libc::RLIMIT_NOFILE,
        "nproc" => libc::RLIMIT_NPROC,
        "rss" => libc::RLIMIT_RSS,
        "rtprio" => libc::RLIMIT_RTPRIO,
        "rttime" => libc::RLIMIT_RTTIME,
        "sigpending" => libc::RLIMIT_SIGPENDING,
        "stack" => libc::RLIMIT_STACK,
        _ => return None,
    })
}

/// -1 is unlimited, as in `docker run --ulimit`.
fn value(v: i64) -> libc::rlim_t {
    u64::try_from(v).unwrap_or(libc::RLIM_INFINITY)
}

/// Sets every limit on the calling process.
pub(super) fn apply(limits: &[Ulimit]) -> Result<(), SetupError> {
    for u in limits {
        let step = || format!("set ulimit {}={}:{}", u.name, u.soft, u.hard);
        let res = resource(&u.name).ok_or(Errno::EINVAL).step(step)?;
        let lim = libc::rlimit {
            rlim_cur: value(u.soft),
            rlim_max: value(u.hard),
        };
        // SAFETY: a valid resource and a pointer to a live rlimit.
        let rc = unsafe { libc::setrlimit(res, &lim) };
        Errno::result(rc).step(step)?;
    }
    Ok(())
}
