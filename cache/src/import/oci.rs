//! OCI image layouts: `index.json` points at image manifests or nested
//! indexes (a nested index gives the manifest for the host platform), and
//! every blob lives at `blobs/sha256/<hex>`, checked against its descriptor.

use super::archive::Archive;
use super::error::ImportError;
use super::plan::{
    check_digest, config_diff_ids, parse_json, push_name, ImagePlan, LayerSource, JSON_LIMIT,
};
use crate::oci::{
    ImageIndex, ImageManifest, OciLayout, Platform, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME,
    INDEX_TYPES, MANIFEST_TYPES,
};
use mybuild_graph::Digest;

/// Indexes nested deeper than this are refused.
const MAX_DEPTH: usize = 4;

/// Descriptors are read with string digests: a bad one is reported with
/// the file that names it.
type Descriptor = crate::oci::Descriptor<String>;
type Index = ImageIndex<String>;
type Manifest = ImageManifest<String>;

pub(super) fn plan(ar: &Archive) -> Result<Vec<ImagePlan>, ImportError> {
    if ar.contains("oci-layout") {
        let bytes = ar.read_small("oci-layout", "the archive layout", JSON_LIMIT)?;
        let layout: OciLayout = parse_json(ar, "oci-layout", &bytes)?;
        let version = layout.image_layout_version();
        if !version.starts_with("1.") {
            return Err(ImportError::LayoutVersion {
                archive: ar.label().into(),
                version: version.clone(),
            });
        }
    }
    let bytes = ar.read_small("index.json", "the archive layout", JSON_LIMIT)?;
    let index: Index = parse_json(ar, "index.json", &bytes)?;
    let mut plans = Vec::new();
    for desc in &index.manifests {
        // An image manifest listed for another platform is not for us.
        if desc.platform.as_ref().is_some_and(|p| !for_host(p)) && is_manifest(desc) {
            continue;
        }
        let mut plan = resolve(ar, desc, "index.json", 0)?;
        let ann = &desc.annotations;
        if let Some(name) = ann.get(ANNOTATION_IMAGE_NAME) {
            push_name(&mut plan.names, name);
        } else if let Some(name) = ann.get(ANNOTATION_REF_NAME) {
            // A bare tag ("latest") names no repository, so it cannot name the image.
            if name.contains([':', '/', '@']) {
                push_name(&mut plan.names, name);
            }
        }
        plans.push(plan);
    }
    if plans.is_empty() && !index.manifests.is_empty() {
        return Err(ImportError::NoPlatform {
            archive: ar.label().into(),
            index: "index.json".into(),
            arch: mybuild_graph::host_arch(),
        });
    }
    Ok(plans)
}

fn for_host(p: &Platform) -> bool {
    p.os().to_string() == "linux" && p.architecture().to_string() == mybuild_graph::host_arch()
}

fn is_manifest(desc: &Descriptor) -> bool {
    MANIFEST_TYPES.contains(&desc.media_type.as_str())
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn digest(ar: &Archive, desc: &Descriptor, referrer: &str) -> Result<Digest, ImportError> {
    Digest::parse(&desc.digest).map_err(|_| ImportError::BadDigest {
        archive: ar.label().into(),
        referrer: referrer.into(),
        digest: desc.digest.clone(),
    })
}

/// Reads a metadata blob, checking its size and digest against `desc`.
fn read_blob(
    ar: &Archive,
    desc: &Descriptor,
    referrer: &str,
) -> Result<(Digest, Vec<u8>), ImportError> {
    let d = digest(ar, desc, referrer)?;
    let name = blob_name(&d);
    let bytes = ar.read_small(&name, referrer, JSON_LIMIT)?;
    if bytes.len() as u64 != desc.size {
        return Err(ImportError::SizeMismatch {
            archive: ar.label().into(),
            entry: name,
            expected: desc.size,
            actual: bytes.len() as u64,
        });
    }
    check_digest(ar, &name, &d, Digest::of(&bytes))?;
    Ok((d, bytes))
}

/// Follows `desc` through nested indexes down to one image manifest.
fn resolve(
    ar: &Archive,
    desc: &Descriptor,
    referrer: &str,
    depth: usize,
) -> Result<ImagePlan, ImportError> {
    let (d, bytes) = read_blob(ar, desc, referrer)?;
    let name = blob_name(&d);
    let value: serde_json::Value = parse_json(ar, &name, &bytes)?;
    let kind = match desc.media_type.as_str() {
        m if INDEX_TYPES.contains(&m) => Kind::Index,
        m if MANIFEST_TYPES.contains(&m) => Kind::Manifest,
        // Without a media type, the content says what it is.
        "" if value.get("manifests").is_some() => Kind::Index,
        "" if value.get("config").is_some() => Kind::Manifest,
        other => {
            return Err(ImportError::MediaType {
                archive: ar.label().into(),
                referrer: referrer.into(),
                digest: d,
                media_type: if other.is_empty() { "(none)" } else { other }.into(),
            })
        }
    };
    match kind {
        Kind::Manifest => plan_image(ar, &name, parse_json(ar, &name, &bytes)?),
        Kind::Index => {
            if depth >= MAX_DEPTH {
                return Err(ImportError::TooDeep {
                    archive: ar.label().into(),
                    digest: d,
                    limit: MAX_DEPTH,
                });
            }
            let index: Index = parse_json(ar, &name, &bytes)?;
            let chosen = index
                .manifests
                .iter()
                .find(|m| m.platform.as_ref().is_some_and(for_host))
                .or_else(|| index.manifests.iter().find(|m| m.platform.is_none()))
                .ok_or_else(|| ImportError::NoPlatform {
                    archive: ar.label().into(),
                    index: format!("image index {d}"),
                    arch: mybuild_graph::host_arch(),
                })?;
            resolve(ar, chosen, &name, depth + 1)
        }
    }
}

enum Kind {
    Index,
    Manifest,
}

fn plan_image(ar: &Archive, name: &str, m: Manifest) -> Result<ImagePlan, ImportError> {
    let (config_digest, config) = read_blob(ar, &m.config, name)?;
    let config_entry = blob_name(&config_digest);
    let diff_ids = config_diff_ids(ar, &config_entry, &config, m.layers.len())?;
    let layers = m
        .layers
        .iter()
        .map(|l| {
            let d = digest(ar, l, name)?;
            Ok(LayerSource {
                entry: blob_name(&d),
                digest: Some(d),
                size: Some(l.size),
                media_type: Some(l.media_type.clone()).filter(|m| !m.is_empty()),
            })
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    Ok(ImagePlan {
        config_entry,
        config,
        diff_ids,
        layers,
        names: Vec::new(),
    })
}
