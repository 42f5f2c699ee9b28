//! What a build reads besides its flags: the Dockerfile, the
//! `.dockerignore` and the `--secret` values.

use anyhow::Context as _;
use mybuild_solver::context::Dockerignore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The Dockerfile and `.dockerignore` of a build, as read.
pub(super) struct Definition {
    pub text: String,
    /// The Dockerfile's name relative to the context (how errors name it).
    pub filename: String,
    pub dockerignore: Vec<String>,
    /// The `.dockerignore`'s size (0 when there is none), for progress.
    pub ignore_bytes: u64,
}

impl Definition {
    pub(super) fn read(dockerfile: &Path, context: &Path) -> anyhow::Result<Definition> {
        let text = read_dockerfile(dockerfile)?;
        let (dockerignore, ignore_bytes) = read_dockerignore(context, dockerfile)?;
        Ok(Definition {
            text,
            filename: display_name(dockerfile, context),
            dockerignore,
            ignore_bytes,
        })
    }
}

fn display_name(dockerfile: &Path, context: &Path) -> String {
    dockerfile
        .strip_prefix(context)
        .unwrap_or(dockerfile)
        .display()
        .to_string()
}

/// The `.dockerignore` patterns and the file's size (0 when there is none).
fn read_dockerignore(context: &Path, dockerfile: &Path) -> anyhow::Result<(Vec<String>, u64)> {
    // `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's.
    let mut specific = dockerfile.as_os_str().to_owned();
    specific.push(".dockerignore");
    for path in [PathBuf::from(specific), context.join(".dockerignore")] {
        match std::fs::read_to_string(&path) {
            Ok(text) => return Ok((Dockerignore::parse(&text), text.len() as u64)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    Ok((Vec::new(), 0))
}

/// The Dockerfile as text; bytes that are not UTF-8 are refused with the
/// line and column they are on.
fn read_dockerfile(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading Dockerfile {}", path.display()))?;
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        let start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[start..]).chars().count() + 1;
        anyhow::anyhow!(
            "{}:{line}:{column}: the Dockerfile is not valid UTF-8 (byte {} there)",
            path.display(),
            good.len()
        )
    })
}

/// `--secret id=ID[,src=FILE|,env=VAR]`, as buildx takes it: without `src`
/// or `env`, the environment variable named ID, else the file named ID.
pub(super) fn read_secrets(specs: &[String]) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let mut id = None;
        let (mut src, mut env) = (None, None);
        for field in spec.split(',') {
            match field.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(v.to_string()),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", "file" | "env")) => {}
                _ => anyhow::bail!(
                    "--secret {spec:?}: unknown field {field:?} (want id=, src= or env=)"
                ),
            }
        }
        let id = id.with_context(|| format!("--secret {spec:?}: id= is required"))?;
        let data = match (src, env) {
            (Some(path), _) => {
                std::fs::read(&path).with_context(|| format!("--secret id={id}: reading {path}"))?
            }
            (None, Some(var)) => std::env::var_os(&var)
                .with_context(|| {
                    format!("--secret id={id}: environment variable {var} is not set")
                })?
                .into_encoded_bytes(),
            (None, None) => match std::env::var_os(&id) {
                Some(v) => v.into_encoded_bytes(),
                None => std::fs::read(&id).with_context(|| {
                    format!("--secret id={id}: no src= or env= given, no ${id} and no file {id}")
                })?,
            },
        };
        out.insert(id, data);
    }
    Ok(out)
}
