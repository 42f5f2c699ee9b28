//! The exec op (RUN): resolves its `--mount`s, then runs the command in the
//! sandbox on its rootfs. Cache-mount locks are held until the step ends.

use super::task::run_task;
use crate::sandbox::{ExecTask, SandboxMount, Task};
use crate::solve::build_worker::BuildWorker;
use crate::solve::error::SolveError;
use crate::solve::layers::{rootfs, sources};
use crate::solve::mounts::{self, Held};
use crate::solve::types::Value;
use mybuild_graph::{ExecMount, ExecOp, Node, NodeId};

/// Runs `RUN` `x` of `node` on its first input.
pub(in crate::solve) async fn run(
    w: &BuildWorker,
    id: NodeId,
    node: &Node,
    inputs: &[Value],
    x: &ExecOp,
) -> Result<Value, SolveError> {
    let chain = rootfs(node, inputs)?;
    let (mounts, held) = exec_mounts(w, node, inputs, &x.mounts).await?;
    let mut env = x.env.clone();
    env.extend(held.env.iter().cloned());
    let task = Task::Exec(ExecTask {
        args: x.args.clone(),
        env,
        cwd: x.cwd.clone(),
        user: x.user.clone(),
        network: x.network,
        hostname: "buildkitsandbox".into(),
        mounts,
        console: Default::default(),
        env_extra: x.env_extra.clone(),
    });
    let result = run_task(w, id, node, chain, task).await;
    drop(held);
    result
}

/// The sandbox's view of `RUN --mount`s; cache locks are held until
/// the returned guard is dropped.
async fn exec_mounts(
    w: &BuildWorker,
    node: &Node,
    inputs: &[Value],
    mounts: &[ExecMount],
) -> Result<(Vec<SandboxMount>, Held), SolveError> {
    if mounts.is_empty() {
        return Ok((Vec::new(), Held::default()));
    }
    let sources = sources(w, node, inputs)?;
    let (step, mounts) = (node.name.clone(), mounts.to_vec());
    let (store, secrets, agents) = (w.store.clone(), w.secrets.clone(), w.ssh_agents.clone());
    let step2 = step.clone();
    tokio::task::spawn_blocking(move || {
        let source_of = |i: u32| {
            sources
                .get(i as usize)
                .cloned()
                .ok_or(SolveError::BadInput {
                    step: step2.clone(),
                    input: i as usize,
                })
        };
        let given = mounts::Given {
            secrets: &secrets,
            agents: &agents,
        };
        mounts::resolve(&step2, &mounts, &store, given, source_of)
    })
    .await
    .map_err(SolveError::join(step))?
}
