//! The OCI image-spec pieces mybuild reads and writes, defined once for the
//! store, archive export and import, and the registry client: media types
//! (OCI and Docker schema2), the content descriptor, the image manifest and
//! index, Docker's `manifest.json` entry and the config's `rootfs`.
//!
//! `oci-spec` provides what fits as it is: [`Platform`] (its `os` and
//! `architecture` accept any string and print it back, except that it reads
//! `armbe` as `arm64be`, neither of which is a host we build for),
//! [`OciLayout`] and the ref-name annotation; the media types below are
//! checked against its `MediaType`. The descriptor, manifest and index are ours because
//! oci-spec's would change bytes or refuse input we accept:
//! - its annotations are a `HashMap`, so an index entry with two
//!   annotations would serialise in a random key order and the index digest
//!   would change from run to run; ours are sorted (`BTreeMap`), as every
//!   index written so far;
//! - it requires `mediaType` on every descriptor and parses digests while
//!   deserialising; OCI layouts in the wild omit `mediaType`, and a bad
//!   digest is reported naming the file that holds it, not as bad JSON;
//! - its `RootFs` requires `type` and keeps diff_ids as strings.
//!
//! Every type here is generic over the digest (`D`): writers and trusted
//! readers use [`Digest`]; hostile input is read with `String` digests so
//! that a bad one can be reported with its context.

use mybuild_graph::Digest;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

pub use oci_spec::image::{OciLayout, Platform, ANNOTATION_REF_NAME};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Media types of an index (a list of manifests, one per platform).
pub const INDEX_TYPES: [&str; 2] = [OCI_INDEX, DOCKER_MANIFEST_LIST];
/// Media types of a single-platform image manifest.
pub const MANIFEST_TYPES: [&str; 2] = [OCI_MANIFEST, DOCKER_MANIFEST];

/// The image name containerd (and `docker load` of an OCI archive) reads.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// The `oci-layout` file of every layout mybuild writes.
pub const OCI_LAYOUT_FILE: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A content descriptor. Fields serialise in this order, empty
/// annotations and an absent platform are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor<D = Digest> {
    /// Empty when the descriptor read had none (or not a string).
    #[serde(rename = "mediaType", default, deserialize_with = "lenient_string")]
    pub media_type: String,
    pub digest: D,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl<D> Descriptor<D> {
    pub fn new(media_type: &str, digest: D, size: u64) -> Self {
        Descriptor {
            media_type: media_type.into(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }
}

/// An image manifest. Readers ignore `schemaVersion` (a registry answer is
/// classified before it is parsed as one of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest<D = Digest> {
    #[serde(rename = "schemaVersion", skip_deserializing, default = "schema_2")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, deserialize_with = "lenient_string")]
    pub media_type: String,
    pub config: Descriptor<D>,
    pub layers: Vec<Descriptor<D>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl<D> ImageManifest<D> {
    /// An OCI image manifest.
    pub fn new(config: Descriptor<D>, layers: Vec<Descriptor<D>>) -> Self {
        ImageManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST.into(),
            config,
            layers,
            annotations: BTreeMap::new(),
        }
    }
}

/// An image index (Docker: manifest list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex<D = Digest> {
    #[serde(rename = "schemaVersion", skip_deserializing, default = "schema_2")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, deserialize_with = "lenient_string")]
    pub media_type: String,
    pub manifests: Vec<Descriptor<D>>,
}

impl<D> ImageIndex<D> {
    /// An OCI image index.
    pub fn new(manifests: Vec<Descriptor<D>>) -> Self {
        ImageIndex {
            schema_version: 2,
            media_type: OCI_INDEX.into(),
            manifests,
        }
    }
}

impl ImageIndex<Digest> {
    /// The OCI index of one image manifest per platform: each descriptor
    /// (architecture first) gets the platform linux/ARCH.
    pub fn of_platforms(manifests: Vec<(String, Descriptor)>) -> Self {
        let described = manifests.into_iter().map(|(arch, mut desc)| {
            let json = serde_json::json!({"architecture": arch, "os": "linux"});
            desc.platform = serde_json::from_value(json).ok();
            desc
        });
        ImageIndex::new(described.collect())
    }
}

/// One image of a `docker save` archive's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    pub config: String,
    /// Absent or null for an image saved by id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

/// An image config's `rootfs`: the layers' uncompressed digests, base first.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RootFs<D = Digest> {
    pub diff_ids: Vec<D>,
}

/// The one part of an image config every reader needs. The full config
/// (with Docker's `Healthcheck`, `OnBuild`, `Shell`, which oci-spec's
/// `ImageConfiguration` lacks) is the frontend's to build.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ConfigRootFs<D = Digest> {
    pub rootfs: RootFs<D>,
}

fn schema_2() -> u32 {
    2
}

/// A string, or empty for anything else (absent, null, a number...), so
/// reading a media type is as lenient as ignoring it.
fn lenient_string<'de, De: Deserializer<'de>>(d: De) -> Result<String, De::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Text(String),
        Other(serde::de::IgnoredAny),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::Text(s) => s,
        Lenient::Other(_) => String::new(),
    })
}

fn null_as_default<'de, De: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: De,
) -> Result<T, De::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{MediaType, ToDockerV2S2};

    #[test]
    fn media_types_are_the_specs() {
        let oci = [
            (OCI_INDEX, MediaType::ImageIndex),
            (OCI_MANIFEST, MediaType::ImageManifest),
            (OCI_CONFIG, MediaType::ImageConfig),
            (OCI_LAYER_TAR, MediaType::ImageLayer),
            (OCI_LAYER_GZIP, MediaType::ImageLayerGzip),
            (OCI_LAYER_ZSTD, MediaType::ImageLayerZstd),
        ];
        for (ours, spec) in oci {
            assert_eq!(ours, spec.to_string());
        }
        let docker = [
            (DOCKER_MANIFEST_LIST, MediaType::ImageIndex),
            (DOCKER_MANIFEST, MediaType::ImageManifest),
            (DOCKER_CONFIG, MediaType::ImageConfig),
            (DOCKER_LAYER_GZIP, MediaType::ImageLayerGzip),
        ];
        for (ours, spec) in docker {
            assert_eq!(ours, spec.to_docker_v2s2().unwrap());
        }
        let layout: OciLayout = serde_json::from_slice(OCI_LAYOUT_FILE).unwrap();
        assert_eq!(layout.image_layout_version(), "1.0.0");
    }

    #[test]
    fn reading_is_lenient() {
        let d: Descriptor<String> = serde_json::from_str(
            r#"{"digest":"sha256:x","size":1,"extra":true,"platform":{"os":"linux","architecture":"riscv64","variant":"v9"}}"#,
        )
        .unwrap();
        assert_eq!(d.media_type, "");
        let p = d.platform.unwrap();
        assert_eq!(
            (p.os().to_string(), p.architecture().to_string()),
            ("linux".into(), "riscv64".into())
        );
        let d: Descriptor<String> =
            serde_json::from_str(r#"{"mediaType":null,"digest":"x","size":1}"#).unwrap();
        assert_eq!(d.media_type, "");
        let m: ImageManifest<String> = serde_json::from_str(
            r#"{"schemaVersion":"two","mediaType":7,"config":{"digest":"c","size":1},"layers":[]}"#,
        )
        .unwrap();
        assert_eq!((m.schema_version, m.media_type.as_str()), (2, ""));
        let e: Vec<DockerArchiveEntry> =
            serde_json::from_str(r#"[{"Config":"c","RepoTags":null,"Layers":[]}]"#).unwrap();
        assert!(e[0].repo_tags.is_empty());
    }
}
