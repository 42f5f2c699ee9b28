//! File steps (COPY/ADD/mkdir): no command runs, so no PID namespace or fork.
//! The helper mounts each layer-chain source read-only next to the
//! destination overlay and applies the actions with `crate::fileop`.

use super::layout::{mount_layers, Layout};
use super::status::{SetupError, Status};
use super::{FileTask, HelperRequest, SourceMount};
use crate::fileop::journal::Recorder;
use crate::fileop::{self, SourceRoot};

pub(super) fn run(
    req: &HelperRequest,
    layout: &Layout,
    task: &FileTask,
) -> Result<Status, SetupError> {
    // File modes come from the actions (or the sources), not from a umask.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let mut sources = Vec::with_capacity(task.sources.len());
    for (i, source) in task.sources.iter().enumerate() {
        sources.push(match source {
            SourceMount::None => None,
            SourceMount::Dir { path, exclude } => Some(SourceRoot {
                path: path.clone(),
                exclude: exclude.clone(),
                preserve_owner: false,
            }),
            SourceMount::Layers { lowers } => Some(SourceRoot {
                path: mount_layers(req, layout, i, lowers)?,
                exclude: Vec::new(),
                preserve_owner: true,
            }),
        });
    }
    // Without its journal the step is still right; only the next build
    // of it copies everything again.
    let recorder = task
        .journal
        .as_ref()
        .and_then(|j| Recorder::create(&j.path, j.since).ok());
    let result = fileop::apply_recorded(&layout.root, &sources, &task.actions, recorder.as_ref());
    if let (Some(j), Some(recorder)) = (&task.journal, recorder) {
        if result.is_err() || recorder.finish().is_err() {
            let _ = std::fs::remove_file(&j.path);
        }
    }
    Ok(match result {
        Ok(()) => Status::Exited { code: 0 },
        Err(e) => Status::FileOp {
            message: e.to_string(),
        },
    })
}
