//! The frontend's errors: a conversion step's own, and the compile failure
//! that points at the Dockerfile line it came from.

use crate::diagnostic::Span;
use crate::instructions::{Command, InstructionError};
use crate::parser::ParseError;
use crate::shell_lex::LexError;

/// What went wrong converting one instruction.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("{0}")]
    Expand(#[from] LexError),
    #[error("resolving image {reference:?}: {message}")]
    Resolve { reference: String, message: String },
    #[error("base image {reference:?}: {message}")]
    BaseConfig { reference: String, message: String },
    #[error("undefined stage or image {name:?} in --from: {message}")]
    UndefinedStage { name: String, message: String },
    #[error("circular dependency detected on stage {0:?}")]
    Circular(String),
    #[error("{0} is not supported yet")]
    Unsupported(String),
    #[error("invalid {what} {value:?}")]
    Invalid { what: &'static str, value: String },
    #[error("ONBUILD trigger {trigger:?}: {message}")]
    Trigger { trigger: String, message: String },
    #[error("no build stage in current context")]
    NoStage,
}

impl ConvertError {
    /// The text in the instruction this error is about, to point at.
    fn needle(&self) -> Option<&str> {
        match self {
            ConvertError::Expand(e) => Some(e.word()),
            ConvertError::Resolve { reference, .. }
            | ConvertError::BaseConfig { reference, .. } => Some(reference),
            ConvertError::UndefinedStage { name, .. } | ConvertError::Circular(name) => Some(name),
            ConvertError::Invalid { value, .. } => Some(value),
            ConvertError::Unsupported(_) | ConvertError::Trigger { .. } | ConvertError::NoStage => {
                None
            }
        }
    }
}

/// A compile failure, naming the Dockerfile, line and column, and showing
/// the line with the offending text underlined.
#[derive(Debug, thiserror::Error)]
pub enum FrontendError {
    #[error("{file}:{}:{}: {}\n{span}", span.line, span.column, .error.kind)]
    Parse {
        file: String,
        error: ParseError,
        span: Box<Span>,
    },
    #[error("{file}:{}:{}: {error}\n{span}", span.line, span.column)]
    Instruction {
        file: String,
        error: InstructionError,
        span: Box<Span>,
    },
    #[error("{file}:{}:{}: {error}\n{span}", span.line, span.column)]
    Convert {
        file: String,
        error: Box<ConvertError>,
        span: Box<Span>,
    },
    #[error("{file}: target stage {target:?} could not be found")]
    TargetNotFound { file: String, target: String },
    #[error("{file}: the Dockerfile has no FROM instruction")]
    NoStages { file: String },
    #[error("{0}")]
    Epoch(#[from] crate::epoch::EpochError),
}

impl FrontendError {
    /// The line the error points at, when it points at one.
    pub fn line(&self) -> Option<usize> {
        match self {
            FrontendError::Parse { span, .. }
            | FrontendError::Instruction { span, .. }
            | FrontendError::Convert { span, .. } => Some(span.line),
            _ => None,
        }
    }
}

/// Wraps a step's error with the file and the span of `cmd`.
pub(super) fn convert_err(
    file: &str,
    source: &str,
    cmd: &Command,
    error: ConvertError,
) -> FrontendError {
    FrontendError::Convert {
        file: file.into(),
        span: Box::new(Span::locate(source, cmd.line, cmd.end_line, error.needle())),
        error: Box::new(error),
    }
}

/// Errors of a step: its own, or one from a stage it pulled in.
pub(crate) enum StepError {
    Convert(ConvertError),
    Frontend(Box<FrontendError>),
}

impl From<ConvertError> for StepError {
    fn from(e: ConvertError) -> Self {
        StepError::Convert(e)
    }
}

impl From<LexError> for StepError {
    fn from(e: LexError) -> Self {
        StepError::Convert(e.into())
    }
}
