//! The content part of a cache key: the digest of the build-context files
//! an op reads (COPY/ADD sources, RUN bind mounts), which the op's encoding
//! alone cannot capture.

use super::build_worker::BuildWorker;
use super::error::SolveError;
use super::types::Value;
use crate::context::selection_digest_listed;
use crate::explain::{ContentKey, Selection};
use mybuild_graph::{CopyAction, FileAction, KeyEncoder, MountKind, Node, Op};

/// The digest of every local selection `node` reads, and what each read,
/// or `None` when it reads nothing from a local directory.
pub(super) async fn content_key(
    w: &BuildWorker,
    node: &Node,
    inputs: &[Value],
) -> Result<Option<ContentKey>, SolveError> {
    let mut enc = KeyEncoder::new();
    let mut selections = Vec::new();
    for c in &local_reads(&node.op) {
        let Some(Value::Local { path, exclude }) = inputs.get(c.source as usize) else {
            continue;
        };
        let (path, exclude, copy) = (path.clone(), exclude.clone(), c.clone());
        let hashes = w.hashes.get(&path).cloned();
        let step = node.name.clone();
        let selection = tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            let digest = selection_digest_listed(
                &path,
                &exclude,
                &copy,
                hashes.as_deref(),
                Some(&mut files),
            );
            // Losing the cache file only costs a re-read next time.
            if let Some(h) = &hashes {
                let _ = h.save();
            }
            digest.map(|digest| Selection { digest, files })
        })
        .await
        .map_err(SolveError::join(step.clone()))?
        .map_err(|source| SolveError::Context { step, source })?;
        enc.digest(&selection.digest);
        selections.push(selection);
    }
    Ok((!selections.is_empty()).then(|| ContentKey {
        digest: enc.finish(),
        selections,
    }))
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
