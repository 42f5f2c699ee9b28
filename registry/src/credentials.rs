//! Registry credentials found as the Docker CLI finds them, in
//! `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`: for a registry
//! host, `credHelpers[host]` names a helper, else `credsStore` does, else
//! the inline `auths` entry (`auth`, or `username`+`password`) is used.
//! A helper is asked lazily, on the registry's first 401, and its answer
//! kept for the rest of the process.

use super::base64;
use super::helper::{self, Helper, HelperError};
use super::reference::DOCKER_HUB;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The key Docker stores Docker Hub's credentials under, and the server
/// URL it hands helpers for it.
pub const HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The user name a helper answers with when its secret is an identity
/// (OAuth2 refresh) token rather than a password.
const TOKEN_USERNAME: &str = "<token>";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("read docker config {path}: {source}")]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse docker config {path}: {source}")]
    ParseConfig {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("docker config {path}: auths[{host:?}].auth is not base64 of user:password")]
    BadAuthField { path: PathBuf, host: String },
    #[error(transparent)]
    Helper(#[from] HelperError),
}

/// What a registry is answered with on a 401.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// `user:password`, sent as Basic or to a token realm.
    Basic(String),
    /// An OAuth2 refresh token, exchanged at the token realm.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    /// Never prints the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic(pair) => {
                let user = pair.split(':').next().unwrap_or_default();
                write!(f, "Basic({user}:***)")
            }
            Credential::IdentityToken(_) => write!(f, "IdentityToken(***)"),
        }
    }
}

type Answer = Result<Option<Credential>, Arc<CredentialsError>>;

/// The credential configuration of one Docker CLI config file.
#[derive(Debug)]
pub(crate) struct DockerAuths {
    inline: HashMap<String, Credential>,
    creds_store: Option<String>,
    cred_helpers: HashMap<String, String>,
    /// Where helpers are looked for instead of `$PATH` (tests).
    helper_dir: Option<PathBuf>,
    timeout: std::time::Duration,
    /// Each registry's answer, so a helper runs once per host.
    answers: tokio::sync::Mutex<HashMap<String, Answer>>,
}

impl Default for DockerAuths {
    fn default() -> Self {
        DockerAuths {
            inline: HashMap::new(),
            creds_store: None,
            cred_helpers: HashMap::new(),
            helper_dir: None,
            timeout: helper::DEFAULT_TIMEOUT,
            answers: Default::default(),
        }
    }
}

#[derive(serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; `None`
/// with neither variable set.
pub fn default_config_path() -> Option<PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => PathBuf::from(d),
        None => Path::new(&std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}

impl DockerAuths {
    /// The default config file; a missing file means anonymous access, a
    /// broken one is an error.
    pub(crate) fn load_default() -> Result<Self, CredentialsError> {
        match default_config_path() {
            Some(path) => Self::load(&path),
            None => Ok(Self::default()),
        }
    }

    pub(crate) fn load(path: &Path) -> Result<Self, CredentialsError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(CredentialsError::ReadConfig {
                    path: path.into(),
                    source,
                })
            }
        };
        let file: ConfigFile =
            serde_json::from_slice(&bytes).map_err(|source| CredentialsError::ParseConfig {
                path: path.into(),
                source,
            })?;
        let mut inline = HashMap::new();
        for (key, entry) in file.auths {
            if let Some(c) = inline_credential(path, &key, &entry)? {
                inline.insert(normalise_config_key(&key), c);
            }
        }
        let cred_helpers = file
            .cred_helpers
            .into_iter()
            .map(|(k, v)| (normalise_config_key(&k), v))
            .collect();
        Ok(DockerAuths {
            inline,
            creds_store: file.creds_store,
            cred_helpers,
            ..Self::default()
        })
    }

    /// Looks helpers up in `dir` and gives them `timeout` (tests).
    #[cfg(test)]
    pub(crate) fn with_helper_dir(mut self, dir: &Path, timeout: std::time::Duration) -> Self {
        self.helper_dir = Some(dir.to_path_buf());
        self.timeout = timeout;
        self
    }

    /// The helper Docker would use for `registry`: `credHelpers[registry]`,
    /// else `credsStore`; an empty name means the config file itself.
    pub(crate) fn helper_for(&self, registry: &str) -> Option<Helper> {
        let name = match self.cred_helpers.get(registry) {
            Some(h) => h,
            None => self.creds_store.as_ref()?,
        };
        (!name.is_empty()).then(|| Helper {
            name: name.clone(),
            dir: self.helper_dir.clone(),
            timeout: self.timeout,
        })
    }

    /// The credential for `registry` (the host form references use), if
    /// any; asks a helper at most once per registry.
    pub(crate) async fn credential(&self, registry: &str) -> Answer {
        let mut answers = self.answers.lock().await;
        if let Some(a) = answers.get(registry) {
            return a.clone();
        }
        let answer = self.look_up(registry).await.map_err(Arc::new);
        answers.insert(registry.to_string(), answer.clone());
        answer
    }

    async fn look_up(&self, registry: &str) -> Result<Option<Credential>, CredentialsError> {
        let Some(helper) = self.helper_for(registry) else {
            return Ok(self.inline.get(registry).cloned());
        };
        let answer = helper.get(registry, &server_url(registry)).await?;
        Ok(answer.map(|a| {
            if a.username == TOKEN_USERNAME {
                Credential::IdentityToken(a.secret)
            } else {
                Credential::Basic(format!("{}:{}", a.username, a.secret))
            }
        }))
    }
}

/// The credential an `auths` entry holds, if any.
fn inline_credential(
    path: &Path,
    key: &str,
    entry: &AuthEntry,
) -> Result<Option<Credential>, CredentialsError> {
    let bad = || CredentialsError::BadAuthField {
        path: path.into(),
        host: key.to_string(),
    };
    if let Some(t) = entry.identitytoken.as_ref().filter(|t| !t.is_empty()) {
        return Ok(Some(Credential::IdentityToken(t.clone())));
    }
    let pair = match (&entry.auth, &entry.username, &entry.password) {
        (Some(a), _, _) if !a.is_empty() => {
            let raw = base64::decode(a).ok_or_else(bad)?;
            String::from_utf8(raw)
                .ok()
                .filter(|s| s.contains(':'))
                .ok_or_else(bad)?
        }
        (_, Some(u), Some(p)) => format!("{u}:{p}"),
        _ => return Ok(None),
    };
    Ok(Some(Credential::Basic(pair)))
}

/// The server URL Docker stores `registry`'s credentials under and hands
/// helpers: Docker Hub's v1 index URL, else the host as references name it.
pub fn server_url(registry: &str) -> String {
    if registry == DOCKER_HUB {
        HUB_SERVER.to_string()
    } else {
        registry.to_string()
    }
}

/// Config keys come as `https://index.docker.io/v1/`, `host:5000`,
/// `https://host/`...; reduce them to the host form references use.
pub fn normalise_config_key(key: &str) -> String {
    let no_scheme = key.split_once("://").map(|(_, rest)| rest).unwrap_or(key);
    let host = no_scheme.split('/').next().unwrap_or(no_scheme);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB.to_string()
        }
        h => h.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    fn basic(pair: &str) -> Option<Credential> {
        Some(Credential::Basic(pair.to_string()))
    }

    /// Writes `config` and helper scripts `docker-credential-<name>` into a
    /// temp dir; returns the dir and the loaded config.
    fn setup(config: &str, helpers: &[(&str, &str)]) -> (tempfile::TempDir, DockerAuths) {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in helpers {
            let p = dir.path().join(format!("docker-credential-{name}"));
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = dir.path().join("config.json");
        std::fs::write(&path, config).unwrap();
        let auths = DockerAuths::load(&path)
            .unwrap()
            .with_helper_dir(dir.path(), Duration::from_secs(5));
        (dir, auths)
    }

    #[tokio::test]
    async fn reads_docker_config_auths() {
        let cfg = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
            "127.0.0.1:5000":{"username":"a","password":"b"},"ghcr.io":{},
            "t.io":{"identitytoken":"rt"}}}"#;
        let (dir, auths) = setup(cfg, &[]);
        assert_eq!(
            auths.credential("docker.io").await.unwrap(),
            basic("user:pass")
        );
        assert_eq!(
            auths.credential("127.0.0.1:5000").await.unwrap(),
            basic("a:b")
        );
        assert_eq!(auths.credential("ghcr.io").await.unwrap(), None);
        assert_eq!(
            auths.credential("t.io").await.unwrap(),
            Some(Credential::IdentityToken("rt".into()))
        );
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"auths":{"x.io":{"auth":"bm9jb2xvbg=="}}}"#).unwrap();
        assert!(matches!(
            DockerAuths::load(&path),
            Err(CredentialsError::BadAuthField { .. })
        ));
        assert!(DockerAuths::load(&dir.path().join("missing.json"))
            .unwrap()
            .inline
            .is_empty());
    }

    #[tokio::test]
    async fn cred_helpers_then_creds_store_then_auths() {
        // Each helper answers with its own name as the user, and logs the
        // server URL it was asked for.
        let answer = |name: &str| {
            format!(
                "read url; echo \"{name} $url\" >> \"$(dirname \"$0\")/asked\"\n\
                 echo '{{\"ServerURL\":\"'$url'\",\"Username\":\"{name}\",\"Secret\":\"pw\"}}'"
            )
        };
        let cfg = r#"{"credsStore":"store","credHelpers":{"h.io":"special","plain.io":""},
            "auths":{"h.io":{"auth":"aTpw"},"plain.io":{"auth":"aTpw"},"s.io":{"auth":"aTpw"}}}"#;
        let (dir, auths) = setup(
            cfg,
            &[("store", &answer("store")), ("special", &answer("special"))],
        );
        assert_eq!(auths.credential("h.io").await.unwrap(), basic("special:pw"));
        assert_eq!(auths.credential("s.io").await.unwrap(), basic("store:pw"));
        assert_eq!(
            auths.credential("docker.io").await.unwrap(),
            basic("store:pw")
        );
        // An empty credHelpers entry means the config file, as in Docker.
        assert_eq!(auths.credential("plain.io").await.unwrap(), basic("i:p"));
        // Asked once per registry, Docker Hub by its v1 URL.
        assert_eq!(auths.credential("h.io").await.unwrap(), basic("special:pw"));
        let asked = std::fs::read_to_string(dir.path().join("asked")).unwrap();
        assert_eq!(
            asked,
            "special h.io\nstore s.io\nstore https://index.docker.io/v1/\n"
        );
    }

    #[tokio::test]
    async fn helper_answers_not_found_token_or_garbage() {
        let cfg = r#"{"credHelpers":{"none.io":"none","tok.io":"tok","bad.io":"bad",
            "fail.io":"fail","gone.io":"gone","slow.io":"slow"}}"#;
        let helpers = [
            (
                "none",
                "echo 'credentials not found in native keychain'; exit 1",
            ),
            ("tok", r#"echo '{"Username":"<token>","Secret":"refresh"}'"#),
            ("bad", "echo 'user=x'"),
            ("fail", "echo 'keychain locked' >&2; exit 3"),
            ("slow", "exec sleep 30"),
        ];
        let (_dir, auths) = setup(cfg, &helpers);
        let mut auths = auths;
        auths.timeout = Duration::from_millis(500);
        assert_eq!(auths.credential("none.io").await.unwrap(), None);
        assert_eq!(
            auths.credential("tok.io").await.unwrap(),
            Some(Credential::IdentityToken("refresh".into()))
        );
        let err = |r: Answer| r.unwrap_err().to_string();
        let bad = err(auths.credential("bad.io").await);
        assert!(
            bad.contains("docker-credential-bad") && bad.contains("bad.io"),
            "{bad}"
        );
        assert!(bad.contains("not {\"Username\",\"Secret\"} JSON"), "{bad}");
        let fail = err(auths.credential("fail.io").await);
        assert!(
            fail.contains("docker-credential-fail (get for fail.io)"),
            "{fail}"
        );
        assert!(fail.contains("exit status: 3: keychain locked"), "{fail}");
        let gone = err(auths.credential("gone.io").await);
        assert!(
            gone.contains("docker-credential-gone (get for gone.io): not found on PATH"),
            "{gone}"
        );
        let started = std::time::Instant::now();
        let slow = err(auths.credential("slow.io").await);
        assert!(
            slow.contains("(get for slow.io): no answer within"),
            "{slow}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let shown = format!(
            "{:?} {:?}",
            Credential::Basic("alice:s3cret".into()),
            Credential::IdentityToken("tok3n".into())
        );
        assert!(
            !shown.contains("s3cret") && !shown.contains("tok3n"),
            "{shown}"
        );
        assert!(shown.contains("alice"), "{shown}");
    }
}
