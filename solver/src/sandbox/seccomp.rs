//! Docker's default seccomp profile, as it stands for a container with
//! Docker's default capabilities (the set [`super::privs`] keeps): an
//! allow-list, every other syscall failing with EPERM. What the profile
//! grants only with CAP_SYS_ADMIN (mount, unshare, setns, bpf, ...) is
//! refused, `clone` is allowed only without namespace flags, `clone3`
//! fails with ENOSYS (so libc falls back to `clone`, whose flags a filter
//! can read), `personality` takes only the five values Docker allows and
//! `socket` refuses AF_VSOCK.
//!
//! The list of names is the profile's (Docker's `profiles/seccomp/
//! default.json`), kept to the syscalls that exist on 64-bit Linux; the
//! numbers come from libc for the architecture being built.

use super::bpf::{self, Check, Table};
use super::status::SetupError;
use std::collections::BTreeMap;

/// Makes `[(name, number)]` from syscall names known to libc.
macro_rules! syscalls {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), libc::$name)),*]
    };
}

/// Allowed unconditionally, on every 64-bit architecture.
const ALLOWED: &[(&str, libc::c_long)] = syscalls!(
    SYS_accept,
    SYS_accept4,
    SYS_adjtimex,
    SYS_bind,
    SYS_brk,
    SYS_capget,
    SYS_capset,
    SYS_chdir,
    SYS_clock_adjtime,
    SYS_clock_getres,
    SYS_clock_gettime,
    SYS_clock_nanosleep,
    SYS_close,
    SYS_close_range,
    SYS_connect,
    SYS_copy_file_range,
    SYS_dup,
    SYS_dup3,
    SYS_epoll_create1,
    SYS_epoll_ctl,
    SYS_epoll_pwait,
    SYS_epoll_pwait2,
    SYS_eventfd2,
    SYS_execve,
    SYS_execveat,
    SYS_exit,
    SYS_exit_group,
    SYS_faccessat,
    SYS_faccessat2,
    SYS_fadvise64,
    SYS_fallocate,
    SYS_fanotify_mark,
    SYS_fchdir,
    SYS_fchmod,
    SYS_fchmodat,
    SYS_fchown,
    SYS_fchownat,
    SYS_fcntl,
    SYS_fdatasync,
    SYS_fgetxattr,
    SYS_flistxattr,
    SYS_flock,
    SYS_fremovexattr,
    SYS_fsetxattr,
    SYS_fstat,
    SYS_fstatfs,
    SYS_fsync,
    SYS_ftruncate,
    SYS_futex,
    SYS_futex_waitv,
    SYS_getcpu,
    SYS_getcwd,
    SYS_getdents64,
    SYS_getegid,
    SYS_geteuid,
    SYS_getgid,
    SYS_getgroups,
    SYS_getitimer,
    SYS_getpeername,
    SYS_getpgid,
    SYS_getpid,
    SYS_getppid,
    SYS_getpriority,
    SYS_getrandom,
    SYS_getresgid,
    SYS_getresuid,
    SYS_getrlimit,
    SYS_get_robust_list,
    SYS_getrusage,
    SYS_getsid,
    SYS_getsockname,
    SYS_getsockopt,
    SYS_gettid,
    SYS_gettimeofday,
    SYS_getuid,
    SYS_getxattr,
    SYS_inotify_add_watch,
    SYS_inotify_init1,
    SYS_inotify_rm_watch,
    SYS_io_cancel,
    SYS_ioctl,
    SYS_io_destroy,
    SYS_io_getevents,
    SYS_ioprio_get,
    SYS_ioprio_set,
    SYS_io_setup,
    SYS_io_submit,
    SYS_io_uring_enter,
    SYS_io_uring_register,
    SYS_io_uring_setup,
    SYS_kill,
    SYS_landlock_add_rule,
    SYS_landlock_create_ruleset,
    SYS_landlock_restrict_self,
    SYS_lgetxattr,
    SYS_linkat,
    SYS_listen,
    SYS_listxattr,
    SYS_llistxattr,
    SYS_lremovexattr,
    SYS_lseek,
    SYS_lsetxattr,
    SYS_madvise,
    SYS_membarrier,
    SYS_memfd_create,
    SYS_memfd_secret,
    SYS_mincore,
    SYS_mkdirat,
    SYS_mknodat,
    SYS_mlock,
    SYS_mlock2,
    SYS_mlockall,
    SYS_mmap,
    SYS_mprotect,
    SYS_mq_getsetattr,
    SYS_mq_notify,
    SYS_mq_open,
    SYS_mq_timedreceive,
    SYS_mq_timedsend,
    SYS_mq_unlink,
    SYS_mremap,
    SYS_msgctl,
    SYS_msgget,
    SYS_msgrcv,
    SYS_msgsnd,
    SYS_msync,
    SYS_munlock,
    SYS_munlockall,
    SYS_munmap,
    SYS_name_to_handle_at,
    SYS_nanosleep,
    SYS_newfstatat,
    SYS_openat,
    SYS_openat2,
    SYS_pidfd_open,
    SYS_pidfd_send_signal,
    SYS_pipe2,
    SYS_pkey_alloc,
    SYS_pkey_free,
    SYS_pkey_mprotect,
    SYS_ppoll,
    SYS_prctl,
    SYS_pread64,
    SYS_preadv,
    SYS_preadv2,
    SYS_prlimit64,
    SYS_process_mrelease,
    SYS_pselect6,
    SYS_pwrite64,
    SYS_pwritev,
    SYS_pwritev2,
    SYS_read,
    SYS_readahead,
    SYS_readlinkat,
    SYS_readv,
    SYS_recvfrom,
    SYS_recvmmsg,
    SYS_recvmsg,
    SYS_remap_file_pages,
    SYS_removexattr,
    SYS_renameat,
    SYS_renameat2,
    SYS_restart_syscall,
    SYS_rseq,
    SYS_rt_sigaction,
    SYS_rt_sigpending,
    SYS_rt_sigprocmask,
    SYS_rt_sigqueueinfo,
    SYS_rt_sigreturn,
    SYS_rt_sigsuspend,
    SYS_rt_sigtimedwait,
    SYS_rt_tgsigqueueinfo,
    SYS_sched_getaffinity,
    SYS_sched_getattr,
    SYS_sched_getparam,
    SYS_sched_get_priority_max,
    SYS_sched_get_priority_min,
    SYS_sched_getscheduler,
    SYS_sched_rr_get_interval,
    SYS_sched_setaffinity,
    SYS_sched_setattr,
    SYS_sched_setparam,
    SYS_sched_setscheduler,
    SYS_sched_yield,
    SYS_seccomp,
    SYS_semctl,
    SYS_semget,
    SYS_semop,
    SYS_semtimedop,
    SYS_sendfile,
    SYS_sendmmsg,
    SYS_sendmsg,
    SYS_sendto,
    SYS_setfsgid,
    SYS_setfsuid,
    SYS_setgid,
    SYS_setgroups,
    SYS_setitimer,
    SYS_setpgid,
    SYS_setpriority,
    SYS_setregid,
    SYS_setresgid,
    SYS_setresuid,
    SYS_setreuid,
    SYS_setrlimit,
    SYS_set_robust_list,
    SYS_setsid,
    SYS_setsockopt,
    SYS_set_tid_address,
    SYS_setuid,
    SYS_setxattr,
    SYS_shmat,
    SYS_shmctl,
    SYS_shmdt,
    SYS_shmget,
    SYS_shutdown,
    SYS_sigaltstack,
    SYS_signalfd4,
    SYS_socketpair,
    SYS_splice,
    SYS_statfs,
    SYS_statx,
    SYS_symlinkat,
    SYS_sync,
    SYS_sync_file_range,
    SYS_syncfs,
    SYS_sysinfo,
    SYS_tee,
    SYS_tgkill,
    SYS_timer_create,
    SYS_timer_delete,
    SYS_timer_getoverrun,
    SYS_timer_gettime,
    SYS_timer_settime,
    SYS_timerfd_create,
    SYS_timerfd_gettime,
    SYS_timerfd_settime,
    SYS_times,
    SYS_tkill,
    SYS_truncate,
    SYS_umask,
    SYS_uname,
    SYS_unlinkat,
    SYS_utimensat,
    SYS_vmsplice,
    SYS_wait4,
    SYS_waitid,
    SYS_write,
    SYS_writev,
    // Granted by the profile from kernel 4.8 on, and with CAP_SYS_CHROOT.
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,
    SYS_chroot,
);

/// The older syscalls x86-64 still has (aarch64 only has the `*at` forms),
/// and what the profile grants on amd64 alone.
#[cfg(target_arch = "x86_64")]
const ALLOWED_ARCH: &[(&str, libc::c_long)] = syscalls!(
    SYS_access,
    SYS_alarm,
    SYS_chmod,
    SYS_chown,
    SYS_creat,
    SYS_dup2,
    SYS_epoll_create,
    SYS_epoll_ctl_old,
    SYS_epoll_wait,
    SYS_epoll_wait_old,
    SYS_eventfd,
    SYS_fork,
    SYS_futimesat,
    SYS_getdents,
    SYS_get_thread_area,
    SYS_getpgrp,
    SYS_inotify_init,
    SYS_lchown,
    SYS_link,
    SYS_lstat,
    SYS_mkdir,
    SYS_mknod,
    SYS_open,
    SYS_pause,
    SYS_pipe,
    SYS_poll,
    SYS_readlink,
    SYS_rename,
    SYS_rmdir,
    SYS_select,
    SYS_set_thread_area,
    SYS_signalfd,
    SYS_stat,
    SYS_symlink,
    SYS_time,
    SYS_unlink,
    SYS_utime,
    SYS_utimes,
    SYS_vfork,
    SYS_arch_prctl,
    SYS_modify_ldt,
);

#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_ARCH: &[(&str, libc::c_long)] = &[];

/// `io_pgetevents`, which libc does not name: 333 on x86-64, 292 in the
/// generic table (aarch64, riscv64).
const SYS_IO_PGETEVENTS: libc::c_long = if cfg!(target_arch = "x86_64") {
    333
} else {
    292
};

/// `clone` flags that make namespaces (CLONE_NEWNS, NEWUTS, NEWIPC,
/// NEWUSER, NEWPID, NEWNET, NEWCGROUP): the profile's 0x7E020000.
const NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// The `personality` values the profile allows: PER_LINUX, PER_LINUX32,
/// UNAME26, PER_LINUX32|UNAME26 and the query 0xffffffff.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

const AF_VSOCK: u64 = 40;

/// The kernel's AUDIT_ARCH_* value for the architecture being built; 0
/// where the profile has no syscall table (the step then fails to start).
const AUDIT_ARCH: u32 = if cfg!(target_arch = "x86_64") {
    0xC000_003E
} else if cfg!(target_arch = "aarch64") {
    0xC000_00B7
} else if cfg!(target_arch = "riscv64") {
    0xC000_00F3
} else {
    0
};

/// `clone`'s flags are its second argument on s390x, its first elsewhere.
const CLONE_FLAGS_ARG: u8 = if cfg!(target_arch = "s390x") { 1 } else { 0 };

/// A condition on the low 32 bits of argument `arg`.
fn check(arg: u8, mask: u32, equal: bool, value: u32) -> Check {
    Check {
        arg,
        mask,
        equal,
        value,
    }
}

/// The profile: the allow-list with its argument filters, for `arch`.
fn profile(arch: u32) -> Table {
    let mut syscalls: BTreeMap<u32, Vec<Vec<Check>>> = BTreeMap::new();
    for (_, nr) in ALLOWED.iter().chain(ALLOWED_ARCH) {
        syscalls.insert(*nr as u32, Vec::new());
    }
    syscalls.insert(SYS_IO_PGETEVENTS as u32, Vec::new());
    let no_namespaces = check(CLONE_FLAGS_ARG, NAMESPACE_FLAGS as u32, true, 0);
    syscalls.insert(libc::SYS_clone as u32, vec![vec![no_namespaces]]);
    // Allowed here; the second filter turns it into ENOSYS.
    syscalls.insert(libc::SYS_clone3 as u32, Vec::new());
    let personas = PERSONALITIES
        .iter()
        .map(|p| vec![check(0, u32::MAX, true, *p as u32)]);
    syscalls.insert(libc::SYS_personality as u32, personas.collect());
    let not_vsock = check(0, u32::MAX, false, AF_VSOCK as u32);
    syscalls.insert(libc::SYS_socket as u32, vec![vec![not_vsock]]);
    Table {
        arch,
        on_match: libc::SECCOMP_RET_ALLOW,
        otherwise: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        syscalls,
    }
}

/// `clone3` passes its flags in memory a filter cannot read, so it fails
/// with ENOSYS and libc falls back to `clone`, as under Docker.
fn clone3_enosys(arch: u32) -> Table {
    Table {
        arch,
        on_match: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        otherwise: libc::SECCOMP_RET_ALLOW,
        syscalls: BTreeMap::from([(libc::SYS_clone3 as u32, Vec::new())]),
    }
}

/// Compiled filters, ready to load; built before the step's last setup so
/// that loading is the only thing left to do before exec.
pub(super) struct Filters(Vec<seccompiler::BpfProgram>);

pub(super) fn compile() -> Result<Filters, SetupError> {
    if AUDIT_ARCH == 0 {
        return Err(SetupError::Seccomp {
            message: format!(
                "architecture {} has no seccomp profile",
                std::env::consts::ARCH
            ),
        });
    }
    let tables = [profile(AUDIT_ARCH), clone3_enosys(AUDIT_ARCH)];
    Ok(Filters(tables.iter().map(bpf::compile).collect()))
}

impl Filters {
    /// Loads the filters into this process (no_new_privs must be set, as
    /// it is once privileges are dropped). Everything exec'd inherits them.
    pub(super) fn apply(&self) -> Result<(), SetupError> {
        for program in &self.0 {
            seccompiler::apply_filter(program).map_err(|e| SetupError::Seccomp {
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_compiles_for_this_architecture() {
        let filters = compile().unwrap();
        assert_eq!(filters.0.len(), 2);
        assert!(filters.0.iter().all(|p| !p.is_empty()));
    }

    #[test]
    fn no_syscall_is_listed_twice_and_none_needs_sys_admin() {
        let mut seen = std::collections::HashSet::new();
        for (name, nr) in ALLOWED.iter().chain(ALLOWED_ARCH) {
            assert!(seen.insert(nr), "{name} listed twice");
        }
        for denied in [
            libc::SYS_mount,
            libc::SYS_umount2,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_bpf,
            libc::SYS_keyctl,
            libc::SYS_add_key,
            libc::SYS_init_module,
            libc::SYS_kexec_load,
            libc::SYS_open_by_handle_at,
            libc::SYS_perf_event_open,
            libc::SYS_syslog,
            libc::SYS_reboot,
            libc::SYS_pivot_root,
        ] {
            assert!(!seen.contains(&denied), "syscall {denied} must be refused");
        }
    }
}

#[cfg(test)]
#[path = "seccomp_equiv.rs"]
mod equiv;
