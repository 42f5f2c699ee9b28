//! Tests of the wildcard engine: each dialect's rules, and where they differ.

use super::*;

fn m(p: &str, n: &str) -> bool {
    Glob::new(p, Syntax::FilepathMatch).unwrap().matches(n)
}

fn ig(p: &str, n: &str) -> bool {
    Glob::new(p, Syntax::Dockerignore).unwrap().matches(n)
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
    let bad = |p| Glob::new(p, Syntax::FilepathMatch).unwrap_err();
    assert_eq!(bad("["), BadPattern);
    assert_eq!(bad("[]a]"), BadPattern);
    assert_eq!(bad("[a-]"), BadPattern);
    assert_eq!(bad("abc\\"), BadPattern);
}

#[test]
fn wildcard_detection() {
    assert!(has_wildcards("*.txt") && has_wildcards("a?") && has_wildcards("[x]"));
    assert!(!has_wildcards("plain.txt") && !has_wildcards("esc\\*aped"));
}

/// `**` is two single-segment stars for COPY, but spans directories in a
/// dockerignore pattern.
#[test]
fn doublestar_spans_only_in_dockerignore() {
    assert!(!m("a/**/b", "a/x/y/b") && !m("**", "a/b"));
    assert!(ig("a/**/b", "a/x/y/b") && ig("a/**/b", "a/b"));
    assert!(ig("**", "a/b") && ig("a/**", "a/x/y"));
    assert!(!ig("a/**/b", "ab") && !ig("*", "a/b"));
}

/// moby's regexp classes are looser than `filepath.Match`'s: a leading `]`
/// and a bare `-` are characters, and a trailing `\` is a literal.
#[test]
fn dockerignore_reads_classes_and_escapes_like_a_regexp() {
    for p in ["[]a]", "[-a]", "[a-c-]x", "abc\\"] {
        assert!(Glob::new(p, Syntax::FilepathMatch).is_err(), "{p}");
        assert!(Glob::new(p, Syntax::Dockerignore).is_ok(), "{p}");
    }
    assert!(ig("[]a]", "]") && ig("[]a]", "a") && !ig("[]a]", "b"));
    assert!(ig("[-a]", "-") && !ig("[-a]", "b"));
    assert!(ig("abc\\", "abc\\"));
    for p in ["[", "[a-]", "[abc", "[a-\\"] {
        assert!(Glob::new(p, Syntax::Dockerignore).is_err(), "{p}");
    }
}
