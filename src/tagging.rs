//! `mybuild tag` and `mybuild rmi`, and how every image command finds the
//! image a user names: a name (`busybox`, `host:5000/app:1`) or an image id
//! (`sha256:...`, or a unique prefix of its hex as `docker images` shows it).

use crate::store::open_store;
use anyhow::{bail, Context as _};
use clap::Args;
use mybuild_cache::Store;
use mybuild_graph::Digest;
use mybuild_registry::Reference;
use std::path::Path;

#[derive(Args, Debug)]
pub struct TagArgs {
    /// Image to name (name or id)
    #[arg(value_name = "SOURCE_IMAGE")]
    pub source: String,
    /// New name, NAME[:TAG]
    #[arg(value_name = "TARGET_IMAGE")]
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Names or ids of the images to remove
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
    /// Remove an image by id even when several names point at it
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// What a user's word for an image resolved to.
pub struct Found {
    pub config: Digest,
    /// The normalised name used, when the user gave a name.
    pub name: Option<String>,
}

/// Finds an image by name or id, as `docker image inspect` does.
pub fn find(store: &Store, word: &str) -> anyhow::Result<Found> {
    if let Ok(r) = Reference::parse(word) {
        let name = r.to_string();
        if let Some(config) = store.resolve_tag(&name)? {
            return Ok(Found {
                config,
                name: Some(name),
            });
        }
    }
    let hex = word.strip_prefix("sha256:").unwrap_or(word);
    if !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        // Tagged and intermediate images alike, as `docker images -a` lists them.
        if let Some(config) = store.find_image_id(&hex.to_ascii_lowercase())? {
            return Ok(Found { config, name: None });
        }
    }
    bail!("no such image: {word}")
}

pub fn tag(root: &Path, args: TagArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let found = find(&store, &args.source)?;
    let target = Reference::parse(&args.target)
        .with_context(|| format!("invalid target name {:?}", args.target))?;
    if target.digest.is_some() {
        bail!(
            "invalid target name {:?}: a digest cannot be a tag",
            args.target
        );
    }
    store.tag(&target.to_string(), &found.config)?;
    Ok(())
}

/// Untags names; an id removes all of its names (with `--force` when it
/// has more than one, as Docker asks). Layers stay as build cache until
/// `mybuild prune`.
pub fn rmi(root: &Path, args: RmiArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    // Like Docker: the others are still removed, and every failure is
    // reported once, together, at the end.
    let mut failed = Vec::new();
    for word in &args.images {
        if let Err(e) = remove_one(&store, word, args.force) {
            failed.push(crate::errors::messages(&e).join(": "));
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}

fn remove_one(store: &Store, word: &str, force: bool) -> anyhow::Result<()> {
    let found = find(store, word)?;
    let names =
        match found.name {
            Some(name) => vec![name],
            None => {
                let names = store.names_of(&found.config)?;
                if names.len() > 1 && !force {
                    bail!(
                    "image {} is referenced by {} names ({}): remove them by name, or use --force",
                    found.config.short(),
                    names.len(),
                    names.iter().map(|n| Reference::familiar_name(n)).collect::<Vec<_>>().join(", ")
                );
                }
                names
            }
        };
    for name in &names {
        store.untag(name)?;
        println!("Untagged: {}", Reference::familiar_name(name));
    }
    if store.names_of(&found.config)?.is_empty() {
        store.remove_intermediate(&found.config)?;
        println!("Deleted: {}", found.config);
    }
    Ok(())
}
