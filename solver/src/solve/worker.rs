//! [`BuildWorker`]'s [`Worker`] impl: dispatch only. Each op family runs in
//! its own file under `ops`; cache access is in `cache`, content keys in
//! `content`.

use super::build_worker::BuildWorker;
use super::error::SolveError;
use super::ops::{exec, file, merge, source};
use super::types::{BoxFuture, Value, Worker};
use super::{cache, content};
use crate::explain::{closest, ContentKey, KeyInputs, MissReason};
use mybuild_graph::{Digest, Node, NodeId, Op};

impl Worker for BuildWorker {
    fn content_key<'a>(
        &'a self,
        _: NodeId,
        node: &'a Node,
        inputs: &'a [Value],
    ) -> BoxFuture<'a, Result<Option<ContentKey>, SolveError>> {
        Box::pin(content::content_key(self, node, inputs))
    }

    fn cache_get(&self, key: &Digest, inputs: &[Value]) -> Result<Option<Value>, SolveError> {
        cache::get(self, key, inputs)
    }

    fn cache_put(&self, key: &Digest, value: &Value) -> Result<(), SolveError> {
        cache::put(self, key, value)
    }

    fn cache_import<'a>(
        &'a self,
        key: &'a Digest,
    ) -> BoxFuture<'a, Result<Option<Value>, SolveError>> {
        Box::pin(cache::import(self, key))
    }

    fn explain_miss<'a>(&'a self, inputs: &'a KeyInputs) -> BoxFuture<'a, Vec<MissReason>> {
        let (records, now) = (self.records.clone(), inputs.clone());
        Box::pin(async move {
            let diff = move || closest(&now, &records.load(&now.step));
            // A failed read only loses the explanation, never the build.
            tokio::task::spawn_blocking(diff).await.unwrap_or_default()
        })
    }

    fn record_inputs(&self, inputs: &KeyInputs) {
        // Best effort: a lost record only costs a later explanation.
        let _ = self.records.save(inputs);
    }

    fn source_present(&self, node: &Node) -> bool {
        match &node.op {
            Op::Image(img) => self.images.present(&img.reference, img.digest.as_ref()),
            _ => false,
        }
    }

    fn execute<'a>(
        &'a self,
        id: NodeId,
        node: &'a Node,
        inputs: &'a [Value],
    ) -> BoxFuture<'a, Result<Value, SolveError>> {
        Box::pin(async move {
            match &node.op {
                Op::Scratch => Ok(source::scratch()),
                Op::Merge => merge::run(node, inputs),
                Op::Image(img) => source::image(self, id, node, img).await,
                Op::Http(h) => source::http(self, node, h).await,
                Op::Git(g) => source::git(self, node, g).await,
                Op::Local(l) => source::local(self, node, l),
                Op::Exec(x) => exec::run(self, id, node, inputs, x).await,
                Op::File(f) => file::run(self, id, node, inputs, f).await,
            }
        })
    }
}
