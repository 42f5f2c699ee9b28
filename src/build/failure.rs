//! How a failed BuildKit-mode build is reported: the failed step's box,
//! its place in the Dockerfile, then BuildKit's wording of the error.

use mybuild_frontend::Span;
use mybuild_solver::SolveError;
use std::sync::Arc;

/// Why a build stopped: a failed step is reported only after the progress
/// renderer has drained, so the report comes last.
pub(super) enum BuildFailure {
    /// With the failed instruction's place in the Dockerfile, when known.
    Solve(Arc<SolveError>, Option<(String, Span)>),
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for BuildFailure {
    fn from(e: E) -> Self {
        BuildFailure::Other(e.into())
    }
}

impl BuildFailure {
    /// The error the command ends with; a failed step's report is printed
    /// first.
    pub(super) fn into_error(self) -> anyhow::Error {
        match self {
            BuildFailure::Solve(e, at) => failure_report(&e, at.as_ref()),
            BuildFailure::Other(e) => e,
        }
    }
}

/// The failed step, the last lines of its output, where it is in the
/// Dockerfile, then the error.
fn failure_report(e: &SolveError, at: Option<&(String, Span)>) -> anyhow::Error {
    let tail: &[String] = match e {
        SolveError::ExecFailed { tail, .. } => tail,
        _ => &[],
    };
    eprintln!("------\n > {}:", e.step());
    for line in tail {
        eprintln!("{line}");
    }
    eprintln!("------");
    if let Some((file, span)) = at {
        eprintln!("{file}:{}:{}\n{span}", span.line, span.column);
    }
    match e {
        // As BuildKit words it: the box above names the step.
        SolveError::ExecFailed { command, code, .. } => anyhow::anyhow!(
            "failed to solve: process \"{command}\" did not complete successfully: exit code: {code}"
        ),
        _ => anyhow::anyhow!("failed to solve: {e}"),
    }
}
