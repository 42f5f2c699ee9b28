//! Archives built in memory for the import tests.

use crate::import::{import_path, ImportError, ImportedImage, LayerEvent};
use crate::Store;
use mybuild_graph::Digest;
use serde_json::{json, Value};
use std::io::Write;

pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// A layer tar holding `files` (mode 0644).
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_path(name).unwrap();
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

pub fn config(diff_ids: &[Digest]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "architecture": mybuild_graph::host_arch(), "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

pub fn desc(media_type: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media_type, "digest": Digest::of(bytes), "size": bytes.len()})
}

pub fn manifest(config: &[u8], layers: &[(&str, &[u8])]) -> Vec<u8> {
    let layers: Vec<Value> = layers.iter().map(|(m, b)| desc(m, b)).collect();
    serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": desc("application/vnd.oci.image.config.v1+json", config),
        "layers": layers,
    }))
    .unwrap()
}

pub fn blob_name(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", Digest::of(bytes).hex())
}

/// A tar written entry by entry; names are put in the header verbatim, so
/// hostile ones (`..`, absolute) can be made too.
pub struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    pub fn new() -> Tar {
        Tar(tar::Builder::new(Vec::new()))
    }

    fn entry(&mut self, name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            h.set_link_name(link).unwrap();
        }
        h.set_cksum();
        self.0.append(&h, data).unwrap();
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, tar::EntryType::Regular, None, data);
        self
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name, tar::EntryType::Symlink, Some(target), b"");
        self
    }

    /// Adds `bytes` as `blobs/sha256/<hex>`.
    pub fn blob(&mut self, bytes: &[u8]) -> &mut Self {
        self.file(&blob_name(bytes), bytes)
    }

    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()))
            .into_inner()
            .unwrap()
    }
}

/// An OCI layout of one image: `layers` as (media type, blob, uncompressed tar).
pub fn oci_image(
    tar: &mut Tar,
    layers: &[(&str, Vec<u8>, Vec<u8>)],
    annotations: Value,
) -> Vec<u8> {
    let diff_ids: Vec<Digest> = layers.iter().map(|l| Digest::of(&l.2)).collect();
    let config = config(&diff_ids);
    let descs: Vec<(&str, &[u8])> = layers.iter().map(|l| (l.0, &l.1[..])).collect();
    let manifest = manifest(&config, &descs);
    tar.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    for l in layers {
        tar.blob(&l.1);
    }
    tar.blob(&config).blob(&manifest);
    let mut d = desc(MANIFEST, &manifest);
    d["annotations"] = annotations;
    let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [d]});
    tar.file("index.json", &serde_json::to_vec(&index).unwrap());
    config
}

/// A fresh store in a temp dir.
pub fn store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    (tmp, store)
}

/// Writes `archive` next to the store and imports it, collecting the events.
pub fn load(
    tmp: &tempfile::TempDir,
    store: &Store,
    archive: &[u8],
) -> (Result<Vec<ImportedImage>, ImportError>, Vec<LayerEvent>) {
    let path = tmp.path().join("image.tar");
    std::fs::write(&path, archive).unwrap();
    let mut events = Vec::new();
    let r = import_path(store, &path, &mut |e| events.push(e.clone()));
    (r, events)
}
