//! `--cache-mounts-to` / `--cache-mounts-from`: the contents of `RUN
//! --mount=type=cache` directories carried to a fresh machine (an
//! ephemeral CI runner keeps its apt, pip or npm caches), in a registry or
//! a directory, one archive per cache id.
//!
//! Export packs the shared copy of every cache id the build's steps
//! mount, smallest first until `max-size` is reached. Import unpacks each
//! archive into its id's directory only when that directory is missing or
//! empty: a cache this machine already holds is at least as fresh.

use crate::cachespec::{fields, location};
use crate::units::parse_size;
use anyhow::{bail, Context as _};
use mybuild_cache::Store;
use mybuild_graph::{Graph, MountKind, Op};
use mybuild_registry::remote_cache::mounts::{export_mounts, import_mounts, MountArchive};
use mybuild_registry::remote_cache::CacheLocation;
use mybuild_registry::RegistryClient;
use mybuild_solver::fileop::{unpack_tarball, TarballKind};
use mybuild_solver::{cache_mount_dir, Progress};
use std::collections::BTreeSet;
use std::io::{Seek as _, Write as _};
use std::path::Path;
use std::sync::Arc;

/// Without `max-size`, archives stop at 1 GiB in all.
const DEFAULT_MAX: u64 = 1 << 30;

/// A `--cache-mounts-to`: where, and how much at most.
#[derive(Debug, Clone)]
pub struct MountsTo {
    pub location: CacheLocation,
    pub max_size: u64,
}

/// `type=local,dest=DIR` or `type=registry,ref=REF`, with `max-size=SIZE`.
pub fn parse_to(spec: &str) -> anyhow::Result<MountsTo> {
    let flag = "--cache-mounts-to";
    let (mut kind, mut dest, mut reference, mut max_size) = (None, None, None, DEFAULT_MAX);
    for (k, v) in fields(spec, flag)? {
        match k.as_str() {
            "type" => kind = Some(v),
            "dest" => dest = Some(v),
            "ref" => reference = Some(v),
            "max-size" => {
                max_size =
                    parse_size(&v).map_err(|e| anyhow::anyhow!("{flag} {spec:?}: max-size: {e}"))?
            }
            _ => bail!("{flag} {spec:?}: unknown key {k:?}"),
        }
    }
    let kind = kind.with_context(|| format!("{flag} {spec:?}: missing type="))?;
    let location = location(&kind, dest, reference, flag, spec)?;
    Ok(MountsTo { location, max_size })
}

/// `type=local,src=DIR` or `type=registry,ref=REF`.
pub fn parse_from(spec: &str) -> anyhow::Result<CacheLocation> {
    let flag = "--cache-mounts-from";
    let (mut kind, mut src, mut reference) = (None, None, None);
    for (k, v) in fields(spec, flag)? {
        match k.as_str() {
            "type" => kind = Some(v),
            "src" => src = Some(v),
            "ref" => reference = Some(v),
            _ => bail!("{flag} {spec:?}: unknown key {k:?}"),
        }
    }
    let kind = kind.with_context(|| format!("{flag} {spec:?}: missing type="))?;
    location(&kind, src, reference, flag, spec)
}

/// The ids of every cache mount a step of `graph` uses, sorted.
pub fn mount_ids(graph: &Graph) -> Vec<String> {
    let mut ids = BTreeSet::new();
    for (_, node) in graph.iter() {
        let Op::Exec(x) = &node.op else { continue };
        for m in &x.mounts {
            if let MountKind::Cache { id, .. } = &m.kind {
                ids.insert(id.clone());
            }
        }
    }
    ids.into_iter().collect()
}

/// Imports every `--cache-mounts-from` before the build. One that cannot
/// be read is a warning: the build goes on with the caches it has.
pub async fn import_all(
    store: &Arc<Store>,
    client: &RegistryClient,
    from: &[CacheLocation],
    progress: &Progress,
) {
    for location in from {
        let vertex = format!("cache-mounts-from {location}");
        progress.started(&vertex, &format!("importing cache mounts from {location}"));
        let result = import_one(store, client, location).await;
        let line = match result {
            Ok(report) => report,
            Err(e) => format!("WARNING: cache mounts from {location} not used: {e:#}\n"),
        };
        progress.status(&vertex, &line);
        progress.done(&vertex);
    }
}

async fn import_one(
    store: &Arc<Store>,
    client: &RegistryClient,
    location: &CacheLocation,
) -> anyhow::Result<String> {
    let archives = import_mounts(store, client, location).await?;
    let store = store.clone();
    let filled = tokio::task::spawn_blocking(move || unpack_all(&store, &archives))
        .await
        .context("cache mounts thread")??;
    Ok(format!("{filled} cache mount(s) filled\n"))
}

/// Unpacks each archive into its id's directory when that is missing or
/// empty; returns how many were filled.
fn unpack_all(store: &Store, archives: &[MountArchive]) -> anyhow::Result<usize> {
    let mut filled = 0;
    for a in archives {
        let dir = cache_mount_dir(store, &a.id);
        let empty = match std::fs::read_dir(&dir) {
            Ok(mut entries) => entries.next().is_none(),
            Err(_) => true,
        };
        if !empty {
            continue;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut file = store.open_blob(&a.digest)?;
        let name = format!("cache mount {:?}", a.id);
        match unpack_tarball(&mut file, &dir, &name)? {
            TarballKind::Unpacked => filled += 1,
            TarballKind::NotArchive => bail!("{name}: not a tar archive"),
        }
    }
    Ok(filled)
}

/// Exports the cache mounts named `ids` to every `--cache-mounts-to`.
pub async fn export_all(
    store: &Arc<Store>,
    client: &RegistryClient,
    to: &[MountsTo],
    ids: Vec<String>,
    progress: &Progress,
) -> anyhow::Result<()> {
    for target in to {
        let location = &target.location;
        let vertex = format!("cache-mounts-to {location}");
        progress.started(&vertex, &format!("exporting cache mounts to {location}"));
        let (s, i, max) = (store.clone(), ids.clone(), target.max_size);
        let (archives, left_out) = tokio::task::spawn_blocking(move || pack_all(&s, &i, max))
            .await
            .context("cache mounts thread")??;
        for id in left_out {
            let line = format!("WARNING: cache mount {id:?} left out: over max-size\n");
            progress.status(&vertex, &line);
        }
        export_mounts(store, client, location, &archives)
            .await
            .with_context(|| format!("exporting cache mounts to {location}"))?;
        let n = archives.len();
        progress.status(&vertex, &format!("{n} cache mount(s) exported\n"));
        progress.done(&vertex);
    }
    Ok(())
}

/// Packs each existing cache directory into a store blob, smallest first
/// while the total stays within `max`; returns the archives and the ids
/// left out for size.
fn pack_all(
    store: &Store,
    ids: &[String],
    max: u64,
) -> anyhow::Result<(Vec<MountArchive>, Vec<String>)> {
    let mut packed = Vec::new();
    for id in ids {
        let dir = cache_mount_dir(store, id);
        if dir.is_dir() {
            let (digest, size) =
                pack(store, &dir).with_context(|| format!("packing cache mount {id:?}"))?;
            packed.push(MountArchive {
                id: id.clone(),
                digest,
                size,
            });
        }
    }
    packed.sort_by_key(|a| a.size);
    let (mut kept, mut left_out, mut total) = (Vec::new(), Vec::new(), 0u64);
    for a in packed {
        if total + a.size <= max {
            total += a.size;
            kept.push(a);
        } else {
            left_out.push(a.id);
        }
    }
    kept.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((kept, left_out))
}

/// `dir` as a gzip tar in the store (links kept as links, owners and
/// modes as they are).
fn pack(store: &Store, dir: &Path) -> anyhow::Result<(mybuild_graph::Digest, u64)> {
    // Spooled to an unlinked file: a cache can be far bigger than memory.
    let mut tar = tar::Builder::new(tempfile::tempfile()?);
    tar.follow_symlinks(false);
    tar.append_dir_all(".", dir)?;
    let mut raw = tar.into_inner()?;
    raw.seek(std::io::SeekFrom::Start(0))?;
    let mut ingest = store.ingest()?;
    mybuild_cache::export::gzip(&mut std::io::BufReader::new(raw), &mut ingest)?;
    ingest.flush()?;
    Ok(ingest.commit(None)?)
}
