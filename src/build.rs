//! `mybuild build`: Dockerfile -> graph -> layers -> image, with progress.

use crate::cli::{BuildArgs, ProgressMode};
use crate::{config, output, render, resolve::StoreResolver};
use anyhow::{bail, Context as _};
use mybuild_cache::Store;
use mybuild_frontend::{compile, CompileOptions, Span};
use mybuild_graph::NetworkMode;
use mybuild_registry::{ImageProvider, Reference, RegistryClient};
use mybuild_solver::context::Dockerignore;
use mybuild_solver::sandbox::Sandbox;
use mybuild_solver::{BuildWorker, Progress, Scheduler, SolveError, SolveOptions};
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub async fn run(root: &Path, args: BuildArgs) -> anyhow::Result<()> {
    let context = args
        .context
        .canonicalize()
        .with_context(|| format!("build context {}", args.context.display()))?;
    if !context.is_dir() {
        bail!("build context {}: not a directory", context.display());
    }
    let dockerfile = args
        .file
        .clone()
        .unwrap_or_else(|| context.join("Dockerfile"));
    let text = read_dockerfile(&dockerfile)?;
    let (dockerignore, ignore_bytes) = read_dockerignore(&context, &dockerfile)?;
    let opts = CompileOptions {
        filename: display_name(&dockerfile, &context),
        build_args: build_args(&args.build_args)?,
        target: args.target.clone(),
        dockerignore,
        network: network_mode(&args.network)?,
    };
    let outputs = args
        .outputs
        .iter()
        .map(|o| output::Output::parse(o))
        .collect::<Result<Vec<_>, _>>()?;
    if args.push && args.tags.is_empty() {
        bail!("--push needs at least one -t REGISTRY/NAME[:TAG]");
    }
    let tags = args
        .tags
        .iter()
        .map(|t| {
            Reference::parse(t)
                .map(|r| r.to_string())
                .with_context(|| format!("invalid tag {t:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    std::fs::create_dir_all(root)
        .with_context(|| format!("creating store root {}", root.display()))?;
    let store = Arc::new(crate::store::open_store(root)?);
    let client = RegistryClient::new(args.insecure_registries.clone())?;
    let images = Arc::new(ImageProvider::new(store.clone(), client, args.pull));
    if args.legacy || crate::legacy::requested_by_env() {
        return legacy(args, store, images, context, text, opts, tags, outputs).await;
    }

    let mode = progress_mode(&args);
    let (progress, events) = Progress::channel();
    let renderer = tokio::spawn(render::run(mode, events, args.log_dir.clone()));
    let def = Definition { text, ignore_bytes };
    let result = build(
        &args, store, images, context, def, opts, &progress, &tags, &outputs,
    )
    .await;
    drop(progress);
    let _ = renderer.await;
    let id = result.map_err(|e| match e {
        BuildFailure::Solve(e, at) => failure_report(&e, at.as_ref()),
        BuildFailure::Other(e) => e,
    })?;
    if mode == ProgressMode::Quiet {
        println!("{id}");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn build(
    args: &BuildArgs,
    store: Arc<Store>,
    images: Arc<ImageProvider>,
    context: PathBuf,
    def: Definition,
    opts: CompileOptions,
    progress: &Progress,
    tags: &[String],
    outputs: &[output::Output],
) -> Result<String, BuildFailure> {
    // BuildKit's first vertices: the Dockerfile and .dockerignore (by
    // their base names), each with a status line of its size.
    let status = |vertex: &str, line: String| {
        progress.log(vertex, mybuild_solver::LogStream::Stdout, line.as_bytes())
    };
    let Definition { text, ignore_bytes } = def;
    let def = "load-definition";
    let base = Path::new(&opts.filename).file_name().unwrap_or_default();
    let base = base.to_string_lossy();
    progress.started(
        def,
        &format!("[internal] load build definition from {base}"),
    );
    status(
        def,
        format!("transferring dockerfile: {}B done\n", text.len()),
    );
    if let Some(frontend) = mybuild_frontend::external_frontend(&text) {
        status(
            def,
            format!(
                "WARNING: # syntax={frontend} names an external frontend; \
                 mybuild builds with its built-in Dockerfile frontend instead\n"
            ),
        );
    }
    progress.done(def);
    let ignore = "load-dockerignore";
    progress.started(ignore, "[internal] load .dockerignore");
    status(
        ignore,
        format!("transferring context: {ignore_bytes}B done\n"),
    );
    progress.done(ignore);

    let resolver = StoreResolver::new(
        images.clone(),
        tokio::runtime::Handle::current(),
        progress.clone(),
    );
    let (source, filename) = (text.clone(), opts.filename.clone());
    let plan = tokio::task::spawn_blocking(move || compile(&text, &opts, &resolver))
        .await
        .context("frontend thread panicked")??;
    if let Some(what) = &args.print {
        if what != "graph" {
            return Err(anyhow::anyhow!("--print={what}: only `graph` is supported").into());
        }
        print!("{}", plan.graph);
        return Ok(String::new());
    }

    let sandbox = Arc::new(Sandbox::new()?.with_limits(args.limits()));
    let locals = BTreeMap::from([("context".to_string(), context)]);
    let cache_from = args
        .cache_from
        .iter()
        .map(|s| crate::cachespec::parse_from(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cache_to = args
        .cache_to
        .iter()
        .map(|s| crate::cachespec::parse_to(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut worker = BuildWorker::new(
        store.clone(),
        sandbox,
        images.clone(),
        locals,
        progress.clone(),
    )
    .with_secrets(read_secrets(&args.secrets)?);
    if !args.no_cache {
        let imported = crate::cachespec::import_all(&cache_from, images.client(), progress).await?;
        if let Some(remote) = imported {
            worker = worker.with_remote_cache(remote);
        }
    }
    let mut solve_opts = SolveOptions {
        no_cache: args.no_cache,
        ..Default::default()
    };
    if let Some(j) = args.jobs {
        solve_opts.jobs = j;
    }
    let scheduler = Scheduler::new(Arc::new(worker), solve_opts, progress.clone());
    let plan_steps = plan.steps;
    let value = match scheduler.solve(Arc::new(plan.graph), plan.target).await {
        Ok(v) => v,
        Err(e) => {
            let at = plan_steps.get(e.step()).map(|&(first, last)| {
                let span = Span::locate(&source, first, last, e.needle());
                (filename.clone(), span)
            });
            return Err(BuildFailure::Solve(e, at));
        }
    };
    let chain = value
        .layers()
        .context("the build target is not a filesystem")?
        .to_vec();

    let records = scheduler.records();
    crate::cachespec::export_all(
        &cache_to,
        &store,
        images.client(),
        records,
        &chain,
        progress,
    )
    .await?;
    let export = "exporting";
    progress.started(export, "exporting to image");
    // The layers are in the store already.
    status(export, "exporting layers done\n".to_string());
    let store2 = store.clone();
    let id = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let config = config::finalize_chain(&store2, plan.config, &chain)?;
        Ok(store2.put_image(&config)?)
    })
    .await??;
    status(export, format!("writing image {id} done\n"));
    for tag in tags {
        store.tag(tag, &id)?;
        status(export, format!("naming to {tag} done\n"));
    }
    for out in outputs {
        let (store, id, names, out2) = (store.clone(), id.clone(), tags.to_vec(), out.clone());
        let compression = args.compression;
        tokio::task::spawn_blocking(move || out2.write(&store, &id, &names, compression)).await??;
        status(
            export,
            format!("exporting to {} done\n", out.dest.display()),
        );
    }
    if args.push {
        for tag in tags {
            let (p, v) = (progress.clone(), export.to_string());
            let log = move |line: String| {
                p.log(
                    &v,
                    mybuild_solver::LogStream::Stdout,
                    format!("{line}\n").as_bytes(),
                )
            };
            let (p, v) = (progress.clone(), export.to_string());
            let bytes =
                move |d: &mybuild_graph::Digest, sent, total| p.bytes(&v, d.as_str(), sent, total);
            let client = images.client();
            let compression = args.compression;
            crate::push::push_tag(&store, client, tag, &id, compression, log, bytes).await?;
        }
    }
    progress.done(export);
    Ok(id.to_string())
}

#[allow(clippy::too_many_arguments)]
async fn legacy(
    args: BuildArgs,
    store: Arc<Store>,
    images: Arc<ImageProvider>,
    context: PathBuf,
    dockerfile: String,
    opts: CompileOptions,
    tags: Vec<String>,
    outputs: Vec<output::Output>,
) -> anyhow::Result<()> {
    let unsupported = [
        ("--cache-to", !args.cache_to.is_empty()),
        ("--cache-from", !args.cache_from.is_empty()),
        ("--print", args.print.is_some()),
    ];
    if let Some((flag, _)) = unsupported.iter().find(|(_, set)| *set) {
        bail!("{flag} needs BuildKit mode; the legacy (classic) builder has no such option");
    }
    let build = crate::legacy::LegacyBuild {
        store,
        images,
        context,
        dockerfile,
        opts,
        tags: args.tags.iter().cloned().zip(tags).collect(),
        no_cache: args.no_cache,
        quiet: args.quiet,
        policy: crate::legacy::ContainerPolicy {
            rm: args.rm || args.force_rm,
            force_rm: args.force_rm,
        },
        secrets: read_secrets(&args.secrets)?,
        limits: args.limits(),
        outputs,
        push: args.push,
        compression: args.compression,
    };
    crate::legacy::run(build).await
}

/// Why a build stopped: a failed step is reported only after the progress
/// renderer has drained, so the report comes last.
enum BuildFailure {
    /// With the failed instruction's place in the Dockerfile, when known.
    Solve(Arc<SolveError>, Option<(String, Span)>),
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for BuildFailure {
    fn from(e: E) -> Self {
        BuildFailure::Other(e.into())
    }
}

/// The failed step, the last lines of its output, where it is in the
/// Dockerfile, then the error.
fn failure_report(e: &SolveError, at: Option<&(String, Span)>) -> anyhow::Error {
    let tail: &[String] = match e {
        SolveError::ExecFailed { tail, .. } => tail,
        _ => &[],
    };
    eprintln!("------\n > {}:", e.step());
    for line in tail {
        eprintln!("{line}");
    }
    eprintln!("------");
    if let Some((file, span)) = at {
        eprintln!("{file}:{}:{}\n{span}", span.line, span.column);
    }
    match e {
        // As BuildKit words it: the box above names the step.
        SolveError::ExecFailed { command, code, .. } => anyhow::anyhow!(
            "failed to solve: process \"{command}\" did not complete successfully: exit code: {code}"
        ),
        _ => anyhow::anyhow!("failed to solve: {e}"),
    }
}

fn display_name(dockerfile: &Path, context: &Path) -> String {
    dockerfile
        .strip_prefix(context)
        .unwrap_or(dockerfile)
        .display()
        .to_string()
}

/// What the first progress vertices report: the Dockerfile and the size
/// of the `.dockerignore` read.
struct Definition {
    text: String,
    ignore_bytes: u64,
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

fn build_args(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in raw {
        match a.split_once('=') {
            Some((k, v)) => {
                out.insert(k.to_string(), v.to_string());
            }
            // Docker: `--build-arg KEY` takes KEY from the environment, if set.
            None => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

fn network_mode(s: &str) -> anyhow::Result<NetworkMode> {
    match s {
        "default" | "host" => Ok(NetworkMode::Host),
        "none" => Ok(NetworkMode::None),
        other => bail!("--network={other}: expected default, host or none"),
    }
}

fn progress_mode(args: &BuildArgs) -> ProgressMode {
    if args.quiet {
        return ProgressMode::Quiet;
    }
    match args.progress {
        ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
        ProgressMode::Auto => ProgressMode::Plain,
        m => m,
    }
}

/// `--secret id=ID[,src=FILE|,env=VAR]`, as buildx takes it: without `src`
/// or `env`, the environment variable named ID, else the file named ID.
fn read_secrets(specs: &[String]) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
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
