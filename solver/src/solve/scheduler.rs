//! The parallel scheduler.
//!
//! Every node the target needs becomes one shared future that first awaits
//! its inputs, so a node starts the moment its last input is ready and
//! independent branches overlap. Nodes with the same cache key (the same
//! work asked for twice) run once. A failure drops every future still
//! waiting, which stops the rest of the build.

use super::chain::Chain;
use super::error::SolveError;
use super::keys::node_key;
use super::types::{BoxFuture, Value, Worker};
use crate::explain::{key_inputs, KeyInputs, MissReason};
use crate::progress::Progress;
use futures_util::future::{try_join_all, FutureExt, Shared};
use mybuild_graph::{Digest, Graph, NodeId, Op};
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, Reversed};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

pub type SolveResult<T> = Result<T, Arc<SolveError>>;
type NodeFuture = Shared<BoxFuture<'static, SolveResult<(Digest, Value)>>>;
type RunFuture = Shared<BoxFuture<'static, SolveResult<Value>>>;

#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// Ignore cached results (they are still written).
    pub no_cache: bool,
    /// How many ops may execute at once.
    pub jobs: usize,
    /// Say why each step missed the cache (`--explain-cache`).
    pub explain: bool,
}

impl Default for SolveOptions {
    /// Four ops per CPU: RUN steps mostly wait (on the network, a sleep,
    /// the disk), and BuildKit does not bound them at all, so one per CPU
    /// would serialise independent stages that BuildKit overlaps.
    fn default() -> Self {
        let jobs = std::thread::available_parallelism()
            .map(|n| n.get() * 4)
            .unwrap_or(8);
        SolveOptions {
            no_cache: false,
            jobs,
            explain: false,
        }
    }
}

/// Runs graphs on a [`Worker`].
pub struct Scheduler<W: Worker> {
    inner: Arc<Inner<W>>,
}

struct Inner<W> {
    worker: Arc<W>,
    opts: SolveOptions,
    progress: Progress,
    jobs: Semaphore,
    in_flight: Mutex<HashMap<Digest, RunFuture>>,
    executed: AtomicUsize,
    cached: AtomicUsize,
    records: Mutex<Vec<(Digest, Chain)>>,
    /// Cache records still being written (see [`Inner::record_later`]).
    writes: Mutex<Vec<tokio::task::JoinHandle<Result<(), SolveError>>>>,
    /// What earlier solves of the same graph found, by node.
    memo: Mutex<Memo>,
}

/// A later solve of the same graph (the legacy mode solves it step after
/// step) takes a node's key and value from here instead of computing them
/// again: no content hashing, no cache lookup, and under `no_cache` no
/// second run, since `no_cache` is about earlier builds.
#[derive(Default)]
struct Memo {
    graph: Option<Arc<Graph>>,
    /// By node index.
    nodes: HashMap<usize, (Digest, Value)>,
}

impl<W: Worker> Scheduler<W> {
    pub fn new(worker: Arc<W>, opts: SolveOptions, progress: Progress) -> Self {
        let jobs = Semaphore::new(opts.jobs.max(1));
        let inner = Inner {
            worker,
            opts,
            progress,
            jobs,
            in_flight: Mutex::new(HashMap::new()),
            executed: AtomicUsize::new(0),
            cached: AtomicUsize::new(0),
            records: Mutex::default(),
            writes: Mutex::default(),
            memo: Mutex::default(),
        };
        Scheduler {
            inner: Arc::new(inner),
        }
    }

    /// Ops actually executed so far (cache misses).
    pub fn executed(&self) -> usize {
        self.inner.executed.load(Ordering::SeqCst)
    }

    /// Ops answered from the cache so far.
    pub fn cached(&self) -> usize {
        self.inner.cached.load(Ordering::SeqCst)
    }

    /// Every cacheable result of the solves so far: cache key and layer
    /// chain, in the order they completed (what `--cache-to` exports).
    pub fn records(&self) -> Vec<(Digest, Vec<Digest>)> {
        let records = self.inner.records.lock().expect("records poisoned");
        records
            .iter()
            .map(|(k, c)| (k.clone(), c.to_vec()))
            .collect()
    }

    /// Evaluates `target` and everything it needs, nothing else.
    pub async fn solve(&self, graph: Arc<Graph>, target: NodeId) -> SolveResult<Value> {
        {
            let mut memo = self.inner.memo.lock().expect("memo poisoned");
            if !memo.graph.as_ref().is_some_and(|g| Arc::ptr_eq(g, &graph)) {
                *memo = Memo {
                    graph: Some(graph.clone()),
                    nodes: HashMap::new(),
                };
            }
        }
        let mut futures: Vec<Option<NodeFuture>> = vec![None; graph.len()];
        for id in plan(&graph, target) {
            let inputs: Vec<NodeFuture> = graph
                .node(id)
                .inputs
                .iter()
                .map(|i| {
                    futures[i.index()]
                        .clone()
                        .expect("inputs precede their users")
                })
                .collect();
            let inner = self.inner.clone();
            let graph = graph.clone();
            let fut = async move {
                if let Some(done) = inner.remembered(id) {
                    return Ok(done);
                }
                let ready = try_join_all(inputs).await?;
                let (keys, values): (Vec<Digest>, Vec<Value>) = ready.into_iter().unzip();
                let done = inner.run_node(&graph, id, keys, values).await?;
                inner.remember(id, &done);
                Ok(done)
            };
            let fut: BoxFuture<'static, _> = Box::pin(fut);
            futures[id.index()] = Some(fut.shared());
        }
        let target = futures[target.index()]
            .clone()
            .expect("target was scheduled");
        drop(futures);
        let _clear = ClearInFlight(&self.inner.in_flight);
        let result = target.await.map(|(_, v)| v);
        // However the solve ended, what it recorded is on disk before it returns.
        let written = self.inner.finish_writes().await;
        let value = result?;
        written?;
        Ok(value)
    }
}

/// The nodes `target` needs (itself included), every input before its
/// users: a depth-first walk against the edges finds what is reachable,
/// petgraph's topological sort orders it. Nodes nothing needs never run.
fn plan(graph: &Graph, target: NodeId) -> Vec<NodeId> {
    let mut g = DiGraph::<NodeId, ()>::with_capacity(graph.len(), graph.len());
    let index: Vec<NodeIndex> = graph.iter().map(|(id, _)| g.add_node(id)).collect();
    for (id, node) in graph.iter() {
        for input in &node.inputs {
            g.add_edge(index[input.index()], index[id.index()], ());
        }
    }
    let mut needed = vec![false; graph.len()];
    let mut dfs = Dfs::new(Reversed(&g), index[target.index()]);
    while let Some(n) = dfs.next(Reversed(&g)) {
        needed[n.index()] = true;
    }
    // `Graph::add` only takes inputs that already exist, so a cycle can't be built.
    let order = toposort(&g, None).expect("graphs are acyclic by construction");
    order
        .into_iter()
        .filter(|n| needed[n.index()])
        .map(|n| g[n])
        .collect()
}

/// A run that a failure (or a cancelled solve) left unfinished still sits
/// in the in-flight map and holds `inner`: the cycle would keep its sandbox
/// running and the progress stream open for ever. Clearing the map on the
/// way out, however `solve` ends, drops those runs and kills their steps.
struct ClearInFlight<'a>(&'a Mutex<HashMap<Digest, RunFuture>>);

impl Drop for ClearInFlight<'_> {
    fn drop(&mut self) {
        let runs = std::mem::take(&mut *self.0.lock().expect("in-flight map poisoned"));
        // Dropped outside the lock: a run's drop may reach back into it.
        drop(runs);
    }
}

/// A cache hit imported from a remote cache, sharing the layers its inputs
/// already hold, so memory stays linear in the number of steps.
fn rebased(value: Value, inputs: &[Value]) -> Value {
    match value {
        Value::Layers(chain) => {
            Value::Layers(chain.rebased(inputs.iter().filter_map(Value::layers)))
        }
        local => local,
    }
}

/// The progress vertex id of graph node `id`.
pub fn vertex_id(id: NodeId) -> String {
    format!("n{}", id.0)
}

impl<W: Worker> Inner<W> {
    async fn run_node(
        self: &Arc<Self>,
        graph: &Graph,
        id: NodeId,
        keys: Vec<Digest>,
        values: Vec<Value>,
    ) -> SolveResult<(Digest, Value)> {
        let node = graph.node(id);
        let vertex = vertex_id(id);
        if matches!(
            node.op,
            Op::Scratch | Op::Image(_) | Op::Local(_) | Op::Http(_) | Op::Git(_) | Op::Merge
        ) {
            let digest = node_key(node, &keys, None);
            let present = self.worker.source_present(node);
            let announce = !matches!(node.op, Op::Scratch | Op::Merge) && !present;
            if announce {
                self.progress.started_keyed(&vertex, &node.name, &digest);
            }
            let value = self
                .worker
                .execute(id, node, &values)
                .await
                .map_err(|e| self.fail(&vertex, e))?;
            if announce {
                self.progress.done(&vertex);
            } else if present {
                self.progress.cached(&vertex, &node.name, Some(&digest));
            }
            // A download or git checkout is keyed by what it brought, so a changed file
            // invalidates the steps after it.
            let content = match (&node.op, value.layers()) {
                (Op::Http(_) | Op::Git(_), Some(layers)) => layers.last().cloned(),
                _ => None,
            };
            let key = node_key(node, &keys, content.as_ref());
            return Ok((key, value));
        }
        // Until the step runs, progress has not heard of it: a failure here
        // (a missing COPY source) announces it first, so it shows by name.
        let unstarted = |e| self.fail_unstarted(&vertex, &node.name, e);
        let content = self
            .worker
            .content_key(id, node, &values)
            .await
            .map_err(unstarted)?;
        let key = node_key(node, &keys, content.as_ref().map(|c| &c.digest));
        let use_cache = !self.opts.no_cache && !graph.ignores_cache(id);
        if use_cache {
            let mut hit = self.worker.cache_get(&key, &values).map_err(unstarted)?;
            if hit.is_none() {
                let imported = self.worker.cache_import(&key).await.map_err(unstarted)?;
                hit = imported.map(|value| rebased(value, &values));
            }
            if let Some(value) = hit {
                self.cached.fetch_add(1, Ordering::SeqCst);
                self.progress.cached(&vertex, &node.name, Some(&key));
                self.record(&key, &value);
                return Ok((key, value));
            }
        }
        // Only a miss lists its key's components: a hit never pays for it.
        let inputs = key_inputs(graph, id, &keys, content.as_ref(), &key);
        let explained = match self.opts.explain && use_cache {
            true => Some(self.worker.explain_miss(&inputs).await),
            false => None,
        };
        let run = self.shared_run(graph, id, (inputs, explained), values);
        let value = run.await?;
        self.record(&key, &value);
        Ok((key, value))
    }

    fn remembered(&self, id: NodeId) -> Option<(Digest, Value)> {
        let memo = self.memo.lock().expect("memo poisoned");
        memo.nodes.get(&id.index()).cloned()
    }

    fn remember(&self, id: NodeId, done: &(Digest, Value)) {
        let mut memo = self.memo.lock().expect("memo poisoned");
        memo.nodes.insert(id.index(), done.clone());
    }

    /// One execution per cache key, however many nodes ask for it.
    fn shared_run(
        self: &Arc<Self>,
        graph: &Graph,
        id: NodeId,
        (inputs, explained): (KeyInputs, Option<Vec<MissReason>>),
        values: Vec<Value>,
    ) -> RunFuture {
        let key = inputs.key.clone();
        let mut in_flight = self.in_flight.lock().expect("in-flight map poisoned");
        if let Some(existing) = in_flight.get(&key) {
            return existing.clone();
        }
        let inner = self.clone();
        let node = graph.node(id).clone();
        let key_owned = key.clone();
        let fut = async move {
            let vertex = vertex_id(id);
            let _permit = inner.jobs.acquire().await.expect("job semaphore closed");
            inner
                .progress
                .started_keyed(&vertex, &node.name, &key_owned);
            if let Some(reasons) = explained {
                inner.progress.cache_miss(&vertex, &node.name, reasons);
            }
            let value = inner
                .worker
                .execute(id, &node, &values)
                .await
                .map_err(|e| inner.fail(&vertex, e))?;
            inner.record_later(inputs, value.clone());
            inner.executed.fetch_add(1, Ordering::SeqCst);
            inner.progress.done(&vertex);
            Ok(value)
        };
        let fut: BoxFuture<'static, SolveResult<Value>> = Box::pin(fut);
        let shared = fut.shared();
        in_flight.insert(key, shared.clone());
        shared
    }

    /// Writes the cache record of an executed step on a blocking thread:
    /// its two fsyncs are off the path to the next step, which needs only
    /// the layers (already installed). `solve` waits for every write.
    /// The key's inputs are kept after its entry, so none outlives it.
    fn record_later(&self, inputs: KeyInputs, value: Value) {
        let worker = self.worker.clone();
        let write = tokio::task::spawn_blocking(move || {
            worker.cache_put(&inputs.key, &value)?;
            worker.record_inputs(&inputs);
            Ok(())
        });
        self.writes.lock().expect("writes poisoned").push(write);
    }

    /// Waits for the cache records written so far; the first failure is
    /// the solve's.
    async fn finish_writes(&self) -> SolveResult<()> {
        let writes = std::mem::take(&mut *self.writes.lock().expect("writes poisoned"));
        let mut first = Ok(());
        for write in writes {
            match write.await.map_err(SolveError::join("cache record")) {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) if first.is_ok() => first = Err(Arc::new(e)),
                Ok(Err(_)) | Err(_) => {}
            }
        }
        first
    }

    /// Remembers a cacheable result, for `--cache-to`.
    fn record(&self, key: &Digest, value: &Value) {
        if let Some(chain) = value.layers() {
            let mut records = self.records.lock().expect("records poisoned");
            records.push((key.clone(), chain.clone()));
        }
    }

    fn fail_unstarted(&self, vertex: &str, name: &str, e: SolveError) -> Arc<SolveError> {
        self.progress.started(vertex, name);
        self.fail(vertex, e)
    }

    fn fail(&self, vertex: &str, e: SolveError) -> Arc<SolveError> {
        self.progress.failed(vertex, &e.to_string());
        Arc::new(e)
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
