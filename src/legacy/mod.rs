//! `--legacy` (or `DOCKER_BUILDKIT=0`): the classic builder's behaviour.
//!
//! The frontend lists every instruction of every stage up to the target
//! ([`LegacyStep`]); [`Legacy`] solves them one at a time, in order, on the
//! same scheduler, worker and cache as the default mode, so a step built in
//! one mode is a cache hit in the other. Each step commits an intermediate
//! image, and each RUN (and each config change) gets an intermediate
//! container, printed as Docker 20.10 prints them.

mod context;
mod step;

pub(crate) use step::new_container_id;

use crate::resolve::StoreResolver;
use anyhow::Context as _;
use mybuild_cache::Store;
use mybuild_frontend::{compile_legacy, CompileOptions, LegacyKind, LegacyStep};
use mybuild_graph::{Digest, Graph};
use mybuild_registry::ImageProvider;
use mybuild_solver::sandbox::Sandbox;
use mybuild_solver::{BuildWorker, Progress, ProgressEvent, Scheduler, SolveOptions};
use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// The classic builder's container flags.
#[derive(Debug, Clone, Copy)]
pub struct ContainerPolicy {
    /// `--rm`: remove a step's container after it succeeds.
    pub rm: bool,
    /// `--force-rm`: remove it even after a failure.
    pub force_rm: bool,
}

/// Everything a legacy build needs, prepared by `build::run`.
pub struct LegacyBuild {
    pub store: Arc<Store>,
    pub images: Arc<ImageProvider>,
    pub context: PathBuf,
    pub dockerfile: String,
    pub opts: CompileOptions,
    /// Names as the user wrote them (`Successfully tagged` echoes them) and
    /// normalised.
    pub tags: Vec<(String, String)>,
    pub no_cache: bool,
    pub quiet: bool,
    pub policy: ContainerPolicy,
    pub secrets: BTreeMap<String, Vec<u8>>,
    /// `--memory`, `--pids-limit` and the other limits of each step.
    pub limits: mybuild_solver::sandbox::Limits,
    /// `-o` exports and `--push`, after the build (mybuild's additions to
    /// the classic builder).
    pub outputs: Vec<crate::output::Output>,
    pub push: bool,
    pub compression: crate::output::CompressionArg,
    /// `--iidfile`: the image id is written there (as docker does).
    pub iidfile: Option<PathBuf>,
}

/// A RUN that exited non-zero: the classic builder's message, and its exit
/// code becomes mybuild's.
#[derive(Debug)]
pub struct StepExit {
    pub command: String,
    pub code: i32,
}

impl std::fmt::Display for StepExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "The command '{}' returned a non-zero code: {}",
            self.command, self.code
        )
    }
}

impl std::error::Error for StepExit {}

/// Whether the environment asks for the classic builder, as the docker CLI
/// reads `DOCKER_BUILDKIT`.
pub fn requested_by_env() -> bool {
    std::env::var("DOCKER_BUILDKIT")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "0" | "false"))
        .unwrap_or(false)
}

/// Classic output goes to stdout, flushed line by line like the daemon's
/// stream; nothing at all with `-q`.
pub(crate) struct Out {
    quiet: bool,
}

impl Out {
    pub(crate) fn line(&self, text: &str) {
        self.raw(format!("{text}\n").as_bytes());
    }

    pub(crate) fn raw(&self, bytes: &[u8]) {
        if self.quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
}

/// The state a legacy build carries from step to step.
pub(crate) struct Legacy {
    pub(crate) store: Arc<Store>,
    pub(crate) graph: Arc<Graph>,
    pub(crate) scheduler: Scheduler<BuildWorker>,
    pub(crate) events: UnboundedReceiver<ProgressEvent>,
    pub(crate) out: Out,
    pub(crate) policy: ContainerPolicy,
    pub(crate) no_cache: bool,
    /// Where the worker leaves a failed RUN's filesystem.
    pub(crate) parked: PathBuf,
}

pub async fn run(b: LegacyBuild) -> anyhow::Result<()> {
    let out = Out { quiet: b.quiet };
    let ignore = mybuild_solver::context::Dockerignore::new(&b.opts.dockerignore)?;
    let (ctx, ig) = (b.context.clone(), ignore);
    let size = tokio::task::spawn_blocking(move || context::tar_size(&ctx, &ig)).await?;
    // The CLI's progress line ends with carriage returns before the newline.
    out.raw(
        format!(
            "Sending build context to Docker daemon  {}\r\r\n",
            context::human_size(size)
        )
        .as_bytes(),
    );
    let resolver = StoreResolver::new(
        b.images.clone(),
        tokio::runtime::Handle::current(),
        Progress::discard(),
    );
    let (text, opts) = (b.dockerfile.clone(), b.opts.clone());
    let (plan, steps) =
        tokio::task::spawn_blocking(move || compile_legacy(&text, &opts, &resolver))
            .await
            .context("frontend thread panicked")??;

    // Per build: two builds on one store number their vertices alike.
    let parked = b.store.failed_uppers_dir().join(format!(
        "{}-{}",
        std::process::id(),
        crate::config::rfc3339_nanos(std::time::SystemTime::now())
    ));
    let (progress, events) = Progress::channel();
    let locals = BTreeMap::from([("context".to_string(), b.context.clone())]);
    let worker = BuildWorker::new(
        b.store.clone(),
        Arc::new(Sandbox::new()?.with_limits(b.limits.clone())),
        b.images.clone(),
        locals,
        progress.clone(),
    )
    .with_secrets(b.secrets.clone())
    .keep_failed_in(parked.clone());
    let solve_opts = SolveOptions {
        no_cache: b.no_cache,
        ..Default::default()
    };
    let scheduler = Scheduler::new(Arc::new(worker), solve_opts, progress);
    let mut legacy = Legacy {
        store: b.store.clone(),
        graph: Arc::new(plan.graph),
        scheduler,
        events,
        out,
        policy: b.policy,
        no_cache: b.no_cache,
        parked: parked.clone(),
    };
    let id = legacy.steps(&steps).await;
    let _ = std::fs::remove_dir_all(&parked);
    let id = id?;
    let id = id.context("the Dockerfile built no image")?;
    legacy
        .out
        .line(&format!("Successfully built {}", &id.hex()[..12]));
    for (given, normal) in &b.tags {
        b.store.tag(normal, &id)?;
        legacy.out.line(&format!("Successfully tagged {given}"));
    }
    publish(&b, &id, &legacy.out).await?;
    if let Some(path) = &b.iidfile {
        std::fs::write(path, id.as_str())
            .with_context(|| format!("writing --iidfile {}", path.display()))?;
    }
    if b.quiet {
        println!("{id}");
    }
    Ok(())
}

/// Writes the `-o` archives, then pushes every tag, reporting as `docker
/// push` would on the same stream.
async fn publish(b: &LegacyBuild, id: &Digest, out: &Out) -> anyhow::Result<()> {
    let names: Vec<String> = b.tags.iter().map(|(_, n)| n.clone()).collect();
    for o in &b.outputs {
        let (store, id2, names, o2) = (b.store.clone(), id.clone(), names.clone(), o.clone());
        tokio::task::spawn_blocking(move || {
            o2.write(
                &store,
                &id2,
                &names,
                &BTreeMap::new(),
                mybuild_graph::host_arch(),
            )
        })
        .await??;
        out.line(&format!("Exported to {}", o.dest));
    }
    if !b.push {
        return Ok(());
    }
    for name in &names {
        out.line(&format!(
            "The push refers to repository [{}]",
            mybuild_registry::Reference::familiar_name(name)
        ));
        let quiet = b.quiet;
        let log = move |line: String| {
            if !quiet {
                println!("{line}");
            }
        };
        let client = b.images.client();
        let digest = crate::push::push_tag(
            &b.store,
            client,
            name,
            crate::push::PushImage {
                config: id,
                compression: b.compression,
                annotations: &Default::default(),
            },
            log,
            |_, _, _| {},
        )
        .await?;
        out.line(&format!(
            "{}: digest: {digest}",
            mybuild_registry::Reference::familiar_name(name)
        ));
    }
    Ok(())
}

impl Legacy {
    /// Runs every step; returns the last image id.
    async fn steps(&mut self, steps: &[LegacyStep]) -> anyhow::Result<Option<Digest>> {
        let total = steps.len();
        let mut stage_image: HashMap<usize, Option<Digest>> = HashMap::new();
        let mut current: Option<Digest> = None;
        let mut prev_node = None;
        for (i, step) in steps.iter().enumerate() {
            self.out
                .line(&format!("Step {}/{} : {}", i + 1, total, step.text));
            current = match &step.kind {
                LegacyKind::GlobalArg => continue,
                LegacyKind::From { image, stage } => {
                    self.base(step).await?;
                    let id = match (image, stage) {
                        (Some(id), _) => Some(id.clone()),
                        (None, Some(j)) => stage_image.get(j).cloned().flatten(),
                        (None, None) => None,
                    };
                    id
                }
                _ => {
                    let changed = prev_node != Some(step.node);
                    Some(self.step(step, current.as_ref(), changed).await?)
                }
            };
            prev_node = Some(step.node);
            let short = current.as_ref().map_or("", |d| &d.hex()[..12]);
            self.out.line(&format!(" ---> {short}"));
            stage_image.insert(step.stage, current.clone());
        }
        Ok(current)
    }
}
