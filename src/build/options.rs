//! [`BuildOptions`]: the build flags resolved into what they mean, the one
//! value the build steps read. Each check fails as the command always has
//! (same message, exit code 1), in the order the build reaches it.

use super::args::{BuildArg, BuildArgs};
use crate::config_file::Settings;
use crate::legacy::ContainerPolicy;
use crate::output::{CompressionArg, Output};
use crate::render::ProgressMode;
use anyhow::{bail, Context as _};
use mybuild_frontend::SOURCE_DATE_EPOCH;
use mybuild_graph::{ExecEnv, NetworkMode};
use mybuild_registry::Reference;
use mybuild_solver::sandbox::Limits;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Everything `mybuild build` was asked to do, typed.
pub(super) struct BuildOptions {
    /// The build context, canonical.
    pub context: PathBuf,
    /// `--build-arg`s, bare keys filled in from the environment, and
    /// `SOURCE_DATE_EPOCH` from it too (as buildx passes it).
    pub build_args: BTreeMap<String, String>,
    /// `SOURCE_DATE_EPOCH`, checked (BuildKit mode only): the image's
    /// `created` times.
    pub epoch: Option<u64>,
    pub target: Option<String>,
    pub network: NetworkMode,
    /// `-t` names as written (legacy output echoes them) and normalised.
    pub tags: Vec<(String, String)>,
    pub outputs: Vec<Output>,
    pub push: bool,
    pub compression: CompressionArg,
    pub no_cache: bool,
    /// `--explain-cache`: why each missed step missed.
    pub explain_cache: bool,
    pub pull: bool,
    /// Resolved: never `Auto`, `Quiet` with `-q`.
    pub progress: ProgressMode,
    pub quiet: bool,
    pub log_dir: Option<PathBuf>,
    /// `--cache-to` / `--cache-from` as written: BuildKit mode parses them
    /// once the Dockerfile compiled; the legacy builder only refuses them.
    pub cache_to: Vec<String>,
    pub cache_from: Vec<String>,
    /// `--cache-mounts-to` / `--cache-mounts-from`, parsed.
    pub cache_mounts_to: Vec<crate::cache_mounts::MountsTo>,
    pub cache_mounts_from: Vec<mybuild_registry::remote_cache::CacheLocation>,
    /// `--secret` specs, read when the worker is made.
    pub secrets: Vec<String>,
    /// `--ssh` specs, started when the worker is made.
    pub ssh: Vec<String>,
    pub print: Option<String>,
    /// `--check` / `--call=check`: run the build checks, build nothing.
    pub check_only: bool,
    pub jobs: Option<usize>,
    pub insecure_registries: Vec<String>,
    /// `--legacy` or `DOCKER_BUILDKIT=0`.
    pub legacy: bool,
    /// `--on-error=shell` (BuildKit mode, on a terminal).
    pub debug_shell: bool,
    pub policy: ContainerPolicy,
    pub limits: Limits,
    /// `--label`s, set on the image config after the Dockerfile's.
    pub labels: BTreeMap<String, String>,
    /// `--annotation`s of the image manifest.
    pub annotations: BTreeMap<String, String>,
    pub iidfile: Option<PathBuf>,
    pub metadata_file: Option<PathBuf>,
    /// `--add-host`, `--ulimit`, `--shm-size` for every RUN.
    pub exec_env: ExecEnv,
    pub no_cache_filter: Vec<String>,
    /// `--build-context` directories by local source name (set once the
    /// inputs are gathered).
    pub locals: BTreeMap<String, PathBuf>,
    /// `--platform`: the OCI architectures to build, in order; empty for
    /// the host's alone.
    pub platforms: Vec<String>,
}

impl BuildOptions {
    /// Resolves the flags; `context` is the canonical context directory.
    /// The config file's `settings` fill in what neither a flag nor an
    /// environment variable says.
    pub(super) fn resolve(
        args: BuildArgs,
        context: PathBuf,
        settings: &Settings,
    ) -> anyhow::Result<BuildOptions> {
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
        let platforms = super::flags::platforms(&args.platforms).map_err(anyhow::Error::msg)?;
        for a in &args.allow {
            super::flags::check_allow(a).map_err(anyhow::Error::msg)?;
        }
        // `--load` asks for what every build does: the image in the store.
        let _ = args.load;
        let legacy = args.legacy || crate::legacy::requested_by_env();
        let host = mybuild_graph::host_arch();
        if legacy && platforms.iter().any(|p| p != host) {
            bail!("--platform other than linux/{host} needs the default (BuildKit) mode, not --legacy");
        }
        // The classic builder knows no SOURCE_DATE_EPOCH: there it is an
        // ordinary build arg, and the environment's is not passed on.
        let epoch_env = std::env::var(SOURCE_DATE_EPOCH).ok().filter(|_| !legacy);
        let build_args = build_args(&args.build_args, epoch_env);
        let debug_shell = debug_shell(args.on_error.as_deref(), legacy)?;
        let epoch = if legacy {
            None
        } else {
            mybuild_frontend::source_date_epoch(&build_args)?
        };
        Ok(BuildOptions {
            context,
            build_args,
            epoch,
            target: args.target,
            network,
            tags,
            outputs,
            push: args.push,
            compression: args.compression.unwrap_or(CompressionArg::Gzip),
            no_cache: args.no_cache,
            explain_cache: args.explain_cache,
            pull: args.pull,
            progress: shell_progress(
                progress_mode(args.progress, settings.progress)?.resolve(args.quiet),
                debug_shell,
            ),
            quiet: args.quiet,
            log_dir: args.log_dir,
            cache_to: args.cache_to,
            cache_from: args.cache_from,
            cache_mounts_to: (args.cache_mounts_to.iter())
                .map(|s| crate::cache_mounts::parse_to(s))
                .collect::<anyhow::Result<_>>()?,
            cache_mounts_from: (args.cache_mounts_from.iter())
                .map(|s| crate::cache_mounts::parse_from(s))
                .collect::<anyhow::Result<_>>()?,
            secrets: args.secrets,
            ssh: args.ssh,
            print: args.print,
            check_only: args.check || args.call.as_deref() == Some("check"),
            jobs: args.jobs,
            insecure_registries: args
                .insecure_registries
                .into_iter()
                .chain(settings.insecure_registries.iter().cloned())
                .collect(),
            legacy,
            debug_shell,
            policy: ContainerPolicy {
                rm: args.rm || args.force_rm,
                force_rm: args.force_rm,
            },
            limits: rootless_limits(Limits {
                memory: args.memory,
                memory_swap: args.memory_swap,
                cpu_shares: args.cpu_shares,
                cpuset_cpus: args.cpuset_cpus,
                pids: u64::try_from(args.pids_limit).ok().filter(|n| *n > 0),
                parent: args.cgroup_parent,
            }),
            labels: args.labels.into_iter().collect(),
            annotations: args.annotations.into_iter().collect(),
            iidfile: args.iidfile,
            metadata_file: args.metadata_file,
            exec_env: ExecEnv {
                extra_hosts: args.add_hosts,
                ulimits: args.ulimits,
                shm_size: args.shm_size,
            },
            no_cache_filter: args.no_cache_filter,
            locals: BTreeMap::new(),
            platforms,
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

/// The build args; `epoch_env` (the client's `SOURCE_DATE_EPOCH`) is one
/// unless a `--build-arg SOURCE_DATE_EPOCH` overrides it, as in buildx.
fn build_args(args: &[BuildArg], epoch_env: Option<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(v) = epoch_env {
        out.insert(SOURCE_DATE_EPOCH.to_string(), v);
    }
    for BuildArg { key, value } in args {
        // Docker: `--build-arg KEY` takes KEY from the environment, if set.
        let value = value.clone().or_else(|| std::env::var(key).ok());
        if let Some(value) = value {
            out.insert(key.clone(), value);
        }
    }
    out
}

/// `--on-error=shell` needs a terminal to give the shell, and the BuildKit
/// mode's worker (the classic builder keeps failed containers instead).
fn debug_shell(on_error: Option<&str>, legacy: bool) -> anyhow::Result<bool> {
    if on_error != Some("shell") {
        return Ok(false);
    }
    if legacy {
        anyhow::bail!("--on-error=shell works in BuildKit mode only, not with --legacy");
    }
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        anyhow::bail!("--on-error=shell needs a terminal: stdin is not a tty");
    }
    Ok(true)
}

/// The live tty view would redraw over the debug shell: plain instead.
fn shell_progress(mode: ProgressMode, debug_shell: bool) -> ProgressMode {
    match mode {
        ProgressMode::Tty if debug_shell => ProgressMode::Plain,
        mode => mode,
    }
}

/// `--progress`, else `$BUILDKIT_PROGRESS`, as buildx takes it, else the
/// config file's `progress` (none of them: `auto`).
fn progress_mode(
    flag: Option<ProgressMode>,
    config: Option<ProgressMode>,
) -> anyhow::Result<ProgressMode> {
    if let Some(mode) = flag {
        return Ok(mode);
    }
    let var = std::env::var("BUILDKIT_PROGRESS").unwrap_or_default();
    if var.is_empty() {
        return Ok(config.unwrap_or(ProgressMode::Auto));
    }
    <ProgressMode as clap::ValueEnum>::from_str(&var, true).map_err(|_| {
        anyhow::anyhow!("BUILDKIT_PROGRESS={var}: expected auto, tty, plain, quiet or rawjson")
    })
}

fn network_mode(s: &str) -> anyhow::Result<NetworkMode> {
    match s {
        "default" | "host" => Ok(NetworkMode::Host),
        "none" => Ok(NetworkMode::None),
        other => bail!("--network={other}: expected default, host or none"),
    }
}

/// Rootless, mybuild cannot make cgroups (v1 is never delegated to a user,
/// and a v2 delegation is not looked for): limits asked for are dropped
/// with a warning, and the default ones stay best-effort, which skips them.
fn rootless_limits(limits: Limits) -> Limits {
    if !mybuild_cache::in_user_namespace() || limits == Limits::default() {
        return limits;
    }
    eprintln!(
        "WARNING: rootless: --memory, --memory-swap, --cpu-shares, --cpuset-cpus, \
         --pids-limit and --cgroup-parent are not applied (no cgroup is delegated to this user)"
    );
    Limits::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(key: &str, value: Option<&str>) -> BuildArg {
        BuildArg {
            key: key.into(),
            value: value.map(str::to_string),
        }
    }

    #[test]
    fn the_build_arg_wins_over_the_environment_epoch() {
        let env = Some("1".to_string());
        let from_env = build_args(&[], env.clone());
        assert_eq!(from_env[SOURCE_DATE_EPOCH], "1");
        let both = build_args(&[arg(SOURCE_DATE_EPOCH, Some("2"))], env);
        assert_eq!(both[SOURCE_DATE_EPOCH], "2");
        assert!(!build_args(&[arg("A", Some("x"))], None).contains_key(SOURCE_DATE_EPOCH));
    }

    #[test]
    fn the_flag_wins_over_the_config_file_which_fills_in_auto() {
        let (tty, plain) = (Some(ProgressMode::Tty), Some(ProgressMode::Plain));
        assert_eq!(progress_mode(tty, plain).unwrap(), ProgressMode::Tty);
        // BUILDKIT_PROGRESS, when the test runner has it, wins over the file.
        if std::env::var("BUILDKIT_PROGRESS")
            .unwrap_or_default()
            .is_empty()
        {
            assert_eq!(progress_mode(None, plain).unwrap(), ProgressMode::Plain);
            assert_eq!(progress_mode(None, None).unwrap(), ProgressMode::Auto);
        }
    }
}
