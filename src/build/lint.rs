//! Build checks as buildx shows them: a summary after a build, each
//! warning in full with its Dockerfile lines for `--check`, and
//! `error=true` failing the build before anything runs.

use super::inputs::Definition;
use crate::render::ProgressMode;
use anyhow::Context as _;
use mybuild_frontend::checks::{lint, CheckError, Lint, Warning};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// `--check` found warnings: exit 1, as `docker build --check` does.
#[derive(Debug, thiserror::Error)]
#[error("{count} build check warning(s) found in {file}")]
pub(crate) struct ChecksFound {
    count: usize,
    file: String,
}

/// The checks of a build's Dockerfile; `None` when it does not parse (the
/// compile that follows says why, with its line).
pub(super) fn run(
    def: &Definition,
    args: &BTreeMap<String, String>,
) -> anyhow::Result<Option<Lint>> {
    match lint(&def.text, args) {
        Ok(lint) => Ok(Some(lint)),
        Err(CheckError::Parse(_)) => Ok(None),
        Err(e @ CheckError::Policy(_)) => Err(e).with_context(|| def.filename.clone()),
    }
}

/// `--check`: every warning in full on stdout; an error when there is any.
pub(super) fn check_only(def: &Definition, args: &BTreeMap<String, String>) -> anyhow::Result<()> {
    let Some(found) = run(def, args)? else {
        // Let the parser's own error, with its line, explain.
        mybuild_frontend::parse(&def.text).with_context(|| def.filename.clone())?;
        return Ok(());
    };
    print!("{}", full_report(def, &found));
    if let Some(violation) = found.violation() {
        anyhow::bail!("{violation}");
    }
    if found.warnings.is_empty() {
        return Ok(());
    }
    Err(ChecksFound {
        count: found.warnings.len(),
        file: def.filename.clone(),
    }
    .into())
}

/// After a build: the one-line form of each warning, on stderr, unless
/// the progress is quiet or JSON (which a program reads).
pub(super) fn print_summary(found: &Lint, mode: ProgressMode) {
    if found.warnings.is_empty() || matches!(mode, ProgressMode::Quiet | ProgressMode::Rawjson) {
        return;
    }
    eprint!("{}", summary(&found.warnings));
}

/// `error=true` with warnings: the summary, the directive's lines, and
/// the error that fails the build.
pub(super) fn fatal(def: &Definition, found: &Lint) -> Option<anyhow::Error> {
    let violation = found.violation()?;
    let mut text = summary(&found.warnings);
    if let Some(line) = found.directive_line {
        text.push_str(&source_block(&def.filename, &def.text, line));
    }
    eprint!("{text}");
    Some(anyhow::anyhow!("{violation}"))
}

fn summary(warnings: &[Warning]) -> String {
    let n = warnings.len();
    let plural = if n == 1 { "" } else { "s" };
    let mut out = format!("\n {n} warning{plural} found (use --check to expand):\n");
    for w in warnings {
        let _ = writeln!(out, " - {}", w.short());
    }
    out
}

/// buildx's `--check` report: a count, then each warning with its rule's
/// page and description, what is wrong, and the lines around it.
fn full_report(def: &Definition, found: &Lint) -> String {
    let n = found.warnings.len();
    let mut out = match n {
        0 => return "Check complete, no warnings found.\n".into(),
        1 => "Check complete, 1 warning has been found!\n".to_string(),
        _ => format!("Check complete, {n} warnings have been found!\n"),
    };
    for w in &found.warnings {
        let _ = write!(
            out,
            "\nWARNING: {} - {}\n{}\n{}\n",
            w.rule.name,
            w.rule.url(),
            w.rule.description,
            w.detail
        );
        out.push_str(&source_block(&def.filename, &def.text, w.line));
    }
    out
}

/// BuildKit's source excerpt: `FILE:LINE`, then the line marked `>>>`
/// with up to two lines either side, between dashed rules.
fn source_block(file: &str, text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    if line == 0 || line > lines.len() {
        return String::new();
    }
    let first = line.saturating_sub(2).max(1);
    let last = (line + 2).min(lines.len());
    let rule = "--------------------";
    let mut out = format!("{file}:{line}\n{rule}\n");
    for (n, text) in lines.iter().enumerate().take(last).skip(first - 1) {
        let n = n + 1;
        let mark = if n == line { ">>>" } else { "" };
        let _ = writeln!(out, " {n:>3} | {mark:>3} {}", text.trim_end_matches('\r'));
    }
    out.push_str(rule);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_blocks_mark_the_line_with_two_either_side() {
        let text = "FROM a\nRUN b\nCMD c\nRUN d\nRUN e\nRUN f\n";
        assert_eq!(
            source_block("Dockerfile", text, 3),
            "Dockerfile:3\n--------------------\n   1 |     FROM a\n   2 |     RUN b\n\
             \u{20}  3 | >>> CMD c\n   4 |     RUN d\n   5 |     RUN e\n--------------------\n"
        );
        let first = source_block("Dockerfile", "FROM a\nCMD b", 1);
        assert!(
            first.contains("   1 | >>> FROM a\n   2 |     CMD b\n"),
            "{first}"
        );
        assert_eq!(source_block("Dockerfile", "FROM a", 9), "");
    }
}
