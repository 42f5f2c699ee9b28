//! The build graph: the one contract between mybuild's frontend and solver.
//!
//! The frontend compiles a Dockerfile into a [`Graph`]; the solver executes it.
//! Neither sees the other's internals. A graph is a list of [`Node`]s in
//! topological order (every input precedes its users), each holding an [`Op`]
//! that is plain data: [`ImageSource`], [`LocalSource`], [`ExecOp`] or
//! [`FileOp`].
//!
//! Every op has a stable, versioned binary encoding ([`KeyEncoder`]), from
//! which the solver derives cache keys ([`Digest`]). The encoding never relies
//! on `std::hash` or on map iteration order, so two machines building the same
//! Dockerfile compute the same keys.

mod digest;
mod encode;
mod exec_env;
mod mounts;
mod ops;
mod platform;
mod print;

pub use digest::{Digest, DigestError};
pub use encode::{KeyEncoder, GRAPH_KEY_VERSION};
pub use exec_env::{ExecEnv, HostEntry, Ulimit};
pub use mounts::{CacheSharing, ExecMount, MountKind};
pub use ops::*;
pub use platform::{host_arch, oci_arch, platform_arch};

/// Index of a node inside its [`Graph`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One vertex of the graph: an op, the nodes it reads, and a human name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub op: Op,
    /// Inputs in op-defined order (see each op for what input `i` means).
    pub inputs: Vec<NodeId>,
    /// What progress output calls this step, e.g. `[build 2/4] RUN make`.
    /// Not part of the cache key.
    pub name: String,
}

/// An immutable-by-convention DAG of ops. Nodes only ever get appended, and a
/// node's inputs always have smaller ids, so the order is topological.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    /// Node identity (op encoding, inputs, name) to id, so adding stays
    /// constant-time however large the Dockerfile.
    index: std::collections::HashMap<Digest, NodeId>,
    /// Nodes that run even when their result is cached
    /// (`--no-cache-filter`); not part of any key.
    no_cache: std::collections::BTreeSet<NodeId>,
}

impl PartialEq for Graph {
    fn eq(&self, other: &Self) -> bool {
        self.nodes == other.nodes
    }
}

impl Eq for Graph {}

impl Node {
    /// What makes two nodes the same node: the op's canonical encoding,
    /// the inputs and the name.
    fn identity(&self) -> Digest {
        let mut e = KeyEncoder::new();
        e.str("graph-node");
        self.op.encode(&mut e);
        e.u64(self.inputs.len() as u64);
        for input in &self.inputs {
            e.u64(u64::from(input.0));
        }
        e.str(&self.name);
        e.finish()
    }
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a node. Identical nodes (same op, inputs and name) are stored
    /// once, so converters may add freely.
    ///
    /// # Panics
    /// If an input id does not exist yet: that would break topological order.
    pub fn add(&mut self, op: Op, inputs: Vec<NodeId>, name: impl Into<String>) -> NodeId {
        let node = Node {
            op,
            inputs,
            name: name.into(),
        };
        for input in &node.inputs {
            assert!(
                input.index() < self.nodes.len(),
                "graph input {input:?} added before it exists"
            );
        }
        let identity = node.identity();
        if let Some(&id) = self.index.get(&identity) {
            return id;
        }
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node);
        self.index.insert(identity, id);
        id
    }

    /// Makes node `id` run even when its result is cached, as BuildKit's
    /// `IgnoreCache` does for the stages `--no-cache-filter` names.
    pub fn ignore_cache(&mut self, id: NodeId) {
        self.no_cache.insert(id);
    }

    /// Whether [`Graph::ignore_cache`] marked node `id`.
    pub fn ignores_cache(&self, id: NodeId) -> bool {
        self.no_cache.contains(&id)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// All nodes with their ids, in topological order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (NodeId(i as u32), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkdir(path: &str) -> Op {
        Op::File(FileOp {
            actions: vec![FileAction::Mkdir(MkdirAction {
                path: path.into(),
                mode: 0o755,
                parents: true,
                owner: None,
            })],
            clamp_mtime: None,
        })
    }

    #[test]
    fn identical_nodes_are_stored_once() {
        let mut g = Graph::new();
        let root = g.add(Op::Scratch, vec![], "FROM scratch");
        let a = g.add(mkdir("/a"), vec![root], "a");
        assert_eq!(g.add(Op::Scratch, vec![], "FROM scratch"), root);
        assert_eq!(g.add(mkdir("/a"), vec![root], "a"), a);
        assert_ne!(g.add(mkdir("/a"), vec![root], "other name"), a);
        assert_ne!(g.add(mkdir("/b"), vec![root], "a"), a);
        assert_ne!(g.add(mkdir("/a"), vec![a], "a"), a);
        assert_eq!(g.len(), 5);
    }

    #[test]
    fn ignore_cache_marks_one_node() {
        let mut g = Graph::new();
        let root = g.add(Op::Scratch, vec![], "s");
        let a = g.add(mkdir("/a"), vec![root], "a");
        g.ignore_cache(a);
        assert!(g.ignores_cache(a) && !g.ignores_cache(root));
    }

    #[test]
    fn equal_graphs_compare_equal() {
        let build = || {
            let mut g = Graph::new();
            let root = g.add(Op::Scratch, vec![], "s");
            g.add(mkdir("/x"), vec![root], "x");
            g
        };
        assert_eq!(build(), build());
        let mut other = build();
        other.add(mkdir("/y"), vec![NodeId(0)], "y");
        assert_ne!(build(), other);
    }
}
