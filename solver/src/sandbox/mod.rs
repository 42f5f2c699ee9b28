//! The RUN sandbox: runs a command (or file actions) on an overlay of
//! snapshot layers inside fresh Linux namespaces.
//!
//! Namespaces are never created by forking inside the (multi-threaded, tokio)
//! caller. [`Sandbox::run`] re-executes the mybuild binary as
//! `mybuild __sandbox`; that fresh, single-threaded process ([`helper_main`])
//! reads a [`HelperRequest`] as JSON from stdin, unshares its namespaces,
//! mounts the overlay and either forks the command as PID 1 of a new PID
//! namespace or applies file actions. The command's stdout/stderr flow
//! through pipes; setup errors and the final status come back as JSON lines
//! on fd 3. Everything the helper mounts dies with its mount namespace, so the
//! caller only has to hand `upper` to the store afterwards.

mod binds;
mod binfmt;
mod bpf;
pub mod cgroup;
mod console;
mod container;
mod etchosts;
mod fdpass;
mod filetask;
mod helper;
mod kill;
mod layout;
mod mounts;
mod overlay;
mod privs;
mod procmask;
mod prune;
mod remount;
mod rlimits;
mod rootpath;
mod runner;
mod seccomp;
mod status;
mod stubs;
mod user;
mod zygote;

pub use binfmt::{check_emulation, BinfmtError};
pub use cgroup::{CgroupError, Limits, DEFAULT_PIDS_LIMIT};
pub use console::{receive_master, Console, FORWARDED as FORWARDED_SIGNALS};
pub use helper::helper_main;
pub use kill::{KillOnDrop, KillSwitch};
pub use runner::{Attach, Sandbox};
pub use zygote::{zygote_main, ZYGOTE_ARG};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything the helper process needs for one RUN or file step.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct HelperRequest {
    /// The helper chdirs here and passes `lowers` relative to it, so the
    /// one-page overlay option string fits many layers.
    pub snapshots_root: PathBuf,
    /// Overlay lower dirs, top-most first, relative to `snapshots_root`.
    /// Empty means an empty root filesystem.
    pub lowers: Vec<PathBuf>,
    /// Absolute, pre-created by the caller.
    pub upper: PathBuf,
    /// Absolute, pre-created by the caller, on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Absolute, pre-created (empty) by the caller.
    pub merged: PathBuf,
    pub task: Task,
}

/// What the caller writes to the helper's stdin: the step's cgroup to
/// join first, then the request itself.
#[derive(Serialize, Deserialize, Debug)]
struct Envelope<J, R> {
    join: J,
    request: R,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum Task {
    Exec(ExecTask),
    File(FileTask),
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct ExecTask {
    pub args: Vec<String>,
    /// `KEY=value` entries.
    pub env: Vec<String>,
    /// Absolute; created (owned by the user) if missing.
    pub cwd: String,
    /// `name`, `uid`, `name:group` or `uid:gid`, resolved in the rootfs. Empty = root.
    pub user: String,
    pub network: mybuild_graph::NetworkMode,
    pub hostname: String,
    /// `RUN --mount`s, in order.
    pub mounts: Vec<SandboxMount>,
    /// `--add-host` lines, `--ulimit`s and the /dev/shm size.
    #[serde(default)]
    pub env_extra: mybuild_graph::ExecEnv,
    /// Pipes for a build step; the caller's stdio or a pty for `run`.
    #[serde(default)]
    pub console: Console,
}

/// One `RUN --mount`, resolved by the caller to what the helper mounts.
/// Targets are absolute paths inside the rootfs.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum SandboxMount {
    /// `sub` inside `source`; writes go to a throw-away tmpfs when `readwrite`.
    Bind {
        target: String,
        source: SourceMount,
        sub: String,
        readwrite: bool,
    },
    /// A host directory kept by the store between builds.
    Cache {
        target: String,
        host: PathBuf,
        readonly: bool,
    },
    Tmpfs {
        target: String,
        size: Option<u64>,
    },
    /// A socket `name` in the host directory `dir` (an ssh agent's proxy).
    Socket {
        target: String,
        dir: PathBuf,
        name: String,
    },
    /// The secret's bytes, shown as a read-only file.
    Secret {
        target: String,
        data: Vec<u8>,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct FileTask {
    pub actions: Vec<mybuild_graph::FileAction>,
    /// `sources[i]` is what `CopyAction.source == i` reads; `sources[0]` is
    /// the destination itself ([`SourceMount::None`]).
    pub sources: Vec<SourceMount>,
    /// Where to write a [`crate::fileop::journal::Journal`] of what the
    /// copies placed (JSON); it is whole only once the actions succeeded.
    #[serde(default)]
    pub journal: Option<JournalTarget>,
}

/// Where a file op's journal goes, and when the step began (seconds since
/// the epoch): sources changed since shortly before are marked racy.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct JournalTarget {
    pub path: PathBuf,
    pub since: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum SourceMount {
    None,
    /// A host directory read in place (the build context).
    Dir {
        path: PathBuf,
        exclude: Vec<String>,
    },
    /// A layer chain, relative to `snapshots_root`, top-most first.
    Layers {
        lowers: Vec<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputStream {
    Stdout,
    Stderr,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("exit code: {code}")]
    Exited { code: i32 },
    #[error("killed by signal {signal}")]
    Signaled { signal: i32 },
    #[error("sandbox setup failed at {step}: {message}")]
    Setup { step: String, message: String },
    #[error("{message}")]
    FileOp { message: String },
    #[error("resolve the sandbox helper binary /proc/self/exe: {source}")]
    CurrentExe { source: std::io::Error },
    #[error("start sandbox helper {exe}: {source}")]
    Spawn {
        exe: PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox {step}: {source}")]
    Io {
        step: &'static str,
        source: std::io::Error,
    },
    #[error("encode sandbox request: {source}")]
    Encode { source: serde_json::Error },
    #[error("sandbox helper sent an unreadable status line {line:?}: {source}")]
    Status {
        line: String,
        source: serde_json::Error,
    },
    #[error("killed: out of memory, limit {limit}")]
    OutOfMemory { limit: String },
    #[error("the step reached its limit of {limit} processes (--pids-limit)")]
    PidsLimit { limit: u64 },
    #[error("set up the step's cgroup: {source}")]
    Cgroup { source: cgroup::CgroupError },
    #[error("sandbox helper {exe} ended without a status ({status})")]
    HelperDied {
        exe: PathBuf,
        status: std::process::ExitStatus,
    },
}
