//! `mybuild build`'s flags as clap reads them, with the value parsers that
//! check each flag's form (sizes, `KEY=VALUE`) at parse time. What the
//! flags mean together is worked out in [`super::options`].

use super::flags;
use crate::output::CompressionArg;
use crate::render::ProgressMode;
use clap::Args;
use mybuild_graph::{HostEntry, Ulimit};
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    /// Name of the Dockerfile [default: PATH/Dockerfile]; - reads it from stdin
    #[arg(short = 'f', long = "file", allow_hyphen_values = true)]
    pub file: Option<PathBuf>,
    /// Name and optionally a tag (name:tag); may be repeated
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Do not use cached results
    #[arg(long)]
    pub no_cache: bool,
    /// Say for each step that missed the cache which input changed
    #[arg(long)]
    pub explain_cache: bool,
    /// Always look up base images in the registry
    #[arg(long)]
    pub pull: bool,
    /// Build-time variable (KEY=VALUE, or KEY to take it from the environment)
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = build_arg)]
    pub build_args: Vec<BuildArg>,
    /// Stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Progress output [default: $BUILDKIT_PROGRESS, else auto]
    #[arg(long, value_enum)]
    pub progress: Option<ProgressMode>,
    /// Print only the image id
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Output: type=local|tar|oci|docker|image|registry[,dest=...][,name=...],
    /// a DIR (local), or - (tar to stdout)
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
    /// Export the contents of RUN --mount=type=cache directories
    /// (type=local,dest=DIR or type=registry,ref=REF; max-size=SIZE, 1g by default)
    #[arg(long = "cache-mounts-to", value_name = "SPEC")]
    pub cache_mounts_to: Vec<String>,
    /// Fill empty cache mounts from an export (type=local,src=DIR or type=registry,ref=REF)
    #[arg(long = "cache-mounts-from", value_name = "SPEC")]
    pub cache_mounts_from: Vec<String>,
    /// Layer compression for exports and pushes (also `compression=` in
    /// --output) [default: gzip; uncompressed in -o type=docker archives]
    #[arg(long, value_enum)]
    pub compression: Option<CompressionArg>,
    /// Secret for `RUN --mount=type=secret` (id=ID,src=FILE or id=ID,env=VAR)
    #[arg(long = "secret", value_name = "id=ID,src=FILE")]
    pub secrets: Vec<String>,
    /// SSH agent for `RUN --mount=type=ssh`: default ($SSH_AUTH_SOCK) or
    /// ID=SOCKET or ID=KEY[,KEY...]
    #[arg(long = "ssh", value_name = "default|ID[=SOCKET|KEY]")]
    pub ssh: Vec<String>,
    /// Network for RUN: default (the host's), host or none
    #[arg(long, default_value = "default")]
    pub network: String,
    /// When a RUN fails: fail (the default), or open a shell in the failed
    /// step's filesystem, environment and mounts (needs a terminal)
    #[arg(long = "on-error", value_name = "fail|shell", value_parser = ["fail", "shell"])]
    pub on_error: Option<String>,
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
    /// Memory limit of each RUN step (e.g. 512m, 2g)
    #[arg(short = 'm', long, value_name = "BYTES", value_parser = size)]
    pub memory: Option<u64>,
    /// Memory plus swap of each RUN step (-1: unlimited swap)
    #[arg(long = "memory-swap", value_name = "BYTES", value_parser = swap_size,
          allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Relative CPU weight of each RUN step (default 1024)
    #[arg(short = 'c', long = "cpu-shares", value_name = "SHARES",
          value_parser = clap::value_parser!(u64).range(2..=262_144))]
    pub cpu_shares: Option<u64>,
    /// CPUs the RUN steps may use (e.g. 0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Processes and threads a RUN step may have (-1 or 0: unlimited)
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true,
          default_value_t = mybuild_solver::sandbox::DEFAULT_PIDS_LIMIT as i64)]
    pub pids_limit: i64,
    /// Cgroup the steps' cgroups are made under
    #[arg(long = "cgroup-parent", value_name = "PATH", default_value = "mybuild")]
    pub cgroup_parent: String,
    /// Image config label (KEY=VALUE), after the Dockerfile's LABELs
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = flags::label)]
    pub labels: Vec<(String, String)>,
    /// Image manifest annotation ([manifest:]KEY=VALUE)
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = flags::annotation)]
    pub annotations: Vec<(String, String)>,
    /// Write the image id (its config digest) to FILE
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Write the build result's metadata (buildx's JSON) to FILE
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Target platform(s): linux/ARCH[,linux/ARCH...]; a foreign one runs RUN under binfmt_misc emulation
    #[arg(
        long = "platform",
        value_name = "PLATFORM",
        env = "DOCKER_DEFAULT_PLATFORM"
    )]
    pub platforms: Vec<String>,
    /// Extra /etc/hosts line for RUN steps (HOST:IP)
    #[arg(long = "add-host", value_name = "HOST:IP", value_parser = flags::add_host)]
    pub add_hosts: Vec<HostEntry>,
    /// Resource limit of RUN steps (NAME=SOFT[:HARD], e.g. nofile=1024:2048)
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]", value_parser = flags::ulimit)]
    pub ulimits: Vec<Ulimit>,
    /// Size of the RUN steps' /dev/shm [default: 64m]
    #[arg(long = "shm-size", value_name = "BYTES", value_parser = size)]
    pub shm_size: Option<u64>,
    /// Stages whose steps run even when cached (comma-separated names)
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Run BuildKit's build checks and print what they find instead of
    /// building (the same as --call=check); exits 1 when any is found
    #[arg(long)]
    pub check: bool,
    /// What to do with the Dockerfile: build (the default) or check
    #[arg(long, value_name = "build|check", value_parser = ["build", "check"])]
    pub call: Option<String>,
    /// Keep the image in the local store (what a build always does)
    #[arg(long)]
    pub load: bool,
    /// Extra privileges: network.host (RUN steps have it by default)
    #[arg(long = "allow", value_name = "ENTITLEMENT", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// Extra named context (NAME=DIR, NAME=docker-image://REF or NAME=URL)
    /// for `FROM NAME` and `COPY --from=NAME`
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Build context: a directory, - (a tar or a Dockerfile on stdin), a
    /// tarball URL or a git URL (URL#REF:SUBDIR)
    #[arg(value_name = "PATH | URL | -", allow_hyphen_values = true)]
    pub context: String,
}

/// One `--build-arg`: `KEY=VALUE`, or a bare `KEY` whose value is taken
/// from the environment when the build starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildArg {
    pub key: String,
    pub value: Option<String>,
}

/// `--build-arg` as docker checks it: a key is required (`=x` is refused).
fn build_arg(s: &str) -> Result<BuildArg, String> {
    let (key, value) = match s.split_once('=') {
        Some((k, v)) => (k, Some(v.to_string())),
        None => (s, None),
    };
    if key.is_empty() {
        return Err(format!("invalid key-value pair {s:?}: empty key"));
    }
    if key.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid key-value pair {s:?}: key contains whitespace"
        ));
    }
    Ok(BuildArg {
        key: key.to_string(),
        value,
    })
}

/// A size as docker reads one: a number with an optional b, k, m or g
/// (binary units, any case, an optional trailing `b`/`ib`).
fn size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = lower[digits.len()..]
        .trim_end_matches("ib")
        .trim_end_matches('b');
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("invalid size {s:?}: unknown unit")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number and a unit (512m)"))?;
    n.checked_shl(shift)
        .filter(|v| v >> shift == n && *v > 0)
        .ok_or_else(|| format!("invalid size {s:?}"))
}

fn swap_size(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    size(s).and_then(|v| i64::try_from(v).map_err(|_| format!("invalid size {s:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_docker_reads_them() {
        assert_eq!(size("512m"), Ok(512 << 20));
        assert_eq!(size("2G"), Ok(2 << 30));
        assert_eq!(size("64MiB"), Ok(64 << 20));
        assert_eq!(size("1000"), Ok(1000));
        assert!(size("12x").is_err() && size("m").is_err() && size("0").is_err());
        assert_eq!(swap_size("-1"), Ok(-1));
    }

    #[test]
    fn build_args_split_at_the_first_equals() {
        let arg = |key: &str, value: Option<&str>| BuildArg {
            key: key.into(),
            value: value.map(Into::into),
        };
        assert_eq!(build_arg("A=b=c"), Ok(arg("A", Some("b=c"))));
        assert_eq!(build_arg("A="), Ok(arg("A", Some(""))));
        assert_eq!(build_arg("A"), Ok(arg("A", None)));
        assert!(build_arg("=x").is_err() && build_arg(" a=1").is_err());
    }
}
