//! [`SolveError`]: why a step failed. Every variant names the step (the
//! vertex name progress shows) and what about it failed, and carries the
//! underlying error as its source where there is one.

use super::fetch::FetchError;
use super::git::GitError;
use crate::context::ContextError;
use crate::fileop::{FileOpError, SelectError};
use crate::sandbox::SandboxError;
use mybuild_cache::StoreError;
use mybuild_graph::Digest;
use mybuild_registry::remote_cache::RemoteCacheError;
use mybuild_registry::RegistryError;
use std::path::PathBuf;
use tokio::task::JoinError;

/// Errors while solving; each names the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    #[error("{step}: process \"{command}\" did not complete successfully: exit code: {code}")]
    ExecFailed {
        step: String,
        command: String,
        code: i32,
        tail: Vec<String>,
    },
    /// The sandbox could not run the step at all (setup, signal, limits).
    #[error("{step}: {source}")]
    Sandbox { step: String, source: SandboxError },
    #[error("{step}: keeping {}: {source}", path.display())]
    KeepFailed {
        step: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{step}: input {input} is not a filesystem")]
    BadInput { step: String, input: usize },
    #[error("{step}: layer {layer} is missing from the store")]
    MissingLayer { step: String, layer: Digest },
    #[error("{step}: no local directory named {name:?} was given")]
    NoLocal { step: String, name: String },
    #[error("{step}: cache store: {source}")]
    Store { step: String, source: StoreError },
    /// `step` is `import cache record <key>`.
    #[error("{step}: {source}")]
    CacheImport {
        step: String,
        source: Box<RemoteCacheError>,
    },
    #[error("{step}: {source}")]
    Registry { step: String, source: RegistryError },
    #[error("{step}: build context: {source}")]
    Context { step: String, source: ContextError },
    #[error("{step}: {source}")]
    Fetch {
        step: String,
        source: Box<FetchError>,
    },
    #[error("{step}: {source}")]
    Git { step: String, source: Box<GitError> },
    /// A scratch dir for the filtered view of a bound build context.
    #[error("{step}: bind mount {target}: {source}")]
    BindStore {
        step: String,
        target: String,
        source: Box<StoreError>,
    },
    /// Copying the build context, filtered, for a bind mount.
    #[error("{step}: bind mount {target}: {source}")]
    BindCopy {
        step: String,
        target: String,
        source: Box<FileOpError>,
    },
    #[error("{step}: cache mount {id:?}: {source}")]
    CacheMount {
        step: String,
        id: String,
        source: std::io::Error,
    },
    #[error("{step}: secret {id:?} is required but was not given (--secret id={id},src=FILE)")]
    MissingSecret { step: String, id: String },
    #[error("{step}: ssh agent {id:?} is required but was not given (--ssh {id}=SOCKET|KEY)")]
    MissingSsh { step: String, id: String },
    #[error("{step}: ssh mount {target}: make the agent socket: {source}")]
    SshSocket {
        step: String,
        target: String,
        source: std::io::Error,
    },
    #[error("{step}: worker thread failed: {source}")]
    Join { step: String, source: JoinError },
}

impl SolveError {
    /// The name of the step that failed.
    pub fn step(&self) -> &str {
        match self {
            SolveError::ExecFailed { step, .. }
            | SolveError::Sandbox { step, .. }
            | SolveError::KeepFailed { step, .. }
            | SolveError::BadInput { step, .. }
            | SolveError::MissingLayer { step, .. }
            | SolveError::NoLocal { step, .. }
            | SolveError::Store { step, .. }
            | SolveError::CacheImport { step, .. }
            | SolveError::Registry { step, .. }
            | SolveError::Context { step, .. }
            | SolveError::Fetch { step, .. }
            | SolveError::Git { step, .. }
            | SolveError::BindStore { step, .. }
            | SolveError::BindCopy { step, .. }
            | SolveError::CacheMount { step, .. }
            | SolveError::MissingSecret { step, .. }
            | SolveError::MissingSsh { step, .. }
            | SolveError::SshSocket { step, .. }
            | SolveError::Join { step, .. } => step,
        }
    }

    /// The word of the instruction the failure is about, when it is one
    /// (a missing COPY source).
    pub fn needle(&self) -> Option<&str> {
        let select = match self {
            SolveError::Context {
                source: ContextError::Select(s),
                ..
            } => s,
            _ => return None,
        };
        match select {
            SelectError::NotFound { path } => Some(path),
            SelectError::NoMatch { pattern } | SelectError::BadPattern { pattern } => Some(pattern),
            SelectError::Io { .. } => None,
        }
    }

    /// Names `step` as the step whose worker thread failed.
    pub(crate) fn join(step: impl Into<String>) -> impl FnOnce(JoinError) -> SolveError {
        let step = step.into();
        move |source| SolveError::Join { step, source }
    }

    /// Names `step` as the step whose store access failed.
    pub(crate) fn store(step: &str) -> impl Fn(StoreError) -> SolveError + '_ {
        move |source| SolveError::Store {
            step: step.to_string(),
            source,
        }
    }
}
