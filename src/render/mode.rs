//! `--progress`: which way build progress is shown. It lives with the
//! renderers so that the build command and the renderers both depend on
//! it, not on each other.

use clap::ValueEnum;
use std::io::IsTerminal as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    Auto,
    Tty,
    Plain,
    Quiet,
    Rawjson,
}

impl ProgressMode {
    /// The mode to render with: `-q` wins, and `auto` is the live view on a
    /// terminal, plain text otherwise. Never `Auto`.
    pub fn resolve(self, quiet: bool) -> ProgressMode {
        if quiet {
            return ProgressMode::Quiet;
        }
        match self {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Tty,
            ProgressMode::Auto => ProgressMode::Plain,
            m => m,
        }
    }
}
