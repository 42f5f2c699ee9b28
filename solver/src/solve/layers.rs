//! How input values look to the sandbox: a layer chain as overlay lower
//! dirs, the build context as a directory read in place.

use super::build_worker::BuildWorker;
use super::chain::Chain;
use super::error::SolveError;
use super::types::Value;
use crate::sandbox::SourceMount;
use mybuild_cache::Store;
use mybuild_graph::{Digest, Node};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Overlay lower dirs for a chain, top-most first, relative to the snapshot root.
///
/// A layer can occur more than once in a chain (two `RUN true` steps
/// have the same empty diff), but overlayfs refuses a lower dir given
/// twice (ELOOP). Only the top-most occurrence is kept: whatever a layer
/// holds, whites out or makes opaque, its upper copy already decides, so
/// a lower copy of the same layer can change nothing that is visible.
pub(super) fn lowers(
    w: &BuildWorker,
    step: &str,
    chain: &Chain,
) -> Result<Vec<PathBuf>, SolveError> {
    overlay_lowers(&w.store, chain.iter()).map_err(|layer| SolveError::MissingLayer {
        step: step.to_string(),
        layer,
    })
}

/// [`lowers`] for any caller of the sandbox (`mybuild run`); the error is
/// the layer whose snapshot is missing. A long chain ([`flat_limits`])
/// is its top layers over one flat view of the rest
/// (`Store::flat_view`), which keeps a mount and every lookup in it from
/// costing one step per layer; if the view cannot be made, every layer is
/// mounted as before.
pub fn overlay_lowers<'a>(
    store: &Store,
    chain: impl DoubleEndedIterator<Item = &'a Digest>,
) -> Result<Vec<PathBuf>, Digest> {
    let chain: Vec<&Digest> = chain.collect();
    let (above, step) = flat_limits();
    let flat = chain.len() - chain.len() % step;
    if chain.len() > above && flat > 0 {
        let below: Vec<Digest> = chain[..flat].iter().map(|d| (*d).clone()).collect();
        if let Ok(Some(view)) = store.flat_view(&below, step) {
            let mut lowers = layer_dirs(store, chain[flat..].iter().copied())?;
            lowers.push(view);
            return Ok(lowers);
        }
    }
    layer_dirs(store, chain.into_iter())
}

/// The snapshot dirs of `chain`, top-most first, each layer once.
fn layer_dirs<'a>(
    store: &Store,
    chain: impl DoubleEndedIterator<Item = &'a Digest>,
) -> Result<Vec<PathBuf>, Digest> {
    let root = store.snapshots_root();
    let mut seen = HashSet::new();
    chain
        .rev()
        .filter(|d| seen.insert(*d))
        .map(|d| {
            let dir = store.snapshot_dir(d).ok_or_else(|| d.clone())?;
            Ok(dir
                .strip_prefix(&root)
                .map(|p| p.to_path_buf())
                .unwrap_or(dir))
        })
        .collect()
}

/// Chains longer than the first are mounted over a flat view of a multiple
/// of the second: 128 and 64, or `$MYBUILD_FLAT=ABOVE,STEP` (tests set it
/// low, to run every build with views).
fn flat_limits() -> (usize, usize) {
    static LIMITS: OnceLock<(usize, usize)> = OnceLock::new();
    *LIMITS.get_or_init(|| {
        let set = std::env::var("MYBUILD_FLAT").ok();
        let parsed = set.as_deref().and_then(|v| {
            let (above, step) = v.split_once(',')?;
            Some((above.parse().ok()?, step.parse().ok().filter(|s| *s > 0)?))
        });
        parsed.unwrap_or((128, 64))
    })
}

/// The step's root filesystem: its first input, which must be layers.
pub(super) fn rootfs<'v>(node: &Node, inputs: &'v [Value]) -> Result<&'v Chain, SolveError> {
    inputs
        .first()
        .and_then(Value::layers)
        .ok_or_else(|| SolveError::BadInput {
            step: node.name.clone(),
            input: 0,
        })
}

/// The sandbox's view of every input; input 0 (the rootfs) is
/// [`SourceMount::None`], as it is the step's own root.
pub(super) fn sources(
    w: &BuildWorker,
    node: &Node,
    inputs: &[Value],
) -> Result<Vec<SourceMount>, SolveError> {
    let mut sources = vec![SourceMount::None];
    for value in inputs.iter().skip(1) {
        sources.push(match value {
            Value::Local { path, exclude } => SourceMount::Dir {
                path: path.clone(),
                exclude: exclude.clone(),
            },
            Value::Layers(chain) => SourceMount::Layers {
                lowers: lowers(w, &node.name, chain)?,
            },
        });
    }
    Ok(sources)
}
