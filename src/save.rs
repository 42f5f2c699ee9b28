//! `mybuild save`.
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub struct SaveArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub async fn run(_root: &Path, _args: SaveArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
