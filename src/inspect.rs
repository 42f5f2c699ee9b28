//! `mybuild inspect` and `mybuild history`.
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    pub image: String,
}

pub fn inspect(_root: &Path, _args: InspectArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}

pub fn history(_root: &Path, _args: HistoryArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
