//! Resolving a reference to one image: fetch the manifest (following an
//! index to this machine's linux platform), verify every byte against its
//! digest, and fetch the image config that names the layers' diff_ids.

use super::client::{read_limited, RegistryClient};
use super::error::RegistryError;
use super::reference::Reference;
use mybuild_cache::oci::{
    ConfigRootFs, Descriptor, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST,
};
use mybuild_graph::Digest;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

const MANIFEST_LIMIT: u64 = 4 << 20;
const CONFIG_LIMIT: u64 = 16 << 20;

/// One layer as the manifest describes it (compressed form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A reference resolved to a single-platform image, all bytes verified.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub reference: Reference,
    /// Digest of `manifest` (the platform's image manifest).
    pub manifest_digest: Digest,
    /// Digest of the index the manifest was chosen from, if any.
    pub index_digest: Option<Digest>,
    pub manifest: Vec<u8>,
    pub config: Vec<u8>,
    pub config_digest: Digest,
    pub layers: Vec<LayerDesc>,
    /// Uncompressed layer digests from the config, base layer first.
    pub diff_ids: Vec<Digest>,
}

/// What a registry answers for `/manifests/`, before [`classify`] has
/// told an image manifest from an index: every part optional (so the
/// answer can be judged on its `schemaVersion` and `mediaType` first), the
/// parts themselves the shared OCI types. Digests stay strings until used,
/// so a bad one is reported with the reference.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestOrIndex {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: Option<Descriptor<String>>,
    layers: Option<Vec<Descriptor<String>>>,
    manifests: Option<Vec<Descriptor<String>>>,
}

/// How many indexes deep a platform's manifest may be nested.
const MAX_NESTED_INDEXES: usize = 4;

/// A verified manifest body and what kind it is.
struct Fetched {
    bytes: Vec<u8>,
    digest: Digest,
    json: ManifestOrIndex,
    is_index: bool,
}

impl RegistryClient {
    pub async fn resolve(&self, r: &Reference) -> Result<ResolvedImage, RegistryError> {
        self.resolve_platform(r, mybuild_graph::host_arch()).await
    }

    /// `r`'s image for linux/`arch` (an image manifest is taken as it is).
    pub async fn resolve_platform(
        &self,
        r: &Reference,
        arch: &str,
    ) -> Result<ResolvedImage, RegistryError> {
        let top = self
            .fetch_manifest(r, &r.api_reference(), r.digest.as_ref())
            .await?;
        let (manifest, index_digest) = if top.is_index {
            let mut next = self.platform_child(r, &top.json, arch).await?;
            // An index may name another index for the platform (nested
            // indexes): followed a few levels deep, so never in a loop.
            for _ in 1..MAX_NESTED_INDEXES {
                if !next.is_index {
                    break;
                }
                next = self.platform_child(r, &next.json, arch).await?;
            }
            if next.is_index {
                let why = format!("indexes nested more than {MAX_NESTED_INDEXES} deep");
                return Err(bad_manifest(r, &why));
            }
            (next, Some(top.digest))
        } else {
            (top, None)
        };
        let (config_desc, layers) = descriptors(r, &manifest.json)?;
        let config = self
            .fetch_blob(r, &config_desc.digest, config_desc.size, CONFIG_LIMIT)
            .await?;
        let diff_ids = parse_diff_ids(r, &config_desc.digest, &config, Some(layers.len()))?;
        Ok(ResolvedImage {
            reference: r.clone(),
            manifest_digest: manifest.digest,
            index_digest,
            manifest: manifest.bytes,
            config,
            config_digest: config_desc.digest,
            layers,
            diff_ids,
        })
    }

    /// The manifest (or nested index) an index lists for our platform.
    async fn platform_child(
        &self,
        r: &Reference,
        index: &ManifestOrIndex,
        arch: &str,
    ) -> Result<Fetched, RegistryError> {
        let child = pick_platform(r, index, arch)?;
        self.fetch_manifest(r, child.as_str(), Some(&child)).await
    }

    /// GETs a manifest and checks its bytes against the digest we asked
    /// for and the one the registry claims (Docker-Content-Digest).
    async fn fetch_manifest(
        &self,
        r: &Reference,
        api_ref: &str,
        expected: Option<&Digest>,
    ) -> Result<Fetched, RegistryError> {
        let accept = [
            OCI_MANIFEST,
            OCI_INDEX,
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
        ]
        .join(", ");
        let path = format!("{}/manifests/{api_ref}", r.repository);
        let resp = self.get(r, &path, Some(&accept)).await?;
        let url = resp.url().to_string();
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = read_limited(&url, resp, MANIFEST_LIMIT).await?;
        let digest = Digest::of(&bytes);
        let claimed = expected
            .map(|d| d.to_string())
            .or(header_digest.filter(|h| h.starts_with("sha256:")));
        if let Some(claimed) = claimed.filter(|c| c != digest.as_str()) {
            let reference = format!("{}/{}@{api_ref}", r.registry, r.repository);
            return Err(RegistryError::ManifestDigestMismatch {
                reference,
                expected: claimed,
                got: digest,
            });
        }
        let json: ManifestOrIndex = serde_json::from_slice(&bytes)
            .map_err(|e| bad_manifest(r, &format!("invalid JSON: {e}")))?;
        let is_index = classify(r, &json, &content_type)?;
        Ok(Fetched {
            bytes,
            digest,
            json,
            is_index,
        })
    }

    /// Fetches a small blob (the config) whole and verifies size and digest.
    pub(crate) async fn fetch_blob(
        &self,
        r: &Reference,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let resp = self
            .get(r, &format!("{}/blobs/{digest}", r.repository), None)
            .await?;
        let url = resp.url().to_string();
        let bytes = read_limited(&url, resp, limit.min(size)).await?;
        let got = Digest::of(&bytes);
        if &got != digest {
            return Err(RegistryError::BlobDigestMismatch {
                url,
                digest: digest.clone(),
                got,
            });
        }
        if bytes.len() as u64 != size {
            return Err(RegistryError::BlobSizeMismatch {
                url,
                digest: digest.clone(),
                expected: size,
                got: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }
}

fn bad_manifest(r: &Reference, reason: &str) -> RegistryError {
    RegistryError::BadManifest {
        reference: r.to_string(),
        reason: reason.to_string(),
    }
}

/// Index or image manifest? The body's mediaType wins over Content-Type,
/// which some registries get wrong; schema 1 and unknown types are refused.
fn classify(
    r: &Reference,
    json: &ManifestOrIndex,
    content_type: &str,
) -> Result<bool, RegistryError> {
    if json.schema_version != Some(2) {
        return Err(RegistryError::UnsupportedManifest {
            reference: r.to_string(),
            media_type: format!("schemaVersion {:?} ({content_type})", json.schema_version),
        });
    }
    let media_type = json
        .media_type
        .as_deref()
        .unwrap_or(content_type.split(';').next().unwrap_or("").trim());
    match media_type {
        OCI_INDEX | DOCKER_MANIFEST_LIST => Ok(true),
        OCI_MANIFEST | DOCKER_MANIFEST => Ok(false),
        _ if json.manifests.is_some() => Ok(true),
        _ if json.layers.is_some() => Ok(false),
        other => Err(RegistryError::UnsupportedManifest {
            reference: r.to_string(),
            media_type: other.to_string(),
        }),
    }
}

/// The first image manifest for linux/`arch`. Variants are not compared:
/// indexes list the preferred one first, and entries without a platform
/// (attestations) never match.
fn pick_platform(
    r: &Reference,
    index: &ManifestOrIndex,
    arch: &str,
) -> Result<Digest, RegistryError> {
    let entries = index.manifests.as_deref().unwrap_or_default();
    let matching = entries.iter().find(|e| {
        e.platform
            .as_ref()
            .is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch)
            && [
                OCI_MANIFEST,
                DOCKER_MANIFEST,
                OCI_INDEX,
                DOCKER_MANIFEST_LIST,
            ]
            .contains(&e.media_type.as_str())
    });
    let Some(entry) = matching else {
        let available: Vec<String> = entries
            .iter()
            .filter_map(|e| e.platform.as_ref())
            .map(|p| {
                format!(
                    "{}/{}{}",
                    p.os(),
                    p.architecture(),
                    p.variant()
                        .as_ref()
                        .map(|v| format!("/{v}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        return Err(RegistryError::NoPlatform {
            reference: r.to_string(),
            platform: format!("linux/{arch}"),
            available: if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            },
        });
    };
    Digest::parse(&entry.digest).map_err(|e| bad_manifest(r, &e.to_string()))
}

/// The config digest of an image manifest, `None` for anything else.
pub(crate) fn manifest_config_digest(bytes: &[u8]) -> Option<Digest> {
    let json: ManifestOrIndex = serde_json::from_slice(bytes).ok()?;
    json.layers.as_ref()?;
    Digest::parse(&json.config?.digest).ok()
}

fn descriptors(
    r: &Reference,
    json: &ManifestOrIndex,
) -> Result<(LayerDesc, Vec<LayerDesc>), RegistryError> {
    let convert = |d: &Descriptor<String>| -> Result<LayerDesc, RegistryError> {
        let digest = Digest::parse(&d.digest).map_err(|e| bad_manifest(r, &e.to_string()))?;
        Ok(LayerDesc {
            digest,
            media_type: d.media_type.clone(),
            size: d.size,
        })
    };
    let config = json
        .config
        .as_ref()
        .ok_or_else(|| bad_manifest(r, "image manifest has no config"))?;
    let layers = json.layers.as_deref().unwrap_or_default();
    Ok((
        convert(config)?,
        layers.iter().map(convert).collect::<Result<_, _>>()?,
    ))
}

/// `rootfs.diff_ids` of an image config; with `layer_count`, also checks
/// that the manifest lists as many layers.
pub(crate) fn parse_diff_ids(
    r: &Reference,
    digest: &Digest,
    config: &[u8],
    layer_count: Option<usize>,
) -> Result<Vec<Digest>, RegistryError> {
    let bad = |reason: String| RegistryError::BadConfig {
        reference: r.to_string(),
        digest: digest.clone(),
        reason,
    };
    let parsed: ConfigRootFs<String> =
        serde_json::from_slice(config).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let diff_ids = parsed
        .rootfs
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d).map_err(|e| bad(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(count) = layer_count.filter(|c| *c != diff_ids.len()) {
        return Err(bad(format!(
            "{} diff_ids for {count} manifest layers",
            diff_ids.len()
        )));
    }
    Ok(diff_ids)
}
