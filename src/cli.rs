//! Command-line flags and subcommand dispatch.
//!
//! `mybuild [--root DIR] [build] [OPTIONS] PATH`: `build` is the default
//! subcommand, so `mybuild --progress=plain .` works like `docker build`.

use crate::{base, build, containers, images, inspect, load, prune, push, save, tagging};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "mybuild",
    version,
    about = "A daemonless Dockerfile image builder"
)]
pub struct Cli {
    /// Store directory [default: /var/lib/mybuild as root, else $XDG_DATA_HOME/mybuild]
    #[arg(long, global = true, env = "MYBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build an image from a Dockerfile (the default subcommand)
    Build(Box<BuildArgs>),
    /// List images in the local store
    Images(images::ImagesArgs),
    /// Remove one or more image names from the local store
    Rmi(tagging::RmiArgs),
    /// Give an image another name
    Tag(tagging::TagArgs),
    /// Show an image's configuration as JSON
    Inspect(inspect::InspectArgs),
    /// Show how an image's layers were made
    History(inspect::HistoryArgs),
    /// Push an image to its registry
    Push(push::PushArgs),
    /// Write images to an archive (docker-archive by default, or OCI)
    Save(save::SaveArgs),
    /// Load images from an archive (docker-archive or OCI layout)
    Load(load::LoadArgs),
    /// List the containers legacy builds kept
    Ps(containers::PsArgs),
    /// Remove kept containers
    Rm(containers::RmArgs),
    /// Show a kept container's added, changed and deleted paths
    Diff(containers::DiffArgs),
    /// Make an image of a kept container's filesystem
    Commit(containers::CommitArgs),
    /// Show what the store holds, by kind and size
    Du(prune::DuArgs),
    /// Remove build cache (and with --all, everything no image needs)
    Prune(prune::PruneArgs),
    /// Create a busybox base image in the local store from the host's static busybox
    BootstrapBusybox(base::BootstrapArgs),
    /// Developer tools
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Subcommand, Debug)]
pub enum DebugCommand {
    /// Print a Dockerfile's parse tree in BuildKit's dump format
    Parse { file: PathBuf },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    Quiet,
    Rawjson,
}

#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    /// Name of the Dockerfile [default: PATH/Dockerfile]
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// Name and optionally a tag (name:tag); may be repeated
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Do not use cached results
    #[arg(long)]
    pub no_cache: bool,
    /// Always look up base images in the registry
    #[arg(long)]
    pub pull: bool,
    /// Build-time variable (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// Stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Progress output
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Print only the image id
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Export: type=oci,dest=FILE.tar or type=docker,dest=FILE.tar
    #[arg(short = 'o', long = "output", value_name = "type=...,dest=...")]
    pub outputs: Vec<String>,
    /// Export build cache: type=registry,ref=REF[,mode=min|max] or type=local,dest=DIR
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Import build cache: type=registry,ref=REF, type=local,src=DIR, or REF
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
    /// Push every -t name to its registry after the build
    #[arg(long)]
    pub push: bool,
    /// Layer compression for exports and pushes (also `compression=` in --output)
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression: crate::output::CompressionArg,
    /// Secret for `RUN --mount=type=secret` (id=ID,src=FILE or id=ID,env=VAR)
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,
    /// Network for RUN: default (the host's), host or none
    #[arg(long, default_value = "default")]
    pub network: String,
    /// Print the compiled graph instead of building (`graph`)
    #[arg(long, value_name = "WHAT")]
    pub print: Option<String>,
    /// How many steps may run at once [default: 4 per CPU]
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Registry to reach over plain HTTP (loopback ones always are)
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Write every step's complete output to its own file in DIR
    #[arg(long = "log-dir", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Build as the classic builder does (also DOCKER_BUILDKIT=0): step by
    /// step, with intermediate images and containers
    #[arg(long)]
    pub legacy: bool,
    /// Legacy mode: remove intermediate containers after a successful step
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub rm: bool,
    /// Legacy mode: always remove intermediate containers, even after a failure
    #[arg(long)]
    pub force_rm: bool,
    /// Build context directory
    #[arg(value_name = "PATH")]
    pub context: PathBuf,
}

const SUBCOMMANDS: &[&str] = &[
    "build",
    "images",
    "rmi",
    "tag",
    "inspect",
    "history",
    "push",
    "save",
    "load",
    "ps",
    "rm",
    "diff",
    "commit",
    "du",
    "prune",
    "bootstrap-busybox",
    "debug",
    "help",
];

/// Inserts `build` when no subcommand is named, so `mybuild [FLAGS] PATH` builds.
fn with_default_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--root" {
            i += 2;
            continue;
        }
        if a.starts_with("--root=") {
            i += 1;
            continue;
        }
        let explicit = SUBCOMMANDS.contains(&a.as_ref())
            || ["-h", "--help", "-V", "--version"].contains(&a.as_ref());
        if !explicit {
            args.insert(i, "build".into());
        }
        return args;
    }
    args
}

pub fn parse() -> Cli {
    Cli::parse_from(with_default_subcommand(std::env::args_os().collect()))
}

/// The store directory: --root, $MYBUILD_ROOT, else the documented default.
pub fn store_root(cli_root: &Option<PathBuf>) -> PathBuf {
    if let Some(r) = cli_root {
        return r.clone();
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/mybuild");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("mybuild")
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let root = store_root(&cli.root);
    match cli.command {
        Command::Build(args) => build::run(&root, *args).await,
        Command::Images(args) => images::run(&root, args),
        Command::Rmi(args) => tagging::rmi(&root, args),
        Command::Tag(args) => tagging::tag(&root, args),
        Command::Inspect(args) => inspect::inspect(&root, args),
        Command::History(args) => inspect::history(&root, args),
        Command::Push(args) => push::run(&root, args).await,
        Command::Save(args) => save::run(&root, args).await,
        Command::Load(args) => load::run(&root, args),
        Command::Ps(args) => containers::ps(&root, args),
        Command::Rm(args) => containers::rm(&root, args),
        Command::Diff(args) => containers::diff(&root, args),
        Command::Commit(args) => containers::commit(&root, args),
        Command::Du(args) => prune::du(&root, args),
        Command::Prune(args) => prune::prune(&root, args),
        Command::BootstrapBusybox(args) => base::run(&root, args).await,
        Command::Debug(DebugCommand::Parse { file }) => debug_parse(&file),
    }
}

fn debug_parse(file: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let df = mybuild_frontend::parse(&text).map_err(|e| {
        let span = mybuild_frontend::Span::locate(&text, e.line, e.line, e.kind.needle());
        let at = format!("{}:{}:{}", file.display(), span.line, span.column);
        anyhow::anyhow!("{at}: {}\n{span}", e.kind)
    })?;
    print!("{}", mybuild_frontend::dump(&df));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        with_default_subcommand(s.split(' ').map(OsString::from).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn build_is_the_default_subcommand() {
        assert_eq!(
            argv("mybuild --progress=plain ."),
            ["mybuild", "build", "--progress=plain", "."]
        );
        assert_eq!(
            argv("mybuild --root /r -t x ."),
            ["mybuild", "--root", "/r", "build", "-t", "x", "."]
        );
        assert_eq!(
            argv("mybuild --root /r build ."),
            ["mybuild", "--root", "/r", "build", "."]
        );
        assert_eq!(argv("mybuild images"), ["mybuild", "images"]);
        assert_eq!(argv("mybuild ."), ["mybuild", "build", "."]);
        let cli = Cli::parse_from(argv("mybuild --progress=plain -t a:b --no-cache ctx"));
        match cli.command {
            Command::Build(b) => {
                assert_eq!(b.progress, ProgressMode::Plain);
                assert!(b.no_cache);
                assert_eq!(b.tags, ["a:b"]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }
}
