//! The content part of a cache key: the digest of the build-context files
//! an op reads (COPY/ADD sources, RUN bind mounts), which the op's encoding
//! alone cannot capture.

use super::build_worker::BuildWorker;
use super::error::SolveError;
use super::types::Value;
use crate::context::selection_digest;
use mybuild_graph::{CopyAction, Digest, FileAction, KeyEncoder, MountKind, Node, Op};

/// The digest of every local selection `node` reads, or `None` when it
/// reads nothing from a local directory.
pub(super) async fn content_key(
    w: &BuildWorker,
    node: &Node,
    inputs: &[Value],
) -> Result<Option<Digest>, SolveError> {
    let mut enc = KeyEncoder::new();
    let mut reads_local = false;
    for c in &local_reads(&node.op) {
        let Some(Value::Local { path, exclude }) = inputs.get(c.source as usize) else {
            continue;
        };
        let (path, exclude, copy) = (path.clone(), exclude.clone(), c.clone());
        let hashes = w.hashes.get(&path).cloned();
        let step = node.name.clone();
        let digest = tokio::task::spawn_blocking(move || {
            let digest = selection_digest(&path, &exclude, &copy, hashes.as_deref());
            // Losing the cache file only costs a re-read next time.
            if let Some(h) = &hashes {
                let _ = h.save();
            }
            digest
        })
        .await
        .map_err(SolveError::join(step.clone()))?
        .map_err(|source| SolveError::Context { step, source })?;
        enc.digest(&digest);
        reads_local = true;
    }
    Ok(reads_local.then(|| enc.finish()))
}

/// What an op reads from its inputs, as copy selections: COPY/ADD sources,
/// and for RUN each bind mount's whole source tree.
fn local_reads(op: &Op) -> Vec<CopyAction> {
    match op {
        Op::File(f) => f
            .actions
            .iter()
            .filter_map(|a| match a {
                FileAction::Copy(c) => Some(c.clone()),
                _ => None,
            })
            .collect(),
        Op::Exec(x) => x
            .mounts
            .iter()
            .filter_map(|m| match &m.kind {
                MountKind::Bind { input, source, .. } => Some(CopyAction {
                    source: *input,
                    src: vec![source.clone()],
                    dest: m.target.clone(),
                    owner: None,
                    mode: None,
                    extract_archives: false,
                    parents: false,
                    exclude: Vec::new(),
                }),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}
