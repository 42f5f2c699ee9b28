//! Graph execution: cache keys, the parallel scheduler and the real worker.
//!
//! [`Scheduler`] walks the nodes a target needs, computes each node's cache
//! key from its op encoding, its inputs' keys and any content the op reads,
//! and either reuses a cached result or asks its [`Worker`] to run the op.
//! Everything with side effects sits behind [`Worker`], so the scheduling
//! logic is tested with a fake worker that counts calls.
//!
//! [`BuildWorker`], the real worker, is split as BuildKit's `llbsolver`:
//! `worker` dispatches each op to its family in `ops`, `cache` and
//! `content` hold the cache lookups and the content part of keys.

mod build_worker;
mod cache;
mod chain;
mod content;
mod error;
mod fetch;
mod git;
mod git_cache;
mod keys;
mod layers;
mod mounts;
mod ops;
mod scheduler;
mod ssh_proxy;
mod types;
mod worker;

pub use build_worker::{BuildWorker, DebugShell};
pub use chain::Chain;
pub use error::SolveError;
pub use git::{checkout as git_checkout, Checkout as GitCheckout, GitError};
pub use git_cache::GIT_SOURCES_DIR;
pub use keys::node_key;
pub use layers::overlay_lowers;
pub use mounts::cache_mount_dir;
pub use scheduler::{vertex_id, Scheduler, SolveOptions};
pub use types::{Value, Worker, CACHE_MOUNTS_DIR, CONTEXT_HASHES_DIR, RELINK_DIR};
