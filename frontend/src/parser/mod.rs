//! The Dockerfile parser: text to a faithful syntax tree.
//!
//! It mirrors the reference (BuildKit) parser closely, because Dockerfiles in
//! the wild rely on its quirks: parser directives, the escape token, line
//! continuations with comment and empty lines inside them, heredocs and the
//! per-instruction argument shapes. Quote removal and `$VAR` expansion are not
//! done here; they belong to [`crate::shell_lex`] at conversion time.

mod args;
mod directives;
mod dump;
mod error;
mod heredoc;
mod scanner;
mod types;

pub use directives::external_frontend;
pub use dump::{dump, go_quote};
pub use error::{ParseError, ParseErrorKind};
pub use types::{Dockerfile, Heredoc, Node};

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    scanner::Scanner::new(text).run()
}

/// Parses one instruction line outside a file (ONBUILD triggers of a base
/// image), with the default escape token.
pub fn parse_line(line: &str, escape: char) -> Result<Node, ParseError> {
    args::node_from_line(line, escape).map_err(|kind| ParseError {
        line: 0,
        text: line.to_string(),
        kind,
    })
}

/// The delimiter name when `word` opens a heredoc (`<<EOF`, `<<-"EOF"`).
pub fn heredoc_word(word: &str) -> Option<String> {
    heredoc::parse_heredoc(word).ok().flatten().map(|h| h.name)
}

/// A `<<-` body with its leading tabs removed.
pub fn chomp_heredoc(content: &str) -> String {
    heredoc::chomp(content)
}

#[cfg(test)]
mod tests;
