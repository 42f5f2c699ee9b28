//! Writes an image archive: an OCI image layout in a tar, optionally with
//! the `manifest.json` and `repositories` files `docker load` reads. The
//! archive is built in a temp file next to `dest` and renamed into place,
//! and every blob is verified against its digest as it is copied in.

use super::manifest::{prepare, Prepared};
use super::{io_err, store_err, ArchiveFormat, Compression, ExportError};
use crate::blobs::HashingReader;
use crate::fsutil::{fsync_dir, unique_name};
use crate::images::familiar;
use crate::oci::{
    Descriptor, DockerArchiveEntry, ImageIndex, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME,
    OCI_LAYOUT_FILE,
};
use crate::Store;
use mybuild_graph::Digest;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

/// Exports the image `config` to the archive `dest`, tagged with `names`
/// (fully normalised references, the first one is the primary name).
pub fn export_image(
    store: &Store,
    config: &Digest,
    names: &[String],
    format: ArchiveFormat,
    compression: Compression,
    dest: &Path,
) -> Result<(), ExportError> {
    let images = [(config.clone(), names.to_vec())];
    export_images(store, &images, format, compression, dest)
}

/// Exports several images, each with its names, to one archive (what
/// `docker save a b` writes).
pub fn export_images(
    store: &Store,
    images: &[(Digest, Vec<String>)],
    format: ArchiveFormat,
    compression: Compression,
    dest: &Path,
) -> Result<(), ExportError> {
    let images = images
        .iter()
        .map(|(config, names)| Ok((prepare(store, config, compression)?, names.clone())))
        .collect::<Result<Vec<_>, ExportError>>()?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = TempFile(dir.join(unique_name(&format!(".{file_name}.tmp-"))));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp.0)
        .map_err(io_err("create", &tmp.0))?;
    let mut b = tar::Builder::new(BufWriter::new(file));
    write_archive(&mut b, store, &images, format).map_err(|e| match e {
        Step::Io(source) => ExportError::Io {
            op: "write archive",
            path: tmp.0.clone(),
            source,
        },
        Step::Export(e) => e,
    })?;
    let file = b
        .into_inner()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(io_err("write", &tmp.0))?;
    file.sync_all().map_err(io_err("fsync", &tmp.0))?;
    fs::rename(&tmp.0, dest).map_err(io_err("rename into", dest))?;
    tmp.disarm();
    fsync_dir(&dir).map_err(io_err("fsync", &dir))
}

/// Removes a half-written archive unless it was renamed into place.
struct TempFile(PathBuf);

impl TempFile {
    /// The file now lives at its final name: nothing to clean up.
    fn disarm(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.0);
        }
    }
}

enum Step {
    Io(io::Error),
    Export(ExportError),
}

impl From<io::Error> for Step {
    fn from(e: io::Error) -> Self {
        Step::Io(e)
    }
}

impl From<ExportError> for Step {
    fn from(e: ExportError) -> Self {
        Step::Export(e)
    }
}

type Tar = tar::Builder<BufWriter<File>>;

fn write_archive(
    b: &mut Tar,
    store: &Store,
    images: &[(Prepared, Vec<String>)],
    format: ArchiveFormat,
) -> Result<(), Step> {
    add_dir(b, "blobs/")?;
    add_dir(b, "blobs/sha256/")?;
    let mut seen = BTreeSet::new();
    for (image, _) in images {
        for desc in std::iter::once(&image.config)
            .chain(&image.layers)
            .chain([&image.manifest])
        {
            if seen.insert(desc.digest.clone()) {
                copy_blob(b, store, desc)?;
            }
        }
    }
    add_file(b, "oci-layout", OCI_LAYOUT_FILE)?;
    add_file(b, "index.json", &to_json("index.json", &index(images))?)?;
    if format == ArchiveFormat::Docker {
        let manifest: Vec<DockerArchiveEntry> = images
            .iter()
            .map(|(image, names)| docker_manifest(image, names))
            .collect();
        add_file(b, "manifest.json", &to_json("manifest.json", &manifest)?)?;
        add_file(
            b,
            "repositories",
            &to_json("repositories", &repositories(images))?,
        )?;
    }
    Ok(())
}

fn to_json<T: serde::Serialize>(what: &'static str, v: &T) -> Result<Vec<u8>, ExportError> {
    serde_json::to_vec(v).map_err(|source| ExportError::Json { what, source })
}

/// Archive metadata is fixed (mode, owner, mtime 0) so equal images give
/// byte-identical archives.
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h
}

fn add_dir(b: &mut Tar, path: &str) -> io::Result<()> {
    b.append_data(
        &mut header(tar::EntryType::Directory, 0o755, 0),
        path,
        io::empty(),
    )
}

fn add_file(b: &mut Tar, path: &str, data: &[u8]) -> io::Result<()> {
    b.append_data(
        &mut header(tar::EntryType::Regular, 0o644, data.len() as u64),
        path,
        data,
    )
}

fn copy_blob(b: &mut Tar, store: &Store, desc: &Descriptor) -> Result<(), Step> {
    let path = store.blob_path(&desc.digest);
    let file = store
        .open_blob(&desc.digest)
        .map_err(store_err(format!("export blob {}", desc.digest)))?;
    let mut reader = HashingReader::new(file.take(desc.size));
    let mut h = header(tar::EntryType::Regular, 0o644, desc.size);
    b.append_data(
        &mut h,
        format!("blobs/sha256/{}", desc.digest.hex()),
        &mut reader,
    )?;
    let (actual, size) = reader.finish()?;
    if actual != desc.digest || size != desc.size {
        return Err(ExportError::DigestMismatch {
            what: format!("export blob {}", path.display()),
            expected: desc.digest.clone(),
            actual,
        }
        .into());
    }
    Ok(())
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
    let mut manifests = Vec::new();
    for (image, names) in images {
        if names.is_empty() {
            manifests.push(image.manifest.clone());
        }
        for name in names {
            let mut desc = image.manifest.clone();
            desc.annotations
                .insert(ANNOTATION_IMAGE_NAME.into(), name.clone());
            if let (_, Some(tag)) = split_name(name) {
                desc.annotations
                    .insert(ANNOTATION_REF_NAME.into(), tag.into());
            }
            manifests.push(desc);
        }
    }
    ImageIndex::new(manifests)
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
