//! One legacy step: solve its node while echoing the step's own output,
//! then commit the intermediate image and settle its container.

use super::{Legacy, StepExit};
use crate::config::finalize_chain;
use anyhow::{anyhow, Context as _};
use mybuild_cache::{ContainerRecord, ContainerState};
use mybuild_frontend::{LegacyKind, LegacyStep};
use mybuild_graph::{Digest, NodeId, Op};
use mybuild_solver::{vertex_id, LogStream, ProgressEvent, SolveError, Value};
use std::sync::Arc;

/// What the events of one solve said about its target vertex.
#[derive(Default)]
pub(crate) struct Watch {
    /// The target executed (a cache miss).
    ran: bool,
    /// The container it ran in, once `Running in` was printed.
    container: Option<String>,
}

impl Legacy {
    /// FROM: makes the base image present (pulled when it is not local).
    pub(crate) async fn base(&mut self, step: &LegacyStep) -> anyhow::Result<()> {
        let (result, _) = self.solve(step.node, false).await;
        result
            .map(|_| ())
            .map_err(|e| anyhow!("{}: {e}", step.text))
    }

    /// RUN, COPY/ADD or a config change on top of image `parent`; returns
    /// the intermediate image's id. `changed`: the step made a new node
    /// (a config change alone does not).
    pub(crate) async fn step(
        &mut self,
        step: &LegacyStep,
        parent: Option<&Digest>,
        changed: bool,
    ) -> anyhow::Result<Digest> {
        let run = step.kind == LegacyKind::Run;
        let (result, watch) = self.solve(step.node, run && changed).await;
        let value = match result {
            Ok(v) => v,
            Err(e) => return Err(self.failed(step, parent, &e, watch)),
        };
        let chain = value
            .layers()
            .with_context(|| format!("{}: not a filesystem", step.text))?
            .to_vec();
        let store = self.store.clone();
        let config = step.config.clone();
        let chain2 = chain.clone();
        let config =
            tokio::task::spawn_blocking(move || finalize_chain(&store, config, &chain2, None))
                .await??;
        let id = Digest::of(&config);
        let cached = if changed {
            !watch.ran
        } else {
            !self.no_cache && self.store.has_blob(&id)
        };
        if cached {
            self.out.line(" ---> Using cache");
        } else if step.kind != LegacyKind::Copy {
            let cid = match watch.container {
                Some(c) => c,
                None => {
                    let c = new_container_id()?;
                    self.out.line(&format!(" ---> Running in {}", &c[..12]));
                    c
                }
            };
            let state = if run {
                ContainerState::Exited {
                    code: 0,
                    finished: crate::config::rfc3339_nanos(std::time::SystemTime::now()),
                }
            } else {
                ContainerState::Created
            };
            let layer = if run && changed {
                chain.last().cloned()
            } else {
                None
            };
            self.settle(cid, step, parent, state, layer, self.policy.rm)?;
        }
        self.store.put_image(&config)?;
        self.store.put_intermediate(&id, parent)?;
        Ok(id)
    }

    /// Removes the container (`remove`) or records it for `ps -a`.
    fn settle(
        &self,
        cid: String,
        step: &LegacyStep,
        parent: Option<&Digest>,
        state: ContainerState,
        layer: Option<Digest>,
        remove: bool,
    ) -> anyhow::Result<()> {
        if remove {
            self.store.remove_container(&cid)?;
            self.out
                .line(&format!("Removing intermediate container {}", &cid[..12]));
            return Ok(());
        }
        let rec = ContainerRecord {
            id: cid,
            image: parent.cloned(),
            command: self.command(step),
            created: crate::config::rfc3339_nanos(std::time::SystemTime::now()),
            state,
            layer,
            name: None,
        };
        self.store.put_container(&rec)?;
        Ok(())
    }

    /// A failed step: a RUN's container is kept (its filesystem too) unless
    /// `--force-rm`, and its exit code becomes mybuild's.
    fn failed(
        &self,
        step: &LegacyStep,
        parent: Option<&Digest>,
        e: &Arc<SolveError>,
        watch: Watch,
    ) -> anyhow::Error {
        let SolveError::ExecFailed { command, code, .. } = e.as_ref() else {
            return anyhow!("{}: {e}", step.text);
        };
        let parked = self.parked.join(vertex_id(step.node));
        let cid = match watch.container.map(Ok).unwrap_or_else(new_container_id) {
            Ok(c) => c,
            Err(e) => return e,
        };
        let state = ContainerState::Exited {
            code: *code,
            finished: crate::config::rfc3339_nanos(std::time::SystemTime::now()),
        };
        let kept = if self.policy.force_rm {
            let _ = std::fs::remove_dir_all(&parked);
            Ok(())
        } else {
            self.keep_upper(&cid, &parked)
        };
        if let Err(e) =
            kept.and_then(|()| self.settle(cid, step, parent, state, None, self.policy.force_rm))
        {
            return e;
        }
        StepExit {
            command: command.clone(),
            code: *code,
        }
        .into()
    }

    fn keep_upper(&self, cid: &str, parked: &std::path::Path) -> anyhow::Result<()> {
        let upper = self.store.container_upper(cid);
        if let Some(dir) = upper.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::rename(parked, &upper)
            .with_context(|| format!("keeping {} as {}", parked.display(), upper.display()))
    }

    /// The command line `ps -a` shows: a RUN's, or the classic builder's
    /// `#(nop)` marker for a config change.
    fn command(&self, step: &LegacyStep) -> Vec<String> {
        match &self.graph.node(step.node).op {
            Op::Exec(x) if step.kind == LegacyKind::Run => x.args.clone(),
            _ => {
                let mut cmd = step.shell.clone();
                cmd.push(format!("#(nop) {}", step.text));
                cmd
            }
        }
    }

    /// Solves `node`, echoing its output as it comes; `announce` prints
    /// `Running in` when it starts.
    pub(crate) async fn solve(
        &mut self,
        node: NodeId,
        announce: bool,
    ) -> (Result<Value, Arc<SolveError>>, Watch) {
        let target = vertex_id(node);
        let mut watch = Watch::default();
        let solve = self.scheduler.solve(self.graph.clone(), node);
        tokio::pin!(solve);
        loop {
            tokio::select! {
                biased;
                Some(ev) = self.events.recv() => watch.event(ev, &target, announce, &self.out),
                result = &mut solve => {
                    // Every event of the solve was sent before it returned.
                    while let Ok(ev) = self.events.try_recv() {
                        watch.event(ev, &target, announce, &self.out);
                    }
                    return (result, watch);
                }
            }
        }
    }
}

impl Watch {
    fn event(&mut self, ev: ProgressEvent, target: &str, announce: bool, out: &super::Out) {
        match ev {
            ProgressEvent::Started { vertex, .. } if vertex == target => {
                self.ran = true;
                if announce {
                    match new_container_id() {
                        Ok(cid) => {
                            out.line(&format!(" ---> Running in {}", &cid[..12]));
                            self.container = Some(cid);
                        }
                        Err(e) => out.line(&format!("warning: {e}")),
                    }
                }
            }
            ProgressEvent::Log {
                vertex,
                stream,
                data,
                ..
            } if vertex == target => match stream {
                LogStream::Stdout => out.raw(&data),
                // The daemon colours stderr chunks red.
                LogStream::Stderr => {
                    let mut red = b"\x1b[91m".to_vec();
                    red.extend_from_slice(&data);
                    red.extend_from_slice(b"\x1b[0m");
                    out.raw(&red);
                }
            },
            _ => {}
        }
    }
}

/// 64 random hex digits, as Docker's container ids.
pub(crate) fn new_container_id() -> anyhow::Result<String> {
    use std::io::Read as _;
    let mut raw = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .context("reading /dev/urandom for a container id")?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}
