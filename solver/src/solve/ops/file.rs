//! The file op (COPY/ADD/mkdir...): applies its actions in the sandbox on
//! its rootfs, with the other inputs mounted as copy sources.

use super::task::run_task;
use crate::sandbox::{FileTask, Task};
use crate::solve::build_worker::BuildWorker;
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
    let task = Task::File(FileTask {
        actions: f.actions.clone(),
        sources: sources(w, node, inputs)?,
    });
    run_task(w, id, node, chain, task).await
}
