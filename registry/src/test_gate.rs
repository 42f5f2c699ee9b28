//! Test support for auth: RS256 tokens the real registry accepts (signed
//! with `openssl`), and a small HTTP front that plays the token server,
//! proxies to the registry, and answers authorised blob GETs with a
//! redirect to a separate "blob storage" origin that records what it got.

use super::base64;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) const ISSUER: &str = "mybuild-test-issuer";
pub(crate) const SERVICE: &str = "mybuild-test-registry";

/// A self-signed signing certificate for registry tokens.
pub(crate) struct TokenKeys {
    dir: tempfile::TempDir,
    x5c: String,
}

fn openssl(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    let mut input = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn b64url(bytes: &[u8]) -> String {
    base64::encode(bytes)
        .replace('+', "-")
        .replace('/', "_")
        .trim_end_matches('=')
        .to_string()
}

impl TokenKeys {
    pub(crate) fn generate() -> TokenKeys {
        let dir = tempfile::tempdir().unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let (key_s, cert_s) = (key.to_str().unwrap(), cert.to_str().unwrap());
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key_s,
                "-out",
                cert_s,
                "-days",
                "2",
                "-subj",
                "/CN=mybuild-test",
            ],
            None,
        );
        let der = openssl(&["x509", "-in", cert_s, "-outform", "der"], None);
        TokenKeys {
            x5c: base64::encode(&der),
            dir,
        }
    }

    pub(crate) fn cert(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }

    /// A JWT granting pull on `repository`, valid for an hour.
    pub(crate) fn sign(&self, repository: &str) -> String {
        self.sign_for(repository, &["pull"])
    }

    /// A JWT granting `actions` on `repository`, valid for an hour.
    pub(crate) fn sign_for(&self, repository: &str, actions: &[&str]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "tester", "aud": SERVICE, "exp": now + 3600, "nbf": now - 60, "iat": now - 60,
            "jti": "mybuild-test", "access": [{"type": "repository", "name": repository, "actions": actions}],
        });
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let key = self.dir.path().join("key.pem");
        let sig = openssl(
            &["dgst", "-sha256", "-sign", key.to_str().unwrap()],
            Some(input.as_bytes()),
        );
        format!("{input}.{}", b64url(&sig))
    }

    /// The registry's `auth:` config, pointing at `realm`.
    pub(crate) fn registry_yaml(&self, realm: &str) -> String {
        format!(
            "auth: {{token: {{realm: \"{realm}\", service: {SERVICE}, issuer: {ISSUER}, rootcertbundle: {}}}}}\n",
            self.cert().display()
        )
    }
}

/// One request a gate listener saw.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) role: &'static str,
    pub(crate) target: String,
    pub(crate) authorization: Option<String>,
}

/// The front (token server + proxy) and the blob-storage listener.
pub(crate) struct Gate {
    pub(crate) front: String,
    pub(crate) storage: String,
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    listeners: Option<(TcpListener, TcpListener)>,
}

/// What the front needs to answer requests.
struct Backend {
    registry: String,
    front: String,
    blobs: PathBuf,
    token: String,
    basic: String,
    storage: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    http: reqwest::Client,
}

impl Gate {
    pub(crate) async fn bind() -> Gate {
        let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let storage = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Gate {
            front: front.local_addr().unwrap().to_string(),
            storage: storage.local_addr().unwrap().to_string(),
            seen: Arc::default(),
            listeners: Some((front, storage)),
        }
    }

    /// Starts serving: tokens for `basic` credentials, proxying to
    /// `registry`, blobs from the OCI layout `layout`.
    pub(crate) fn serve(&mut self, registry: &str, layout: &Path, token: String, basic: String) {
        let (front, storage) = self.listeners.take().expect("serve once");
        let backend = Arc::new(Backend {
            registry: registry.to_string(),
            front: self.front.clone(),
            blobs: layout.join("blobs/sha256"),
            token,
            basic,
            storage: self.storage.clone(),
            seen: self.seen.clone(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        });
        let b = backend.clone();
        tokio::spawn(accept_loop(front, move |req| {
            front_response(b.clone(), req)
        }));
        tokio::spawn(accept_loop(storage, move |req| {
            storage_response(backend.clone(), req)
        }));
    }

    pub(crate) fn seen(&self, role: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.role == role)
            .cloned()
            .collect()
    }
}

struct Request {
    method: String,
    target: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

async fn accept_loop<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(Request) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Reply> + Send,
{
    while let Ok((stream, _)) = listener.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = handle(stream, handler).await;
        });
    }
}

async fn handle<F, Fut>(mut stream: TcpStream, handler: F) -> std::io::Result<()>
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let mut buf = Vec::new();
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 << 10 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("GET").to_string();
    let target = first.next().unwrap_or("/").to_string();
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let want: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < want {
        let mut chunk = vec![0u8; 64 << 10];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let reply = handler(Request {
        method,
        target,
        headers,
        body,
    })
    .await;
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes()).await?;
    stream.write_all(&reply.body).await?;
    stream.shutdown().await
}

fn record(b: &Backend, role: &'static str, req: &Request) {
    let authorization = req.headers.get("authorization").cloned();
    b.seen.lock().unwrap().push(Seen {
        role,
        target: req.target.clone(),
        authorization,
    });
}

/// The identity (OAuth2 refresh) token the token endpoint takes in a
/// `grant_type=refresh_token` POST, instead of Basic credentials.
pub(crate) const REFRESH_TOKEN: &str = "refresh-me";

async fn front_response(b: Arc<Backend>, req: Request) -> Reply {
    if req.target.starts_with("/token") {
        record(&b, "token", &req);
        let form = String::from_utf8_lossy(&req.body);
        let refreshed = req.method == "POST"
            && form.contains("grant_type=refresh_token")
            && form.contains(&format!("refresh_token={REFRESH_TOKEN}&"))
            && form.contains("scope=repository");
        if !refreshed && req.headers.get("authorization") != Some(&b.basic) {
            return Reply {
                status: 401,
                headers: vec![],
                body: b"bad credentials".to_vec(),
            };
        }
        let key = if refreshed { "access_token" } else { "token" };
        let body = serde_json::json!({key: b.token, "expires_in": 300})
            .to_string()
            .into_bytes();
        return Reply {
            status: 200,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        };
    }
    record(&b, "front", &req);
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut fwd = b
        .http
        .request(method, format!("http://{}{}", b.registry, req.target))
        .body(req.body.clone());
    for name in ["authorization", "accept", "content-type", "content-range"] {
        if let Some(v) = req.headers.get(name) {
            fwd = fwd.header(name, v);
        }
    }
    let resp = fwd.send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 200 && req.method == "GET" && req.target.contains("/blobs/") {
        let hex = req.target.rsplit(':').next().unwrap_or("");
        let location = format!("http://{}/blob/{hex}", b.storage);
        return Reply {
            status: 307,
            headers: vec![("Location".into(), location)],
            body: vec![],
        };
    }
    let keep = [
        "content-type",
        "docker-content-digest",
        "www-authenticate",
        "location",
        "range",
    ];
    // Upload URLs name the registry: point them back at the front.
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("").replace(&b.registry, &b.front);
            (k.to_string(), v)
        })
        .collect();
    Reply {
        status,
        headers,
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

async fn storage_response(b: Arc<Backend>, req: Request) -> Reply {
    record(&b, "storage", &req);
    let hex = req.target.trim_start_matches("/blob/");
    match std::fs::read(b.blobs.join(hex)) {
        Ok(body) => Reply {
            status: 200,
            headers: vec![],
            body,
        },
        Err(_) => Reply {
            status: 404,
            headers: vec![],
            body: vec![],
        },
    }
}
