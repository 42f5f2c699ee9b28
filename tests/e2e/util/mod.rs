//! Shared harness for the end-to-end tests: each test gets its own store
//! and scratch directory, a busybox base image bootstrapped from the host,
//! and helpers to read the OCI archives mybuild exports.

pub mod craft;
pub mod foreign;
pub mod git;
pub mod golden;
pub mod http;
pub mod loopdev;
pub mod proxy;
pub mod pty;
pub mod registry;
pub mod rootless;

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_mybuild");

pub struct TestEnv {
    pub root: TempDir,
    pub work: TempDir,
}

impl TestEnv {
    /// A fresh store holding `busybox:latest`.
    pub fn new() -> TestEnv {
        let env = TestEnv::empty();
        let out = env.mybuild(&["bootstrap-busybox"]);
        assert_success(&out, "bootstrap-busybox");
        env
    }

    /// A fresh, empty store.
    pub fn empty() -> TestEnv {
        TestEnv {
            root: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        // No config file but the one a test writes: the machine's would
        // change what the tests see.
        c.arg("--root")
            .arg(self.root.path())
            .env("MYBUILD_CONFIG", "/dev/null")
            .env_remove("DOCKER_BUILDKIT");
        c
    }

    pub fn mybuild(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run mybuild")
    }

    /// Writes a build context (a Dockerfile plus files) and returns its path.
    pub fn context(&self, name: &str, dockerfile: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = self.work.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
        for (path, content) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, content).unwrap();
        }
        dir
    }

    /// `mybuild build --legacy [extra] CTX`.
    pub fn legacy(&self, ctx: &Path, extra: &[&str]) -> Output {
        let mut cmd = self.cmd();
        cmd.args(["build", "--legacy"]).args(extra).arg(ctx);
        cmd.output().expect("run mybuild")
    }

    /// `mybuild build --progress=plain [extra] CTX`, exporting an OCI archive.
    pub fn build(&self, ctx: &Path, extra: &[&str]) -> (Output, PathBuf) {
        let out_tar = self.work.path().join(format!(
            "{}.oci.tar",
            ctx.file_name().unwrap().to_string_lossy()
        ));
        let dest = format!("type=oci,dest={}", out_tar.display());
        let mut args = vec!["build", "--progress=plain", "--output", &dest];
        args.extend_from_slice(extra);
        let ctx_s = ctx.to_string_lossy().into_owned();
        args.push(&ctx_s);
        (self.mybuild(&args), out_tar)
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr(out)
    );
}

/// One layer entry: tar path -> (entry type byte, content or link target).
pub type Layer = BTreeMap<String, (u8, Vec<u8>)>;

/// An image read back from an OCI archive, every digest verified.
pub struct Image {
    pub config: Value,
    pub layers: Vec<Layer>,
}

impl Image {
    /// The file as the last layer that touched it has it (no whiteout logic).
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.layers
            .iter()
            .rev()
            .find_map(|l| l.get(path).map(|(_, c)| c.clone()))
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn read_oci_archive(path: &Path) -> Image {
    let (config, tars) = oci_layer_tars(path);
    let layers = tars.iter().map(|t| read_layer(t)).collect();
    Image { config, layers }
}

/// The config and each layer's uncompressed tar of an OCI archive, every
/// blob checked against its digest and every tar against its diff_id.
pub fn oci_layer_tars(path: &Path) -> (Value, Vec<Vec<u8>>) {
    let mut files = BTreeMap::new();
    let mut ar = tar::Archive::new(
        std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        files.insert(name, data);
    }
    let blob = |digest: &str| -> Vec<u8> {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        let data = files
            .get(&format!("blobs/sha256/{hex}"))
            .unwrap_or_else(|| panic!("blob {digest} missing"))
            .clone();
        assert_eq!(
            sha256_hex(&data),
            hex,
            "blob {digest} does not match its digest"
        );
        data
    };
    let index: Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap().clone();
    let descs = manifest["layers"].as_array().unwrap();
    assert_eq!(
        descs.len(),
        diff_ids.len(),
        "manifest layers vs config diff_ids"
    );
    let mut layers = Vec::new();
    for (desc, diff_id) in descs.iter().zip(diff_ids) {
        let raw = blob(desc["digest"].as_str().unwrap());
        let tar_bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else if raw.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            assert!(desc["mediaType"].as_str().unwrap().ends_with("+zstd"));
            zstd::decode_all(&raw[..]).unwrap()
        } else {
            raw
        };
        assert_eq!(
            format!("sha256:{}", sha256_hex(&tar_bytes)),
            diff_id.as_str().unwrap(),
            "diff_id"
        );
        layers.push(tar_bytes);
    }
    (config, layers)
}

fn read_layer(bytes: &[u8]) -> Layer {
    let mut layer = Layer::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        let kind = e.header().entry_type().as_byte();
        let mut data = Vec::new();
        if let Some(link) = e.link_name().unwrap() {
            data = link.to_string_lossy().as_bytes().to_vec();
        } else {
            e.read_to_end(&mut data).unwrap();
        }
        layer.insert(name, (kind, data));
    }
    layer
}

/// The names of the vertices a plain progress log calls CACHED.
pub fn cached_steps(log: &str) -> Vec<String> {
    let mut names = BTreeMap::new();
    let mut cached = Vec::new();
    for line in log.lines() {
        let Some((num, rest)) = line.strip_prefix('#').and_then(|l| l.split_once(' ')) else {
            continue;
        };
        if rest == "CACHED" {
            cached.extend(names.get(num).cloned());
        } else if !names.contains_key(num) {
            names.insert(num.to_string(), rest.to_string());
        }
    }
    cached
}

/// Waits for `child` up to `limit`; past it, kills it and returns `None`
/// (a watchdog that turns a hang into a failure).
pub fn wait_or_kill(mut child: std::process::Child, limit: std::time::Duration) -> Option<Output> {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return child.wait_with_output().ok();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
