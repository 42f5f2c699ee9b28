//! The classic builder's view of a build: every instruction of every stage
//! up to the target, in Dockerfile order, with the filesystem node and the
//! image config after it. The legacy mode walks this list step by step.

use super::state::Stage;
use super::Converter;
use crate::instructions::{Command, Instruction};
use mybuild_graph::{Digest, NodeId};

/// What kind of step the classic builder makes of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyKind {
    /// An `ARG` before the first `FROM`: printed, nothing committed.
    GlobalArg,
    /// `FROM`: the base image (its id when it is an image, the stage index
    /// when it is an earlier stage, neither for `scratch`).
    From {
        image: Option<Digest>,
        stage: Option<usize>,
    },
    /// `RUN`: a container runs the command.
    Run,
    /// `COPY` / `ADD`: a layer made without a container.
    Copy,
    /// Everything else: a container is created (not started) to commit
    /// the config change.
    Meta,
}

/// One step as `Step N/M : TEXT` shows it.
#[derive(Debug, Clone)]
pub struct LegacyStep {
    /// The instruction as written (continuation lines joined).
    pub text: String,
    pub kind: LegacyKind,
    /// The stage (index) it belongs to; 0 for global ARGs.
    pub stage: usize,
    /// The stage's filesystem after this step.
    pub node: NodeId,
    /// The stage's image config after this step.
    pub config: serde_json::Value,
    /// The config's command line and shell, for the container it runs in.
    pub shell: Vec<String>,
}

impl Converter<'_> {
    /// Notes a step of stage `i`, when tracing.
    pub(super) fn trace(&mut self, i: usize, cmd: &Command, stage: &Stage, kind: LegacyKind) {
        if let Some(steps) = &mut self.trace {
            steps.push(LegacyStep {
                text: cmd.original.clone(),
                kind,
                stage: i,
                node: stage.node,
                config: stage.config.to_value(),
                shell: stage.shell(),
            });
        }
    }

    /// Global ARGs come first, with no filesystem (node 0 is never read).
    pub(super) fn trace_global_args(&mut self) {
        let cmds = self.stages.meta_cmds.clone();
        if let Some(steps) = &mut self.trace {
            for cmd in cmds {
                steps.push(LegacyStep {
                    text: cmd.original.clone(),
                    kind: LegacyKind::GlobalArg,
                    stage: 0,
                    node: NodeId(0),
                    config: serde_json::Value::Null,
                    shell: Vec::new(),
                });
            }
        }
    }
}

/// The legacy kind of a command inside a stage.
pub(super) fn kind_of(cmd: &Command) -> LegacyKind {
    match cmd.instruction {
        Instruction::Run(_) => LegacyKind::Run,
        Instruction::Copy(_) => LegacyKind::Copy,
        _ => LegacyKind::Meta,
    }
}
