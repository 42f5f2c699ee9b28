//! `.dockerignore` parsing and matching with Docker's exact rules.
//!
//! Mirrors moby's ignorefile/patternmatcher: patterns are cleaned and
//! anchored at the context root, `*`/`?` stay within one segment, `**`
//! spans segments, `!` re-includes, the last matching pattern wins, and a
//! pattern that matches a directory also matches everything below it.
//! Each pattern is read and matched by the wildcard engine COPY sources use
//! too (`fileop/glob.rs`), in its dockerignore syntax.

use crate::fileop::glob::{Glob, Syntax};

/// A `.dockerignore` or `--exclude` pattern that can't be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerignore pattern {pattern:?}: {reason}")]
pub struct IgnoreError {
    pub pattern: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone)]
struct Pattern {
    exception: bool,
    glob: Glob,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Dockerignore {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` for slash-separated relative or absolute paths.
pub(crate) fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if out.last().is_some_and(|l| *l != "..") => {
                out.pop();
            }
            ".." if rooted => {}
            s => out.push(s),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

impl Dockerignore {
    /// Splits a `.dockerignore` file into patterns (comments and blank lines
    /// dropped, each pattern cleaned, leading `/` stripped, `!` kept).
    pub fn parse(text: &str) -> Vec<String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut out = Vec::new();
        for line in text.lines() {
            let mut pat = line.trim();
            if pat.is_empty() || pat.starts_with('#') {
                continue;
            }
            let exception = pat.starts_with('!');
            if exception {
                pat = pat[1..].trim();
            }
            let mut cleaned = if pat.is_empty() {
                String::new()
            } else {
                go_clean(pat)
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            out.push(if exception {
                format!("!{cleaned}")
            } else {
                cleaned
            });
        }
        out
    }

    pub fn new(patterns: &[String]) -> Result<Dockerignore, IgnoreError> {
        let mut compiled = Vec::new();
        for raw in patterns {
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let (exception, body) = match p.strip_prefix('!') {
                Some(rest) if rest.trim().is_empty() => {
                    return Err(IgnoreError {
                        pattern: raw.clone(),
                        reason: "illegal exclusion pattern",
                    })
                }
                Some(rest) => (true, rest.trim()),
                None => (false, p),
            };
            let mut body = go_clean(body);
            if body.len() > 1 && body.starts_with('/') {
                body.remove(0);
            }
            let glob = Glob::new(&body, Syntax::Dockerignore).map_err(|_| IgnoreError {
                pattern: raw.clone(),
                reason: "syntax error in pattern",
            })?;
            compiled.push(Pattern { exception, glob });
        }
        Ok(Dockerignore { patterns: compiled })
    }

    /// Whether `rel_path` (relative to the context root) is left out of the
    /// context, by its own name or by a parent directory's.
    /// No rules at all: nothing is excluded.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let file = go_clean(rel_path.trim_start_matches('/'));
        let parents: Vec<&str> = match file.rfind('/') {
            Some(i) => file[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut excluded = false;
        for p in &self.patterns {
            // An exclusion can't change an excluded path, nor an exception a kept one.
            if p.exception != excluded {
                continue;
            }
            let hit = p.glob.matches(&file)
                || (1..=parents.len()).any(|n| p.glob.matches(&parents[..n].join("/")));
            if hit {
                excluded = !p.exception;
            }
        }
        excluded
    }

    /// Whether some `!` pattern could re-include paths under an excluded
    /// directory, so a walk must still look inside it.
    pub(crate) fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }
}

#[cfg(test)]
#[path = "dockerignore_tests.rs"]
mod tests;
