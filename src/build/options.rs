//! [`BuildOptions`]: the build flags resolved into what they mean, the one
//! value the build steps read. Each check fails as the command always has
//! (same message, exit code 1), in the order the build reaches it.

use super::args::{BuildArg, BuildArgs};
use crate::legacy::ContainerPolicy;
use crate::output::{CompressionArg, Output};
use crate::render::ProgressMode;
use anyhow::{bail, Context as _};
use mybuild_graph::NetworkMode;
use mybuild_registry::Reference;
use mybuild_solver::sandbox::Limits;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything `mybuild build` was asked to do, typed.
pub(super) struct BuildOptions {
    /// The build context, canonical.
    pub context: PathBuf,
    /// `--build-arg`s, bare keys filled in from the environment.
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub network: NetworkMode,
    /// `-t` names as written (legacy output echoes them) and normalised.
    pub tags: Vec<(String, String)>,
    pub outputs: Vec<Output>,
    pub push: bool,
    pub compression: CompressionArg,
    pub no_cache: bool,
    pub pull: bool,
    /// Resolved: never `Auto`, `Quiet` with `-q`.
    pub progress: ProgressMode,
    pub quiet: bool,
    pub log_dir: Option<PathBuf>,
    /// `--cache-to` / `--cache-from` as written: BuildKit mode parses them
    /// once the Dockerfile compiled; the legacy builder only refuses them.
    pub cache_to: Vec<String>,
    pub cache_from: Vec<String>,
    /// `--secret` specs, read when the worker is made.
    pub secrets: Vec<String>,
    pub print: Option<String>,
    pub jobs: Option<usize>,
    pub insecure_registries: Vec<String>,
    /// `--legacy` or `DOCKER_BUILDKIT=0`.
    pub legacy: bool,
    pub policy: ContainerPolicy,
    pub limits: Limits,
}

/// The canonical build context directory.
pub(super) fn context_dir(context: &Path) -> anyhow::Result<PathBuf> {
    let dir = context
        .canonicalize()
        .with_context(|| format!("build context {}", context.display()))?;
    if !dir.is_dir() {
        bail!("build context {}: not a directory", dir.display());
    }
    Ok(dir)
}

impl BuildOptions {
    /// Resolves the flags; `context` is [`context_dir`] of `args.context`.
    pub(super) fn resolve(args: BuildArgs, context: PathBuf) -> anyhow::Result<BuildOptions> {
        let network = network_mode(&args.network)?;
        let outputs = args
            .outputs
            .iter()
            .map(|o| {
                let mut out = Output::parse(o)?;
                // An explicit --compression applies to every archive.
                out.compression = out.compression.or(args.compression);
                Ok(out)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        crate::output::check_all(&outputs, &args.tags)?;
        if args.push && args.tags.is_empty() {
            bail!("--push needs at least one -t REGISTRY/NAME[:TAG]");
        }
        let tags = normalised_tags(&args.tags)?;
        Ok(BuildOptions {
            context,
            build_args: build_args(&args.build_args),
            target: args.target,
            network,
            tags,
            outputs,
            push: args.push,
            compression: args.compression.unwrap_or(CompressionArg::Gzip),
            no_cache: args.no_cache,
            pull: args.pull,
            progress: args.progress.resolve(args.quiet),
            quiet: args.quiet,
            log_dir: args.log_dir,
            cache_to: args.cache_to,
            cache_from: args.cache_from,
            secrets: args.secrets,
            print: args.print,
            jobs: args.jobs,
            insecure_registries: args.insecure_registries,
            legacy: args.legacy || crate::legacy::requested_by_env(),
            policy: ContainerPolicy {
                rm: args.rm || args.force_rm,
                force_rm: args.force_rm,
            },
            limits: Limits {
                memory: args.memory,
                memory_swap: args.memory_swap,
                cpu_shares: args.cpu_shares,
                cpuset_cpus: args.cpuset_cpus,
                pids: u64::try_from(args.pids_limit).ok().filter(|n| *n > 0),
                parent: args.cgroup_parent,
            },
        })
    }

    /// The normalised `-t` names, in order.
    pub(super) fn tag_names(&self) -> Vec<String> {
        self.tags.iter().map(|(_, name)| name.clone()).collect()
    }
}

/// Each `-t` as written and as its full reference.
fn normalised_tags(tags: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    tags.iter()
        .map(|t| {
            Reference::parse(t)
                .map(|r| (t.clone(), r.to_string()))
                .with_context(|| format!("invalid tag {t:?}"))
        })
        .collect()
}

fn build_args(args: &[BuildArg]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for BuildArg { key, value } in args {
        // Docker: `--build-arg KEY` takes KEY from the environment, if set.
        let value = value.clone().or_else(|| std::env::var(key).ok());
        if let Some(value) = value {
            out.insert(key.clone(), value);
        }
    }
    out
}

fn network_mode(s: &str) -> anyhow::Result<NetworkMode> {
    match s {
        "default" | "host" => Ok(NetworkMode::Host),
        "none" => Ok(NetworkMode::None),
        other => bail!("--network={other}: expected default, host or none"),
    }
}
