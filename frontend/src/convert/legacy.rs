//! The classic builder's step list entries: what each instruction becomes
//! in legacy mode (filled in by `trace.rs`).

use mybuild_graph::{Digest, NodeId};

/// What kind of step the classic builder makes of an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyKind {
    /// An `ARG` before the first `FROM`: printed, nothing committed.
    GlobalArg,
    /// `FROM`: the base image (its id when it is an image, the stage index
    /// when it is an earlier stage, neither for `scratch`).
    From {
        image: Option<Digest>,
        stage: Option<usize>,
    },
    /// `RUN`: a container runs the command.
    Run,
    /// `COPY` / `ADD`: a layer made without a container.
    Copy,
    /// Everything else: a container is created (not started) to commit
    /// the config change.
    Meta,
}

/// One step as `Step N/M : TEXT` shows it.
#[derive(Debug, Clone)]
pub struct LegacyStep {
    /// The instruction as written (continuation lines joined).
    pub text: String,
    pub kind: LegacyKind,
    /// The stage (index) it belongs to; 0 for global ARGs.
    pub stage: usize,
    /// The stage's filesystem after this step.
    pub node: NodeId,
    /// The stage's image config after this step.
    pub config: serde_json::Value,
    /// The config's command line and shell, for the container it runs in.
    pub shell: Vec<String>,
}
