//! `mybuild du` and `mybuild prune`.
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub struct DuArgs {}

#[derive(Args, Debug)]
pub struct PruneArgs {}

pub fn du(_root: &Path, _args: DuArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}

pub fn prune(_root: &Path, _args: PruneArgs) -> anyhow::Result<()> {
    anyhow::bail!("todo")
}
