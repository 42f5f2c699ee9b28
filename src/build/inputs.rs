//! What a build reads besides its flags: the context and named contexts
//! (fetched by [`super::sources`] when not a directory), the Dockerfile
//! (`-f -`: from stdin), the `.dockerignore` and the `--secret` values.

use super::sources::{Fetched, Remote};
use anyhow::{bail, Context as _};
use mybuild_frontend::NamedContext;
use mybuild_solver::context::Dockerignore;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The context, Dockerfile and named contexts of a build, ready to read.
pub(super) struct Inputs {
    /// The canonical context directory.
    pub context: PathBuf,
    pub def: Definition,
    /// `--build-context`s as the frontend sees them.
    pub named: BTreeMap<String, NamedContext>,
    /// The directories of the named contexts, by local source name.
    pub locals: BTreeMap<String, PathBuf>,
    /// Keeps fetched contexts on disk until the build is over.
    pub fetched: Fetched,
}

/// Reads the build's inputs: `context` (a directory, `-`, a tarball or git
/// URL), the Dockerfile (`file`, `-` for stdin) and `--build-context`s.
pub(super) async fn gather(
    file: Option<&Path>,
    context: &str,
    build_contexts: &[String],
) -> anyhow::Result<Inputs> {
    let mut fetched = Fetched::default();
    let file_on_stdin = file == Some(Path::new("-"));
    let (dir, mut text, in_context) = if context == "-" {
        if file_on_stdin {
            bail!("invalid argument: can't use stdin for both build context and dockerfile");
        }
        let (dir, text) = fetched.stdin()?;
        (dir, text, true)
    } else if let Some(remote) = Remote::parse(context) {
        (fetched.remote(&remote).await?, None, true)
    } else {
        (context_dir(Path::new(context))?, None, false)
    };
    let context = context_dir(&dir)?;
    if file_on_stdin {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin().lock(), &mut s)
            .context("reading the Dockerfile from stdin: not valid UTF-8")?;
        text = Some(s);
    }
    let dockerfile = match file {
        Some(_) if file_on_stdin => context.join("Dockerfile"),
        // A fetched context's Dockerfile is a path inside it, as in Docker.
        Some(f) if in_context => inside(&context, f)?,
        Some(f) => f.to_path_buf(),
        None => context.join("Dockerfile"),
    };
    let (named, locals) = named_contexts(build_contexts, &mut fetched).await?;
    let def = match text {
        Some(text) => Definition::from_text(text, &dockerfile, &context)?,
        None => Definition::read(&dockerfile, &context)?,
    };
    Ok(Inputs {
        context,
        def,
        named,
        locals,
        fetched,
    })
}

/// `path` (relative to `dir`) inside `dir`, refusing a way out of it.
fn inside(dir: &Path, path: &Path) -> anyhow::Result<PathBuf> {
    let joined = dir.join(path.strip_prefix("/").unwrap_or(path));
    let real = joined
        .canonicalize()
        .with_context(|| format!("Dockerfile {}", path.display()))?;
    if !real.starts_with(dir) {
        bail!("Dockerfile {}: outside the build context", path.display());
    }
    Ok(real)
}

/// The canonical build context directory.
fn context_dir(context: &Path) -> anyhow::Result<PathBuf> {
    let dir = context
        .canonicalize()
        .with_context(|| format!("build context {}", context.display()))?;
    if !dir.is_dir() {
        bail!("build context {}: not a directory", dir.display());
    }
    Ok(dir)
}

/// `--build-context NAME=DIR|docker-image://REF|URL`, as buildx reads them.
async fn named_contexts(
    specs: &[String],
    fetched: &mut Fetched,
) -> anyhow::Result<(BTreeMap<String, NamedContext>, BTreeMap<String, PathBuf>)> {
    let (mut named, mut locals) = (BTreeMap::new(), BTreeMap::new());
    for spec in specs {
        let Some((name, value)) = spec
            .split_once('=')
            .filter(|(n, v)| !n.is_empty() && !v.is_empty())
        else {
            bail!("invalid --build-context {spec:?}: expected NAME=VALUE");
        };
        if let Some(reference) = value.strip_prefix("docker-image://") {
            named.insert(name.to_string(), NamedContext::Image(reference.to_string()));
            continue;
        }
        if value.starts_with("oci-layout://") || value.starts_with("target:") {
            bail!("--build-context {name}={value}: only a directory, docker-image:// or a URL is supported");
        }
        let dir = match Remote::parse(value) {
            Some(remote) => fetched.remote(&remote).await?,
            None => Path::new(value).to_path_buf(),
        };
        let dir = context_dir(&dir).with_context(|| format!("--build-context {name}"))?;
        let local = format!("context:{name}");
        locals.insert(local.clone(), dir);
        named.insert(name.to_string(), NamedContext::Local(local));
    }
    Ok((named, locals))
}

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
        Definition::from_text(text, dockerfile, context)
    }

    /// A Dockerfile already read (`-f -`); `dockerfile` is where it would
    /// be, for its name and its `.dockerignore`.
    fn from_text(text: String, dockerfile: &Path, context: &Path) -> anyhow::Result<Definition> {
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
