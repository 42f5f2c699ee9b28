//! The file op (COPY/ADD/mkdir...): applies its actions in the sandbox on
//! its rootfs, with the other inputs mounted as copy sources. A copy from
//! the build context that ran before is first tried as a relink (`relink`):
//! the last snapshot's files shared, only changed ones written.

use super::relink::{now_secs, unique_suffix, Plan};
use super::task::run_task;
use crate::sandbox::{FileTask, JournalTarget, Task};
use crate::solve::build_worker::BuildWorker;
use crate::solve::chain::Chain;
use crate::solve::error::SolveError;
use crate::solve::layers::{rootfs, sources};
use crate::solve::types::Value;
use mybuild_graph::{FileOp, Node, NodeId};

/// Applies file op `f` of `node` on its first input.
pub(in crate::solve) async fn run(
    w: &BuildWorker,
    id: NodeId,
    node: &Node,
    inputs: &[Value],
    f: &FileOp,
) -> Result<Value, SolveError> {
    let chain = rootfs(node, inputs)?;
    let plan = Plan::of(node, chain, inputs, f);
    if let Some(plan) = plan.clone() {
        let store = w.store.clone();
        // Any failure here only means a full copy, which reports it.
        let relinked = tokio::task::spawn_blocking(move || plan.relink(&store)).await;
        if let Ok(Ok(Some(diff))) = relinked {
            return Ok(Value::Layers(Chain::on(chain, vec![diff])));
        }
    }
    let journal = plan.as_ref().map(|_| {
        let name = format!("journal-{}-{}", id.index(), unique_suffix());
        w.store.state_dir("tmp").join(name)
    });
    let task = Task::File(FileTask {
        actions: f.actions.clone(),
        sources: sources(w, node, inputs)?,
        journal: journal.clone().map(|path| JournalTarget {
            path,
            since: now_secs(),
        }),
    });
    let result = run_task(w, id, node, chain, task).await;
    if let (Some(plan), Some(path)) = (plan, journal) {
        let (store, diff) = (w.store.clone(), result.as_ref().ok().map(last_layer));
        let _ = tokio::task::spawn_blocking(move || match diff.flatten() {
            Some(diff) => plan.remember(&store, &diff, &path),
            None => drop(std::fs::remove_file(&path)),
        })
        .await;
    }
    result
}

fn last_layer(v: &Value) -> Option<mybuild_graph::Digest> {
    v.layers().and_then(|l| l.last()).cloned()
}
