//! Why a file action failed, naming the path or step.

use super::archive_error::ArchiveError;
use super::owner::OwnerError;
use super::select::SelectError;
use crate::context::IgnoreError;
use std::io;

/// A COPY/ADD, mkdir or mkfile action that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum FileOpError {
    #[error("open root {path}: {source}")]
    OpenRoot { path: String, source: io::Error },
    #[error("copy from input {index}: no source directory was provided for it")]
    MissingSource { index: u32 },
    #[error("exclude patterns of {path}: {source}")]
    Ignore { path: String, source: IgnoreError },
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Owner(#[from] OwnerError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error("copy: read {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("copy: write {path}: {source}")]
    Write { path: String, source: io::Error },
    #[error("copy to {path}: cannot copy a directory onto a non-directory")]
    NotADirectory { path: String },
    #[error("copy to {path}: cannot replace a directory with a file")]
    ReplaceDirectory { path: String },
    #[error("mkdir {path}: {source}")]
    Mkdir { path: String, source: io::Error },
}
