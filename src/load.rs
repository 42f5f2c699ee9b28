//! `mybuild load`: imports an image archive (OCI layout or `docker save`)
//! into the local store.

use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from this archive instead of standard input
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Print only the loaded image ids
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(_root: &Path, _args: LoadArgs) -> anyhow::Result<()> {
    anyhow::bail!("mybuild load: not implemented yet")
}
