//! Why an instruction's words do not make a valid command.

/// An instruction that is unknown or has the wrong flags or arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructionError {
    #[error("unknown instruction: {0}")]
    Unknown(String),
    #[error("{instruction}: {message}")]
    Flag {
        instruction: String,
        /// The flag as written, e.g. `--frm=x`.
        word: String,
        message: String,
    },
    #[error("{instruction} requires {what}")]
    Arguments {
        instruction: String,
        what: &'static str,
    },
    #[error("{instruction}: {message}")]
    Invalid {
        instruction: String,
        message: String,
    },
}

impl InstructionError {
    /// The text in the instruction this error is about, to point at.
    pub fn needle(&self) -> Option<&str> {
        match self {
            InstructionError::Flag { word, .. } => Some(word),
            _ => None,
        }
    }
}
