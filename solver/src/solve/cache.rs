//! The worker's side of the build cache: looking a key up in the local
//! store, recording a result, and importing a record from `--cache-from`
//! on a local miss.

use super::build_worker::BuildWorker;
use super::chain::Chain;
use super::error::SolveError;
use super::types::Value;
use mybuild_graph::Digest;

/// The chain recorded for `key`, if the store still has all of it. The
/// longest of `inputs`' chains that the entry starts with is shared, not
/// read again: it is present (the input was just built or hit), so only
/// the layers above it are parsed and checked, and memory stays linear in
/// the number of steps.
pub(super) fn get(
    w: &BuildWorker,
    key: &Digest,
    inputs: &[Value],
) -> Result<Option<Value>, SolveError> {
    let read = w.store.cache_read(key);
    let Some(entry) = read.map_err(SolveError::store("cache lookup"))? else {
        return Ok(None);
    };
    let base = inputs
        .iter()
        .filter_map(Value::layers)
        .filter(|b| {
            b.len() <= entry.len()
                && b.iter()
                    .zip(entry.layer_names())
                    .all(|(d, n)| d.as_str() == n)
        })
        .max_by_key(|b| b.len());
    let known = base.map_or(0, Chain::len);
    let above = w
        .store
        .cache_layers_above(key, &entry, known)
        .map_err(SolveError::store("cache lookup"))?;
    Ok(above.map(|top| match base {
        Some(base) => Value::Layers(Chain::on(base, top)),
        None => Value::Layers(top.into()),
    }))
}

/// Records a layer result; a local directory is never cached.
pub(super) fn put(w: &BuildWorker, key: &Digest, value: &Value) -> Result<(), SolveError> {
    match value {
        Value::Layers(chain) => w
            .store
            .cache_put(key, &chain.to_vec())
            .map_err(SolveError::store("cache record")),
        Value::Local { .. } => Ok(()),
    }
}

/// Fetches the record for `key` from the remote cache, if one is set and
/// has it, and records it locally so the next lookup finds it.
pub(super) async fn import(w: &BuildWorker, key: &Digest) -> Result<Option<Value>, SolveError> {
    let Some(remote) = &w.remote else {
        return Ok(None);
    };
    let fetched = remote
        .fetch(&w.store, key)
        .await
        .map_err(|source| SolveError::CacheImport {
            step: format!("import cache record {key}"),
            source: Box::new(source),
        })?;
    let Some(chain) = fetched else {
        return Ok(None);
    };
    let (store, k, c) = (w.store.clone(), key.clone(), chain.clone());
    tokio::task::spawn_blocking(move || store.cache_put(&k, &c))
        .await
        .map_err(SolveError::join("cache record"))?
        .map_err(SolveError::store("cache record"))?;
    Ok(Some(Value::Layers(chain.into())))
}
