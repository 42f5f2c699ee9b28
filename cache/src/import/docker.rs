//! `docker save` archives: `manifest.json` lists each image's config file,
//! its RepoTags and its layer files, at whatever paths the writer chose
//! (`<id>/layer.tar` and `<hex>.json` before Docker 25, `blobs/sha256/<hex>`
//! since). The image id is the digest of the config file.

use super::archive::Archive;
use super::error::ImportError;
use super::plan::{
    check_digest, config_diff_ids, parse_json, push_name, ImagePlan, LayerSource, JSON_LIMIT,
};
use crate::oci::DockerArchiveEntry;
use mybuild_graph::Digest;

const MANIFEST: &str = "manifest.json";

pub(super) fn plan(ar: &Archive) -> Result<Vec<ImagePlan>, ImportError> {
    let bytes = ar.read_small(MANIFEST, "the archive layout", JSON_LIMIT)?;
    let entries: Vec<DockerArchiveEntry> = parse_json(ar, MANIFEST, &bytes)?;
    entries.into_iter().map(|e| plan_image(ar, e)).collect()
}

fn plan_image(ar: &Archive, e: DockerArchiveEntry) -> Result<ImagePlan, ImportError> {
    let config_entry = ar.reference(&e.config)?;
    let config = ar.read_small(&config_entry, MANIFEST, JSON_LIMIT)?;
    if let Some(claimed) = named_digest(&config_entry, true) {
        check_digest(ar, &config_entry, &claimed, Digest::of(&config))?;
    }
    let diff_ids = config_diff_ids(ar, &config_entry, &config, e.layers.len())?;
    let layers = e
        .layers
        .iter()
        .map(|path| {
            let entry = ar.reference(path)?;
            Ok(LayerSource {
                digest: named_digest(&entry, false),
                entry,
                size: None,
                media_type: None,
            })
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let mut names = Vec::new();
    for tag in &e.repo_tags {
        push_name(&mut names, tag);
    }
    Ok(ImagePlan {
        config_entry,
        config,
        diff_ids,
        layers,
        names,
    })
}

/// The digest a content-addressed entry name claims: `blobs/sha256/<hex>`,
/// or for a config also the old `<hex>.json`.
fn named_digest(entry: &str, config: bool) -> Option<Digest> {
    let hex = entry.strip_prefix("blobs/sha256/").or_else(|| {
        config
            .then(|| entry.strip_suffix(".json"))
            .flatten()
            .filter(|h| !h.contains('/'))
    })?;
    Digest::parse(&format!("sha256:{hex}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addressed_names_claim_their_digest() {
        let d = Digest::of(b"x");
        let blob = format!("blobs/sha256/{}", d.hex());
        assert_eq!(named_digest(&blob, false), Some(d.clone()));
        assert_eq!(
            named_digest(&format!("{}.json", d.hex()), true),
            Some(d.clone())
        );
        assert_eq!(named_digest(&format!("{}.json", d.hex()), false), None);
        assert_eq!(named_digest(&format!("{}/layer.tar", d.hex()), false), None);
        assert_eq!(named_digest("config.json", true), None);
    }
}
