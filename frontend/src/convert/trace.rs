//! The classic builder's view of a build: every instruction of every stage
//! up to the target, in Dockerfile order, with the filesystem node and the
//! image config after it. The legacy mode walks this list step by step.

use super::converter::Converter;
use super::legacy::{LegacyKind, LegacyStep};
use super::state::Stage;
use crate::instructions::{Command, Instruction};
use mybuild_graph::NodeId;

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
