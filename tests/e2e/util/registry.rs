//! A real registry for tests: Debian's `docker-registry` (the reference
//! distribution implementation) on a random loopback port, with temporary
//! storage, killed when dropped; optionally behind htpasswd (Basic) auth.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub struct Registry {
    pub addr: String,
    child: Child,
    _storage: TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// A registry that wants `user`/`password` (Basic auth) for everything.
    pub fn start_with_login(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Registry {
        let storage = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = storage.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: {addr}}}\n",
            storage.path().join("data").display()
        );
        if let Some((user, password)) = login {
            let htpasswd = storage.path().join("htpasswd");
            std::fs::write(&htpasswd, bcrypt_entry(user, password)).unwrap();
            yaml.push_str(&format!(
                "auth: {{htpasswd: {{realm: test, path: {}}}}}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, yaml).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry not installed (apt-get install docker-registry)");
        let reg = Registry {
            addr,
            child,
            _storage: storage,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(&self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("registry on {} did not start", self.addr);
    }

    /// Pushes an OCI archive to `<addr>/<name>` with skopeo.
    pub fn push_oci_archive(&self, archive: &Path, name: &str) {
        let out = Command::new("skopeo")
            .args(["copy", "-q", "--dest-tls-verify=false"])
            .arg(format!("oci-archive:{}", archive.display()))
            .arg(format!("docker://{}/{}", self.addr, name))
            .output()
            .expect("skopeo not installed (apt-get install skopeo)");
        assert!(
            out.status.success(),
            "skopeo copy: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Registry {
    /// Uploads `config` as a blob of `name` and tags `name:tag` with a
    /// manifest naming it as a config of `config_type` and no layers (how
    /// BuildKit's `image-manifest=true` cache looks from outside), via curl.
    pub fn put_config_manifest(&self, name: &str, tag: &str, config_type: &str, config: &[u8]) {
        let digest = format!("sha256:{}", super::sha256_hex(config));
        let base = format!("http://{}/v2/{name}", self.addr);
        let out = curl(
            &["-sSf", "-D", "-", "-o", "/dev/null", "-X", "POST"],
            &format!("{base}/blobs/uploads/"),
            None,
        );
        let location = out
            .lines()
            .find_map(|l| {
                l.strip_prefix("Location: ")
                    .or_else(|| l.strip_prefix("location: "))
            })
            .expect("upload Location")
            .trim()
            .to_string();
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = if location.starts_with("http") {
            location
        } else {
            format!("http://{}{location}", self.addr)
        };
        curl(
            &[
                "-sSf",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/octet-stream",
            ],
            &format!("{url}{sep}digest={digest}"),
            Some(config),
        );
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": config_type, "digest": digest, "size": config.len()},
            "layers": [],
        });
        curl(
            &[
                "-sSf",
                "-X",
                "PUT",
                "-H",
                "Content-Type: application/vnd.oci.image.manifest.v1+json",
            ],
            &format!("{base}/manifests/{tag}"),
            Some(manifest.to_string().as_bytes()),
        );
    }
}

/// Runs curl on `url`, feeding `body` on stdin; its stdout.
fn curl(args: &[&str], url: &str, body: Option<&[u8]>) -> String {
    use std::io::Write;
    let mut cmd = Command::new("curl");
    cmd.args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if body.is_some() {
        cmd.args(["--data-binary", "@-"]).stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().expect("curl not installed");
    if let Some(b) = body {
        child.stdin.take().unwrap().write_all(b).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An htpasswd line (the registry takes bcrypt only), from apache2-utils.
fn bcrypt_entry(user: &str, password: &str) -> Vec<u8> {
    let out = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .expect("htpasswd not installed (apt-get install apache2-utils)");
    assert!(out.status.success(), "htpasswd: {out:?}");
    out.stdout
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs skopeo (Debian's `skopeo`).
pub fn skopeo(args: &[&str]) -> Output {
    Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo not installed (apt-get install skopeo)")
}

/// `skopeo inspect` (or with `extra`, e.g. `--raw`) of `docker://image`, as JSON.
pub fn inspect(image: &str, extra: &[&str]) -> serde_json::Value {
    let r = format!("docker://{image}");
    let mut args = vec!["inspect", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&r);
    let out = skopeo(&args);
    super::assert_success(&out, &format!("skopeo inspect {image}"));
    serde_json::from_slice(&out.stdout).unwrap()
}
