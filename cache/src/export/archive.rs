//! Writes an image archive: an OCI image layout in a tar, optionally with
//! the `manifest.json` and `repositories` files `docker load` reads. The
//! archive is built in a temp file next to `dest`, fsynced and renamed into
//! place, and every blob is verified against its digest as it is copied in.
//! Plain layer tars are streamed from the store (packed again from their
//! snapshot when no stored form exists), never kept as extra blobs.
//! A `dest` that already holds exactly the archive is left as it is
//! ([`super::same`]).

use super::entries::{archive_len, entries, to_json, Data, Entry};
use super::manifest::{prepare, PlainTars};
use super::{io_err, store_err, ArchiveFormat, Compressing, ExportError};
use crate::blobs::HashingReader;
use crate::fsutil::{fsync_dir, unique_name};
use crate::oci::{Descriptor, ImageIndex, OCI_INDEX, OCI_LAYER_TAR};
use crate::Store;
use mybuild_graph::Digest;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

/// Exports the image `config` to the archive `dest`, tagged with `names`
/// (fully normalised references, the first one is the primary name), its
/// manifest carrying `annotations` (`build --annotation`).
pub fn export_image(
    store: &Store,
    config: &Digest,
    names: &[String],
    annotations: &BTreeMap<String, String>,
    format: ArchiveFormat,
    compression: Compressing,
    dest: &Path,
) -> Result<(), ExportError> {
    let images = [(config.clone(), names.to_vec())];
    write_archive(store, &images, annotations, format, compression, dest)
}

/// Exports several images, each with its names, to one archive (what
/// `docker save a b` writes).
pub fn export_images(
    store: &Store,
    images: &[(Digest, Vec<String>)],
    format: ArchiveFormat,
    compression: Compressing,
    dest: &Path,
) -> Result<(), ExportError> {
    write_archive(store, images, &BTreeMap::new(), format, compression, dest)
}

fn write_archive(
    store: &Store,
    images: &[(Digest, Vec<String>)],
    annotations: &BTreeMap<String, String>,
    format: ArchiveFormat,
    compression: Compressing,
    dest: &Path,
) -> Result<(), ExportError> {
    let images = images
        .iter()
        .map(|(config, names)| {
            let plain = PlainTars::Streamed;
            let prepared = prepare(store, config, compression, plain, annotations)?;
            Ok((prepared, names.clone()))
        })
        .collect::<Result<Vec<_>, ExportError>>()?;
    let entries = entries(&images, format, None)?;
    write_to(store, &entries, dest)
}

/// Exports one image per platform (`(architecture, config)`) as an OCI
/// layout archive at `dest` whose index.json names their OCI index,
/// tagged with `names`; the index's digest.
pub fn export_index(
    store: &Store,
    images: &[(String, Digest)],
    names: &[String],
    annotations: &BTreeMap<String, String>,
    compression: Compressing,
    dest: &Path,
) -> Result<Digest, ExportError> {
    let mut prepared = Vec::new();
    let mut manifests = Vec::new();
    for (arch, config) in images {
        let image = prepare(store, config, compression, PlainTars::Streamed, annotations)?;
        manifests.push((arch.clone(), image.manifest.clone()));
        prepared.push((image, Vec::new()));
    }
    let json = to_json("index", &ImageIndex::of_platforms(manifests))?;
    let digest = store.put_blob(&json).map_err(store_err("store index"))?;
    let top = Descriptor::new(OCI_INDEX, digest.clone(), json.len() as u64);
    let entries = entries(&prepared, ArchiveFormat::Oci, Some((&top, names)))?;
    write_to(store, &entries, dest)?;
    Ok(digest)
}

/// Writes the archive `entries` to `dest` (unless it holds them already).
fn write_to(store: &Store, entries: &[Entry], dest: &Path) -> Result<(), ExportError> {
    let dest = match fs::metadata(dest) {
        // `/dev/null`, a FIFO, `/dev/stdout`: written in place, as
        // `docker save -o` does; a rename would replace the node itself.
        Ok(m) if !m.is_file() && !m.is_dir() => return write_special(store, entries, dest),
        // Through a symlink, the file it names is replaced, not the link.
        Ok(m) if m.is_file() => fs::canonicalize(dest).unwrap_or_else(|_| dest.to_path_buf()),
        _ => dest.to_path_buf(),
    };
    if super::same::holds(&dest, entries, archive_len(entries)) {
        return Ok(());
    }
    write_new(store, entries, &dest)
}

/// Streams the archive into an existing special file (a device or FIFO),
/// which has no directory entry to replace and nothing to fsync.
fn write_special(store: &Store, entries: &[Entry], dest: &Path) -> Result<(), ExportError> {
    let file = OpenOptions::new()
        .write(true)
        .open(dest)
        .map_err(io_err("open", dest))?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    write_entries(&mut b, store, entries).map_err(|e| step_err(e, dest))?;
    b.into_inner()
        .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
        .map_err(io_err("write", dest))?;
    Ok(())
}

fn step_err(e: Step, path: &Path) -> ExportError {
    match e {
        Step::Io(source) => ExportError::Io {
            op: "write archive",
            path: path.to_path_buf(),
            source,
        },
        Step::Export(e) => e,
    }
}

/// Writes the archive to a temp file beside `dest` and renames it over `dest`.
fn write_new(store: &Store, entries: &[Entry], dest: &Path) -> Result<(), ExportError> {
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
    let mut b = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    write_entries(&mut b, store, entries).map_err(|e| step_err(e, &tmp.0))?;
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

fn write_entries(b: &mut Tar, store: &Store, entries: &[Entry]) -> Result<(), Step> {
    for e in entries {
        let h = e.header()?;
        match &e.data {
            Data::Dir => b.append(&h, io::empty())?,
            Data::Bytes(bytes) => b.append(&h, &bytes[..])?,
            Data::Blob(desc) => copy_blob(b, store, &h, desc)?,
        }
    }
    Ok(())
}

/// Copies one blob in, verifying digest and size. A plain layer tar comes
/// from [`Store::layer_tar`]: its stored tar, a stored compressed form
/// decompressed, or its snapshot packed again.
fn copy_blob(b: &mut Tar, store: &Store, h: &tar::Header, desc: &Descriptor) -> Result<(), Step> {
    let what = || format!("export blob {}", store.blob_path(&desc.digest).display());
    let src: Box<dyn Read + Send> = if desc.media_type == OCI_LAYER_TAR {
        store.layer_tar(&desc.digest).map_err(store_err(what()))?
    } else {
        let file = store.open_blob(&desc.digest).map_err(store_err(what()))?;
        Box::new(file)
    };
    let mut reader = HashingReader::new(src.take(desc.size));
    b.append(h, &mut reader)?;
    let (actual, size) = reader.finish()?;
    if actual != desc.digest || size != desc.size {
        return Err(ExportError::DigestMismatch {
            what: what(),
            expected: desc.digest.clone(),
            actual,
        }
        .into());
    }
    Ok(())
}
