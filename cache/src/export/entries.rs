//! The entries of an image archive, in the order they are written: the
//! blob directories, every blob (config, layers, manifest) once, then the
//! small layout files. Both writing an archive and checking that a file
//! already holds it walk this one list, so the two cannot disagree.

use super::manifest::Prepared;
use super::{ArchiveFormat, ExportError};
use crate::images::familiar;
use crate::oci::{
    Descriptor, DockerArchiveEntry, ImageIndex, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME,
    OCI_LAYOUT_FILE,
};
use mybuild_graph::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::io;

/// What an entry holds.
pub(crate) enum Data {
    /// A directory.
    Dir,
    /// A small file made here (JSON, `oci-layout`).
    Bytes(Vec<u8>),
    /// A blob of the store, written under its digest and verified against it.
    Blob(Descriptor),
}

pub(crate) struct Entry {
    pub path: String,
    pub data: Data,
}

impl Entry {
    fn size(&self) -> u64 {
        match &self.data {
            Data::Dir => 0,
            Data::Bytes(b) => b.len() as u64,
            Data::Blob(d) => d.size,
        }
    }

    /// The entry's tar header. Metadata is fixed (mode, owner, mtime 0) so
    /// equal images give byte-identical archives.
    pub fn header(&self) -> io::Result<tar::Header> {
        let (kind, mode) = match self.data {
            Data::Dir => (tar::EntryType::Directory, 0o755),
            _ => (tar::EntryType::Regular, 0o644),
        };
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(self.size());
        h.set_mtime(0);
        // Every path is short ("blobs/sha256/<hex>" at most): plain ustar.
        h.set_path(&self.path)?;
        h.set_cksum();
        Ok(h)
    }

    /// Zero bytes that pad the entry's data to a whole 512-byte block.
    pub fn padding(&self) -> u64 {
        (512 - self.size() % 512) % 512
    }
}

/// Bytes of the whole archive: each header, data and padding, then the two
/// zero blocks that end a tar.
pub(crate) fn archive_len(entries: &[Entry]) -> u64 {
    entries
        .iter()
        .map(|e| 512 + e.size() + e.padding())
        .sum::<u64>()
        + 1024
}

/// A multi-platform image: its index blob (in the store) and its names.
pub(crate) type TopIndex<'a> = (&'a Descriptor, &'a [String]);

/// Every entry of the archive of `images`; with `top`, its index.json
/// names that index (of `images`) instead of each image.
pub(crate) fn entries(
    images: &[(Prepared, Vec<String>)],
    format: ArchiveFormat,
    top: Option<TopIndex<'_>>,
) -> Result<Vec<Entry>, ExportError> {
    let entry = |path: &str, data| Entry {
        path: path.into(),
        data,
    };
    let mut out = vec![
        entry("blobs/", Data::Dir),
        entry("blobs/sha256/", Data::Dir),
    ];
    let mut seen = BTreeSet::new();
    for (image, _) in images {
        for desc in std::iter::once(&image.config)
            .chain(&image.layers)
            .chain([&image.manifest])
        {
            if seen.insert(desc.digest.clone()) {
                out.push(entry(&blob_name(&desc.digest), Data::Blob(desc.clone())));
            }
        }
    }
    let index = match top {
        Some((desc, names)) => {
            out.push(entry(&blob_name(&desc.digest), Data::Blob(desc.clone())));
            ImageIndex::new(named(desc, names))
        }
        None => index(images),
    };
    out.push(entry("oci-layout", Data::Bytes(OCI_LAYOUT_FILE.to_vec())));
    out.push(entry(
        "index.json",
        Data::Bytes(to_json("index.json", &index)?),
    ));
    if format == ArchiveFormat::Docker {
        let manifest: Vec<DockerArchiveEntry> = images
            .iter()
            .map(|(image, names)| docker_manifest(image, names))
            .collect();
        out.push(entry(
            "manifest.json",
            Data::Bytes(to_json("manifest.json", &manifest)?),
        ));
        out.push(entry(
            "repositories",
            Data::Bytes(to_json("repositories", &repositories(images))?),
        ));
    }
    Ok(out)
}

pub(crate) fn to_json<T: serde::Serialize>(
    what: &'static str,
    v: &T,
) -> Result<Vec<u8>, ExportError> {
    serde_json::to_vec(v).map_err(|source| ExportError::Json { what, source })
}

/// Splits `registry/repo:tag` into repository and tag (digest refs have no tag).
fn split_name(name: &str) -> (&str, Option<&str>) {
    let name = name.split('@').next().unwrap_or(name);
    let slash = name.rfind('/').map_or(0, |i| i + 1);
    match name[slash..].rfind(':') {
        Some(i) => (&name[..slash + i], Some(&name[slash + i + 1..])),
        None => (name, None),
    }
}

/// One manifest entry per name (so each name survives a load), or one
/// unnamed entry for an image saved by id.
fn index(images: &[(Prepared, Vec<String>)]) -> ImageIndex {
    let manifests = images
        .iter()
        .flat_map(|(image, names)| named(&image.manifest, names))
        .collect();
    ImageIndex::new(manifests)
}

/// `desc` once per name, annotated with it; once, bare, without names.
fn named(desc: &Descriptor, names: &[String]) -> Vec<Descriptor> {
    if names.is_empty() {
        return vec![desc.clone()];
    }
    let mut out = Vec::new();
    for name in names {
        let mut desc = desc.clone();
        desc.annotations
            .insert(ANNOTATION_IMAGE_NAME.into(), name.clone());
        if let (_, Some(tag)) = split_name(name) {
            desc.annotations
                .insert(ANNOTATION_REF_NAME.into(), tag.into());
        }
        out.push(desc);
    }
    out
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

fn docker_manifest(image: &Prepared, names: &[String]) -> DockerArchiveEntry {
    let repo_tags = names
        .iter()
        .filter(|n| split_name(n).1.is_some())
        .map(|n| familiar(n).to_string())
        .collect();
    DockerArchiveEntry {
        config: blob_name(&image.config.digest),
        repo_tags,
        layers: image.layers.iter().map(|l| blob_name(&l.digest)).collect(),
    }
}

fn repositories(images: &[(Prepared, Vec<String>)]) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut repos: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (image, names) in images {
        for name in names {
            if let (repo, Some(tag)) = split_name(familiar(name)) {
                repos
                    .entry(repo.into())
                    .or_default()
                    .insert(tag.into(), image.config.digest.hex().into());
            }
        }
    }
    repos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_the_tag_not_the_port() {
        assert_eq!(
            split_name("127.0.0.1:5000/busybox:latest"),
            ("127.0.0.1:5000/busybox", Some("latest"))
        );
        assert_eq!(
            split_name("127.0.0.1:5000/busybox"),
            ("127.0.0.1:5000/busybox", None)
        );
        assert_eq!(
            split_name("docker.io/library/x@sha256:00"),
            ("docker.io/library/x", None)
        );
    }
}
