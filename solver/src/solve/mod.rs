//! Graph execution: cache keys, the parallel scheduler and the real worker.
//!
//! [`Scheduler`] walks the nodes a target needs, computes each node's cache
//! key from its op encoding, its inputs' keys and any content the op reads,
//! and either reuses a cached result or asks its [`Worker`] to run the op.
//! Everything with side effects sits behind [`Worker`], so the scheduling
//! logic is tested with a fake worker that counts calls.

mod fetch;
mod keys;
mod mounts;
mod scheduler;
mod worker;

pub use fetch::days_from_civil;
pub use keys::node_key;
pub use scheduler::{vertex_id, Scheduler, SolveOptions};
pub use worker::BuildWorker;

use mybuild_graph::{Digest, Node, NodeId};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// Directories the solver keeps in the store root beside the store proper:
/// `RUN --mount=type=cache` contents, and remembered context file digests.
pub const CACHE_MOUNTS_DIR: &str = "cache-mounts";
pub const CONTEXT_HASHES_DIR: &str = "context-hashes";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a node evaluates to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A root filesystem: layer diff_ids, base layer first.
    Layers(Vec<Digest>),
    /// A host directory handed over by name (the build context).
    Local { path: PathBuf, exclude: Vec<String> },
}

impl Value {
    pub fn layers(&self) -> Option<&[Digest]> {
        match self {
            Value::Layers(l) => Some(l),
            Value::Local { .. } => None,
        }
    }
}

/// Errors while solving; each names the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("{step}: {message}")]
    Step { step: String, message: String },
    #[error("{step}: process \"{command}\" did not complete successfully: exit code: {code}")]
    ExecFailed {
        step: String,
        command: String,
        code: i32,
        tail: Vec<String>,
    },
    #[error("{step}: input {input} is not a filesystem")]
    BadInput { step: String, input: usize },
    #[error("{step}: cache store: {source}")]
    Store {
        step: String,
        source: mybuild_cache::StoreError,
    },
    #[error("{step}: {source}")]
    Registry {
        step: String,
        source: mybuild_registry::RegistryError,
    },
    #[error("{step}: build context: {source}")]
    Context {
        step: String,
        source: crate::context::ContextError,
    },
    #[error("{step}: {source}")]
    Fetch {
        step: String,
        source: Box<fetch::FetchError>,
    },
    #[error("{step}: worker thread failed: {message}")]
    Join { step: String, message: String },
}

impl SolveError {
    /// The name of the step that failed.
    pub fn step(&self) -> &str {
        match self {
            SolveError::Step { step, .. }
            | SolveError::ExecFailed { step, .. }
            | SolveError::BadInput { step, .. }
            | SolveError::Store { step, .. }
            | SolveError::Registry { step, .. }
            | SolveError::Context { step, .. }
            | SolveError::Fetch { step, .. }
            | SolveError::Join { step, .. } => step,
        }
    }

    /// The word of the instruction the failure is about, when it is one
    /// (a missing COPY source).
    pub fn needle(&self) -> Option<&str> {
        use crate::fileop::SelectError;
        let select = match self {
            SolveError::Context {
                source: crate::context::ContextError::Select(s),
                ..
            } => s,
            _ => return None,
        };
        match select {
            SelectError::NotFound { path } => Some(path),
            SelectError::NoMatch { pattern } | SelectError::BadPattern { pattern } => Some(pattern),
            SelectError::Io { .. } => None,
        }
    }
}

/// The narrow interface between the scheduler and the world.
pub trait Worker: Send + Sync + 'static {
    /// Key material beyond the op and its inputs' keys, such as the digest of
    /// the context files a COPY reads. `None` when the op reads nothing else.
    fn content_key<'a>(
        &'a self,
        id: NodeId,
        node: &'a Node,
        inputs: &'a [Value],
    ) -> BoxFuture<'a, Result<Option<Digest>, SolveError>>;

    /// A previously stored result for `key`, if it can be trusted.
    fn cache_get(&self, key: &Digest) -> Result<Option<Value>, SolveError>;

    fn cache_put(&self, key: &Digest, value: &Value) -> Result<(), SolveError>;

    /// A result for `key` from a cache shared by other machines
    /// (`--cache-from`), made present locally; asked only on a local miss.
    fn cache_import<'a>(
        &'a self,
        _key: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<Value>, SolveError>> {
        Box::pin(async { Ok(None) })
    }

    /// Whether a source op's result is already at hand (an image whose
    /// layers are all unpacked), so progress can say CACHED as BuildKit does.
    /// A few small metadata reads, like [`Worker::cache_get`].
    fn source_present(&self, _node: &Node) -> bool {
        false
    }

    /// Evaluates one op. Sources (image, local, scratch) are always evaluated;
    /// exec and file ops only on a cache miss.
    fn execute<'a>(
        &'a self,
        id: NodeId,
        node: &'a Node,
        inputs: &'a [Value],
    ) -> BoxFuture<'a, Result<Value, SolveError>>;
}
