//! Go `filepath.Match` wildcards for one path segment, as COPY/ADD sources use.
//!
//! Docker expands `*`, `?` and `[...]` classes (with `^` negation, ranges and
//! `\` escapes) one path segment at a time; the same rules must apply both
//! when copying and when hashing the selection for the cache key.

/// One parsed pattern element.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`: any single character.
    Any,
    /// `*`: any run of characters.
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A malformed pattern (Go's `filepath.ErrBadPattern`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadPattern;

/// A compiled single-segment wildcard pattern.
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

fn class_char(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<char, BadPattern> {
    match chars.next() {
        None | Some('-') | Some(']') => Err(BadPattern),
        Some('\\') => chars.next().ok_or(BadPattern),
        Some(c) => Ok(c),
    }
}

fn parse_class(chars: &mut std::iter::Peekable<std::str::Chars>) -> Result<Tok, BadPattern> {
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
        let lo = class_char(chars)?;
        let hi = if chars.peek() == Some(&'-') {
            chars.next();
            class_char(chars)?
        } else {
            lo
        };
        ranges.push((lo, hi));
    }
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Result<Glob, BadPattern> {
        let mut toks = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            let tok = match c {
                '*' => Tok::Star,
                '?' => Tok::Any,
                '[' => parse_class(&mut chars)?,
                '\\' => Tok::Lit(chars.next().ok_or(BadPattern)?),
                c => Tok::Lit(c),
            };
            toks.push(tok);
        }
        Ok(Glob { toks })
    }

    /// Whether the whole of `name` (one path segment) matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        match_from(&self.toks, &name)
    }
}

fn one(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Lit(l) => *l == c,
        Tok::Any => c != '/',
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
        }
        Tok::Star => unreachable!("star is handled by the caller"),
    }
}

fn match_from(toks: &[Tok], name: &[char]) -> bool {
    match toks.split_first() {
        None => name.is_empty(),
        Some((Tok::Star, rest)) => (0..=name.len())
            .take_while(|i| *i == 0 || name[i - 1] != '/')
            .any(|i| match_from(rest, &name[i..])),
        Some((tok, rest)) => match name.split_first() {
            Some((c, tail)) => one(tok, *c) && match_from(rest, tail),
            None => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::new(p).unwrap().matches(n)
    }

    #[test]
    fn go_filepath_match_rules() {
        assert!(m("*.txt", "one.txt"));
        assert!(!m("*.txt", "one.txt.bak"));
        assert!(m("a?c.md", "abc.md") && m("a?c.md", "axc.md"));
        assert!(!m("a?c.md", "ac.md"));
        assert!(m("[ab]*.log", "a1.log") && m("[ab]*.log", "b2.log"));
        assert!(!m("[ab]*.log", "c3.log"));
        assert!(m("[^ab]*.log", "c3.log") && !m("[^ab]*.log", "a1.log"));
        assert!(m("[a-c]x", "bx") && !m("[a-c]x", "dx"));
        assert!(m("\\*", "*") && !m("\\*", "a"));
        assert!(m("*", "") && m("**", "abc"));
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        assert_eq!(Glob::new("[").unwrap_err(), BadPattern);
        assert!(Glob::new("[]a]").is_err());
        assert!(Glob::new("[a-]").is_err());
        assert!(Glob::new("abc\\").is_err());
    }

    #[test]
    fn wildcard_detection() {
        assert!(has_wildcards("*.txt") && has_wildcards("a?") && has_wildcards("[x]"));
        assert!(!has_wildcards("plain.txt") && !has_wildcards("esc\\*aped"));
    }
}
