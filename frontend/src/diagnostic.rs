//! Compiler-style pointers into a Dockerfile for error messages: the line
//! and column of the offending text, shown under a caret.
//!
//! Errors are raised where only the instruction is known, so the exact
//! place is found afterwards: [`Span::locate`] searches the instruction's
//! physical lines for the word the error is about (a flag, a stage name, an
//! unknown keyword) and falls back to the instruction's first character.

use std::fmt;

/// A 1-based line and column in a Dockerfile, the width of the text meant
/// (in characters) and that line as written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub width: usize,
    pub source: String,
}

impl Span {
    /// Finds `needle` on lines `first..=last` (1-based) of `text`. Without
    /// a needle, or when it is not there (it may have been expanded), the
    /// span is the first word of line `first`.
    pub fn locate(text: &str, first: usize, last: usize, needle: Option<&str>) -> Span {
        let lines: Vec<&str> = text
            .strip_prefix('\u{feff}')
            .unwrap_or(text)
            .lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let first = first.clamp(1, lines.len().max(1));
        let last = last.clamp(first, lines.len().max(first));
        let line_at = |n: usize| lines.get(n - 1).copied().unwrap_or("");
        if let Some(needle) = needle.filter(|n| !n.is_empty()) {
            // A whole word first (`b` in `FROM busybox AS b`), then any match.
            for whole in [true, false] {
                for n in first..=last {
                    if let Some(byte) = find(line_at(n), needle, whole) {
                        return Span::at(line_at(n), n, byte, needle.chars().count());
                    }
                }
            }
        }
        let source = line_at(first);
        let start = source.len() - source.trim_start().len();
        let width = source[start..]
            .split_whitespace()
            .next()
            .map_or(1, |w| w.chars().count());
        Span::at(source, first, start, width)
    }

    /// A long line is shown as a window around the column, so an error
    /// on a 10 MB line quotes a few hundred characters, not the line.
    fn at(source: &str, line: usize, byte: usize, width: usize) -> Span {
        let column = source[..byte].chars().count() + 1;
        let total = source.chars().count();
        if total <= MAX_QUOTE {
            return Span {
                line,
                column,
                width: width.max(1),
                source: source.to_string(),
            };
        }
        let start = column.saturating_sub(MAX_QUOTE / 3 + 1);
        let end = (start + MAX_QUOTE).min(total);
        let mut shown: String = source.chars().skip(start).take(end - start).collect();
        let lead = if start > 0 { "…" } else { "" };
        if end < total {
            shown.push('…');
        }
        Span {
            line,
            column: column - start + lead.chars().count(),
            width: width.clamp(1, end.saturating_sub(column - 1).max(1)),
            source: format!("{lead}{shown}"),
        }
    }
}

/// The most characters of a Dockerfile line an error quotes.
pub const MAX_QUOTE: usize = 240;

/// `text` cut to at most `max` characters (an ellipsis marks the cut), for
/// quoting user input in names and messages.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => text.into(),
        Some((byte, _)) => format!("{}…", &text[..byte]).into(),
    }
}

/// The byte offset of `needle` in `line`; with `whole`, only where it is
/// not part of a longer word.
fn find(line: &str, needle: &str, whole: bool) -> Option<usize> {
    let wordy = |c: char| c.is_alphanumeric() || "_-.".contains(c);
    line.match_indices(needle).map(|(i, _)| i).find(|&i| {
        !whole
            || (!line[..i].chars().next_back().is_some_and(wordy)
                && !line[i + needle.len()..].chars().next().is_some_and(wordy))
    })
}

/// Renders as
/// ```text
///    |
///  3 | FOO bar
///    | ^^^
/// ```
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        // Tabs stay tabs under the line, so the caret lines up in any terminal.
        let lead: String = self
            .source
            .chars()
            .take(self.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        writeln!(f, " {pad} |")?;
        writeln!(f, " {number} | {}", self.source)?;
        write!(f, " {pad} | {lead}{}", "^".repeat(self.width))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "FROM base\nRUN echo a \\\n    --bad\n\tCOPY x y\n";

    #[test]
    fn a_long_line_is_quoted_as_a_window_around_the_column() {
        let line = format!("RUN {} --bad {}", "a".repeat(5_000), "b".repeat(5_000));
        let s = Span::locate(&line, 1, 1, Some("--bad"));
        assert!(
            s.source.chars().count() <= MAX_QUOTE + 2,
            "{}",
            s.source.len()
        );
        let at: String = s.source.chars().skip(s.column - 1).take(5).collect();
        assert_eq!(at, "--bad");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }

    #[test]
    fn finds_the_needle_on_a_continuation_line() {
        let s = Span::locate(TEXT, 2, 3, Some("--bad"));
        assert_eq!((s.line, s.column, s.width), (3, 5, 5));
        assert_eq!(s.source, "    --bad");
    }

    #[test]
    fn falls_back_to_the_first_word() {
        let s = Span::locate(TEXT, 4, 4, Some("absent"));
        assert_eq!((s.line, s.column, s.width), (4, 2, 4));
        assert_eq!(s.to_string(), "   |\n 4 | \tCOPY x y\n   | \t^^^^");
    }

    #[test]
    fn whole_words_win_over_parts_of_words() {
        let s = Span::locate("FROM busybox AS b\n", 1, 1, Some("b"));
        assert_eq!(s.column, 17);
        let s = Span::locate("FROM busybox\n", 1, 1, Some("bus"));
        assert_eq!(s.column, 6, "a part of a word when nothing else matches");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let s = Span::locate("FROM base\nLABEL é=1 --x\n", 2, 2, Some("--x"));
        assert_eq!(s.column, 11);
    }

    #[test]
    fn out_of_range_lines_do_not_panic() {
        let s = Span::locate("", 0, 0, None);
        assert_eq!((s.line, s.column), (1, 1));
        let s = Span::locate("FROM a\n", 9, 3, Some("x"));
        assert_eq!(s.line, 1);
    }
}
