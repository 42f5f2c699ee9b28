//! The solver: executes a [`mybuild_graph::Graph`] and never sees a Dockerfile.
//!
//! Main types: [`Scheduler`] (runs the nodes a target needs, in parallel,
//! consulting the cache by key), [`Worker`] (the narrow trait that evaluates
//! one op; [`BuildWorker`] is the real one), [`sandbox::Sandbox`] (the
//! re-exec'd helper process that builds namespaces and overlay mounts),
//! `fileop` (COPY/ADD/mkdir semantics inside a rootfs), `context` (build
//! context selection and content hashing), `registry` (the OCI distribution
//! client and the image provider behind `FROM`) and [`Progress`] (events
//! for the CLI to render).

pub mod context;
pub mod fileop;
pub mod progress;
pub mod registry;
pub mod remote_cache;
pub mod sandbox;
mod solve;

pub use progress::{LogStream, Progress, ProgressEvent};
pub use solve::{
    days_from_civil, node_key, vertex_id, BuildWorker, Scheduler, SolveError, SolveOptions, Value,
    Worker, CACHE_MOUNTS_DIR, CONTEXT_HASHES_DIR,
};
