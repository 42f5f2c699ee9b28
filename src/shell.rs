//! Shell integration: `mybuild completion bash|zsh|fish` prints a
//! completion script (clap_complete) and `mybuild man` the man page in
//! roff (clap_mangen), both made from the command definitions themselves.

use clap::Args;
use clap_complete::Shell;
use std::io::Write as _;

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// Shell to complete in
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Writes `shell`'s completion script for `cmd` to stdout.
pub fn completion(args: CompletionArgs, mut cmd: clap::Command) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "mybuild", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(())
}

/// Writes the man page of `cmd` (section 1) to stdout.
pub fn man(cmd: clap::Command) -> anyhow::Result<()> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    std::io::stdout().write_all(&out)?;
    Ok(())
}
