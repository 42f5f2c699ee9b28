//! The solver's shared vocabulary: what a node evaluates to ([`Value`]),
//! the [`Worker`] trait between the scheduler and the world, and the names
//! of the directories the solver keeps beside the store.

use super::chain::Chain;
use super::error::SolveError;
use crate::explain::{ContentKey, KeyInputs, MissReason};
use mybuild_graph::{Digest, Node, NodeId};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// Directories the solver keeps in the store root beside the store proper:
/// `RUN --mount=type=cache` contents, and remembered context file digests.
pub const CACHE_MOUNTS_DIR: &str = "cache-mounts";
pub const CONTEXT_HASHES_DIR: &str = "context-hashes";
/// What each context COPY step placed last, for relinking it (`ops::relink`).
pub const RELINK_DIR: &str = "copy-relink";

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a node evaluates to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A root filesystem: layer diff_ids, base layer first.
    Layers(Chain),
    /// A host directory handed over by name (the build context).
    Local { path: PathBuf, exclude: Vec<String> },
}

impl Value {
    pub fn layers(&self) -> Option<&Chain> {
        match self {
            Value::Layers(l) => Some(l),
            Value::Local { .. } => None,
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
    ) -> BoxFuture<'a, Result<Option<ContentKey>, SolveError>>;

    /// A previously stored result for `key`, if it can be trusted, sharing
    /// the layers it has in common with `inputs`' chains.
    fn cache_get(&self, key: &Digest, inputs: &[Value]) -> Result<Option<Value>, SolveError>;

    fn cache_put(&self, key: &Digest, value: &Value) -> Result<(), SolveError>;

    /// A result for `key` from a cache shared by other machines
    /// (`--cache-from`), made present locally; asked only on a local miss.
    fn cache_import<'a>(
        &'a self,
        _key: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<Value>, SolveError>> {
        Box::pin(async { Ok(None) })
    }

    /// Why the step `inputs` describes missed, against the closest earlier
    /// record of that step (`--explain-cache`; asked only on a miss).
    fn explain_miss<'a>(&'a self, _inputs: &'a KeyInputs) -> BoxFuture<'a, Vec<MissReason>> {
        Box::pin(async { Vec::new() })
    }

    /// Keeps `inputs` beside the cache entry just written for its key, for
    /// later explanations. Blocking; best effort (a lost record only costs
    /// an explanation).
    fn record_inputs(&self, _inputs: &KeyInputs) {}

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
