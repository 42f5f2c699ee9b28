//! `.dockerignore` parsing and matching with Docker's exact rules.
//!
//! Mirrors moby's ignorefile/patternmatcher: patterns are cleaned and
//! anchored at the context root, `*`/`?` stay within one segment, `**`
//! spans segments, `!` re-includes, the last matching pattern wins, and a
//! pattern that matches a directory also matches everything below it.

use super::ContextError;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    Any,
    /// `*`: a run of characters other than `/`.
    Star,
    /// `**` followed by more pattern: `(.*/)?`.
    DirStar,
    /// `**` at the end: anything at all.
    AllStar,
    /// `[...]`, regexp semantics (`^` negates, may match `/`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone)]
struct Pattern {
    exception: bool,
    toks: Vec<Tok>,
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

    pub fn new(patterns: &[String]) -> Result<Dockerignore, ContextError> {
        let mut compiled = Vec::new();
        for raw in patterns {
            let p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let (exception, body) = match p.strip_prefix('!') {
                Some(rest) if rest.trim().is_empty() => {
                    return Err(ContextError::IgnorePattern {
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
            let toks = compile(&body).ok_or_else(|| ContextError::IgnorePattern {
                pattern: raw.clone(),
                reason: "syntax error in pattern",
            })?;
            compiled.push(Pattern { exception, toks });
        }
        Ok(Dockerignore { patterns: compiled })
    }

    /// Whether `rel_path` (relative to the context root) is left out of the
    /// context, by its own name or by a parent directory's.
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
            let hit = matches(&p.toks, &file)
                || (1..=parents.len()).any(|n| matches(&p.toks, &parents[..n].join("/")));
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

fn compile_class(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<Tok> {
    let negated = chars.peek() == Some(&'^');
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    loop {
        let lo = match chars.next()? {
            ']' if !ranges.is_empty() => return Some(Tok::Class { negated, ranges }),
            '\\' => chars.next()?,
            c => c,
        };
        let hi = if chars.peek() == Some(&'-') {
            chars.next();
            match chars.next()? {
                ']' => return None,
                '\\' => chars.next()?,
                c => c,
            }
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
}

/// Compiles a cleaned pattern; `None` on a syntax error.
fn compile(pattern: &str) -> Option<Vec<Tok>> {
    let mut toks = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let tok = match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    Tok::AllStar
                } else {
                    Tok::DirStar
                }
            }
            '*' => Tok::Star,
            '?' => Tok::Any,
            '[' => compile_class(&mut chars)?,
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        };
        toks.push(tok);
    }
    Some(toks)
}

fn matches(toks: &[Tok], path: &str) -> bool {
    let chars: Vec<char> = path.chars().collect();
    match_from(toks, &chars)
}

fn match_from(toks: &[Tok], s: &[char]) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match tok {
        Tok::AllStar => true,
        Tok::Star => (0..=s.len())
            .take_while(|i| *i == 0 || s[i - 1] != '/')
            .any(|i| match_from(rest, &s[i..])),
        Tok::DirStar => {
            match_from(rest, s)
                || (0..s.len())
                    .filter(|i| s[*i] == '/')
                    .any(|i| match_from(rest, &s[i + 1..]))
        }
        single => match s.split_first() {
            Some((c, tail)) => one(single, *c) && match_from(rest, tail),
            None => false,
        },
    }
}

fn one(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Lit(l) => *l == c,
        Tok::Any => c != '/',
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Tok::Star | Tok::DirStar | Tok::AllStar => false,
    }
}

#[cfg(test)]
#[path = "dockerignore_tests.rs"]
mod tests;
