//! Test support: a real `docker-registry` (CNCF distribution) on a random
//! loopback port, and OCI image layouts built in Rust and pushed to it with
//! `skopeo`. Requires the Debian packages `docker-registry` and `skopeo`
//! (CI installs them); `/bin/busybox` is put in the base layer when present.

use flate2::{write::GzEncoder, Compression};
use mybuild_graph::Digest;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) use mybuild_cache::oci::{OCI_LAYER_GZIP, OCI_LAYER_TAR};

/// A running registry; killed (and its scratch dir removed) on drop.
pub(crate) struct TestRegistry {
    child: Child,
    pub(crate) addr: String,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    /// An open registry with its own storage.
    pub(crate) fn start() -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Self::launch(dir, data, "")
    }

    /// A registry on existing storage `data`, with extra config (e.g. `auth:`).
    pub(crate) fn start_in(data: &Path, extra_yaml: &str) -> TestRegistry {
        Self::launch(tempfile::tempdir().unwrap(), data.to_path_buf(), extra_yaml)
    }

    fn launch(dir: tempfile::TempDir, data: PathBuf, extra_yaml: &str) -> TestRegistry {
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.path().join("config.yml");
            let yaml = format!(
                "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: {addr}}}\n{extra_yaml}",
                data.display()
            );
            std::fs::write(&config, yaml).unwrap();
            let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start docker-registry (apt-get install docker-registry)");
            if wait_ready(&mut child, &addr) {
                return TestRegistry {
                    child,
                    addr,
                    data,
                    _dir: dir,
                };
            }
            // Most likely another process took the port in between.
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
        panic!("docker-registry did not start after 3 attempts; last log:\n{log}");
    }

    /// Where the registry keeps the blob `digest` (to corrupt it on purpose).
    pub(crate) fn blob_data(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.data.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }

    /// `skopeo copy` of `layout:latest` to `<addr>/<name>`; `all` keeps an index.
    pub(crate) fn push(&self, layout: &Path, name: &str, all: bool) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["copy", "-q", "--dest-tls-verify=false"]);
        if all {
            cmd.arg("--all");
        }
        // Keep the exact bytes we built so the digests in the test hold.
        cmd.arg("--preserve-digests");
        cmd.arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{}/{name}", self.addr));
        let out = cmd.output().expect("run skopeo (apt-get install skopeo)");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_ready(child: &mut Child, addr: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        // 401: a registry with auth configured is up, too.
        if matches!(http_status(addr, "/v2/"), Some(200 | 401)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub(crate) fn http_status(addr: &str, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// What a built image consists of, for assertions.
#[derive(Debug, Clone)]
pub(crate) struct BuiltImage {
    pub(crate) manifest_digest: Digest,
    pub(crate) config_digest: Digest,
    pub(crate) layers: Vec<Digest>,
    pub(crate) diff_ids: Vec<Digest>,
}

/// Options for [`build_image`].
#[derive(Default)]
pub(crate) struct ImageSpec<'a> {
    pub(crate) arch: &'a str,
    /// Written into the second (uncompressed) layer as `/etc/marker`.
    pub(crate) marker: &'a str,
    /// Record this diff_id for layer 0 instead of the real one.
    pub(crate) lie_about_diff_id: bool,
}

fn put_blob(layout: &Path, bytes: &[u8]) -> (Digest, u64) {
    let d = Digest::of(bytes);
    let dir = layout.join("blobs/sha256");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(d.hex()), bytes).unwrap();
    (d, bytes.len() as u64)
}

/// One tar entry of a test layer.
enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        match entry {
            Entry::File(path, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o755);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, path, *data).unwrap();
            }
            Entry::Link(path, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                b.append_link(&mut h, path, target).unwrap();
            }
            Entry::Dir(path) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                b.append_data(&mut h, path, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Writes a two-layer linux image (gzip base with busybox, plain-tar
/// marker layer) into the OCI layout `layout`; returns its digests.
pub(crate) fn build_image(layout: &Path, spec: &ImageSpec) -> BuiltImage {
    let busybox = std::fs::read("/bin/busybox").unwrap_or_else(|_| b"#!/bin/true\n".to_vec());
    let passwd: &[u8] = b"root:x:0:0:root:/root:/bin/sh\n";
    let base = tar_of(&[
        Entry::Dir("bin"),
        Entry::File("bin/busybox", &busybox),
        Entry::Link("bin/sh", "busybox"),
        Entry::Dir("etc"),
        Entry::File("etc/passwd", passwd),
    ]);
    let marker = tar_of(&[
        Entry::Dir("etc"),
        Entry::File("etc/marker", spec.marker.as_bytes()),
    ]);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&base).unwrap();
    let base_gz = gz.finish().unwrap();
    let (l0, s0) = put_blob(layout, &base_gz);
    let (l1, s1) = put_blob(layout, &marker);
    let mut diff_ids = vec![Digest::of(&base), Digest::of(&marker)];
    if spec.lie_about_diff_id {
        diff_ids[0] = Digest::of(b"not the layer");
    }
    let config = serde_json::json!({
        "architecture": spec.arch, "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(Digest::as_str).collect::<Vec<_>>()},
    });
    let (config_digest, config_size) = put_blob(layout, config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": mybuild_cache::oci::OCI_MANIFEST,
        "config": {"mediaType": mybuild_cache::oci::OCI_CONFIG, "digest": config_digest.as_str(), "size": config_size},
        "layers": [
            {"mediaType": OCI_LAYER_GZIP, "digest": l0.as_str(), "size": s0},
            {"mediaType": OCI_LAYER_TAR, "digest": l1.as_str(), "size": s1},
        ],
    });
    let (manifest_digest, manifest_size) = put_blob(layout, manifest.to_string().as_bytes());
    write_index(
        layout,
        mybuild_cache::oci::OCI_MANIFEST,
        &manifest_digest,
        manifest_size,
    );
    BuiltImage {
        manifest_digest,
        config_digest,
        layers: vec![l0, l1],
        diff_ids,
    }
}

/// Builds one image per architecture and an image index over them; the
/// layout's `latest` names the index. Returns (index digest, images).
pub(crate) fn build_index(layout: &Path, arches: &[&str]) -> (Digest, Vec<BuiltImage>) {
    let mut images = Vec::new();
    let mut entries = Vec::new();
    for arch in arches {
        let img = build_image(
            layout,
            &ImageSpec {
                arch,
                marker: arch,
                ..Default::default()
            },
        );
        let size = std::fs::metadata(layout.join("blobs/sha256").join(img.manifest_digest.hex()))
            .unwrap()
            .len();
        entries.push(serde_json::json!({
            "mediaType": mybuild_cache::oci::OCI_MANIFEST, "digest": img.manifest_digest.as_str(), "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        }));
        images.push(img);
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": mybuild_cache::oci::OCI_INDEX, "manifests": entries});
    let (digest, size) = put_blob(layout, index.to_string().as_bytes());
    write_index(layout, mybuild_cache::oci::OCI_INDEX, &digest, size);
    (digest, images)
}

/// PUTs, as `<name>:<tag>`, an index whose one entry (for `arch`) names
/// the index `inner` already in the repository: a nested index, which
/// skopeo does not copy. Returns the outer index's digest.
pub(crate) async fn put_nested_index(
    registry: &TestRegistry,
    name: &str,
    tag: &str,
    inner: &Digest,
    inner_size: u64,
    arch: &str,
) -> Digest {
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": mybuild_cache::oci::OCI_INDEX,
        "manifests": [{"mediaType": mybuild_cache::oci::OCI_INDEX, "digest": inner.as_str(),
            "size": inner_size, "platform": {"architecture": arch, "os": "linux"}}]});
    let body = index.to_string().into_bytes();
    let url = format!("http://{}/v2/{name}/manifests/{tag}", registry.addr);
    let resp = reqwest::Client::new()
        .put(&url)
        .header("Content-Type", mybuild_cache::oci::OCI_INDEX)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "PUT {url}: {}", resp.status());
    Digest::of(&body)
}

fn write_index(layout: &Path, media_type: &str, digest: &Digest, size: u64) {
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": media_type, "digest": digest.as_str(), "size": size,
        "annotations": {"org.opencontainers.image.ref.name": "latest"},
    }]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
}
