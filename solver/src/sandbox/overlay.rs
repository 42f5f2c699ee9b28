//! Mounting overlayfs. The classic `mount(2)` option string is limited to one
//! page and needs escaping; when the layer list does not fit (or a path has
//! characters the option parser treats specially), the layers are passed one
//! by one with the new mount API (`fsconfig` `lowerdir+`, Linux 6.8+).
//!
//! A writable overlay is `volatile`: unmounting one that is not syncs the
//! whole upper filesystem, and that happens when the helper's mount
//! namespace dies, so every step would wait for every dirty page on the
//! disk (about 5 ms per RUN on an idle machine, far more on a busy one). The
//! upper dir is scratch until the store installs it as a snapshot, and the
//! store makes it durable itself, from the host side; a step's own fsyncs
//! only become no-ops.
//!
//! In a user namespace (rootless) overlays are mounted with `userxattr`:
//! overlayfs then keeps its marks (opaque directories) under
//! `user.overlay.`, which the store writes and reads there too, since an
//! unprivileged process cannot set `trusted.` attributes (Linux 5.11+).

use super::status::{SetupError, StepExt};
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The writable half of an overlay.
pub(super) struct Upper<'a> {
    pub upper: &'a Path,
    pub work: &'a Path,
}

/// `mount(2)` copies at most one page of options, terminating NUL included.
const MAX_LEGACY_OPTIONS: usize = 4095;

// Stable kernel ABI values from <linux/mount.h>.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const MOUNT_ATTR_RDONLY: libc::c_uint = 1;
const MOUNT_ATTR_NODEV: libc::c_uint = 4;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;

/// Mounts an overlay of `lowers` (top-most first, relative to the current
/// dir or absolute) on `target`. Without `upper` the overlay is read-only.
pub(super) fn mount_overlay(
    lowers: &[PathBuf],
    upper: Option<Upper>,
    target: &Path,
    readonly: bool,
) -> Result<(), SetupError> {
    let step = || {
        format!(
            "mount overlay ({} layers) on {}",
            lowers.len(),
            target.display()
        )
    };
    match legacy_options(lowers, upper.as_ref()) {
        Some(options) => {
            // nodev: a device node in a layer, or one a step makes with
            // mknod, opens nothing (see mounts.rs for the device policy).
            let flags = if readonly {
                MsFlags::MS_RDONLY | MsFlags::MS_NODEV
            } else {
                MsFlags::MS_NODEV
            };
            mount(
                Some("overlay"),
                target,
                Some("overlay"),
                flags,
                Some(options.as_str()),
            )
            .step(step)
        }
        None => mount_with_fsconfig(lowers, upper.as_ref(), target, readonly).map_err(
            |(source, log)| SetupError::Sys {
                step: format!("{}{log}", step()),
                source,
            },
        ),
    }
}

/// The `mount(2)` option string, or `None` when it cannot be used safely.
fn legacy_options(lowers: &[PathBuf], upper: Option<&Upper>) -> Option<String> {
    let mut options = String::from("lowerdir=");
    for (i, lower) in lowers.iter().enumerate() {
        if i > 0 {
            options.push(':');
        }
        options.push_str(plain(lower)?);
    }
    if let Some(u) = upper {
        options.push_str(",upperdir=");
        options.push_str(plain(u.upper)?);
        options.push_str(",workdir=");
        options.push_str(plain(u.work)?);
        options.push_str(",volatile");
    }
    if mybuild_cache::in_user_namespace() {
        options.push_str(",userxattr");
    }
    (options.len() <= MAX_LEGACY_OPTIONS).then_some(options)
}

/// The path as a string if it needs no escaping in overlay options.
fn plain(path: &Path) -> Option<&str> {
    let s = path.to_str()?;
    (!s.is_empty() && !s.contains([',', ':', '\\', '='])).then_some(s)
}

/// Error plus whatever the kernel logged on the filesystem context.
type FsError = (Errno, String);

fn mount_with_fsconfig(
    lowers: &[PathBuf],
    upper: Option<&Upper>,
    target: &Path,
    readonly: bool,
) -> Result<(), FsError> {
    let fs = fsopen()?;
    let set = |key: &str, value: &Path| {
        fsconfig_string(&fs, key, value).map_err(|e| (e, kernel_log(&fs)))
    };
    for lower in lowers {
        set("lowerdir+", lower)?;
    }
    if let Some(u) = upper {
        set("upperdir", u.upper)?;
        set("workdir", u.work)?;
        fsconfig_flag(&fs, c"volatile").map_err(|e| (e, kernel_log(&fs)))?;
    }
    if mybuild_cache::in_user_namespace() {
        fsconfig_flag(&fs, c"userxattr").map_err(|e| (e, kernel_log(&fs)))?;
    }
    // SAFETY: plain syscall on a valid fd with no pointers.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            0usize,
            0usize,
            0,
        )
    };
    Errno::result(ret).map_err(|e| (e, kernel_log(&fs)))?;
    let attrs = MOUNT_ATTR_NODEV | if readonly { MOUNT_ATTR_RDONLY } else { 0 };
    // SAFETY: plain syscall on a valid fd with no pointers.
    let ret = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    let mnt = owned(Errno::result(ret).map_err(|e| (e, kernel_log(&fs)))?);
    let target = cstring(target.as_os_str().as_bytes())?;
    // SAFETY: both strings are NUL-terminated and outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            target.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    Errno::result(ret).map(drop).map_err(|e| (e, String::new()))
}

fn fsopen() -> Result<OwnedFd, FsError> {
    // SAFETY: the name is a NUL-terminated literal.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
    Errno::result(ret)
        .map(owned)
        .map_err(|e| (e, String::new()))
}

fn fsconfig_string(fs: &OwnedFd, key: &str, value: &Path) -> Result<(), Errno> {
    let key = cstring(key.as_bytes()).map_err(|(e, _)| e)?;
    let value = cstring(value.as_os_str().as_bytes()).map_err(|(e, _)| e)?;
    // SAFETY: key and value are NUL-terminated and outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    Errno::result(ret).map(drop)
}

fn fsconfig_flag(fs: &OwnedFd, key: &std::ffi::CStr) -> Result<(), Errno> {
    // SAFETY: the key is NUL-terminated and outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_FLAG,
            key.as_ptr(),
            0usize,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// The kernel's explanation of a failed fsconfig, e.g. which layer is missing.
fn kernel_log(fs: &OwnedFd) -> String {
    let mut buf = [0u8; 512];
    match nix::unistd::read(fs, &mut buf) {
        Ok(n) if n > 0 => format!(" ({})", String::from_utf8_lossy(&buf[..n]).trim()),
        _ => String::new(),
    }
}

fn cstring(bytes: &[u8]) -> Result<CString, FsError> {
    CString::new(bytes).map_err(|_| (Errno::EINVAL, " (path contains NUL)".to_string()))
}

fn owned(ret: libc::c_long) -> OwnedFd {
    // SAFETY: the syscall just returned this fd and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(ret as i32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_relative_and_ordered() {
        let lowers = vec![PathBuf::from("b/fs"), PathBuf::from("a/fs")];
        let upper = Upper {
            upper: Path::new("/s/up"),
            work: Path::new("/s/work"),
        };
        let opts = legacy_options(&lowers, Some(&upper)).unwrap();
        assert_eq!(
            opts,
            "lowerdir=b/fs:a/fs,upperdir=/s/up,workdir=/s/work,volatile"
        );
    }

    #[test]
    fn special_characters_or_long_lists_fall_back() {
        assert!(legacy_options(&[PathBuf::from("a:b")], None).is_none());
        assert!(legacy_options(&[PathBuf::from("a,b")], None).is_none());
        let many: Vec<PathBuf> = (0..500)
            .map(|i| PathBuf::from(format!("layer-{i:04}/fs")))
            .collect();
        assert!(legacy_options(&many, None).is_none());
        assert!(legacy_options(&many[..100], None).is_some());
    }
}
