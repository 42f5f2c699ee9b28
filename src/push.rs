//! `mybuild push NAME[:TAG]` and `mybuild build --push`: an image from the
//! local store to its registry, compressed on the way (once per layer and
//! compression; the compressed blobs are kept for the next push). The
//! pushed `repo@digest` is recorded with the image, as Docker's RepoDigests.

use crate::output::CompressionArg;
use crate::store::open_store;
use crate::tagging::find;
use crate::units::human_size;
use anyhow::{bail, Context as _};
use clap::Args;
use mybuild_cache::export::image_manifest;
use mybuild_cache::oci::{Descriptor, ImageIndex, OCI_MANIFEST};
use mybuild_cache::Store;
use mybuild_graph::Digest;
use mybuild_registry::{OnPush, PushEvent, Reference, RegistryClient};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct PushArgs {
    /// Image to push, REGISTRY/NAME[:TAG]
    #[arg(value_name = "NAME[:TAG]")]
    pub image: String,
    /// Layer compression
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression: CompressionArg,
    /// Registry to reach over plain HTTP (loopback ones always are)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Print only the pushed manifest digest
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub async fn run(root: &Path, args: PushArgs) -> anyhow::Result<()> {
    let store = Arc::new(open_store(root)?);
    let found = find(&store, &args.image)?;
    let Some(name) = found.name else {
        bail!(
            "push {}: name the image REGISTRY/NAME[:TAG], not by id",
            args.image
        );
    };
    let client = RegistryClient::new(args.insecure_registries.clone())?;
    let quiet = args.quiet;
    let log = move |line: String| {
        if !quiet {
            println!("{line}");
        }
    };
    // Lines only: this command has no live view to draw byte bars in.
    let bytes = |_: &Digest, _, _| {};
    let image = PushImage {
        config: &found.config,
        compression: args.compression,
        annotations: &BTreeMap::new(),
    };
    let digest = push_tag(&store, &client, &name, image, log, bytes).await?;
    if quiet {
        println!("{digest}");
    } else {
        println!("{}: digest: {digest}", Reference::familiar_name(&name));
    }
    Ok(())
}

/// What [`push_tag`] pushes: the image, how its layers are compressed and
/// the annotations its manifest gets (`build --annotation`).
#[derive(Clone, Copy)]
pub struct PushImage<'a> {
    pub config: &'a Digest,
    pub compression: CompressionArg,
    pub annotations: &'a BTreeMap<String, String>,
}

/// The manifest JSON of `image` as it is pushed (annotations included).
pub async fn manifest_of(store: &Arc<Store>, image: PushImage<'_>) -> anyhow::Result<Vec<u8>> {
    let (s, c, compression) = (store.clone(), image.config.clone(), image.compression);
    let notes = image.annotations.clone();
    let (manifest, _) =
        tokio::task::spawn_blocking(move || image_manifest(&s, &c, compression.into(), &notes))
            .await??;
    Ok(manifest)
}

/// Pushes `image` as `name` (normalised), reporting each blob as a
/// `log` line and its upload as `bytes(digest, sent, total)` (paced).
pub async fn push_tag(
    store: &Arc<Store>,
    client: &RegistryClient,
    name: &str,
    image: PushImage<'_>,
    log: impl Fn(String) + Send + Sync + 'static,
    bytes: impl Fn(&Digest, u64, u64) + Send + Sync + 'static,
) -> anyhow::Result<Digest> {
    let r = Reference::parse(name).with_context(|| format!("invalid image name {name:?}"))?;
    let on = on_push(log, bytes);
    Ok(push_manifest(store, client, &r, image, &on).await?.0)
}

/// Pushes one image per platform to `name`'s repository, then an OCI
/// index of them (`(architecture, image)` each) as `name`: the index's
/// digest.
pub async fn push_platforms(
    store: &Arc<Store>,
    client: &RegistryClient,
    name: &str,
    images: &[(String, PushImage<'_>)],
    log: impl Fn(String) + Send + Sync + 'static,
    bytes: impl Fn(&Digest, u64, u64) + Send + Sync + 'static,
) -> anyhow::Result<Digest> {
    let r = Reference::parse(name).with_context(|| format!("invalid image name {name:?}"))?;
    // The platforms' manifests go by digest: only the index gets the tag.
    let by_digest = Reference {
        tag: None,
        ..r.clone()
    };
    let on = on_push(log, bytes);
    let mut manifests = Vec::new();
    for (arch, image) in images {
        let (_, manifest) = push_manifest(store, client, &by_digest, *image, &on).await?;
        manifests.push((arch.clone(), manifest));
    }
    let index = index_json(&manifests)?;
    client
        .push_index(&r, index, on)
        .await
        .with_context(|| format!("pushing the index of {name}"))
}

/// The OCI index of `(architecture, manifest JSON)` pairs, as pushed.
pub fn index_json(manifests: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<u8>> {
    let mut described = Vec::new();
    for (arch, manifest) in manifests {
        let media_type = serde_json::from_slice::<serde_json::Value>(manifest)?["mediaType"]
            .as_str()
            .unwrap_or(OCI_MANIFEST)
            .to_string();
        let desc = Descriptor::new(&media_type, Digest::of(manifest), manifest.len() as u64);
        described.push((arch.clone(), desc));
    }
    Ok(serde_json::to_vec(&ImageIndex::of_platforms(described))?)
}

/// One progress sink for a push: byte counts to `bytes`, the rest as lines.
fn on_push(
    log: impl Fn(String) + Send + Sync + 'static,
    bytes: impl Fn(&Digest, u64, u64) + Send + Sync + 'static,
) -> OnPush {
    Arc::new(move |e: PushEvent| match e {
        PushEvent::Sent {
            digest,
            sent,
            total,
        } => bytes(&digest, sent, total),
        e => log(describe(&e)),
    })
}

/// Pushes `image` as `r` and records the `repo@digest` with it: the
/// manifest's digest and bytes.
async fn push_manifest(
    store: &Arc<Store>,
    client: &RegistryClient,
    r: &Reference,
    image: PushImage<'_>,
    on: &OnPush,
) -> anyhow::Result<(Digest, Vec<u8>)> {
    let config = image.config;
    let manifest = manifest_of(store, image)
        .await
        .with_context(|| format!("preparing {r} for push"))?;
    let digest = client
        .push(store.clone(), r, manifest.clone(), on.clone())
        .await
        .with_context(|| format!("pushing {r}"))?;
    // What `inspect` shows as RepoDigests and `images --digests` as DIGEST.
    let repo_digest = format!("{}/{}@{digest}", r.registry, r.repository);
    store
        .add_repo_digest(config, &repo_digest)
        .with_context(|| format!("recording {repo_digest}"))?;
    Ok((digest, manifest))
}

fn describe(e: &PushEvent) -> String {
    match e {
        PushEvent::Sent {
            digest,
            sent,
            total,
        } => format!("pushing {digest} {sent}/{total}"),
        PushEvent::Exists { digest, .. } => format!("layer {digest} already exists"),
        PushEvent::Mounted { digest, from } => format!("mounted {digest} from {from}"),
        PushEvent::Uploaded { digest, size } => {
            format!("pushing {digest} {} done", human_size(*size))
        }
        PushEvent::Manifest { reference, digest } => {
            format!("pushing manifest for {reference}@{digest} done")
        }
    }
}
