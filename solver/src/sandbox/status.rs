//! The status channel (fd 3 of the helper): one JSON line per message, so a
//! failed mount can say which step and path failed, and errors of the
//! in-namespace child reach the caller before the helper's final verdict.

use nix::errno::Errno;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::{BorrowedFd, FromRawFd};

/// The helper's fd for status lines, set up by [`super::Sandbox::run`].
pub(super) const STATUS_FD: i32 = 3;

#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Setup { step: String, message: String },
    FileOp { message: String },
    Exited { code: i32 },
    Signaled { signal: i32 },
}

/// Why the helper (or its child) could not get the command started.
#[derive(Debug, thiserror::Error)]
pub(super) enum SetupError {
    #[error("{step}: {source}")]
    Sys { step: String, source: Errno },
    #[error("{step}: {source}")]
    Io {
        step: String,
        source: std::io::Error,
    },
    #[error("read request: {source}")]
    Request { source: serde_json::Error },
    #[error("working directory {cwd} resolves outside the container through a /proc magic link")]
    CwdOutsideRoot { cwd: String },
    #[error("unable to find user {name}: no matching entries in passwd file")]
    UnknownUser { name: String },
    #[error("unable to find group {name}: no matching entries in group file")]
    UnknownGroup { name: String },
    #[error("exec: {name:?}: executable file not found in $PATH")]
    NotFound { name: String },
    #[error("exec {program}: an argument or environment entry contains NUL")]
    NulInCommand { program: String },
    #[error("exec: no command given")]
    EmptyCommand,
    #[error("{step}: {path} is a dangling symlink or not a {kind}")]
    BadMountpoint {
        step: String,
        path: String,
        kind: &'static str,
    },
    #[error("{step}: {source}")]
    Caps {
        step: String,
        source: caps::errors::CapsError,
    },
    #[error("seccomp profile: {message}")]
    Seccomp { message: String },
    #[error("join the step's cgroup: {source}")]
    Cgroup { source: super::cgroup::CgroupError },
}

impl SetupError {
    /// The short step name reported to the caller.
    pub(super) fn step(&self) -> String {
        match self {
            SetupError::Sys { step, .. }
            | SetupError::Io { step, .. }
            | SetupError::Caps { step, .. } => step.clone(),
            SetupError::BadMountpoint { step, .. } => step.clone(),
            SetupError::Request { .. } => "read request".into(),
            SetupError::Seccomp { .. } => "load seccomp profile".into(),
            SetupError::Cgroup { .. } => "join cgroup".into(),
            SetupError::CwdOutsideRoot { cwd } => format!("enter working directory {cwd}"),
            SetupError::UnknownUser { .. } | SetupError::UnknownGroup { .. } => {
                "resolve user".into()
            }
            SetupError::NotFound { .. }
            | SetupError::EmptyCommand
            | SetupError::NulInCommand { .. } => "exec".into(),
        }
    }

    /// The error without its step, which is reported separately.
    fn message(&self) -> String {
        match self {
            SetupError::Sys { source, .. } => source.to_string(),
            SetupError::Io { source, .. } => source.to_string(),
            SetupError::Caps { source, .. } => source.to_string(),
            SetupError::CwdOutsideRoot { .. } => {
                "it resolves outside the container through a /proc magic link".into()
            }
            other => other.to_string(),
        }
    }

    pub(super) fn into_status(self) -> Status {
        Status::Setup {
            step: self.step(),
            message: self.message(),
        }
    }
}

/// Attaches a step description to syscall and io errors.
pub(super) trait StepExt<T> {
    fn step(self, step: impl FnOnce() -> String) -> Result<T, SetupError>;
}

impl<T> StepExt<T> for Result<T, Errno> {
    fn step(self, step: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|source| SetupError::Sys {
            step: step(),
            source,
        })
    }
}

impl<T> StepExt<T> for Result<T, std::io::Error> {
    fn step(self, step: impl FnOnce() -> String) -> Result<T, SetupError> {
        self.map_err(|source| SetupError::Io {
            step: step(),
            source,
        })
    }
}

/// Writes one status line to fd 3. A lost status is reported by the caller
/// as "ended without a status", so write errors are deliberately dropped.
pub(super) fn send(status: &Status) {
    let mut line = serde_json::to_vec(status).unwrap_or_default();
    line.push(b'\n');
    // SAFETY: fd 3 is the status pipe for the whole life of the helper and
    // its child; ManuallyDrop keeps it open after this write.
    let mut file = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(STATUS_FD) });
    let _ = file.write_all(&line);
}

/// The status fd, for fcntl calls.
pub(super) fn status_fd() -> BorrowedFd<'static> {
    // SAFETY: fd 3 stays open for the whole life of the process.
    unsafe { BorrowedFd::borrow_raw(STATUS_FD) }
}

/// Parses the helper's status lines; the first setup or file error wins over
/// the final exit status (a failed exec also makes the child exit non-zero).
pub(super) fn parse(bytes: &[u8]) -> Result<Option<Status>, super::SandboxError> {
    let mut verdict: Option<Status> = None;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let status: Status =
            serde_json::from_slice(line).map_err(|source| super::SandboxError::Status {
                line: String::from_utf8_lossy(line).into_owned(),
                source,
            })?;
        let is_error = matches!(status, Status::Setup { .. } | Status::FileOp { .. });
        let have_error = matches!(verdict, Some(Status::Setup { .. } | Status::FileOp { .. }));
        if verdict.is_none() || (is_error && !have_error) {
            verdict = Some(status);
        }
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_beats_final_exit() {
        let lines =
            b"{\"Setup\":{\"step\":\"exec\",\"message\":\"nope\"}}\n{\"Exited\":{\"code\":127}}\n";
        let status = parse(lines).unwrap().unwrap();
        assert_eq!(
            status,
            Status::Setup {
                step: "exec".into(),
                message: "nope".into()
            }
        );
    }

    #[test]
    fn plain_exit_is_reported() {
        assert_eq!(
            parse(b"{\"Exited\":{\"code\":3}}\n").unwrap(),
            Some(Status::Exited { code: 3 })
        );
        assert_eq!(parse(b"").unwrap(), None);
        assert!(parse(b"garbage\n").is_err());
    }
}
