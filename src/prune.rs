//! `mybuild du` (like `docker system df`) and `mybuild prune` (like
//! `docker builder prune`).

use crate::store::open_store;
use crate::units::human_size;
use anyhow::{bail, Context as _};
use clap::Args;
use mybuild_cache::{PruneOptions, Tally};
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DuArgs {}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Also remove RUN cache mounts and the context hash cache
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Remove least recently used cache until the store is at most this big (e.g. 10GB)
    #[arg(long, value_name = "SIZE", value_parser = crate::units::parse_size)]
    pub keep_storage: Option<u64>,
    /// Only cache unused for a while: until=DURATION (e.g. until=24h)
    #[arg(long, value_name = "until=DURATION")]
    pub filter: Vec<String>,
    /// Do not ask for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

/// Directories of the solver's own state in the store.
const EXTRA_DIRS: [(&str, &str); 5] = [
    (mybuild_solver::CACHE_MOUNTS_DIR, "Cache mounts"),
    (mybuild_solver::CONTEXT_HASHES_DIR, "Context hashes"),
    (mybuild_solver::RELINK_DIR, "COPY journals"),
    (mybuild_solver::GIT_SOURCES_DIR, "Git checkouts"),
    (mybuild_solver::explain::KEY_INPUTS_DIR, "Key inputs"),
];

pub fn du(root: &Path, _args: DuArgs) -> anyhow::Result<()> {
    let store = open_store(root)?;
    let u = store.disk_usage()?;
    println!(
        "{:<16} {:>8} {:>12} {:>12}",
        "TYPE", "TOTAL", "SIZE", "RECLAIMABLE"
    );
    let row = |kind: &str, t: Tally| {
        println!(
            "{kind:<16} {:>8} {:>12} {:>12}",
            t.count,
            human_size(t.size),
            human_size(t.reclaimable)
        )
    };
    row("Images", u.images);
    row("Build cache", u.build_cache);
    row("Unreferenced", u.unreferenced);
    for (dir, kind) in EXTRA_DIRS {
        let (count, size) = dir_usage(&store.state_dir(dir));
        row(
            kind,
            Tally {
                count,
                size,
                reclaimable: size,
            },
        );
    }
    Ok(())
}

pub fn prune(root: &Path, args: PruneArgs) -> anyhow::Result<()> {
    let mut opts = PruneOptions {
        keep_bytes: args.keep_storage,
        ..PruneOptions::default()
    };
    for f in &args.filter {
        match f.split_once('=') {
            Some(("until", d)) => {
                opts.unused_for =
                    Some(parse_duration(d).with_context(|| format!("--filter {f:?}"))?)
            }
            _ => bail!("--filter {f:?}: only until=DURATION is supported"),
        }
    }
    // Like Docker, ask even when stdin is no terminal (a piped `y`
    // answers); end of input or any other answer removes nothing.
    if !args.force && !confirm(args.all)? {
        return Ok(());
    }
    let store = open_store(root)?;
    let report = store.prune(&opts)?;
    let mut reclaimed = report.reclaimed;
    // `--explain-cache` records go with their cache entries.
    reclaimed += mybuild_solver::explain::sweep_orphans(&store)?;
    if args.all {
        for (dir, _) in EXTRA_DIRS {
            let path = store.state_dir(dir);
            reclaimed += dir_usage(&path).1;
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
        }
    }
    if !report.layers.is_empty() {
        println!("Deleted build cache objects:");
        for d in &report.layers {
            println!("{}", d.short());
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(())
}

fn confirm(all: bool) -> anyhow::Result<bool> {
    let what = if all {
        "all build cache and cache mounts"
    } else {
        "build cache no image needs"
    };
    print!("WARNING! This will remove {what}. Are you sure you want to continue? [y/N] ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if !std::io::stdin().is_terminal() {
        // The answer was not echoed: end the prompt's line.
        println!();
    }
    Ok(line.trim().eq_ignore_ascii_case("y"))
}

/// Files and bytes under `dir` (0, 0 when it does not exist).
fn dir_usage(dir: &Path) -> (u64, u64) {
    let (mut count, mut size) = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                count += 1;
                size += m.len();
            }
        }
    }
    (count, size)
}

/// `24h`, `90m`, `1h30m`, `7d`, `45s`.
fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num
            .parse()
            .with_context(|| format!("invalid duration {s:?}"))?;
        num.clear();
        total += n * match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => bail!("invalid duration {s:?}: unknown unit {c:?} (s, m, h, d)"),
        };
    }
    if !num.is_empty() || s.is_empty() {
        bail!("invalid duration {s:?}: every number needs a unit (s, m, h, d)");
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_like_docker() {
        assert_eq!(crate::units::parse_size("10GB").unwrap(), 10 << 30);
        assert_eq!(crate::units::parse_size("1.5k").unwrap(), 1536);
        assert_eq!(crate::units::parse_size("4096").unwrap(), 4096);
        assert!(crate::units::parse_size("10XB").is_err());
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("3w").is_err());
    }
}
