//! Build checks: BuildKit's Dockerfile lint rules, run on the syntax tree
//! before anything is built.
//!
//! A build prints what they find as warnings; `--check` prints them in
//! full instead of building. `# check=skip=A,B;error=true` (or the
//! `BUILDKIT_DOCKERFILE_CHECK` build arg, which replaces the directive)
//! skips rules, or all of them, and turns any warning into a failed build.
//! Rule names, descriptions and messages are BuildKit's, so scripts and
//! `skip=` lists written for it work unchanged.

mod casing;
mod from;
mod policy;
mod rules;
mod stages;

pub use policy::{CheckPolicy, PolicyError};
pub use rules::{Rule, Warning, RULES};

use crate::parser::{parse, ParseError};
use rules::Findings;
use std::collections::BTreeMap;

/// The build arg that overrides the `# check=` directive.
pub const CHECK_BUILD_ARG: &str = "BUILDKIT_DOCKERFILE_CHECK";

/// What the checks found in one Dockerfile, under its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lint {
    /// By line, then by message.
    pub warnings: Vec<Warning>,
    /// `error=true`: any warning fails the build.
    pub fatal: bool,
    /// The line of the `# check=` directive, where a fatal lint points.
    pub directive_line: Option<usize>,
}

impl Lint {
    /// `lint violation found for rules: A, B` when warnings are fatal.
    pub fn violation(&self) -> Option<String> {
        if !self.fatal || self.warnings.is_empty() {
            return None;
        }
        let mut names: Vec<&str> = self.warnings.iter().map(|w| w.rule.name).collect();
        names.sort_unstable();
        names.dedup();
        Some(format!(
            "lint violation found for rules: {}",
            names.join(", ")
        ))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Runs every rule the policy keeps over `text`.
pub fn lint(text: &str, build_args: &BTreeMap<String, String>) -> Result<Lint, CheckError> {
    let df = parse(text)?;
    let directive = df.directives.iter().find(|(n, _)| n == "check");
    let policy = match build_args.get(CHECK_BUILD_ARG) {
        Some(value) => CheckPolicy::parse(value)?,
        None => match directive {
            Some((_, value)) => CheckPolicy::parse(value)?,
            None => CheckPolicy::default(),
        },
    };
    let mut found = Findings::default();
    casing::check(&df.instructions, text, &mut found);
    stages::check(&df.instructions, &mut found);
    from::check(&df.instructions, df.escape, &mut found);
    let mut warnings = found.0;
    warnings.retain(|w| policy.keeps(w.rule.name));
    warnings.sort_by(|a, b| (a.line, &a.detail).cmp(&(b.line, &b.detail)));
    let directive_line = directive.and_then(|_| directive_line(text));
    Ok(Lint {
        warnings,
        fatal: policy.error,
        directive_line,
    })
}

/// The line of the `# check=` directive among the leading comment lines.
fn directive_line(text: &str) -> Option<usize> {
    text.lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .position(|l| {
            let body = l.trim_start()[1..].trim_start();
            body.to_ascii_lowercase().starts_with("check")
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests;
