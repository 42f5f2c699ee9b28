//! `mybuild load`: imports an image archive (OCI layout or `docker save`)
//! into the local store.
//!
//! The archive is read from `-i FILE` or standard input (a pipe is copied to
//! an unlinked temp file in the store first). Every digest in it is
//! verified by [`mybuild_cache::import`]; names are normalised here and all
//! of them are checked before the first is tagged, so a bad archive or
//! name tags nothing. Like `docker load`, it prints `Loaded image: NAME`
//! per name (or `Loaded image ID: ID` for an unnamed image) on stdout, and
//! per-layer progress on stderr unless `-q`.

use anyhow::Context as _;
use clap::Args;
use mybuild_cache::import::{self, LayerEvent};
use mybuild_registry::Reference;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from this archive instead of standard input
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress per-layer progress; print only the `Loaded image` lines
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(root: &Path, args: LoadArgs) -> anyhow::Result<()> {
    // main's Ctrl-C watcher cannot run while this blocks its task; the
    // store is crash-safe, so let SIGINT end the process as it normally would.
    // SAFETY: restores the default disposition; no handler code runs.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGINT,
            nix::sys::signal::SigHandler::SigDfl,
        );
    }
    let store = crate::store::open_store(root)?;
    let quiet = args.quiet;
    let mut progress = |e: &LayerEvent| {
        if !quiet {
            let what = if e.existed { "already exists" } else { "done" };
            eprintln!("Loading layer {}: {what}", e.diff_id.short());
        }
    };
    let images = match &args.input {
        Some(path) => import::import_path(&store, path, &mut progress)?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                anyhow::bail!(
                    "requested load from standard input, but it is a terminal; \
                     use -i FILE or pipe an archive in"
                );
            }
            import::import_reader(&store, stdin.lock(), "standard input", &mut progress)?
        }
    };
    let source = match &args.input {
        Some(path) => path.display().to_string(),
        None => "standard input".to_string(),
    };
    // Every name is checked before the first is tagged.
    let mut named = Vec::new();
    for img in &images {
        let refs = img
            .names
            .iter()
            .map(|raw| {
                Reference::parse(raw)
                    .with_context(|| format!("archive {source}: image name {raw:?}"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        named.push((img, refs));
    }
    for (img, refs) in &named {
        for r in refs {
            store
                .tag(&r.to_string(), &img.id)
                .with_context(|| format!("tagging {r}"))?;
        }
    }
    for (img, refs) in &named {
        if refs.is_empty() {
            println!("Loaded image ID: {}", img.id);
        }
        for r in refs {
            println!("Loaded image: {}", r.familiar());
        }
    }
    Ok(())
}
