//! `mybuild tag` and `mybuild rmi`.
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Args, Debug)]
pub struct RmiArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn tag(_root: &Path, _args: TagArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}

pub fn rmi(_root: &Path, _args: RmiArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
