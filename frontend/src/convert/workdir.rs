//! WORKDIR: sets the working directory and creates it, like BuildKit, as a
//! layer of its own. Directories it creates belong to the stage's USER (as
//! BuildKit's `llb.Mkdir(..., WithUser(user))`), existing ones stay as they are.

use super::converter::Converter;
use super::error::StepError;
use super::state::{resolve_path, Stage};
use crate::instructions::Command;
use mybuild_graph::{FileAction, FileOp, MkdirAction, Op, Owner};
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
            owner: user_owner(&stage.user()),
        };
        let op = Op::File(FileOp {
            actions: vec![FileAction::Mkdir(mkdir)],
            // The directories it makes get the build's time, not the clock's.
            clamp_mtime: self.epoch,
        });
        let name = stage.step_name_for(&cmd.original, self.escape);
        stage.node = self.graph.add(op, vec![stage.node], name);
        stage.config.push_history(&format!("WORKDIR {wd}"), true);
        Ok(())
    }
}

/// The owner that `USER spec` gives new directories; none for an unset USER.
fn user_owner(spec: &str) -> Option<Owner> {
    if spec.is_empty() {
        return None;
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g.to_string())),
        None => (spec, None),
    };
    Some(Owner {
        user: user.to_string(),
        group,
    })
}

#[cfg(test)]
mod tests {
    use super::user_owner;
    use mybuild_graph::Owner;

    #[test]
    fn workdir_dirs_belong_to_the_user() {
        assert_eq!(user_owner(""), None);
        assert_eq!(
            user_owner("nobody"),
            Some(Owner {
                user: "nobody".into(),
                group: None
            })
        );
        assert_eq!(
            user_owner("0:123"),
            Some(Owner {
                user: "0".into(),
                group: Some("123".into())
            })
        );
    }
}
