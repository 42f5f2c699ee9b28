//! `--iidfile` and `--metadata-file`: what scripts read back after a build.
//! The iid file holds the image id (the config digest, no newline, as
//! docker writes it); the metadata file is buildx's JSON with the config
//! digest, the manifest's digest and descriptor, and the image names.

use super::session::Session;
use crate::push::{manifest_of, PushImage};
use anyhow::Context as _;
use mybuild_cache::oci::OCI_MANIFEST;
use mybuild_graph::Digest;
use serde_json::{json, Value};
use std::path::Path;

impl Session<'_> {
    /// The image as `--push` sends it: the build's compression and
    /// `--annotation`s.
    pub(super) fn push_image<'a>(&'a self, id: &'a Digest) -> PushImage<'a> {
        PushImage {
            config: id,
            compression: self.opts.compression,
            annotations: &self.opts.annotations,
        }
    }

    /// Writes `--iidfile` and `--metadata-file` for image `id`; `pushed` is
    /// the manifest digest the registry got, if the build pushed.
    pub(super) async fn write_result_files(
        &self,
        id: &Digest,
        pushed: Option<Digest>,
    ) -> anyhow::Result<()> {
        if let Some(path) = &self.opts.iidfile {
            write(path, id.as_str().as_bytes())?;
        }
        let Some(path) = &self.opts.metadata_file else {
            return Ok(());
        };
        // The manifest the image has (or would have) in a registry: the
        // same bytes a push sends, so the digest matches a pushed one.
        let manifest = manifest_of(&self.store, self.push_image(id))
            .await
            .context("preparing the image manifest for --metadata-file")?;
        // The layers' compressed blobs are kept, so these are the pushed
        // bytes; the registry's answer still wins.
        let digest = pushed.unwrap_or_else(|| Digest::of(&manifest));
        let doc = metadata(id, &digest, &manifest, &self.opts.tag_names());
        let text = serde_json::to_string_pretty(&doc)?;
        write(path, text.as_bytes())
    }
}

/// buildx's metadata JSON for one image.
fn metadata(id: &Digest, digest: &Digest, manifest: &[u8], names: &[String]) -> Value {
    let media_type = serde_json::from_slice::<Value>(manifest)
        .ok()
        .and_then(|m| m["mediaType"].as_str().map(str::to_string))
        // A manifest without a mediaType field is an OCI one.
        .unwrap_or_else(|| OCI_MANIFEST.to_string());
    let mut doc = json!({
        "containerimage.config.digest": id.as_str(),
        "containerimage.digest": digest.as_str(),
        "containerimage.descriptor": {
            "mediaType": media_type,
            "digest": digest.as_str(),
            "size": manifest.len(),
        },
    });
    if !names.is_empty() {
        doc["image.name"] = names.join(",").into();
    }
    doc
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_has_buildx_keys() {
        let manifest = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
        let (id, digest) = (Digest::of(b"config"), Digest::of(manifest));
        let names = ["a:1".to_string(), "b:2".to_string()];
        let doc = metadata(&id, &digest, manifest, &names);
        assert_eq!(doc["containerimage.config.digest"], id.as_str());
        assert_eq!(doc["containerimage.digest"], digest.as_str());
        assert_eq!(doc["containerimage.descriptor"]["size"], manifest.len());
        assert_eq!(doc["image.name"], "a:1,b:2");
        assert!(metadata(&id, &digest, manifest, &[])
            .get("image.name")
            .is_none());
    }
}
