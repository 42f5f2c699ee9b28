//! The helper's private scratch space: where the overlay root, empty
//! stand-ins and per-source mount points live, and the read-only views of
//! layer chains that file steps and RUN bind mounts read from.

use super::overlay;
use super::status::{SetupError, StepExt};
use super::HelperRequest;
use nix::mount::{mount, MsFlags};
use std::path::PathBuf;

/// Where things live inside the helper's private tmpfs on `merged`, which
/// keeps the caller's `merged` dir empty on disk and vanishes with the
/// helper's mount namespace.
pub(super) struct Layout {
    /// The tmpfs mounted on the request's `merged`.
    pub scratch: PathBuf,
    /// The overlay: the step's root filesystem.
    pub root: PathBuf,
    /// The request's upper dir.
    pub upper: PathBuf,
    /// An empty dir, standing in for a missing lower layer.
    pub empty: PathBuf,
}

/// `dir/name`, for scratch mount points.
pub(super) fn scratch_dir(layout: &Layout, name: &str) -> Result<PathBuf, SetupError> {
    let dir = layout.scratch.join(name);
    std::fs::create_dir(&dir).step(|| format!("create {}", dir.display()))?;
    Ok(dir)
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
