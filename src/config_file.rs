//! The config file, `config.toml`: defaults for the store root, insecure
//! registries, registry mirrors, the gc policy and the progress mode.
//! Flags and environment variables override it. (Not to be confused with
//! `config.rs`, which completes an image's config.)
//!
//! Looked up at `$MYBUILD_CONFIG` if set, else
//! `$XDG_CONFIG_HOME/mybuild/config.toml` (`~/.config/...`), else
//! `/etc/mybuild/config.toml`; none of them existing means no defaults.

use crate::render::ProgressMode;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The system-wide file, read when the user has none.
const SYSTEM_FILE: &str = "/etc/mybuild/config.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("reading config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}, line {line}: unknown key {key:?}")]
    UnknownKey {
        path: PathBuf,
        key: String,
        line: usize,
    },
    #[error("config file {path}, line {line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("config file {path}: {key} = {value:?}: {message}")]
    BadValue {
        path: PathBuf,
        key: &'static str,
        value: String,
        message: String,
    },
}

/// The file as written; [`Settings`] is it checked.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    root: Option<PathBuf>,
    #[serde(default)]
    insecure_registries: Vec<String>,
    registry_mirrors: Option<RawMirrors>,
    #[serde(default)]
    gc: RawGc,
    progress: Option<String>,
}

/// `registry-mirrors`: per registry, or daemon.json's list (Docker Hub's).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawMirrors {
    Hub(Vec<String>),
    PerRegistry(BTreeMap<String, Vec<String>>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGc {
    keep_storage: Option<String>,
}

/// What the config file sets; every field unset when there is none.
#[derive(Debug, Default, PartialEq)]
pub struct Settings {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    pub root: Option<PathBuf>,
    pub insecure_registries: Vec<String>,
    /// Registry host (`docker.io`, `host:port`) -> mirror base URLs.
    pub registry_mirrors: BTreeMap<String, Vec<String>>,
    /// `[gc] keep-storage`, bytes: after a build the build cache is cut
    /// down to this (least recently used first), as BuildKit's gc does.
    pub keep_storage: Option<u64>,
    pub progress: Option<ProgressMode>,
}

impl Settings {
    /// The config file that applies, read and checked.
    pub fn load() -> Result<Settings, ConfigFileError> {
        let explicit = std::env::var_os("MYBUILD_CONFIG").filter(|v| !v.is_empty());
        let Some(path) = explicit.map(PathBuf::from).or_else(find_file) else {
            return Ok(Settings::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
            path: path.clone(),
            source,
        })?;
        Settings::parse(&path, &text)
    }

    /// Parses `text`, the contents of `path` (named in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Settings, ConfigFileError> {
        let raw: Raw = toml::from_str(text).map_err(|e| parse_error(path, text, &e))?;
        let bad = |key, value: &str, message: String| ConfigFileError::BadValue {
            path: path.to_path_buf(),
            key,
            value: value.to_string(),
            message,
        };
        let keep_storage = match &raw.gc.keep_storage {
            Some(s) => Some(crate::units::parse_size(s).map_err(|m| bad("gc.keep-storage", s, m))?),
            None => None,
        };
        let progress = match &raw.progress {
            Some(p) => Some(
                <ProgressMode as clap::ValueEnum>::from_str(p, true).map_err(|_| {
                    let m = "expected auto, tty, plain, quiet or rawjson".to_string();
                    bad("progress", p, m)
                })?,
            ),
            None => None,
        };
        let registry_mirrors = match raw.registry_mirrors {
            None => BTreeMap::new(),
            Some(RawMirrors::Hub(list)) => {
                BTreeMap::from([(mybuild_registry::DOCKER_HUB.into(), list)])
            }
            Some(RawMirrors::PerRegistry(map)) => map,
        };
        for url in registry_mirrors.values().flatten() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                let m = "a mirror is an http:// or https:// URL".to_string();
                return Err(bad("registry-mirrors", url, m));
            }
        }
        Ok(Settings {
            path: Some(path.to_path_buf()),
            root: raw.root,
            insecure_registries: raw.insecure_registries,
            registry_mirrors,
            keep_storage,
            progress,
        })
    }
}

/// The user's file if it exists, else the system's if it exists.
fn find_file() -> Option<PathBuf> {
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let user = config_home.map(|d| d.join("mybuild/config.toml"));
    user.into_iter()
        .chain([PathBuf::from(SYSTEM_FILE)])
        .find(|p| p.exists())
}

/// A toml error as ours: an unknown key by name, anything else by line.
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigFileError {
    let span = e.span().unwrap_or(0..0);
    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let message = e.message().trim().to_string();
    if message.starts_with("unknown field") {
        let key = text.get(span).unwrap_or_default().trim_matches(['"', '\'']);
        return ConfigFileError::UnknownKey {
            path: path.to_path_buf(),
            key: key.to_string(),
            line,
        };
    }
    ConfigFileError::Malformed {
        path: path.to_path_buf(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigFileError> {
        Settings::parse(Path::new("/c/config.toml"), text)
    }

    #[test]
    fn every_key_is_read() {
        let s = parse(
            "root = \"/srv/mybuild\"\ninsecure-registries = [\"reg.lan:5000\"]\n\
             progress = \"plain\"\n[registry-mirrors]\n\"docker.io\" = [\"http://127.0.0.1:5000\"]\n\
             [gc]\nkeep-storage = \"10GB\"\n",
        )
        .unwrap();
        assert_eq!(s.root, Some(PathBuf::from("/srv/mybuild")));
        assert_eq!(s.insecure_registries, ["reg.lan:5000"]);
        assert_eq!(s.progress, Some(ProgressMode::Plain));
        assert_eq!(s.registry_mirrors["docker.io"], ["http://127.0.0.1:5000"]);
        assert_eq!(s.keep_storage, Some(10 << 30));
        assert_eq!(
            parse("").unwrap().path,
            Some(PathBuf::from("/c/config.toml"))
        );
    }

    #[test]
    fn a_daemon_json_style_mirror_list_is_docker_hubs() {
        let s = parse("registry-mirrors = [\"https://mirror.example\"]\n").unwrap();
        assert_eq!(s.registry_mirrors["docker.io"], ["https://mirror.example"]);
        assert!(parse("registry-mirrors = [\"mirror.example\"]\n").is_err());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let e = parse("root = \"/r\"\n\nprogess = \"plain\"\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("/c/config.toml, line 3: unknown key \"progess\""),
            "{msg}"
        );
        let e = parse("[gc]\nkeep = \"1GB\"\n").unwrap_err().to_string();
        assert!(e.contains("line 2: unknown key \"keep\""), "{e}");
    }

    #[test]
    fn a_malformed_file_is_named_with_its_line() {
        let e = parse("root = \"/r\"\nprogress = plain\n").unwrap_err();
        assert!(
            matches!(e, ConfigFileError::Malformed { line: 2, .. }),
            "{e}"
        );
        assert!(e
            .to_string()
            .starts_with("config file /c/config.toml, line 2:"));
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse("progress = \"fancy\"\n").unwrap_err().to_string();
        assert!(e.contains("progress = \"fancy\""), "{e}");
        let e = parse("[gc]\nkeep-storage = \"10XB\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gc.keep-storage"), "{e}");
    }
}
