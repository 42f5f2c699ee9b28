//! Rootless mybuild: an ordinary user's mybuild runs as uid 0 of a user
//! namespace of its own, as rootless BuildKit, buildah and Podman do.
//! Before the async runtime or any thread exists, `main` forks: the child
//! unshares a user and a mount namespace, the parent maps it with
//! `newuidmap`/`newgidmap` (0 is the user, 1..=N the user's range from
//! /etc/subuid and /etc/subgid), and the child carries on as that uid 0.
//! Unpacking layers with their owners, overlay mounts, the sandbox helper
//! and layer packing then behave as under real root, so layers keep the
//! owners they have when mybuild runs as root. The parent stays outside,
//! forwards signals and exits with the child's code.

mod enter;
mod error;
mod forward;
mod subid;

pub use enter::Entered;
pub use error::RootlessError;

use crate::cli::Command;

/// Moves a non-root user's command into its user namespace; root (also
/// root of an outer user namespace), and commands that never touch the
/// store, stay as they are.
pub fn enter_if_needed(command: &Command) -> Result<Entered, RootlessError> {
    if nix::unistd::geteuid().is_root() || !uses_store(command) {
        return Ok(Entered::Run);
    }
    enter::enter()
}

/// Commands that read or write the store (or run steps) need the
/// namespace; the others run as the user.
fn uses_store(command: &Command) -> bool {
    !matches!(
        command,
        Command::Login(_)
            | Command::Logout(_)
            | Command::Completion(_)
            | Command::Man
            | Command::Version
            | Command::Debug(_)
    )
}
