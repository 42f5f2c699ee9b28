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
mod heredoc;
mod scanner;

pub use directives::external_frontend;
pub use dump::{dump, go_quote};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives (`# syntax=...`, `# escape=...`), lowercased names.
    pub directives: Vec<(String, String)>,
    /// The escape token in force (`\` or `` ` ``).
    pub escape: char,
    pub instructions: Vec<Node>,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The keyword as written (case preserved).
    pub keyword: String,
    /// `--flag[=value]` words before the arguments, quotes removed.
    pub flags: Vec<String>,
    /// The arguments in the instruction's shape: one string for shell form,
    /// one per element for JSON form, `key value sep` triples for ENV/LABEL.
    pub args: Vec<String>,
    /// The arguments were a JSON string array (exec form).
    pub json: bool,
    /// ONBUILD's nested instruction.
    pub sub: Option<Box<Node>>,
    /// Heredoc bodies this instruction reads, in order.
    pub heredocs: Vec<Heredoc>,
    /// The logical line after continuation joining.
    pub original: String,
    /// 1-based first and last physical lines.
    pub start_line: usize,
    pub end_line: usize,
}

impl Node {
    /// The keyword lowercased, as the dispatcher compares it.
    pub fn command(&self) -> String {
        self.keyword.to_ascii_lowercase()
    }
}

/// A `<<NAME` document attached to RUN, COPY or ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// Every body line with its newline.
    pub content: String,
    /// The delimiter was unquoted, so `$VAR` in the body is expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body and the terminator.
    pub chomp: bool,
    /// `3<<EOF` names a file descriptor; 0 when not given.
    pub fd: u32,
}

/// Why a Dockerfile could not be parsed, with where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    /// 1-based line the error is reported at.
    pub line: usize,
    /// The offending text, for display.
    pub text: String,
    pub kind: ParseErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("file with no instructions")]
    NoInstructions,
    #[error("only one {0} parser directive can be used")]
    DuplicateDirective(String),
    #[error("invalid escape token '{0}' does not match ` or \\")]
    BadEscapeToken(String),
    #[error("unterminated heredoc {0}")]
    UnterminatedHeredoc(String),
    #[error("quoted heredoc delimiter {0}: quotes do not match")]
    HeredocQuotes(String),
    #[error("{0} must have two arguments")]
    MissingValue(String),
    #[error("syntax error - can't find = in {0:?}. Must be of the form: name=value")]
    MissingEquals(String),
    #[error("{0}: JSON arguments must be an array of strings")]
    NotStringArray(String),
}

impl ParseErrorKind {
    /// The text on the error's line this error is about, to point at.
    pub fn needle(&self) -> Option<&str> {
        match self {
            ParseErrorKind::DuplicateDirective(w)
            | ParseErrorKind::BadEscapeToken(w)
            | ParseErrorKind::UnterminatedHeredoc(w)
            | ParseErrorKind::HeredocQuotes(w)
            | ParseErrorKind::MissingEquals(w) => Some(w),
            ParseErrorKind::NotStringArray(_)
            | ParseErrorKind::MissingValue(_)
            | ParseErrorKind::NoInstructions => None,
        }
    }
}

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
