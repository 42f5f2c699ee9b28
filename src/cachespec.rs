//! `--cache-to` / `--cache-from`: build cache shared through a registry
//! or a directory, with BuildKit's syntax.

use anyhow::{bail, Context as _};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use mybuild_registry::remote_cache::{export, inline, CacheLocation, RemoteCache};
use mybuild_registry::{Reference, RegistryClient};
use mybuild_solver::Progress;
use std::path::PathBuf;
use std::sync::Arc;

/// Which results `--cache-to` exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the steps whose result the final image is built on.
    Min,
    /// Every step of the build, intermediate stages included.
    Max,
}

/// Where `--cache-to` writes.
#[derive(Debug, Clone)]
pub enum CacheTarget {
    /// A cache of its own, in a registry or a directory.
    Export(CacheLocation),
    /// Records in the image config (`type=inline`), pushed with the image.
    Inline,
}

#[derive(Debug, Clone)]
pub struct CacheTo {
    pub target: CacheTarget,
    pub mode: Mode,
}

/// `k=v,k=v` of a cache flag's value.
pub(crate) fn fields(spec: &str, flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    spec.split(',')
        .map(|part| {
            part.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("{flag} {spec:?}: expected key=value, got {part:?}"))
        })
        .collect()
}

/// A `type=registry|local` cache's place.
pub(crate) fn location(
    kind: &str,
    path: Option<String>,
    reference: Option<String>,
    flag: &str,
    spec: &str,
) -> anyhow::Result<CacheLocation> {
    match kind {
        "registry" => {
            let r =
                reference.with_context(|| format!("{flag} {spec:?}: type=registry needs ref="))?;
            let r = Reference::parse(&r).with_context(|| format!("{flag} {spec:?}: ref {r:?}"))?;
            Ok(CacheLocation::Registry(r))
        }
        "local" => {
            let p =
                path.with_context(|| format!("{flag} {spec:?}: type=local needs a directory"))?;
            Ok(CacheLocation::Local(PathBuf::from(p)))
        }
        other => bail!("{flag} {spec:?}: unsupported type {other:?} (registry, local)"),
    }
}

/// `type=registry,ref=R[,mode=min|max]`, `type=local,dest=DIR[,mode=]`
/// or `type=inline` (always min: only the final image's layers are there).
pub fn parse_to(spec: &str) -> anyhow::Result<CacheTo> {
    let (mut kind, mut dest, mut reference, mut mode) = (None, None, None, Mode::Min);
    for (k, v) in fields(spec, "--cache-to")? {
        match k.as_str() {
            "type" => kind = Some(v),
            "dest" => dest = Some(v),
            "ref" => reference = Some(v),
            "mode" => {
                mode = match v.as_str() {
                    "min" => Mode::Min,
                    "max" => Mode::Max,
                    _ => bail!("--cache-to {spec:?}: mode must be min or max"),
                }
            }
            // Accepted for BuildKit compatibility; layers are always gzip here.
            "compression" | "oci-mediatypes" | "image-manifest" | "ignore-error" => {}
            _ => bail!("--cache-to {spec:?}: unknown key {k:?}"),
        }
    }
    let kind = kind.with_context(|| format!("--cache-to {spec:?}: missing type="))?;
    if kind == "inline" {
        if mode == Mode::Max {
            bail!("--cache-to {spec:?}: type=inline supports only mode=min");
        }
        return Ok(CacheTo {
            target: CacheTarget::Inline,
            mode,
        });
    }
    Ok(CacheTo {
        target: CacheTarget::Export(location(&kind, dest, reference, "--cache-to", spec)?),
        mode,
    })
}

/// `type=registry,ref=R`, `type=local,src=DIR`, or a bare image reference.
pub fn parse_from(spec: &str) -> anyhow::Result<CacheLocation> {
    if !spec.contains('=') {
        return location("registry", None, Some(spec.into()), "--cache-from", spec);
    }
    let (mut kind, mut src, mut reference) = (None, None, None);
    for (k, v) in fields(spec, "--cache-from")? {
        match k.as_str() {
            "type" => kind = Some(v),
            "src" => src = Some(v),
            "ref" => reference = Some(v),
            _ => bail!("--cache-from {spec:?}: unknown key {k:?}"),
        }
    }
    let kind = kind.with_context(|| format!("--cache-from {spec:?}: missing type="))?;
    location(&kind, src, reference, "--cache-from", spec)
}

/// Imports every `--cache-from`, reporting each as a progress vertex. A
/// cache that cannot be used (missing, unreachable, an ordinary image, a
/// BuildKit cache) is a warning and the build goes on without it, as with
/// BuildKit; `None` when no cache gave a record.
pub async fn import_all(
    from: &[CacheLocation],
    client: &RegistryClient,
    progress: &Progress,
) -> Option<Arc<RemoteCache>> {
    if from.is_empty() {
        return None;
    }
    let mut cache = RemoteCache::new(client.clone());
    for (i, loc) in from.iter().enumerate() {
        let vertex = format!("cache-from-{i}");
        progress.started(&vertex, &format!("importing cache manifest from {loc}"));
        let note = match cache.import(loc.clone()).await {
            Ok(n) => format!("{n} cache records\n"),
            Err(e) => {
                format!("WARNING: failed to import cache from {loc}: {e}; building without it\n")
            }
        };
        progress.status(&vertex, &note);
        progress.done(&vertex);
    }
    (!cache.is_empty()).then(|| Arc::new(cache))
}

/// Exports the build's records to every `--cache-to`.
pub async fn export_all(
    to: &[CacheTo],
    store: &Arc<Store>,
    client: &RegistryClient,
    records: Vec<(Digest, Vec<Digest>)>,
    final_chain: &[Digest],
    progress: &Progress,
) -> anyhow::Result<()> {
    for (i, c) in to.iter().enumerate() {
        // Inline records go into the image config instead (`inline_records`).
        let CacheTarget::Export(location) = &c.target else {
            continue;
        };
        let vertex = format!("cache-to-{i}");
        progress.started(&vertex, &format!("exporting cache to {location}"));
        let chosen: Vec<_> = records
            .iter()
            .filter(|(_, chain)| c.mode == Mode::Max || final_chain.starts_with(chain))
            .cloned()
            .collect();
        let n = chosen.len();
        match export(store, client, location, chosen).await {
            Ok(()) => {
                let note = format!("{n} cache records done\n");
                progress.status(&vertex, &note);
                progress.done(&vertex);
            }
            Err(e) => {
                progress.failed(&vertex, &e.to_string());
                return Err(e).with_context(|| format!("exporting cache to {location}"));
            }
        }
    }
    Ok(())
}

/// With a `--cache-to type=inline`, the records to put in the image config
/// under [`inline::INLINE_KEY`]: the key and its value.
pub fn inline_records(
    to: &[CacheTo],
    records: &[(Digest, Vec<Digest>)],
    final_chain: &[Digest],
) -> Option<(&'static str, serde_json::Value)> {
    to.iter()
        .any(|c| matches!(c.target, CacheTarget::Inline))
        .then(|| {
            (
                inline::INLINE_KEY,
                inline::records_value(records, final_chain),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_buildkit_cache_specs() {
        let to = parse_to("type=registry,ref=127.0.0.1:5000/app:cache,mode=max").unwrap();
        assert_eq!(to.mode, Mode::Max);
        assert!(
            matches!(&to.target, CacheTarget::Export(CacheLocation::Registry(r)) if r.to_string() == "127.0.0.1:5000/app:cache")
        );
        let to = parse_to("type=local,dest=/tmp/c").unwrap();
        assert_eq!(to.mode, Mode::Min);
        assert!(
            matches!(to.target, CacheTarget::Export(CacheLocation::Local(p)) if p == std::path::Path::new("/tmp/c"))
        );
        assert!(matches!(
            parse_to("type=inline").unwrap().target,
            CacheTarget::Inline
        ));
        assert!(parse_to("type=inline,mode=max").is_err());
        assert!(parse_to("type=gha").is_err());
        assert!(parse_to("type=local").is_err());
        assert!(parse_to("type=local,dest=x,mode=all").is_err());
        assert!(matches!(
            parse_from("type=local,src=/c").unwrap(),
            CacheLocation::Local(_)
        ));
        assert!(matches!(
            parse_from("reg:5000/app:cache").unwrap(),
            CacheLocation::Registry(_)
        ));
        assert!(parse_from("type=local,dest=/c").is_err());
    }
}
