//! Why parsing failed: the line and the kind of problem.

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
