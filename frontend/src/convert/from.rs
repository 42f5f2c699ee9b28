//! FROM: a stage's starting filesystem and config (scratch, a registry
//! image via the resolver, or an earlier stage), and the ONBUILD triggers it
//! inherits.

use super::converter::Converter;
use super::error::{convert_err, ConvertError, FrontendError};
use super::legacy::LegacyKind;
use super::stages::StageDef;
use super::state::Stage;
use crate::image_config::ImageConfig;
use crate::instructions::{Command, Instruction};
use crate::NamedContext;
use mybuild_graph::{Digest, ImageSource, NodeId, Op};

/// Steps a stage numbers: its own FROM when it pulls an image, then every
/// RUN, COPY, ADD and WORKDIR (ONBUILD triggers included).
fn count_steps(def: &StageDef, triggers: &[String], from_image: bool) -> usize {
    let own = def
        .commands
        .iter()
        .filter(|c| {
            matches!(
                c.instruction,
                Instruction::Run(_) | Instruction::Copy(_) | Instruction::Workdir(_)
            )
        })
        .count();
    let trig = triggers
        .iter()
        .filter(|t| {
            let kw = t
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            matches!(kw.as_str(), "run" | "copy" | "add" | "workdir")
        })
        .count();
    own + trig + usize::from(from_image)
}

impl Converter<'_> {
    pub(super) fn start_stage(
        &mut self,
        i: usize,
        def: &StageDef,
        visiting: &mut Vec<usize>,
    ) -> Result<(Stage, LegacyKind), FrontendError> {
        let file = self.opts.filename.clone();
        let source = self.source;
        let err = |e: ConvertError| convert_err(&file, source, &def.from_cmd, e);
        let base = self.stages.meta.expand(&def.from.image).map_err(err)?;
        // The stage's platform: `--platform` (usually $BUILDPLATFORM or
        // $TARGETPLATFORM), else the one built for.
        let arch = match def.from.platform.as_deref() {
            Some(p) => {
                let p = self.stages.meta.expand(p).map_err(err)?;
                mybuild_graph::platform_arch(&p)
                    .ok_or_else(|| err(ConvertError::Unsupported(format!("FROM --platform={p}"))))?
            }
            None => self.opts.target_arch().to_string(),
        };
        let mut prefix = self.stages.prefix(i);
        if self.opts.multi_platform {
            prefix = format!("linux/{arch} {prefix}").trim_end().to_string();
        }
        let blank = |node, config| Stage {
            node,
            config,
            args: Vec::new(),
            args_over_env: Vec::new(),
            cmd_set: false,
            prefix,
            step: 0,
            total: 0,
        };
        let kind = |image, stage| LegacyKind::From { image, stage };
        // A --build-context of this name wins over a stage or image.
        let (base, stage_index) = match self.opts.named_contexts.get(&base) {
            Some(NamedContext::Local(local)) => {
                let node = self.named_local_tree(local);
                let config = ImageConfig::scratch(&arch, "linux");
                let mut stage = blank(node, config);
                stage.total = count_steps(def, &[], false);
                return Ok((stage, kind(None, None)));
            }
            Some(NamedContext::Image(reference)) => (reference.clone(), None),
            None => {
                let j = self.stages.by_name_or_index(&base).filter(|j| *j < i);
                (base, j)
            }
        };
        let (mut stage, from_image, legacy) = match stage_index {
            Some(j) => {
                let parent = self.build_stage(j, visiting)?;
                let inherited = parent.state_only_env();
                let mut stage = blank(parent.node, parent.config);
                stage.args_over_env = inherited;
                (stage, None, kind(None, Some(j)))
            }
            None if base.eq_ignore_ascii_case("scratch") => {
                let node = self.graph.add(Op::Scratch, vec![], "FROM scratch");
                let config = ImageConfig::scratch(&arch, "linux");
                (blank(node, config), None, kind(None, None))
            }
            None => {
                let (source, config, id) = self.resolve_config(&base, &arch).map_err(err)?;
                (blank(NodeId(0), config), Some(source), kind(Some(id), None))
            }
        };
        let triggers = stage.config.get_strs("OnBuild").unwrap_or_default();
        stage.total = count_steps(def, &triggers, from_image.is_some());
        if let Some(source) = from_image {
            let name = stage.step_name(&format!("FROM {base}"));
            stage.node = self.graph.add(Op::Image(source), vec![], name);
        }
        Ok((stage, legacy))
    }

    /// Resolves an image reference to its source op, config and image id.
    pub(super) fn resolve_config(
        &mut self,
        reference: &str,
        arch: &str,
    ) -> Result<(ImageSource, ImageConfig, Digest), ConvertError> {
        let resolved = self
            .resolver
            .resolve_platform(reference, arch)
            .map_err(|e| ConvertError::Resolve {
                reference: reference.into(),
                message: e.to_string(),
            })?;
        let config =
            ImageConfig::from_bytes(&resolved.reference, &resolved.config).map_err(|e| {
                ConvertError::BaseConfig {
                    reference: reference.into(),
                    message: e.to_string(),
                }
            })?;
        let id = Digest::of(&resolved.config);
        Ok((
            ImageSource {
                reference: resolved.reference,
                digest: Some(resolved.pin),
                config: Some(id.clone()),
            },
            config,
            id,
        ))
    }

    /// An image used by `COPY --from=<image>`, as a node.
    pub(super) fn image_node(&mut self, reference: &str) -> Result<NodeId, ConvertError> {
        let target = self.opts.target_arch().to_string();
        let (source, _, _) = self.resolve_config(reference, &target)?;
        Ok(self
            .graph
            .add(Op::Image(source), vec![], format!("FROM {reference}")))
    }

    /// Parses an inherited ONBUILD trigger into a command.
    pub(super) fn trigger_command(
        &self,
        def: &StageDef,
        trigger: &str,
    ) -> Result<Command, ConvertError> {
        let fail = |message: String| ConvertError::Trigger {
            trigger: trigger.into(),
            message,
        };
        let mut node = crate::parser::parse_line(trigger, self.escape)
            .map_err(|e| fail(e.kind.to_string()))?;
        node.start_line = def.from_cmd.line;
        node.end_line = def.from_cmd.end_line;
        let mut cmd = Command::from_node(&node).map_err(|e| fail(e.to_string()))?;
        cmd.original = trigger.to_string();
        Ok(cmd)
    }
}
