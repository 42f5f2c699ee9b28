//! The conversion state shared by all stages; the instruction families add
//! their methods to it from their own files.

use super::legacy::LegacyStep;
use super::stages::Stages;
use super::state::Stage;
use crate::{CompileOptions, ImageResolver};
use mybuild_graph::{Graph, NodeId};
use std::collections::BTreeMap;

/// Conversion state shared by all stages.
pub(crate) struct Converter<'a> {
    pub(super) opts: &'a CompileOptions,
    pub(super) resolver: &'a dyn ImageResolver,
    pub(super) graph: Graph,
    /// The build context node, added on first use.
    pub(super) context: Option<NodeId>,
    pub(super) stages: Stages,
    /// Finished stages by index.
    pub(super) built: Vec<Option<Stage>>,
    pub(super) escape: char,
    /// The Dockerfile text, for pointing errors at a column.
    pub(super) source: &'a str,
    /// Lines of each step node, by name (see [`crate::BuildPlan::steps`]).
    pub(super) steps: BTreeMap<String, (usize, usize)>,
    /// The legacy mode's step list, when asked for.
    pub(super) trace: Option<Vec<LegacyStep>>,
    /// `SOURCE_DATE_EPOCH`: every op that makes a layer clamps to it.
    pub(super) epoch: Option<u64>,
    /// Foreign architectures a RUN step needs emulated.
    pub(super) emulated: std::collections::BTreeSet<String>,
}
