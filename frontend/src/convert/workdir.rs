//! WORKDIR: sets the working directory and creates it, like BuildKit, as a
//! layer of its own.

use super::state::{resolve_path, Stage};
use super::{Converter, StepError};
use crate::instructions::Command;
use mybuild_graph::{FileAction, FileOp, MkdirAction, Op};
use serde_json::json;

impl Converter<'_> {
    pub(super) fn workdir(
        &mut self,
        stage: &mut Stage,
        cmd: &Command,
        path: &str,
    ) -> Result<(), StepError> {
        let expanded = stage.expand(path, self.escape)?;
        let wd = resolve_path(&stage.workdir(), &expanded);
        stage.config.set("WorkingDir", Some(json!(wd)));
        let mkdir = MkdirAction {
            path: wd.clone(),
            mode: 0o755,
            parents: true,
            owner: None,
        };
        let op = Op::File(FileOp {
            actions: vec![FileAction::Mkdir(mkdir)],
        });
        let name = stage.step_name_for(&cmd.original, self.escape);
        stage.node = self.graph.add(op, vec![stage.node], name);
        stage.config.push_history(&format!("WORKDIR {wd}"), true);
        Ok(())
    }
}
