//! mybuild's Dockerfile frontend: parses a Dockerfile and compiles it into a
//! build graph plus the image config of the target stage.
//!
//! - [`parse`] / [`dump`]: the syntax tree and its reference text dump.
//! - [`compile`]: graph + config, resolving base images through an
//!   [`ImageResolver`] the caller provides (registry or local store).
//! - [`checks::lint`]: BuildKit's build checks (lint rules) over the tree.
//! - [`source_date_epoch`]: the `SOURCE_DATE_EPOCH` build arg.

pub mod checks;
mod convert;
mod diagnostic;
mod epoch;
mod image_config;
pub mod instructions;
pub mod parser;
pub mod shell_lex;

pub use convert::{compile, compile_legacy, ConvertError, FrontendError, LegacyKind, LegacyStep};
pub use diagnostic::Span;
pub use epoch::{parse_epoch, source_date_epoch, EpochError, SOURCE_DATE_EPOCH};
pub use image_config::ImageConfigError;
pub use instructions::InstructionError;
pub use parser::{
    dump, external_frontend, parse, Dockerfile, Heredoc, Node, ParseError, ParseErrorKind,
};

use mybuild_graph::{Digest, ExecEnv, Graph, NetworkMode, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// How to compile.
#[derive(Debug, Clone)]
pub struct CompileOptions {
    /// Dockerfile name used in error messages, e.g. `Dockerfile`.
    pub filename: String,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target` stage; the last stage when `None`.
    pub target: Option<String>,
    /// `.dockerignore` patterns for the context source.
    pub dockerignore: Vec<String>,
    /// Network of RUN steps without `--network`.
    pub network: NetworkMode,
    /// `--add-host`, `--ulimit`, `--shm-size`: every RUN's extra settings.
    pub exec_env: ExecEnv,
    /// `--no-cache-filter`: stages (by name, any case) whose steps run
    /// even when cached.
    pub no_cache_filter: Vec<String>,
    /// `--label`s, set on the target's config after its LABELs.
    pub labels: BTreeMap<String, String>,
    /// `--build-context NAME=…`: what `FROM NAME` and `COPY --from=NAME`
    /// use instead of a stage or image of that name.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// `--platform`: the OCI architecture to build for; the host's when
    /// `None`.
    pub platform: Option<String>,
    /// One of several platforms built: step names start with their
    /// stage's platform (`[linux/arm64 stage-1 2/4]`), as in BuildKit, so
    /// each platform's steps are told apart.
    pub multi_platform: bool,
}

impl CompileOptions {
    /// The architecture images are built for (TARGETARCH).
    pub fn target_arch(&self) -> &str {
        self.platform
            .as_deref()
            .unwrap_or(mybuild_graph::host_arch())
    }
}

/// A `--build-context` source, as buildx passes it to the frontend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedContext {
    /// A directory: the solver's local source of this name.
    Local(String),
    /// An image reference (`docker-image://REF`).
    Image(String),
}

/// Turns an image reference into a pinned digest and its config.
pub trait ImageResolver {
    fn resolve(
        &self,
        reference: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>>;

    /// `reference` for linux/`arch`. Resolvers that know only the host's
    /// platform refuse others.
    fn resolve_platform(
        &self,
        reference: &str,
        arch: &str,
    ) -> Result<ResolvedImage, Box<dyn std::error::Error + Send + Sync>> {
        if arch == mybuild_graph::host_arch() {
            return self.resolve(reference);
        }
        Err(format!(
            "{reference}: no image for linux/{arch} (this resolver knows the host's platform only)"
        )
        .into())
    }
}

#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// Normalised reference, e.g. `docker.io/library/busybox:latest`.
    pub reference: String,
    /// Manifest digest the reference resolved to.
    pub pin: Digest,
    /// The raw image config JSON.
    pub config: Vec<u8>,
}

/// The result of [`compile`].
#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub graph: Graph,
    /// The node whose filesystem is the image.
    pub target: NodeId,
    /// The image config (history and base diff_ids included; the caller sets
    /// the solved diff_ids and creation times).
    pub config: serde_json::Value,
    /// The Dockerfile lines (first, last) each step node came from, by node
    /// name, so a failure in the solver can point back at its instruction.
    pub steps: BTreeMap<String, (usize, usize)>,
    /// The foreign architectures whose RUN steps the graph runs (under
    /// binfmt_misc emulation); COPY-only stages add none.
    pub emulated: BTreeSet<String>,
}
