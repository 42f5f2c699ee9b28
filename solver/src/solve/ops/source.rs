//! Source ops, always evaluated (never cached by key): scratch, a registry
//! image's layers, a file fetched over HTTP, a git checkout, and a local directory handed
//! over by name.

use crate::solve::build_worker::BuildWorker;
use crate::solve::chain::Chain;
use crate::solve::error::SolveError;
use crate::solve::fetch::fetch;
use crate::solve::git::fetch_git;
use crate::solve::scheduler::vertex_id;
use crate::solve::types::Value;
use mybuild_graph::{GitSource, HttpSource, ImageSource, LocalSource, Node, NodeId};
use std::time::Duration;

/// The empty filesystem.
pub(in crate::solve) fn scratch() -> Value {
    Value::Layers(Chain::default())
}

/// The image's layers, pulled and unpacked as needed.
pub(in crate::solve) async fn image(
    w: &BuildWorker,
    id: NodeId,
    node: &Node,
    img: &ImageSource,
) -> Result<Value, SolveError> {
    let layers = w
        .images
        .layers(
            &img.reference,
            img.digest.as_ref(),
            &w.progress,
            &vertex_id(id),
        )
        .await
        .map_err(|source| SolveError::Registry {
            step: node.name.clone(),
            source,
        })?;
    Ok(Value::Layers(layers.into()))
}

/// `ADD <url>`: the downloaded file as a one-layer chain.
pub(in crate::solve) async fn http(
    w: &BuildWorker,
    node: &Node,
    h: &HttpSource,
) -> Result<Value, SolveError> {
    let client = w.http.get_or_init(|| {
        // A server that stops answering fails the step instead of hanging
        // the build.
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .read_timeout(Duration::from_secs(120))
            .build()
            .unwrap_or_default()
    });
    let diff = fetch(client, &w.store, h)
        .await
        .map_err(|source| SolveError::Fetch {
            step: node.name.clone(),
            source: Box::new(source),
        })?;
    Ok(Value::Layers(Chain::new(vec![diff])))
}

/// `ADD <git url>`: the commit's tree as a one-layer chain.
pub(in crate::solve) async fn git(
    w: &BuildWorker,
    node: &Node,
    g: &GitSource,
) -> Result<Value, SolveError> {
    let diff = fetch_git(&w.store, g)
        .await
        .map_err(|source| SolveError::Git {
            step: node.name.clone(),
            source: Box::new(source),
        })?;
    Ok(Value::Layers(Chain::new(vec![diff])))
}

/// The host directory the build named `l.name`, read in place.
pub(in crate::solve) fn local(
    w: &BuildWorker,
    node: &Node,
    l: &LocalSource,
) -> Result<Value, SolveError> {
    let path = w.locals.get(&l.name).ok_or_else(|| SolveError::NoLocal {
        step: node.name.clone(),
        name: l.name.clone(),
    })?;
    Ok(Value::Local {
        path: path.clone(),
        exclude: l.exclude.clone(),
    })
}
