//! What can stop mybuild from entering its user namespace.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RootlessError {
    #[error("rootless: read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "rootless: {path} has no subordinate ids for user {user}: add a line such as \
         `{user}:100000:65536` to /etc/subuid and /etc/subgid (as root: \
         usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user})"
    )]
    NoRange { path: PathBuf, user: String },
    #[error(
        "rootless: {tool} not found: install the `uidmap` package (apt-get install uidmap), \
         which maps the subordinate ids into mybuild's user namespace"
    )]
    MissingTool { tool: &'static str },
    #[error("rootless: {tool} {args} failed ({status}): {stderr}")]
    Map {
        tool: &'static str,
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("rootless: run {tool}: {source}")]
    Spawn {
        tool: &'static str,
        source: std::io::Error,
    },
    #[error(
        "rootless: create a user namespace: {source} (are unprivileged user namespaces \
         disabled? see sysctl user.max_user_namespaces and kernel.apparmor_restrict_unprivileged_userns)"
    )]
    Unshare { source: nix::errno::Errno },
    #[error(
        "rootless: Linux {release} cannot mount overlayfs in a user namespace (5.11 or later \
         is needed); run mybuild as root"
    )]
    OldKernel { release: String },
    #[error("rootless: {step}: {source}")]
    Sys {
        step: &'static str,
        source: nix::errno::Errno,
    },
}
