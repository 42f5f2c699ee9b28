//! Registry credentials from the Docker CLI config (`$DOCKER_CONFIG` or
//! `~/.docker/config.json`): inline `auth` or `username`+`password`
//! entries, keyed by the registry host form references use.

use super::base64;
use super::reference::DOCKER_HUB;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
}

/// `user:password` pairs by normalised registry host, from the Docker CLI
/// config. Only inline `auth`/`username`+`password` entries are used.
#[derive(Debug, Default)]
pub(crate) struct DockerAuths {
    by_host: HashMap<String, String>,
}

#[derive(serde::Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

impl DockerAuths {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; a
    /// missing file means anonymous access, a broken one is an error.
    pub(crate) fn load_default() -> Result<Self, CredentialsError> {
        let dir = match std::env::var_os("DOCKER_CONFIG") {
            Some(d) => PathBuf::from(d),
            None => match std::env::var_os("HOME") {
                Some(h) => Path::new(&h).join(".docker"),
                None => return Ok(Self::default()),
            },
        };
        Self::load(&dir.join("config.json"))
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
        let mut by_host = HashMap::new();
        for (key, entry) in file.auths {
            let bad = || CredentialsError::BadAuthField {
                path: path.into(),
                host: key.clone(),
            };
            let pair = match (&entry.auth, &entry.username, &entry.password) {
                (Some(a), _, _) if !a.is_empty() => {
                    let raw = base64::decode(a).ok_or_else(bad)?;
                    String::from_utf8(raw)
                        .ok()
                        .filter(|s| s.contains(':'))
                        .ok_or_else(bad)?
                }
                (_, Some(u), Some(p)) => format!("{u}:{p}"),
                _ => continue,
            };
            by_host.insert(normalise_config_key(&key), pair);
        }
        Ok(DockerAuths { by_host })
    }

    /// `Authorization` value for `registry`, if credentials are configured.
    pub(crate) fn basic_header(&self, registry: &str) -> Option<String> {
        self.by_host
            .get(registry)
            .map(|pair| format!("Basic {}", base64::encode(pair.as_bytes())))
    }
}

/// Config keys come as `https://index.docker.io/v1/`, `host:5000`,
/// `https://host/`...; reduce them to the host form references use.
fn normalise_config_key(key: &str) -> String {
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

    #[test]
    fn reads_docker_config_auths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        let cfg = r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},
            "127.0.0.1:5000":{"username":"a","password":"b"},"ghcr.io":{}}}"#;
        std::fs::write(&path, cfg).unwrap();
        let auths = DockerAuths::load(&path).unwrap();
        assert_eq!(
            auths.basic_header("docker.io").unwrap(),
            "Basic dXNlcjpwYXNz"
        );
        assert_eq!(
            auths.basic_header("127.0.0.1:5000").unwrap(),
            format!("Basic {}", base64::encode(b"a:b"))
        );
        assert!(auths.basic_header("ghcr.io").is_none());
        std::fs::write(&path, r#"{"auths":{"x.io":{"auth":"bm9jb2xvbg=="}}}"#).unwrap();
        assert!(matches!(
            DockerAuths::load(&path),
            Err(CredentialsError::BadAuthField { .. })
        ));
        assert!(DockerAuths::load(&dir.path().join("missing.json"))
            .unwrap()
            .by_host
            .is_empty());
    }
}
