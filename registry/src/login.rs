//! `mybuild login` / `logout` as `docker login` / `logout` do them: check
//! the credentials against the registry's `/v2/` (its 401 challenge, Basic
//! or Bearer), then store them through the configured credential helper
//! or as a base64 `auth` entry in the Docker CLI config file, and erase
//! them again. The config file is rewritten atomically with every key
//! mybuild does not own left as it was.

use super::auth::{fetch_token, may_send_credentials, AuthError, Challenge};
use super::client::{basic_header, status_error, RegistryClient};
use super::credentials::{normalise_config_key, server_url, CredentialsError, DockerAuths};
use super::error::RegistryError;
use super::helper::HelperError;
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};
use serde_json::{Map, Value};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Config(#[from] CredentialsError),
    #[error(transparent)]
    Helper(#[from] HelperError),
    #[error("docker config {path}: {what} is not a JSON object")]
    NotAnObject { path: PathBuf, what: &'static str },
    #[error("write docker config {path}: {source}")]
    WriteConfig {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where `store_login` put the credentials.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Through `docker-credential-<name>`.
    Helper(String),
    /// Inline (base64, unencrypted) in the config file.
    ConfigFile,
}

/// What `erase_login` did.
#[derive(Debug)]
pub enum Erased {
    /// The config file had no entry for the registry.
    NotLoggedIn,
    /// The entry is gone; a helper's failures to erase are warnings, as
    /// Docker prints them.
    Removed { warnings: Vec<HelperError> },
}

/// `docker login SERVER`'s registry: Docker Hub by default, else the
/// server's host (a scheme and path are dropped).
pub fn login_registry(server: Option<&str>) -> String {
    normalise_config_key(server.unwrap_or(super::credentials::HUB_SERVER))
}

impl RegistryClient {
    /// Checks `username`/`password` against `registry` the way `docker
    /// login` does: `GET /v2/`, then answer its challenge (Basic, or a
    /// Bearer token from the realm without scope).
    pub async fn verify_login(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<(), RegistryError> {
        let base = self.registry_base_url(registry)?;
        let resp = self.ping(&base, None).await?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return ok_or_status(&base, resp).await;
        }
        let auth_err = |source| RegistryError::Auth {
            registry: registry.to_string(),
            source,
        };
        let unauthorized = || {
            auth_err(AuthError::Unauthorized {
                url: base.to_string(),
                registry: registry.to_string(),
            })
        };
        let header = resp
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        let basic = basic_header(&format!("{username}:{password}"));
        let auth = match Challenge::parse(base.as_str(), &header).map_err(auth_err)? {
            Challenge::Basic => basic,
            Challenge::Bearer { realm, service } => {
                let bad = || AuthError::BadChallenge {
                    url: base.to_string(),
                    header: header.clone(),
                };
                let realm = Url::parse(&realm).map_err(|_| auth_err(bad()))?;
                if !may_send_credentials(&realm, &base) {
                    return Err(unauthorized());
                }
                let token = fetch_token(&self.http, &realm, service.as_deref(), None, Some(&basic));
                match token.await {
                    Ok((token, _)) => format!("Bearer {token}"),
                    Err(AuthError::TokenStatus { status: 401, .. }) => return Err(unauthorized()),
                    Err(e) => return Err(auth_err(e)),
                }
            }
        };
        let resp = self.ping(&base, Some(&auth)).await?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(unauthorized());
        }
        ok_or_status(&base, resp).await
    }

    async fn ping(
        &self,
        base: &Url,
        auth: Option<&str>,
    ) -> Result<reqwest::Response, RegistryError> {
        let mut req = self.http.get(base.clone());
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.send().await.map_err(|source| RegistryError::Request {
            url: base.to_string(),
            source,
        })
    }
}

async fn ok_or_status(base: &Url, resp: reqwest::Response) -> Result<(), RegistryError> {
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(status_error(base.as_str(), resp).await)
    }
}

/// Stores a verified login for `registry` in `config`'s credential helper
/// (`credHelpers`, else `credsStore`) or, with none, in `config` itself.
pub async fn store_login(
    config: &Path,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<Stored, LoginError> {
    let auths = DockerAuths::load(config)?;
    store_with(&auths, config, registry, username, password).await
}

pub(crate) async fn store_with(
    auths: &DockerAuths,
    config: &Path,
    registry: &str,
    username: &str,
    password: &str,
) -> Result<Stored, LoginError> {
    let key = server_url(registry);
    let mut file = read_config(config)?;
    let (entry, stored) = match auths.helper_for(registry) {
        Some(helper) => {
            helper.store(registry, &key, username, password).await?;
            // Docker keeps an empty entry so `logout` knows of the login.
            (Value::Object(Map::new()), Stored::Helper(helper.name))
        }
        None => {
            let auth = super::base64::encode(format!("{username}:{password}").as_bytes());
            (serde_json::json!({ "auth": auth }), Stored::ConfigFile)
        }
    };
    let entries = auths_object(config, &mut file)?;
    // Another spelling of the same host (`https://host/`) would compete.
    entries.retain(|k, _| normalise_config_key(k) != registry);
    entries.insert(key, entry);
    write_config(config, &file)?;
    Ok(stored)
}

/// Removes `registry`'s login from `config` and from its helper.
pub async fn erase_login(config: &Path, registry: &str) -> Result<Erased, LoginError> {
    let auths = DockerAuths::load(config)?;
    erase_with(&auths, config, registry).await
}

pub(crate) async fn erase_with(
    auths: &DockerAuths,
    config: &Path,
    registry: &str,
) -> Result<Erased, LoginError> {
    let mut file = read_config(config)?;
    let entries = auths_object(config, &mut file)?;
    let mut keys: Vec<String> = entries
        .keys()
        .filter(|k| normalise_config_key(k) == registry)
        .cloned()
        .collect();
    if keys.is_empty() {
        return Ok(Erased::NotLoggedIn);
    }
    entries.retain(|k, _| !keys.contains(k));
    write_config(config, &file)?;
    let mut warnings = Vec::new();
    if let Some(helper) = auths.helper_for(registry) {
        let key = server_url(registry);
        if !keys.contains(&key) {
            keys.insert(0, key);
        }
        for k in keys {
            if let Err(e) = helper.erase(registry, &k).await {
                warnings.push(e);
            }
        }
    }
    Ok(Erased::Removed { warnings })
}

/// The config file as a JSON object; a missing file is an empty one.
fn read_config(path: &Path) -> Result<Map<String, Value>, LoginError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(CredentialsError::ReadConfig {
                path: path.into(),
                source,
            }
            .into())
        }
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(LoginError::NotAnObject {
            path: path.into(),
            what: "the file",
        }),
        Err(source) => Err(CredentialsError::ParseConfig {
            path: path.into(),
            source,
        }
        .into()),
    }
}

fn auths_object<'a>(
    path: &Path,
    file: &'a mut Map<String, Value>,
) -> Result<&'a mut Map<String, Value>, LoginError> {
    let entry = file
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    entry
        .as_object_mut()
        .ok_or_else(|| LoginError::NotAnObject {
            path: path.into(),
            what: "\"auths\"",
        })
}

/// Writes `file` to `path` (through a symlink, as Docker does) by renaming
/// a fully written temporary file over it: a crash leaves the old file or
/// the new one, never half of one. A new file is 0600, an existing one
/// keeps its mode.
fn write_config(path: &Path, file: &Map<String, Value>) -> Result<(), LoginError> {
    let err = |source| LoginError::WriteConfig {
        path: path.into(),
        source,
    };
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err)?;
    let mode = std::fs::metadata(&target).map_or(0o600, |m| m.permissions().mode() & 0o7777);
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut json = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(
        &mut json,
        serde_json::ser::PrettyFormatter::with_indent(b"\t"),
    );
    serde::Serialize::serialize(file, &mut ser).map_err(|e| err(std::io::Error::other(e)))?;
    json.push(b'\n');
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&json)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn load(dir: &Path) -> DockerAuths {
        DockerAuths::load(&dir.join("config.json"))
            .unwrap()
            .with_helper_dir(dir, Duration::from_secs(5))
    }

    fn read(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn inline_login_keeps_other_keys_and_logout_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"proxies":{"default":{"httpProxy":"http://p:3128"}},
                "auths":{"other.io":{"auth":"eDp5"},"https://r.io/v1/":{"auth":"b2xkOm9sZA=="}}}"#,
        )
        .unwrap();
        let stored = store_with(&load(dir.path()), &path, "r.io", "alice", "s3cret")
            .await
            .unwrap();
        assert_eq!(stored, Stored::ConfigFile);
        let cfg = read(&path);
        assert_eq!(cfg["proxies"]["default"]["httpProxy"], "http://p:3128");
        assert_eq!(cfg["auths"]["other.io"]["auth"], "eDp5");
        assert_eq!(
            cfg["auths"]["r.io"]["auth"],
            super::super::base64::encode(b"alice:s3cret")
        );
        assert!(cfg["auths"].get("https://r.io/v1/").is_none(), "{cfg}");

        let erased = erase_with(&load(dir.path()), &path, "r.io").await.unwrap();
        assert!(matches!(erased, Erased::Removed { ref warnings } if warnings.is_empty()));
        let cfg = read(&path);
        assert!(cfg["auths"].get("r.io").is_none(), "{cfg}");
        assert_eq!(cfg["auths"]["other.io"]["auth"], "eDp5");
        let again = erase_with(&load(dir.path()), &path, "r.io").await.unwrap();
        assert!(matches!(again, Erased::NotLoggedIn));
    }

    #[tokio::test]
    async fn new_config_is_private_and_created_with_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        let auths = DockerAuths::default();
        store_with(&auths, &path, "docker.io", "u", "p")
            .await
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            read(&path)["auths"]["https://index.docker.io/v1/"]["auth"],
            "dTpw"
        );
        assert_eq!(login_registry(None), "docker.io");
        assert_eq!(
            login_registry(Some("https://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
    }

    #[tokio::test]
    async fn helper_login_goes_through_store_and_erase() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-rec");
        // Records each action and its stdin.
        std::fs::write(
            &helper,
            "#!/bin/sh\n{ echo \"$1\"; cat; echo; } >> \"$(dirname \"$0\")/log\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(&path, r#"{"credsStore":"rec"}"#).unwrap();
        let stored = store_with(&load(dir.path()), &path, "r.io", "alice", "s3cret")
            .await
            .unwrap();
        assert_eq!(stored, Stored::Helper("rec".into()));
        let cfg = read(&path);
        assert_eq!(cfg["auths"]["r.io"], serde_json::json!({}));
        assert_eq!(cfg["credsStore"], "rec");
        erase_with(&load(dir.path()), &path, "r.io").await.unwrap();
        let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
        assert_eq!(
            log,
            "store\n{\"ServerURL\":\"r.io\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}\nerase\nr.io\n"
        );
        assert!(!std::fs::read_to_string(&path).unwrap().contains("s3cret"));
    }
}
