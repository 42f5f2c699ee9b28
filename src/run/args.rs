//! `mybuild run`'s flags, as `docker run` spells them.

use clap::Args;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep stdin open: the command reads mybuild's
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the command a pseudo-terminal
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set an environment variable (K=V, or K to pass mybuild's own)
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Bind a host directory: HOST:CONTAINER[:ro]
    #[arg(short = 'v', long = "volume", value_name = "HOST:CTR[:ro]")]
    pub volumes: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// User (name|uid[:group|gid]) the command runs as
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Network: default (the host's, as RUN), host or none
    #[arg(long, default_value = "default", value_parser = ["default", "host", "none"])]
    pub network: String,
    /// Run this instead of the image's entrypoint ("" for none)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// A name for the kept container (usable in place of its id)
    #[arg(long)]
    pub name: Option<String>,
    /// Name or id of a local image
    pub image: String,
    /// Command and arguments, replacing the image's Cmd
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}
