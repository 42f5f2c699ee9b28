//! Scheduler tests with a fake worker that counts calls and concurrency.

use super::*;
use crate::solve::types::BoxFuture;
use crate::solve::{SolveError, Value, Worker};
use mybuild_graph::{ExecOp, FileAction, FileOp, MkdirAction, NetworkMode, Node};
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

#[derive(Default)]
struct FakeWorker {
    running: AtomicUsize,
    peak: AtomicUsize,
    executions: AtomicUsize,
    cache: Mutex<HashMap<Digest, Value>>,
    fail_on: Option<String>,
    /// Makes every cache record fail to be written.
    fail_put: bool,
    /// Runs of `hang` dropped before they finished.
    cancelled: Arc<AtomicUsize>,
}

/// Counts a drop that comes before the run finished.
struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn exec(cmd: &str) -> Op {
    Op::Exec(ExecOp {
        args: vec![cmd.into()],
        env: vec![],
        cwd: "/".into(),
        user: String::new(),
        network: NetworkMode::None,
        mounts: vec![],
        env_extra: Default::default(),
        clamp_mtime: None,
    })
}

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

impl Worker for FakeWorker {
    fn content_key<'a>(
        &'a self,
        _: NodeId,
        _: &'a Node,
        _: &'a [Value],
    ) -> BoxFuture<'a, Result<Option<crate::explain::ContentKey>, SolveError>> {
        Box::pin(async { Ok(None) })
    }
    fn cache_get(&self, key: &Digest, _: &[Value]) -> Result<Option<Value>, SolveError> {
        Ok(self.cache.lock().unwrap().get(key).cloned())
    }
    fn cache_put(&self, key: &Digest, value: &Value) -> Result<(), SolveError> {
        if self.fail_put {
            return Err(SolveError::BadInput {
                step: "cache record".into(),
                input: 0,
            });
        }
        self.cache
            .lock()
            .unwrap()
            .insert(key.clone(), value.clone());
        Ok(())
    }
    fn execute<'a>(
        &'a self,
        _: NodeId,
        node: &'a Node,
        inputs: &'a [Value],
    ) -> BoxFuture<'a, Result<Value, SolveError>> {
        Box::pin(async move {
            let mut layers: Vec<Digest> = inputs
                .iter()
                .filter_map(|v| v.layers())
                .flat_map(|c| c.iter())
                .cloned()
                .collect();
            if let Op::Exec(x) = &node.op {
                if x.args[0] == "hang" {
                    let _count = CountDrop(self.cancelled.clone());
                    std::future::pending::<()>().await;
                }
                self.executions.fetch_add(1, Ordering::SeqCst);
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.running.fetch_sub(1, Ordering::SeqCst);
                if self.fail_on.as_deref() == Some(x.args[0].as_str()) {
                    return Err(SolveError::BadInput {
                        step: node.name.clone(),
                        input: 0,
                    });
                }
                layers.push(Digest::of(x.args[0].as_bytes()));
            } else if let Op::File(_) = &node.op {
                self.executions.fetch_add(1, Ordering::SeqCst);
                layers.push(Digest::of(node.name.as_bytes()));
            }
            Ok(Value::Layers(layers.into()))
        })
    }
}

/// Four independent branches joined at the end, like the `parallel` bench.
fn fan_in(graph: &mut Graph) -> NodeId {
    let base = graph.add(Op::Scratch, vec![], "scratch");
    let branches: Vec<NodeId> = (0..4)
        .map(|i| graph.add(exec(&format!("b{i}")), vec![base], format!("branch {i}")))
        .collect();
    let mut joined = graph.add(mkdir("/out"), vec![base], "join");
    for b in branches {
        joined = graph.add(mkdir("/x"), vec![joined, b], "join step");
    }
    joined
}

fn scheduler(worker: Arc<FakeWorker>, jobs: usize, no_cache: bool) -> Scheduler<FakeWorker> {
    Scheduler::new(
        worker,
        SolveOptions {
            no_cache,
            jobs,
            explain: false,
        },
        Progress::discard(),
    )
}

#[tokio::test]
async fn independent_branches_run_at_once() {
    let mut g = Graph::new();
    let target = fan_in(&mut g);
    let worker = Arc::new(FakeWorker::default());
    scheduler(worker.clone(), 8, false)
        .solve(Arc::new(g), target)
        .await
        .unwrap();
    assert_eq!(
        worker.peak.load(Ordering::SeqCst),
        4,
        "all four branches should overlap"
    );
}

#[tokio::test]
async fn records_are_written_when_solve_returns_and_a_failed_write_fails_it() {
    let mut g = Graph::new();
    let target = fan_in(&mut g);
    let g = Arc::new(g);
    let worker = Arc::new(FakeWorker::default());
    scheduler(worker.clone(), 8, false)
        .solve(g.clone(), target)
        .await
        .unwrap();
    assert_eq!(worker.cache.lock().unwrap().len(), 9, "every executed op");
    let failing = Arc::new(FakeWorker {
        fail_put: true,
        ..FakeWorker::default()
    });
    let err = scheduler(failing, 8, false)
        .solve(g, target)
        .await
        .unwrap_err();
    assert!(matches!(*err, SolveError::BadInput { ref step, .. } if step == "cache record"));
}

#[tokio::test]
async fn jobs_bound_concurrency() {
    let mut g = Graph::new();
    let target = fan_in(&mut g);
    let worker = Arc::new(FakeWorker::default());
    scheduler(worker.clone(), 2, false)
        .solve(Arc::new(g), target)
        .await
        .unwrap();
    assert_eq!(worker.peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn identical_ops_run_once() {
    let mut g = Graph::new();
    let base = g.add(Op::Scratch, vec![], "scratch");
    // Same op and input, different names: one cache key, so one execution.
    let a = g.add(exec("same"), vec![base], "stage a");
    let b = g.add(exec("same"), vec![base], "stage b");
    let j = g.add(mkdir("/j"), vec![a, b], "join");
    let worker = Arc::new(FakeWorker::default());
    let s = scheduler(worker.clone(), 8, false);
    s.solve(Arc::new(g), j).await.unwrap();
    assert_eq!(s.executed(), 2, "one exec + one mkdir");
    assert_eq!(worker.executions.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rebuild_is_all_cache_hits_and_no_cache_runs_again() {
    let mut g = Graph::new();
    let target = fan_in(&mut g);
    let g = Arc::new(g);
    let worker = Arc::new(FakeWorker::default());
    let first = scheduler(worker.clone(), 8, false);
    let v1 = first.solve(g.clone(), target).await.unwrap();
    let ops = first.executed();
    assert_eq!(ops, 9);
    let second = scheduler(worker.clone(), 8, false);
    let v2 = second.solve(g.clone(), target).await.unwrap();
    assert_eq!(v1, v2);
    assert_eq!(second.executed(), 0);
    // Only the target is looked up: it hits, so nothing below it is consulted.
    assert!(second.cached() >= 1);
    let third = scheduler(worker.clone(), 8, true);
    third.solve(g, target).await.unwrap();
    assert_eq!(third.executed(), ops);
}

#[tokio::test]
async fn later_solves_on_one_scheduler_reuse_its_results_even_without_cache() {
    // The legacy mode solves step after step: step k must not run steps
    // 1..k again, --no-cache or not.
    let mut g = Graph::new();
    let mut node = g.add(Op::Scratch, vec![], "scratch");
    let mut steps = Vec::new();
    for i in 0..5 {
        node = g.add(exec(&format!("step {i}")), vec![node], format!("step {i}"));
        steps.push(node);
    }
    let g = Arc::new(g);
    let worker = Arc::new(FakeWorker::default());
    let s = scheduler(worker.clone(), 8, true);
    for step in &steps {
        s.solve(g.clone(), *step).await.unwrap();
    }
    assert_eq!(s.executed(), 5);
    assert_eq!(worker.executions.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn unneeded_nodes_never_run() {
    let mut g = Graph::new();
    let base = g.add(Op::Scratch, vec![], "scratch");
    let _unused = g.add(exec("unused"), vec![base], "unused stage");
    let used = g.add(exec("used"), vec![base], "used stage");
    let worker = Arc::new(FakeWorker::default());
    scheduler(worker.clone(), 8, false)
        .solve(Arc::new(g), used)
        .await
        .unwrap();
    assert_eq!(worker.executions.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn failure_names_the_step_and_skips_dependents() {
    let mut g = Graph::new();
    let base = g.add(Op::Scratch, vec![], "scratch");
    let bad = g.add(exec("bad"), vec![base], "[2/3] RUN bad");
    let after = g.add(exec("after"), vec![bad], "[3/3] RUN after");
    let worker = Arc::new(FakeWorker {
        fail_on: Some("bad".into()),
        ..Default::default()
    });
    let err = scheduler(worker.clone(), 8, false)
        .solve(Arc::new(g), after)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("[2/3] RUN bad"), "{err}");
    assert_eq!(
        worker.executions.load(Ordering::SeqCst),
        1,
        "the dependent must not run"
    );
}

/// A failure while another branch still runs must not keep the progress
/// stream open: the CLI waits for it to close before it reports.
#[tokio::test]
async fn failure_beside_a_running_branch_closes_progress() {
    let mut g = Graph::new();
    let base = g.add(Op::Scratch, vec![], "scratch");
    let bad = g.add(exec("bad"), vec![base], "RUN bad");
    let slow = g.add(exec("slow-1"), vec![base], "RUN slow-1");
    let slow = g.add(exec("slow-2"), vec![slow], "RUN slow-2");
    let join = g.add(mkdir("/j"), vec![bad, slow], "join");
    let worker = Arc::new(FakeWorker {
        fail_on: Some("bad".into()),
        ..Default::default()
    });
    let (progress, mut events) = Progress::channel();
    let sched = Scheduler::new(
        worker,
        SolveOptions {
            no_cache: false,
            jobs: 8,
            explain: false,
        },
        progress,
    );
    assert!(sched.solve(Arc::new(g), join).await.is_err());
    drop(sched);
    let drained = tokio::time::timeout(Duration::from_secs(10), async {
        while events.recv().await.is_some() {}
    })
    .await;
    assert!(drained.is_ok(), "the progress stream never closed");
}

#[tokio::test]
async fn failure_cancels_the_branches_still_running() {
    let mut g = Graph::new();
    let base = g.add(Op::Scratch, vec![], "scratch");
    let bad = g.add(exec("bad"), vec![base], "RUN bad");
    let hang = g.add(exec("hang"), vec![base], "RUN hang");
    let join = g.add(mkdir("/j"), vec![bad, hang], "join");
    let worker = Arc::new(FakeWorker {
        fail_on: Some("bad".into()),
        ..Default::default()
    });
    let sched = scheduler(worker.clone(), 8, false);
    assert!(sched.solve(Arc::new(g), join).await.is_err());
    assert_eq!(worker.cancelled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn dropping_a_solve_cancels_its_runs() {
    let mut g = Graph::new();
    let base = g.add(Op::Scratch, vec![], "scratch");
    let hang = g.add(exec("hang"), vec![base], "RUN hang");
    let worker = Arc::new(FakeWorker::default());
    let sched = scheduler(worker.clone(), 8, false);
    let solve = sched.solve(Arc::new(g), hang);
    let timed_out = tokio::time::timeout(Duration::from_millis(200), solve).await;
    assert!(timed_out.is_err(), "hang cannot finish");
    assert_eq!(
        worker.cancelled.load(Ordering::SeqCst),
        1,
        "a cancelled solve (Ctrl-C) must drop the runs it started"
    );
}

#[test]
fn plan_takes_only_what_the_target_needs_inputs_first() {
    let mut g = Graph::new();
    let base = g.add(mkdir("/base"), vec![], "base");
    let unused = g.add(exec("unused"), vec![base], "unused");
    let left = g.add(exec("left"), vec![base], "left");
    let right = g.add(mkdir("/right"), vec![], "right");
    let top = g.add(exec("top"), vec![right, left], "top");
    let order = plan(&g, top);
    assert!(!order.contains(&unused), "{order:?}");
    assert_eq!(order.len(), 4, "{order:?}");
    let pos = |id| order.iter().position(|n| *n == id).unwrap();
    assert!(pos(base) < pos(left) && pos(left) < pos(top) && pos(right) < pos(top));
    assert_eq!(plan(&g, base), vec![base]);
}
