//! Command-line flags and subcommand dispatch.
//!
//! `mybuild [--root DIR] [build] [OPTIONS] PATH`: `build` is the default
//! subcommand, so `mybuild --progress=plain .` works like `docker build`.
//! Each command owns its flags; this file only assembles them.

use crate::build::BuildArgs;
use crate::config_file::Settings;
use crate::{
    base, build, containers, images, inspect, load, login, prune, push, save, shell, tagging,
    version,
};
use clap::{CommandFactory as _, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "mybuild",
    version,
    about = "A daemonless Dockerfile image builder"
)]
pub struct Cli {
    /// Store directory [default: the config file's root, else /var/lib/mybuild as root, else $XDG_DATA_HOME/mybuild]
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
    /// Log in to a registry (credentials go to the credential helper or config.json)
    Login(login::LoginArgs),
    /// Log out from a registry
    Logout(login::LogoutArgs),
    /// Write images to an archive (docker-archive by default, or OCI)
    Save(save::SaveArgs),
    /// Load images from an archive (docker-archive or OCI layout)
    Load(load::LoadArgs),
    /// Run a command in a new container from a local image, as `docker run`
    Run(Box<crate::run::RunArgs>),
    /// List the containers legacy builds and `run` kept
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completion(shell::CompletionArgs),
    /// Print the man page (roff), e.g. `mybuild man > /usr/local/share/man/man1/mybuild.1`
    Man,
    /// Show the version, git commit, Rust version and target
    Version,
    /// Developer tools
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Subcommand, Debug)]
pub enum DebugCommand {
    /// Print a Dockerfile's parse tree in BuildKit's dump format
    Parse { file: PathBuf },
}

const SUBCOMMANDS: &[&str] = &[
    "build",
    "images",
    "rmi",
    "tag",
    "inspect",
    "history",
    "push",
    "login",
    "logout",
    "save",
    "load",
    "run",
    "ps",
    "rm",
    "diff",
    "commit",
    "du",
    "prune",
    "bootstrap-busybox",
    "completion",
    "man",
    "version",
    "debug",
    "help",
];

/// Inserts `build` when no subcommand is named, so `mybuild [FLAGS] PATH`
/// builds; `mybuild [FLAGS] build PATH` (build flags before the word) is
/// put back in order. Which flags take a value is asked of clap, so a
/// value that happens to be `build` (`-t build`) is not mistaken for it.
fn with_default_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    // Skip the global --root.
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--root" {
            i += 2;
        } else if a.starts_with("--root=") {
            i += 1;
        } else {
            break;
        }
    }
    let Some(first) = args.get(i).map(|a| a.to_string_lossy().into_owned()) else {
        return args;
    };
    if SUBCOMMANDS.contains(&first.as_str())
        || ["-h", "--help", "-V", "--version"].contains(&first.as_str())
    {
        return args;
    }
    if let Some(at) = first_positional(&args[i..]) {
        if args[i + at] == "build" {
            let word = args.remove(i + at);
            args.insert(i, word);
            return args;
        }
    }
    args.insert(i, "build".into());
    args
}

/// The index of the first positional argument among build flags.
fn first_positional(args: &[OsString]) -> Option<usize> {
    let build = <BuildArgs as clap::Args>::augment_args(clap::Command::new("build"));
    let takes_value = |flag: &str| {
        build.get_arguments().any(|a| {
            let named = match flag.strip_prefix("--") {
                Some(long) => a.get_long() == Some(long),
                None => flag.len() == 2 && a.get_short() == flag[1..].chars().next(),
            };
            named && a.get_action().takes_values() && !a.is_require_equals_set()
        })
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "--" {
            return (i + 1 < args.len()).then_some(i + 1);
        }
        if !a.starts_with('-') || a == "-" {
            return Some(i);
        }
        i += if !a.contains('=') && takes_value(&a) {
            2
        } else {
            1
        };
    }
    None
}

pub fn parse() -> Cli {
    let raw: Vec<OsString> = std::env::args_os().collect();
    if let Err(message) = known_command(&raw) {
        clap::Error::raw(clap::error::ErrorKind::InvalidSubcommand, message).exit();
    }
    Cli::parse_from(with_default_subcommand(raw))
}

/// `mybuild biuld`: a first word that is neither a command nor an existing
/// path is a mistyped command, not a build context to complain about.
fn known_command(args: &[OsString]) -> Result<(), String> {
    let mut words = args.iter().skip(1).map(|a| a.to_string_lossy());
    let first = loop {
        match words.next() {
            Some(a) if a == "--root" => {
                words.next();
            }
            Some(a) if a.starts_with("--root=") => {}
            Some(a) => break a,
            None => return Ok(()),
        }
    };
    if first.starts_with('-')
        || first.contains('/')
        || SUBCOMMANDS.contains(&first.as_ref())
        || std::path::Path::new(first.as_ref()).exists()
    {
        return Ok(());
    }
    let hint = SUBCOMMANDS
        .iter()
        .filter(|c| edit_distance(c, &first) <= 2)
        .min_by_key(|c| edit_distance(c, &first))
        .map(|c| format!("\n\n  tip: a similar command exists: '{c}'"))
        .unwrap_or_default();
    Err(format!(
        "'{first}' is not a mybuild command, nor a build context (no such directory){hint}\n\n\
         See 'mybuild --help'.\n"
    ))
}

/// Levenshtein distance, for command suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The store directory: --root, $MYBUILD_ROOT, the config file's `root`,
/// else the documented default.
pub fn store_root(cli_root: &Option<PathBuf>, config_root: &Option<PathBuf>) -> PathBuf {
    if let Some(r) = cli_root.as_ref().or(config_root.as_ref()) {
        return r.clone();
    }
    // Rootless, mybuild is root only inside its user namespace.
    if nix::unistd::geteuid().is_root() && !mybuild_cache::in_user_namespace() {
        return PathBuf::from("/var/lib/mybuild");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("mybuild")
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let root = store_root(&cli.root, &settings.root);
    match cli.command {
        Command::Build(args) => build::run(&root, *args, &settings).await,
        Command::Images(args) => images::run(&root, args),
        Command::Rmi(args) => tagging::rmi(&root, args),
        Command::Tag(args) => tagging::tag(&root, args),
        Command::Inspect(args) => inspect::inspect(&root, args),
        Command::History(args) => inspect::history(&root, args),
        Command::Push(mut args) => {
            args.insecure_registries
                .extend(settings.insecure_registries.iter().cloned());
            push::run(&root, args).await
        }
        Command::Login(mut args) => {
            args.insecure_registries
                .extend(settings.insecure_registries.iter().cloned());
            login::login(args).await
        }
        Command::Logout(args) => login::logout(args).await,
        Command::Save(args) => save::run(&root, args).await,
        Command::Load(args) => load::run(&root, args),
        Command::Run(_) => anyhow::bail!("run is started by run_container"),
        Command::Ps(args) => containers::ps(&root, args),
        Command::Rm(args) => containers::rm(&root, args),
        Command::Diff(args) => containers::diff(&root, args),
        Command::Commit(args) => containers::commit(&root, args),
        Command::Du(args) => prune::du(&root, args),
        Command::Prune(args) => prune::prune(&root, args),
        Command::BootstrapBusybox(args) => base::run(&root, args).await,
        Command::Completion(args) => shell::completion(args, Cli::command()),
        Command::Man => shell::man(Cli::command()),
        Command::Version => {
            print!("{}", version::report());
            Ok(())
        }
        Command::Debug(DebugCommand::Parse { file }) => debug_parse(&file),
    }
}

/// `mybuild run`: its exit code is the container's, and signals go to the
/// container instead of ending mybuild (see `main`).
pub async fn run_container(cli: Cli) -> anyhow::Result<u8> {
    let settings = Settings::load()?;
    let root = store_root(&cli.root, &settings.root);
    match cli.command {
        Command::Run(args) => crate::run::run(&root, *args).await,
        _ => anyhow::bail!("not a run command"),
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
        for word in ["version", "completion", "man"] {
            assert_eq!(argv(&format!("mybuild {word}")), ["mybuild", word]);
        }
        // Build flags before the word `build` (issue 12 item 6).
        assert_eq!(
            argv("mybuild --progress=plain build ctx"),
            ["mybuild", "build", "--progress=plain", "ctx"]
        );
        assert_eq!(
            argv("mybuild --root /r --progress plain -f x build ctx"),
            [
                "mybuild",
                "--root",
                "/r",
                "build",
                "--progress",
                "plain",
                "-f",
                "x",
                "ctx"
            ]
        );
        // ... but a flag's value is never taken for it.
        assert_eq!(
            argv("mybuild -t build ctx"),
            ["mybuild", "build", "-t", "build", "ctx"]
        );
        assert_eq!(argv("mybuild ."), ["mybuild", "build", "."]);
        let cli = Cli::parse_from(argv("mybuild --progress=plain -t a:b --no-cache ctx"));
        match cli.command {
            Command::Build(b) => {
                assert_eq!(b.progress, Some(crate::render::ProgressMode::Plain));
                assert!(b.no_cache);
                assert_eq!(b.tags, ["a:b"]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn an_empty_build_arg_key_is_refused() {
        for bad in ["=x", "=", " a=1"] {
            let r = Cli::try_parse_from(argv(&format!("mybuild --build-arg {bad} ctx")));
            assert!(r.is_err(), "{bad:?} accepted");
        }
        assert!(Cli::try_parse_from(argv("mybuild --build-arg A= ctx")).is_ok());
        assert!(Cli::try_parse_from(argv("mybuild --build-arg A ctx")).is_ok());
    }

    #[test]
    fn a_mistyped_command_is_named() {
        let err = known_command(&argv_raw("mybuild biuld")).unwrap_err();
        assert!(err.contains("'biuld' is not a mybuild command"), "{err}");
        assert!(err.contains("'build'"), "{err}");
        let err = known_command(&argv_raw("mybuild --root /r imgaes")).unwrap_err();
        assert!(err.contains("'images'"), "{err}");
        for ok in [
            "mybuild .",
            "mybuild -t x biuld",
            "mybuild build",
            "mybuild ./biuld",
        ] {
            assert!(known_command(&argv_raw(ok)).is_ok(), "{ok}");
        }
    }

    fn argv_raw(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn the_root_flag_wins_over_the_config_file() {
        let (flag, file) = (Some(PathBuf::from("/flag")), Some(PathBuf::from("/file")));
        assert_eq!(store_root(&flag, &file), PathBuf::from("/flag"));
        assert_eq!(store_root(&None, &file), PathBuf::from("/file"));
        assert_ne!(store_root(&None, &None), PathBuf::from("/file"));
    }
}
