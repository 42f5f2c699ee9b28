//! Hand-made images for the hostile-input tests: busybox's own layer (as
//! `mybuild save` writes it) with layers written entry by entry on top,
//! loaded back through `mybuild load` like any docker-archive.

use super::{assert_success, sha256_hex, TestEnv};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Read;

/// A layer tar built one entry at a time; entries keep the order given.
pub struct LayerTar(tar::Builder<Vec<u8>>);

fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    h
}

impl LayerTar {
    pub fn new() -> LayerTar {
        LayerTar(tar::Builder::new(Vec::new()))
    }

    pub fn dir(mut self, path: &str) -> LayerTar {
        let mut h = header(tar::EntryType::Directory, 0o755);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    pub fn file(mut self, path: &str, data: &[u8]) -> LayerTar {
        let mut h = header(tar::EntryType::Regular, 0o644);
        h.set_size(data.len() as u64);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    /// A file whose name is written as is, `..` and all (the tar crate's
    /// builder refuses such names; hostile archives have them).
    pub fn file_named_raw(mut self, name: &str, data: &[u8]) -> LayerTar {
        let mut h = header(tar::EntryType::Regular, 0o644);
        h.set_size(data.len() as u64);
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> LayerTar {
        let mut h = header(tar::EntryType::Symlink, 0o777);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    pub fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

impl Default for LayerTar {
    fn default() -> Self {
        LayerTar::new()
    }
}

/// Loads `busybox:latest` with `layers` on top into `env`'s store as `tag`.
pub fn load_on_busybox(env: &TestEnv, tag: &str, layers: Vec<Vec<u8>>) {
    let saved = env
        .work
        .path()
        .join(format!("busybox-for-{}.tar", tag.replace(['/', ':'], "_")));
    let out = env.mybuild(&["save", "busybox:latest", "-o", saved.to_str().unwrap()]);
    assert_success(&out, "save busybox");
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut ar = tar::Archive::new(std::fs::File::open(&saved).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let manifest: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config_path = manifest[0]["Config"].as_str().unwrap().to_string();
    let mut config: Value = serde_json::from_slice(&files[&config_path]).unwrap();
    let mut layer_paths: Vec<Value> = manifest[0]["Layers"].as_array().unwrap().clone();
    for layer in layers {
        let hex = sha256_hex(&layer);
        let diff_ids = config["rootfs"]["diff_ids"].as_array_mut().unwrap();
        diff_ids.push(json!(format!("sha256:{hex}")));
        config["history"]
            .as_array_mut()
            .unwrap()
            .push(json!({"created_by": "hand-made hostile layer"}));
        let path = format!("blobs/sha256/{hex}");
        layer_paths.push(json!(path));
        files.insert(path, layer);
    }
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_path = format!("blobs/sha256/{}", sha256_hex(&config_bytes));
    files.insert(config_path.clone(), config_bytes);
    let manifest = json!([{"Config": config_path, "RepoTags": [tag], "Layers": layer_paths}]);
    files.insert(
        "manifest.json".into(),
        serde_json::to_vec(&manifest).unwrap(),
    );
    for gone in ["index.json", "oci-layout", "repositories"] {
        files.remove(gone);
    }
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in &files {
        let mut h = header(tar::EntryType::Regular, 0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, &data[..]).unwrap();
    }
    let archive = env
        .work
        .path()
        .join(format!("{}.docker.tar", tag.replace(['/', ':'], "_")));
    std::fs::write(&archive, b.into_inner().unwrap()).unwrap();
    let out = env.mybuild(&["load", "-i", archive.to_str().unwrap()]);
    assert_success(&out, &format!("load hand-made image {tag}"));
}
