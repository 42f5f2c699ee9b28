//! The solver: executes a [`mybuild_graph::Graph`] and never sees a Dockerfile.
//!
//! Main types: [`Scheduler`] (runs the nodes a target needs, in parallel,
//! consulting the cache by key), [`Worker`] (the narrow trait that evaluates
//! one op; [`BuildWorker`] is the real one), [`sandbox::Sandbox`] (the
//! re-exec'd helper process that builds namespaces and overlay mounts),
//! `fileop` (COPY/ADD/mkdir semantics inside a rootfs), `context` (build
//! context selection and content hashing) and [`Progress`] (events for the
//! CLI to render). Images behind `FROM` and the shared build cache come
//! from `mybuild-registry`, which reports its pull bytes through
//! [`Progress`]'s [`mybuild_registry::ByteProgress`] impl.

pub mod context;
pub mod explain;
pub mod fileop;
pub mod progress;
pub mod sandbox;
mod solve;

pub use progress::{LogStream, Progress, ProgressEvent};
pub use solve::{
    cache_mount_dir, git_checkout, node_key, overlay_lowers, vertex_id, BuildWorker, Chain,
    DebugShell, GitCheckout, GitError, Scheduler, SolveError, SolveOptions, Value, Worker,
    CACHE_MOUNTS_DIR, CONTEXT_HASHES_DIR, GIT_SOURCES_DIR, RELINK_DIR,
};
