//! File steps (COPY/ADD/mkdir): no command runs, so no PID namespace or fork.
//! The helper mounts each layer-chain source read-only next to the
//! destination overlay and applies the actions with `crate::fileop`.

use super::helper::{scratch_dir, Layout};
use super::overlay;
use super::status::{SetupError, Status, StepExt};
use super::{FileTask, HelperRequest, SourceMount};
use crate::fileop::{self, SourceRoot};
use nix::mount::{mount, MsFlags};
use std::path::PathBuf;

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
    Ok(match fileop::apply(&layout.root, &sources, &task.actions) {
        Ok(()) => Status::Exited { code: 0 },
        Err(e) => Status::FileOp {
            message: e.to_string(),
        },
    })
}

/// A read-only view of a layer chain. Overlay needs two lowers when it has
/// no upper, so a single layer is bind-mounted and none is an empty dir.
pub(super) fn mount_layers(
    req: &HelperRequest,
    layout: &Layout,
    index: usize,
    lowers: &[PathBuf],
) -> Result<PathBuf, SetupError> {
    if lowers.is_empty() {
        return Ok(layout.empty.clone());
    }
    let target = scratch_dir(layout, &format!("source-{index}"))?;
    if lowers.len() > 1 {
        overlay::mount_overlay(lowers, None, &target, true)?;
        return Ok(target);
    }
    let layer = req.snapshots_root.join(&lowers[0]);
    let step = || format!("bind layer {} on {}", layer.display(), target.display());
    mount(
        Some(&layer),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .step(step)?;
    let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    mount(None::<&str>, &target, None::<&str>, ro, None::<&str>).step(step)?;
    Ok(target)
}
