//! What `mybuild run` runs: the image config's Entrypoint, Cmd, Env,
//! WorkingDir and User with the command line's overrides on top, as
//! `docker run` combines them, and the `-v` binds.

use super::args::RunArgs;
use anyhow::{bail, Context as _};
use mybuild_cache::Store;
use mybuild_graph::{Digest, NetworkMode};
use mybuild_solver::sandbox::SandboxMount;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug)]
pub(super) struct Spec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub network: NetworkMode,
    pub mounts: Vec<SandboxMount>,
    /// Overlay lower dirs of the image's layers.
    pub lowers: Vec<PathBuf>,
}

/// What a container starts from: an image, or a kept container's files
/// (a failed legacy RUN's, or an earlier `run`'s) over its image.
pub(super) struct Base {
    pub image: Option<Digest>,
    /// The kept container's files, an absolute overlay lower dir.
    pub top: Option<PathBuf>,
}

impl Base {
    /// An image by name or id, else a kept container by name or id.
    pub fn find(store: &Store, word: &str) -> anyhow::Result<Base> {
        let not_an_image = match crate::tagging::find(store, word) {
            Ok(found) => {
                return Ok(Base {
                    image: Some(found.config),
                    top: None,
                })
            }
            Err(e) => e,
        };
        let Some(c) = store.find_container(word)? else {
            return Err(not_an_image);
        };
        let top = match &c.layer {
            Some(layer) => Some(
                store
                    .snapshot_dir(layer)
                    .with_context(|| format!("container {word}: its layer {layer} is missing"))?,
            ),
            None => Some(store.container_upper(&c.id)).filter(|u| u.is_dir()),
        };
        Ok(Base {
            image: c.image,
            top,
        })
    }
}

impl Spec {
    pub fn of(store: &Store, base: &Base, args: &RunArgs) -> anyhow::Result<Spec> {
        let (config, mut lowers) = match &base.image {
            Some(image) => image_parts(store, image)?,
            None => (Value::Null, Vec::new()),
        };
        if let Some(top) = &base.top {
            lowers.insert(0, top.clone());
        }
        let argv = command_line(&config, args.entrypoint.as_deref(), &args.command);
        if argv.is_empty() {
            bail!("no command specified: the image has no Entrypoint or Cmd, and none was given");
        }
        let text = |k: &str| config.get(k).and_then(Value::as_str).unwrap_or_default();
        let cwd = match args.workdir.as_deref().unwrap_or(text("WorkingDir")) {
            "" => "/".to_string(),
            w if w.starts_with('/') => w.to_string(),
            w => bail!("the working directory {w:?} is not absolute"),
        };
        Ok(Spec {
            args: argv,
            env: environment(&strings(&config, "Env"), &args.env, |k| {
                std::env::var(k).ok()
            }),
            cwd,
            user: args
                .user
                .clone()
                .unwrap_or_else(|| text("User").to_string()),
            network: match args.network.as_str() {
                "none" => NetworkMode::None,
                _ => NetworkMode::Host,
            },
            mounts: args
                .volumes
                .iter()
                .map(|v| volume(v))
                .collect::<anyhow::Result<_>>()?,
            lowers,
        })
    }
}

/// The image's `config` object and its layers as overlay lower dirs.
fn image_parts(store: &Store, image: &Digest) -> anyhow::Result<(Value, Vec<PathBuf>)> {
    let bytes = store.read_blob(image)?;
    let full: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("image config {image}"))?;
    let chain = store.image_layers(image)?;
    let lowers = mybuild_solver::overlay_lowers(store, chain.iter())
        .map_err(|d| anyhow::anyhow!("image {image}: layer {d} is not unpacked"))?;
    Ok((full.get("config").cloned().unwrap_or(Value::Null), lowers))
}

fn strings(config: &Value, key: &str) -> Vec<String> {
    config
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Entrypoint then Cmd; command-line words replace Cmd, and `--entrypoint`
/// replaces Entrypoint and drops the image's Cmd.
fn command_line(config: &Value, entrypoint: Option<&str>, cmd: &[String]) -> Vec<String> {
    let (entry, default_cmd) = match entrypoint {
        Some("") => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.to_string()], Vec::new()),
        None => (strings(config, "Entrypoint"), strings(config, "Cmd")),
    };
    let cmd = if cmd.is_empty() {
        default_cmd
    } else {
        cmd.to_vec()
    };
    entry.into_iter().chain(cmd).collect()
}

/// The image's Env with `-e` on top: `K=V` sets, a bare `K` passes the
/// caller's value (or nothing when it has none).
fn environment(
    image: &[String],
    flags: &[String],
    host: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let mut env = image.to_vec();
    for flag in flags {
        let entry = match flag.split_once('=') {
            Some(_) => flag.clone(),
            None => match host(flag) {
                Some(v) => format!("{flag}={v}"),
                None => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
    env
}

/// `HOST:CTR[:ro|:rw]`: a host directory bound at an absolute path, which
/// the sandbox resolves inside the rootfs (symlinks cannot lead out).
fn volume(spec: &str) -> anyhow::Result<SandboxMount> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, target, readonly) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        _ => bail!("-v {spec:?}: expected HOST:CONTAINER[:ro]"),
    };
    if !target.starts_with('/') {
        bail!("-v {spec:?}: the container path must be absolute");
    }
    let host = std::fs::canonicalize(host).with_context(|| format!("-v {spec:?}: {host}"))?;
    if !host.is_dir() {
        bail!(
            "-v {spec:?}: {} is not a directory (only directories can be bound yet)",
            host.display()
        );
    }
    Ok(SandboxMount::Cache {
        target: target.to_string(),
        host,
        readonly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_lines_combine_as_docker_run() {
        let c = json!({"Entrypoint": ["/ep"], "Cmd": ["a", "b"]});
        assert_eq!(command_line(&c, None, &[]), words(&["/ep", "a", "b"]));
        assert_eq!(command_line(&c, None, &words(&["x"])), words(&["/ep", "x"]));
        assert_eq!(command_line(&c, Some("/sh"), &[]), words(&["/sh"]));
        assert_eq!(
            command_line(&c, Some(""), &words(&["ls", "-l"])),
            words(&["ls", "-l"])
        );
        assert!(command_line(&json!({}), None, &[]).is_empty());
    }

    #[test]
    fn env_flags_override_the_image() {
        let host = |k: &str| (k == "FROM_HOST").then(|| "h".to_string());
        let env = environment(
            &words(&["PATH=/bin", "A=1"]),
            &words(&["A=2", "FROM_HOST", "UNSET", "B=x=y"]),
            host,
        );
        assert_eq!(env, words(&["PATH=/bin", "A=2", "FROM_HOST=h", "B=x=y"]));
    }

    #[test]
    fn volumes_need_an_absolute_target_and_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().display().to_string();
        assert!(volume(&format!("{dir}:rel")).is_err());
        assert!(volume(&format!("{dir}:/a:xx")).is_err());
        let Ok(SandboxMount::Cache { readonly, .. }) = volume(&format!("{dir}:/a:ro")) else {
            panic!("not a bind");
        };
        assert!(readonly);
        std::fs::write(tmp.path().join("f"), b"").unwrap();
        assert!(volume(&format!("{dir}/f:/f")).is_err());
    }
}
