//! Runs an exec or file step in the sandbox over its rootfs chain and
//! commits the upper dir as the step's new layer (its file times clamped
//! first when the op carries a `SOURCE_DATE_EPOCH`). A RUN that exits non-zero
//! becomes [`SolveError::ExecFailed`] with the tail of its output.

use super::tail::Tail;
use crate::progress::{LogStream, Progress};
use crate::sandbox::{
    Console, HelperRequest, KillOnDrop, KillSwitch, OutputStream, Sandbox, SandboxError, Task,
};
use crate::solve::build_worker::{BuildWorker, DebugShell};
use crate::solve::chain::Chain;
use crate::solve::error::SolveError;
use crate::solve::layers::lowers;
use crate::solve::scheduler::vertex_id;
use crate::solve::types::Value;
use mybuild_cache::{Store, WorkDir};
use mybuild_graph::{Digest, Node, NodeId, Op};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Runs `task` on top of `chain`; the result is `chain` plus the new layer.
pub(super) async fn run_task(
    w: &BuildWorker,
    id: NodeId,
    node: &Node,
    chain: &Chain,
    task: Task,
) -> Result<Value, SolveError> {
    let step = node.name.clone();
    let lowers = lowers(w, &step, chain)?;
    let vertex = vertex_id(id);
    let run = SandboxRun {
        step: step.clone(),
        command: match &task {
            Task::Exec(x) => x.args.join(" "),
            Task::File(_) => String::new(),
        },
        keep: w.keep_failed.as_ref().map(|d| d.join(&vertex)),
        shell: w.debug_shell.clone(),
        vertex,
        clamp: clamp_of(&node.op),
        store: w.store.clone(),
        sandbox: w.sandbox.clone(),
        progress: w.progress.clone(),
    };
    // Dropping this future (a failed branch, Ctrl-C) kills the step.
    let switch = KillSwitch::default();
    let guard = KillOnDrop::new(switch.clone());
    let diff = tokio::task::spawn_blocking(move || run.run(lowers, task, &switch)).await;
    guard.defuse();
    let diff = diff.map_err(SolveError::join(step))??;
    Ok(Value::Layers(Chain::on(chain, vec![diff])))
}

/// What the blocking side of a step needs, moved onto its thread.
struct SandboxRun {
    step: String,
    /// The RUN command as reported on failure; empty for file steps.
    command: String,
    vertex: String,
    /// Where to keep the upper dir of a RUN that exits non-zero.
    keep: Option<PathBuf>,
    /// Opened on a RUN that exits non-zero (`--on-error=shell`).
    shell: Option<Arc<dyn DebugShell>>,
    /// `SOURCE_DATE_EPOCH` the new layer's file times are clamped to.
    clamp: Option<u64>,
    store: Arc<Store>,
    sandbox: Arc<Sandbox>,
    progress: Progress,
}

impl SandboxRun {
    /// Blocking: runs the helper in a fresh work dir, streaming its output
    /// to progress, and commits the upper dir; returns the layer's diff_id.
    fn run(
        self,
        lowers: Vec<PathBuf>,
        task: Task,
        switch: &KillSwitch,
    ) -> Result<Digest, SolveError> {
        let wd = self
            .store
            .work_dir()
            .map_err(SolveError::store(&self.step))?;
        let req = HelperRequest {
            snapshots_root: self.store.snapshots_root(),
            lowers,
            upper: wd.upper(),
            work: wd.work(),
            merged: wd.merged(),
            task,
        };
        let mut tail = Tail::default();
        let mut on_output = |stream, data: &[u8]| {
            let stream = match stream {
                OutputStream::Stdout => LogStream::Stdout,
                OutputStream::Stderr => LogStream::Stderr,
            };
            self.progress.log(&self.vertex, stream, data);
            tail.push(data);
        };
        let result = self.sandbox.run_killable(&req, &mut on_output, switch);
        if let (Err(SandboxError::Exited { .. }), Some(shell)) = (&result, &self.shell) {
            match debug_request(&req, &wd) {
                Ok(Some(req)) => shell.open(&self.sandbox, req, &self.step),
                Ok(None) => {}
                Err(source) => {
                    return Err(SolveError::Sandbox {
                        step: self.step.clone(),
                        source,
                    })
                }
            }
        }
        self.check(result, &wd, tail)?;
        if let Some(epoch) = self.clamp {
            mybuild_cache::clamp_mtimes(&wd.upper(), epoch)
                .map_err(SolveError::store(&self.step))?;
        }
        let diff = self
            .store
            .commit_upper(&wd.upper())
            .map_err(SolveError::store(&self.step))?;
        // The upper dir is a snapshot now; the rest goes off the step's path.
        wd.discard(&self.store);
        Ok(diff)
    }

    /// Turns the sandbox's outcome into the step's: a non-zero exit keeps
    /// the upper dir when asked and reports the output's tail.
    fn check(
        &self,
        result: Result<(), SandboxError>,
        wd: &WorkDir,
        tail: Tail,
    ) -> Result<(), SolveError> {
        match result {
            Ok(()) => Ok(()),
            Err(SandboxError::Exited { code }) => {
                if let Some(keep) = &self.keep {
                    keep_upper(&wd.upper(), keep).map_err(|source| SolveError::KeepFailed {
                        step: self.step.clone(),
                        path: keep.clone(),
                        source,
                    })?;
                }
                Err(SolveError::ExecFailed {
                    step: self.step.clone(),
                    command: self.command.clone(),
                    code,
                    tail: tail.lines(),
                })
            }
            Err(source) => Err(SolveError::Sandbox {
                step: self.step.clone(),
                source,
            }),
        }
    }
}

/// The failed RUN's request for its debug shell: same filesystem (its
/// upper dir holds what the command wrote), environment and mounts, on a
/// terminal, with the command left for the shell to choose. Its overlay
/// needs a work dir of its own: the step's is marked by its `volatile`
/// mount and refused by a second one.
fn debug_request(req: &HelperRequest, wd: &WorkDir) -> Result<Option<HelperRequest>, SandboxError> {
    let mut req = req.clone();
    let Task::Exec(x) = &mut req.task else {
        return Ok(None);
    };
    x.args.clear();
    x.console = Console::Tty;
    req.work = wd.path().join("shell-work");
    std::fs::create_dir(&req.work).map_err(|source| SandboxError::Io {
        step: "create the debug shell's work dir",
        source,
    })?;
    Ok(Some(req))
}

/// The clamp an op asks for; it is part of the op's cache key.
fn clamp_of(op: &Op) -> Option<u64> {
    match op {
        Op::Exec(x) => x.clamp_mtime,
        Op::File(f) => f.clamp_mtime,
        _ => None,
    }
}

/// Moves a failed step's upper dir out of its work dir before the work dir
/// is deleted.
fn keep_upper(upper: &Path, keep: &Path) -> std::io::Result<()> {
    if let Some(parent) = keep.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::rename(upper, keep)
}
