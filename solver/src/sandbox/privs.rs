//! Dropping privileges before exec: Docker's default capability set, the
//! step's user and groups, and no-new-privileges.

use super::status::{SetupError, StepExt};
use super::user::Identity;
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};

/// Docker's default capabilities (bounding mask 0xa80425fb).
const DEFAULT_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

fn default_caps() -> CapsHashSet {
    DEFAULT_CAPS.iter().copied().collect()
}

fn caps_step(step: &'static str) -> impl Fn(caps::errors::CapsError) -> SetupError {
    move |e| SetupError::Caps {
        step: step.to_string(),
        source: e,
    }
}

/// Becomes `id` with Docker's default capabilities (none left in the
/// effective set for a non-root user, as with Docker).
pub(super) fn drop_to(id: &Identity) -> Result<(), SetupError> {
    let keep = default_caps();
    for cap in caps::read(None, CapSet::Bounding).map_err(caps_step("read bounding set"))? {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(caps_step("drop bounding capability"))?;
        }
    }
    // Empty inheritable/ambient sets: a non-empty inheritable set lets
    // file capabilities grant more than intended (CVE-2022-24769).
    caps::clear(None, CapSet::Ambient).map_err(caps_step("clear ambient capabilities"))?;
    caps::clear(None, CapSet::Inheritable).map_err(caps_step("clear inheritable capabilities"))?;
    let groups: Vec<Gid> = id.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&groups).step(|| format!("setgroups {:?}", id.groups))?;
    nix::unistd::setgid(Gid::from_raw(id.gid)).step(|| format!("setgid {}", id.gid))?;
    // Leaving uid 0 clears the permitted and effective sets by itself.
    nix::unistd::setuid(Uid::from_raw(id.uid)).step(|| format!("setuid {}", id.uid))?;
    if id.uid == 0 {
        caps::set(None, CapSet::Effective, &keep)
            .map_err(caps_step("set effective capabilities"))?;
        caps::set(None, CapSet::Permitted, &keep)
            .map_err(caps_step("set permitted capabilities"))?;
    }
    nix::sys::prctl::set_no_new_privs().step(|| "set no_new_privs".into())
}

/// Finds the program like execvp would, but in the rootfs's `PATH` from the
/// step's environment (the helper's own environment is empty).
pub(super) fn find_executable(name: &str, path_var: &str) -> Result<String, SetupError> {
    if name.is_empty() {
        return Err(SetupError::EmptyCommand);
    }
    if name.contains('/') {
        return Ok(name.to_string());
    }
    path_var
        .split(':')
        .map(|dir| {
            if dir.is_empty() {
                ".".to_string()
            } else {
                dir.to_string()
            }
        })
        .map(|dir| format!("{}/{name}", dir.trim_end_matches('/')))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| SetupError::NotFound {
            name: name.to_string(),
        })
}

fn is_executable_file(path: &str) -> bool {
    let is_file = std::fs::metadata(path).is_ok_and(|m| m.is_file());
    is_file && nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_matches_docker_mask() {
        let mask: u64 = DEFAULT_CAPS
            .iter()
            .map(|c| c.bitmask())
            .fold(0, |a, b| a | b);
        assert_eq!(mask, 0xa80425fb);
    }

    #[test]
    fn executable_lookup_uses_the_given_path() {
        assert_eq!(
            find_executable("sh", "/nonexistent:/bin").unwrap(),
            "/bin/sh"
        );
        assert_eq!(find_executable("./x", "").unwrap(), "./x");
        assert!(matches!(
            find_executable("no-such-cmd-xyz", "/bin"),
            Err(SetupError::NotFound { .. })
        ));
        // Directories are not executables.
        assert!(find_executable("bin", "/").is_err());
    }
}
