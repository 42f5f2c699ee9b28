//! The one wildcard engine for the two kinds of patterns Docker matches
//! paths with, so both read and match patterns the same way wherever their
//! rules agree:
//!
//! - COPY/ADD sources: Go `filepath.Match`, one path segment at a time.
//!   Docker expands `*`, `?` and `[...]` classes (with `^` negation, ranges
//!   and `\` escapes); the same rules must apply both when copying and when
//!   hashing the selection for the cache key.
//! - `.dockerignore` and `--exclude`: moby's patternmatcher, which turns a
//!   pattern into a regexp over the whole relative path. `**` spans
//!   segments, and its class and escape syntax is the regexp's, a little
//!   looser than `filepath.Match`'s.
//!
//! The dialects differ only in how a pattern is read ([`Syntax`]); the
//! tokens and the matcher are shared.

/// Which rules a pattern is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// Go `filepath.Match` (COPY/ADD sources): `**` is just two `*`; in a
    /// class an unescaped `-` or `]` where a character is expected is
    /// malformed; a trailing `\` is malformed.
    FilepathMatch,
    /// moby patternmatcher (`.dockerignore`, `--exclude`): `**` (with the
    /// `/` after it) matches any number of directories, or anything at all
    /// at the end; a class may start with `]` and hold a bare `-`; a
    /// trailing `\` is a literal backslash.
    Dockerignore,
}

/// One parsed pattern element.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    Any,
    /// `*`: a run of characters other than `/`.
    Star,
    /// `**` followed by more pattern: `(.*/)?` (dockerignore only).
    DirStar,
    /// `**` at the end: anything at all (dockerignore only).
    AllStar,
    /// `[...]`: `^` negates; may match `/` (which only a whole-path
    /// dockerignore pattern ever sees).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A malformed pattern (Go's `filepath.ErrBadPattern`, or a regexp that
/// does not compile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// A compiled wildcard pattern.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    toks: Vec<Tok>,
}

/// Whether a segment has wildcard syntax at all (Docker's `containsWildcards`).
pub(crate) fn has_wildcards(segment: &str) -> bool {
    let mut chars = segment.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

impl Glob {
    pub(crate) fn new(pattern: &str, syntax: Syntax) -> Result<Glob, BadPattern> {
        let mut toks = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let tok = match c {
                '*' => star(&mut chars, syntax),
                '?' => Tok::Any,
                '[' => parse_class(&mut chars, syntax)?,
                '\\' => match (chars.next(), syntax) {
                    (Some(c), _) => Tok::Lit(c),
                    (None, Syntax::Dockerignore) => Tok::Lit('\\'),
                    (None, Syntax::FilepathMatch) => return Err(BadPattern),
                },
                c => Tok::Lit(c),
            };
            toks.push(tok);
        }
        Ok(Glob { toks })
    }

    /// Whether the whole of `name` matches (one segment for COPY sources, a
    /// relative path for dockerignore patterns).
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        match_from(&self.toks, &name)
    }
}

/// The token for a `*` just read: in dockerignore syntax `**` (and the `/`
/// after it) spans directories.
fn star(chars: &mut Chars, syntax: Syntax) -> Tok {
    if syntax == Syntax::FilepathMatch || chars.peek() != Some(&'*') {
        return Tok::Star;
    }
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

/// One character of a class, as the low (`hi == false`) or high end of a
/// range.
fn class_char(chars: &mut Chars, syntax: Syntax, hi: bool) -> Result<char, BadPattern> {
    match (chars.next(), syntax) {
        (None, _) => Err(BadPattern),
        (Some('\\'), _) => chars.next().ok_or(BadPattern),
        (Some('-' | ']'), Syntax::FilepathMatch) => Err(BadPattern),
        (Some(']'), Syntax::Dockerignore) if hi => Err(BadPattern),
        (Some(c), _) => Ok(c),
    }
}

/// A class after its `[`, up to and including the `]` that closes it (a
/// `]` closes only once the class holds something).
fn parse_class(chars: &mut Chars, syntax: Syntax) -> Result<Tok, BadPattern> {
    let negated = chars.peek() == Some(&'^');
    if negated {
        chars.next();
    }
    let mut ranges = Vec::new();
    loop {
        if chars.peek() == Some(&']') && !ranges.is_empty() {
            chars.next();
            return Ok(Tok::Class { negated, ranges });
        }
        let lo = class_char(chars, syntax, false)?;
        let hi = if chars.peek() == Some(&'-') {
            chars.next();
            class_char(chars, syntax, true)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
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

/// Whether a single-character token matches `c`.
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
#[path = "glob_tests.rs"]
mod tests;
